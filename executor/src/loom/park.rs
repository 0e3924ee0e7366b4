//! Spawn racing park: a task queued while the core's only worker decides to park is never
//! stranded (the core protocol's *need more worker* and parking steps, see `crate::core`).

use super::{model, Tally};
use crate::core::{Core, Idle, Recheck};
use crate::park::{Parker, Wake};
use crate::sync::Arc;

#[test]
fn spawn_racing_park_loses_no_wake_up() {
    model(3, || {
        let core = Arc::new(Core::new(0));
        let idle = Arc::new(Idle::new(1));
        let parker = Arc::new(Parker::new());
        core.reserve_worker();
        assert!(core.add_worker(&parker, &idle, || false, || Recheck::Nothing));
        // Hand the worker the baton, as the first notify would.
        assert!(core.wake_one(&idle, Wake::Work));
        assert_eq!(Parker::park(&parker), Wake::Work);

        let tally = Tally::new();
        let spawner = {
            let (core, idle, tally) = (core.clone(), idle.clone(), tally.clone());
            loom::thread::spawn(move || {
                core.queue.push(tally.task()).unwrap();
                core.notify(&idle);
            })
        };
        // The worker: run what is queued, park when there is nothing. If the spawner's wake-up
        // were lost, the second park would never return and loom would report a deadlock.
        let mut ran = 0;
        while ran == 0 {
            match core.queue.pop() {
                Ok(runnable) => {
                    runnable.run();
                    ran += 1;
                }
                Err(_) => {
                    core.park(&parker, &idle, |_| Recheck::Nothing);
                }
            }
        }
        spawner.join().unwrap();
        assert_eq!(tally.polls(), 1);
        let state = core.state();
        assert_eq!(state.running() + state.idle(), 1, "{state:?}");
    });
}

#[test]
fn two_notifiers_wake_one_worker() {
    model(2, || {
        let core = Arc::new(Core::new(0));
        let idle = Arc::new(Idle::new(1));
        for _ in 0..2 {
            core.reserve_worker();
            assert!(core.add_worker(
                &Arc::new(Parker::new()),
                &idle,
                || false,
                || Recheck::Nothing
            ));
        }
        let other = {
            let (core, idle) = (core.clone(), idle.clone());
            loom::thread::spawn(move || core.wake_one(&idle, Wake::Work))
        };
        let here = core.wake_one(&idle, Wake::Work);
        let there = other.join().unwrap();
        assert!(here ^ there, "exactly one wake succeeds: {here} {there}");
        assert_eq!(core.state().running(), 1);
        assert_eq!(core.state().idle(), 1);
    });
}
