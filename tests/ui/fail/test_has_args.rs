#[baton::test]
async fn with_args(n: u32) {
    assert_eq!(n, n);
}

fn main() {}
