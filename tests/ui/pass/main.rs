// The simplest entry point: an `async fn main` with no arguments and no return type.

#[baton::main]
async fn main() {
    let answer = async { 6 * 7 }.await;
    assert_eq!(answer, 42);
}
