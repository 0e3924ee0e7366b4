//! Spawn racing park: a task queued while the core's only worker decides to park is never
//! stranded (the core protocol's *need more worker* and parking steps, see `crate::core`).

use super::{local, model, Tally};
use crate::core::{Core, Recheck, Siblings};
use crate::park::{Parker, WakeFor};
use crate::sync::Arc;

#[test]
fn spawn_racing_park_loses_no_wake_up() {
    model(3, || {
        let core = Arc::new(Core::new(0));
        let siblings = Arc::new(Siblings::new(1));
        let parker = Arc::new(Parker::new());
        core.reserve_worker();
        assert!(core.add_worker(&parker, &siblings, || false, || Recheck::Nothing));
        // Hand the worker the baton, as the first notify would.
        assert!(core.wake_one(&siblings, WakeFor::Work));
        assert_eq!(Parker::park(&parker), WakeFor::Work);

        let tally = Tally::new();
        let spawner = {
            let (core, siblings, tally) = (core.clone(), siblings.clone(), tally.clone());
            loom::thread::spawn(move || {
                local(&core).push(tally.task()).unwrap();
                core.notify(&siblings);
            })
        };
        // The worker: run what is queued, park when there is nothing. If the spawner's wake-up
        // were lost, the second park would never return and loom would report a deadlock.
        let mut ran = 0;
        while ran == 0 {
            match local(&core).pop() {
                Ok(runnable) => {
                    runnable.run();
                    ran += 1;
                }
                Err(_) => {
                    core.park(&parker, &siblings, |_| Recheck::Nothing);
                }
            }
        }
        spawner.join().unwrap();
        assert_eq!(tally.polls(), 1);
        let state = core.state();
        assert_eq!(state.running() + state.spares(), 1, "{state:?}");
    });
}

#[test]
fn two_notifiers_wake_one_worker() {
    model(2, || {
        let core = Arc::new(Core::new(0));
        let siblings = Arc::new(Siblings::new(1));
        for _ in 0..2 {
            core.reserve_worker();
            assert!(core.add_worker(
                &Arc::new(Parker::new()),
                &siblings,
                || false,
                || Recheck::Nothing
            ));
        }
        let other = {
            let (core, siblings) = (core.clone(), siblings.clone());
            loom::thread::spawn(move || core.wake_one(&siblings, WakeFor::Work))
        };
        let here = core.wake_one(&siblings, WakeFor::Work);
        let there = other.join().unwrap();
        assert!(here ^ there, "exactly one wake succeeds: {here} {there}");
        assert_eq!(core.state().running(), 1);
        assert_eq!(core.state().spares(), 1);
    });
}
