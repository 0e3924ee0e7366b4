// `#[baton::test]` makes test functions; other test attributes and `Result` returns are kept.
// Outside `--test` builds the tests are compiled out, so this checks that the expansion parses.

#[baton::test]
async fn plain() {
    assert_eq!(async { 1 }.await, 1);
}

#[baton::test(cores = 1)]
#[should_panic(expected = "boom")]
async fn should_panic() {
    panic!("boom");
}

#[baton::test]
#[ignore = "kept attributes"]
async fn ignored() -> Result<(), String> {
    Err("ignored".into())
}

#[baton::test(start_paused = true)]
async fn paused() {
    baton::time::sleep(std::time::Duration::from_secs(60)).await;
}

#[baton::test(cores = 1, start_paused = true)]
async fn paused_one_core() {}

#[baton::test(start_paused = false, cores = 2)]
async fn not_paused() {}

fn main() {}
