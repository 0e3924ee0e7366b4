//! Durations too long for the clock (`Duration::MAX`, as code written for tokio passes to mean
//! "forever") never panic: they mean no deadline.

use std::time::Duration;

#[test]
fn shutdown_with_an_endless_timeout_waits_and_succeeds() {
    let rt = baton::Runtime::new().unwrap();
    let task = rt.spawn(std::future::pending::<()>());
    assert!(rt.shutdown_timeout(Duration::MAX));
    assert!(futures::executor::block_on(task)
        .unwrap_err()
        .is_cancelled());
}

#[test]
fn timers_with_endless_durations_never_fire_and_never_panic() {
    let rt = baton::Runtime::new().unwrap();
    rt.block_on(async {
        assert_eq!(
            baton::time::timeout(Duration::MAX, async { 7 })
                .await
                .unwrap(),
            7,
            "a ready future beats an endless timeout"
        );
        let endless = baton::time::sleep(Duration::MAX);
        let raced = baton::time::timeout(Duration::from_millis(1), endless).await;
        assert!(raced.is_err(), "an endless sleep does not end");
        let mut interval = baton::time::interval(Duration::MAX);
        interval.tick().await; // The first tick is at once.
        let second = baton::time::timeout(Duration::from_millis(1), interval.tick()).await;
        assert!(
            second.is_err(),
            "the second tick of an endless period never comes"
        );
    });
}
