// `cores = N` reaches the runtime builder, with or without a trailing comma or a suffix.

fn main() {
    assert_eq!(two_cores(), 2);
    assert_eq!(one_core(), 1);
    assert_eq!(suffixed(), 3);
}

#[baton::main(cores = 2)]
async fn two_cores() -> usize {
    baton::Handle::current().cores()
}

#[baton::main(cores = 1,)]
async fn one_core() -> usize {
    baton::Handle::current().cores()
}

#[baton::main(cores = 3usize)]
async fn suffixed() -> usize {
    baton::Handle::current().cores()
}
