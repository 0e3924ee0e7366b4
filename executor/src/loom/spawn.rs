//! A new worker thread joining its core (the core protocol's *a new worker starts parked*, see
//! `crate::core`): the thread parks itself on the spare stack once it runs, so a task queued while
//! it starts, or a shutdown that drains the spare stacks meanwhile, must not miss it.

use super::{local, model, Tally};
use crate::core::{Core, Recheck, Siblings};
use crate::park::{Parker, WakeFor};
use crate::sync::{Arc, AtomicBool, Ordering};

/// A task queued on a core with no worker running and none parked, while a new worker thread
/// (reserved by its spawner) parks itself: either the notifier sees the new worker parked and
/// wakes it, or the new worker's last look sees the task. If both missed, the new worker would
/// park for good and loom would report a deadlock.
#[test]
fn a_task_queued_while_a_worker_starts_runs() {
    model(3, || {
        let core = Arc::new(Core::new(0));
        let siblings = Arc::new(Siblings::new(1));
        core.reserve_worker();

        let tally = Tally::new();
        let spawner = {
            let (core, siblings, tally) = (core.clone(), siblings.clone(), tally.clone());
            loom::thread::spawn(move || {
                local(&core).push(tally.task()).unwrap();
                core.notify(&siblings);
            })
        };
        // The new thread: park itself, then run what it is handed.
        let parker = Arc::new(Parker::new());
        assert!(core.add_worker(&parker, &siblings, || false, || Recheck::Nothing));
        assert_eq!(Parker::park(&parker), WakeFor::Work);
        let runnable = local(&core).pop().expect("woken with no task queued");
        runnable.run();
        spawner.join().unwrap();
        assert_eq!(tally.polls(), 1);
        let state = core.state();
        assert_eq!(
            (state.running(), state.spares(), state.workers()),
            (1, 0, 1),
            "{state:?}"
        );
    });
}

/// Shutdown (set the flag, then wake every parked worker) racing a new worker thread that
/// parks itself: the thread is either woken by the drain or sees the flag and does not park.
/// A thread parked after the drain would never be woken, and loom would report a deadlock.
#[test]
fn a_worker_starting_during_shutdown_is_not_stranded() {
    model(3, || {
        let core = Arc::new(Core::new(0));
        let siblings = Arc::new(Siblings::new(1));
        let shutdown = Arc::new(AtomicBool::new(false));
        core.reserve_worker();

        let stopper = {
            let (core, shutdown) = (core.clone(), shutdown.clone());
            loom::thread::spawn(move || {
                shutdown.store(true, Ordering::SeqCst);
                core.wake_all();
            })
        };
        let parker = Arc::new(Parker::new());
        let joined = core.add_worker(
            &parker,
            &siblings,
            || shutdown.load(Ordering::SeqCst),
            || Recheck::Nothing,
        );
        if joined {
            assert_eq!(Parker::park(&parker), WakeFor::Work);
        } else {
            // It never joined: the reservation is dropped.
            assert_eq!(core.state().workers(), 0, "{:?}", core.state());
        }
        stopper.join().unwrap();
    });
}
