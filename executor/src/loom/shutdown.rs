//! Shutdown racing spawn: a task spawned while the runtime shuts down is either dropped by
//! shutdown or by its own scheduler, never left in a queue (shutdown notes, step 3). Shutdown
//! racing a retirement: the retiring worker never parks after shutdown's wake-up.

use super::{model, Tally};
use crate::core::{HandOff, Recheck};
use crate::park::{Parker, Wake};
use crate::shared::{Config, Shared};
use crate::sync::{Arc, AtomicUsize, Ordering};

/// Counts its drops.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn shutdown_racing_spawn_strands_no_task() {
    model(3, || {
        let shared = Arc::new(Shared::new(1, Config::default()));
        let drops = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (shared, drops) = (shared.clone(), drops.clone());
            loom::thread::spawn(move || {
                let guard = DropCount(drops);
                Shared::spawn(
                    &shared,
                    async move {
                        let _guard = guard;
                        std::future::pending::<()>().await;
                    },
                    None,
                    std::panic::Location::caller(),
                )
            })
        };
        shared.begin_shutdown();
        shared.cancel_all(1);
        let handle = spawner.join().unwrap();
        // No worker exists in this model: the task never ran, so it must have been dropped.
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        assert!(handle.is_finished());
        assert!(shared.injector.is_empty());
        assert_eq!(shared.registry.len(), 0);
    });
}

/// A worker back from a section retires at its poll boundary (its replacement runs, and the
/// core has work queued, as it always has while shutdown begins) just as shutdown begins: it
/// must not stay parked once shutdown's wake-up of parked workers has gone out. Its recheck
/// sees the shutdown whatever the core's queues hold.
#[test]
fn retirement_racing_shutdown_does_not_park_for_good() {
    model(3, || {
        let shared = Arc::new(Shared::new(1, Config::default()));
        let core = &shared.cores[0];
        let back = Arc::new(Parker::new());
        core.reserve_worker();
        assert!(core.add_worker(&back, &shared.idle, || false, || Recheck::Nothing));
        assert!(core.wake_one(&shared.idle, Wake::Work));
        assert_eq!(Parker::park(&back), Wake::Work);
        // Its section is handed off with nothing queued; a replacement takes the baton; the
        // section ends: two workers run.
        assert_eq!(
            core.hand_off(&shared.idle, || Recheck::Nothing),
            HandOff::NoWork
        );
        let replacement = Arc::new(Parker::new());
        core.reserve_worker();
        assert!(core.add_worker(&replacement, &shared.idle, || false, || Recheck::Nothing));
        assert!(core.wake_one(&shared.idle, Wake::Work));
        core.return_from_section(&shared.idle);
        assert_eq!(core.state().running(), 2, "{:?}", core.state());
        let tally = Tally::new();
        core.queue.push(tally.task()).unwrap();

        let retiring = {
            let (shared, back) = (shared.clone(), back.clone());
            loom::thread::spawn(move || {
                // If this parks for good, the join below never returns: loom reports a
                // deadlock.
                shared.cores[0].retire(&back, &shared.idle, |work_here| {
                    shared.recheck_parking(0, work_here)
                })
            })
        };
        shared.begin_shutdown();
        let wake = retiring.join().unwrap();
        assert_eq!(wake, Some(Wake::Work), "the worker retired and was let go");
        assert_eq!(tally.polls(), 0);
    });
}
