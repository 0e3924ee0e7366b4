#[baton::main]
struct Server;

fn main() {}
