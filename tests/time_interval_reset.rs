//! `Interval::reset_immediately`, `reset_after` and `reset_at` move the next tick (tokio's
//! names); the ticks after it follow one period apart.

use std::time::{Duration, Instant};

use baton::time::{interval, timeout};

/// Longer than any tick below should take: a hang guard, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);
/// A period no test waits for.
const HOUR: Duration = Duration::from_secs(3600);

#[baton::test]
async fn reset_immediately_makes_the_next_tick_due_now() {
    let mut ticks = interval(HOUR);
    ticks.tick().await;
    let before = Instant::now();
    ticks.reset_immediately();
    let at = timeout(PATIENCE, ticks.tick())
        .await
        .expect("waited for the period");
    assert!(at >= before, "{at:?} {before:?}");
}

#[baton::test]
async fn reset_after_and_reset_at_set_the_next_tick() {
    let mut ticks = interval(HOUR);
    ticks.tick().await;
    let before = Instant::now();
    ticks.reset_after(Duration::from_millis(3));
    let at = timeout(PATIENCE, ticks.tick())
        .await
        .expect("waited for the period");
    assert!(at >= before + Duration::from_millis(3));

    let deadline = Instant::now() + Duration::from_millis(2);
    ticks.reset_at(deadline);
    let at = timeout(PATIENCE, ticks.tick())
        .await
        .expect("waited for the period");
    assert_eq!(at, deadline);
    // The schedule goes on from there: the next tick is a period later.
    ticks.reset_immediately();
    let now = ticks.tick().await;
    assert!(timeout(Duration::from_millis(1), ticks.tick())
        .await
        .is_err());
    assert!(now <= Instant::now());
}
