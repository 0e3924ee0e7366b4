#[baton::main]
fn main() {}
