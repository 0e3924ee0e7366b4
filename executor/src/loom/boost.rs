//! Priority inheritance's sweep racing the queues' other users: while a core's worker sweeps a
//! raised task out of its lower queues (`core::boost`), another core steals from the same local
//! queue and a third thread wakes one more task into it. Every task runs exactly once, and the
//! raised task, unless stolen, ends in the `High` queue.
//!
//! (The raise itself writes the task's metadata word, a std atomic that loom does not model:
//! the model raises before the race and drives the queues, which is where a task could be lost
//! or run twice.)

use super::{model, Tally};
use crate::core::boost::{request_sweep, Boosts};
use crate::core::Core;
use crate::queue::{self, PerClass, Priority, Queue};
use crate::sync::Arc;

/// Runs every task `queues` hold; returns how many.
fn run_all(queues: &[&Queue]) -> usize {
    let mut ran = 0;
    for q in queues {
        while let Ok(r) = q.pop() {
            r.run();
            ran += 1;
        }
    }
    ran
}

#[test]
fn sweep_racing_steal_and_wake_runs_each_task_once() {
    model(2, || {
        let core = Arc::new(Core::new(0));
        let injectors = Arc::new(PerClass::from_fn(|_| queue::unbounded_queue()));
        let (normal, high) = (Priority::Normal, Priority::High);
        let boosts = Boosts::new(1);
        let tally = Tally::new();
        // The raised task waits in the local queue, a `Normal` one in the next-task slot.
        let raised = tally.task();
        assert!(raised.metadata().raise());
        request_sweep();
        core.classes[normal].queue.push(raised).unwrap();
        core.lifo.push(tally.task()).unwrap();
        let waker = {
            let (core, injectors, woken) = (core.clone(), injectors.clone(), tally.task());
            loom::thread::spawn(move || {
                queue::push_or_spill(&core.classes[normal].queue, &injectors[normal], woken)
            })
        };
        let thief = {
            let core = core.clone();
            loom::thread::spawn(move || {
                let own = queue::local_queue();
                queue::steal_into(&core.classes[normal].queue, &own).map_or(0, |first| {
                    first.run();
                    1 + run_all(&[&own])
                })
            })
        };
        // The core's worker: its turn's sweep, then its `High` queue.
        assert!(boosts.due(0));
        boosts.sweep(&core, &injectors);
        assert!(!boosts.due(0), "one sweep per raise");
        let in_high: Vec<_> = std::iter::from_fn(|| core.classes[high].queue.pop().ok()).collect();
        assert!(in_high.iter().all(|r| r.metadata().priority() == high));
        let mut ran = in_high.len();
        for r in in_high {
            r.run();
        }
        waker.join().unwrap();
        let stolen = thief.join().unwrap();
        let lower: Vec<_> = core
            .lifo
            .pop()
            .into_iter()
            .chain(std::iter::from_fn(|| core.classes[normal].queue.pop().ok()))
            .chain(std::iter::from_fn(|| injectors[normal].pop().ok()))
            .collect();
        assert!(
            lower.iter().all(|r| r.metadata().priority() != high),
            "the sweep left the raised task in a lower queue"
        );
        ran += lower.len();
        for r in lower {
            r.run();
        }
        ran += run_all(&[&core.classes[high].queue]);
        assert_eq!(ran + stolen, 3);
        assert_eq!(tally.polls(), 3, "each task polled exactly once");
        assert_eq!(tally.drops(), 3);
    });
}
