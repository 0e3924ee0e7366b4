//! Helpers shared by the integration tests.

use std::time::Duration;

/// Waits until every worker of `rt` has parked, so that lazily flushed counters are current.
///
/// # Panics
///
/// Panics (with the stats) if the runtime has not gone idle after about five seconds.
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

/// The message of a task's panic (empty if it was not a `String`).
#[allow(dead_code)] // not every test that includes these helpers reads panics
pub(crate) fn panic_message(err: baton::JoinError) -> String {
    err.into_panic()
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}
