#[baton::blocking]
async fn load() -> Vec<u8> {
    Vec::new()
}

fn main() {}
