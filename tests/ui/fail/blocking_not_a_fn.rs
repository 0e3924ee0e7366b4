#[baton::blocking]
struct Store;

trait Load {
    #[baton::blocking]
    fn load(&self) -> Vec<u8>;
}

fn main() {}
