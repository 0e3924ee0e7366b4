//! Helpers shared by the integration tests.

use std::time::Duration;

/// Waits until every worker of `rt` has parked, so that lazily flushed counters are current.
///
/// # Panics
///
/// Panics (with the stats) if the runtime has not gone idle after about five seconds.
#[allow(dead_code)] // not every test that includes these helpers waits for idle
pub(crate) fn settle(rt: &baton::Runtime) -> baton::Stats {
    for _ in 0..5000 {
        let stats = rt.stats();
        if stats
            .cores
            .iter()
            .all(|c| c.running == 0 && c.in_section == 0)
        {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the runtime did not go idle: {}", rt.stats());
}

/// A one-core runtime whose order of polls is its tasks' classes' alone: detection of
/// unannotated blocking is off, since on a loaded machine it may judge a poll that queues many
/// tasks a CPU hog (a runnable thread off the CPU holds its core all the same) and hand the
/// core to a spare while that poll still queues, so tasks would start before the test has
/// queued them all.
#[allow(dead_code)] // not every test that includes these helpers needs one
pub(crate) fn one_core_in_class_order() -> baton::Runtime {
    baton::Runtime::builder()
        .cores(1)
        .detect_blocking(false)
        .build()
        .unwrap()
}

/// The message of a task's panic (empty if it was not a `String`).
#[allow(dead_code)] // not every test that includes these helpers reads panics
pub(crate) fn panic_message(err: baton::JoinError) -> String {
    err.into_panic()
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}
