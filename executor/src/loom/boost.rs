//! Priority inheritance's sweep racing the queues' other users: while a core's worker sweeps a
//! raised task out of its lower queues (`core::boost`), another core steals from the same local
//! queue and a third thread wakes one more task into it. Every task runs exactly once, and the
//! raised task, unless stolen, ends in the `High` queue.
//!
//! (The raise itself writes the task's metadata word, a std atomic that loom does not model:
//! the model raises before the race and drives the queues, which is where a task could be lost
//! or run twice.)

use super::{model, Tally};
use crate::core::boost::{request_sweep, Boosts, Injectors};
use crate::core::Core;
use crate::queue::{self, Priority, Queue};
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
        let injector = Arc::new(queue::unbounded_queue());
        let high_injector = queue::unbounded_queue();
        let low_injector = queue::unbounded_queue();
        let boosts = Boosts::new(1);
        let tally = Tally::new();
        // The raised task waits in the local queue, a `Normal` one in the next-task slot.
        let raised = tally.task();
        assert!(raised.metadata().raise());
        request_sweep();
        core.queue.push(raised).unwrap();
        core.lifo.push(tally.task()).unwrap();
        let waker = {
            let (core, injector, woken) = (core.clone(), injector.clone(), tally.task());
            loom::thread::spawn(move || queue::push_or_spill(&core.queue, &injector, woken))
        };
        let thief = {
            let core = core.clone();
            loom::thread::spawn(move || {
                let own = queue::local_queue();
                queue::steal_into(&core.queue, &own).map_or(0, |first| {
                    first.run();
                    1 + run_all(&[&own])
                })
            })
        };
        // The core's worker: its turn's sweep, then its `High` queue.
        assert!(boosts.due(0));
        let injectors = Injectors {
            high: &high_injector,
            normal: &injector,
            idle: &low_injector,
        };
        boosts.sweep(&core, injectors);
        assert!(!boosts.due(0), "one sweep per raise");
        let high: Vec<_> = std::iter::from_fn(|| core.high.queue.pop().ok()).collect();
        assert!(high
            .iter()
            .all(|r| r.metadata().priority() == Priority::High));
        let mut ran = high.len();
        for r in high {
            r.run();
        }
        waker.join().unwrap();
        let stolen = thief.join().unwrap();
        let lower: Vec<_> = core
            .lifo
            .pop()
            .into_iter()
            .chain(std::iter::from_fn(|| core.queue.pop().ok()))
            .chain(std::iter::from_fn(|| injector.pop().ok()))
            .collect();
        assert!(
            lower
                .iter()
                .all(|r| r.metadata().priority() != Priority::High),
            "the sweep left the raised task in a lower queue"
        );
        ran += lower.len();
        for r in lower {
            r.run();
        }
        ran += run_all(&[&core.high.queue]);
        assert_eq!(ran + stolen, 3);
        assert_eq!(tally.polls(), 3, "each task polled exactly once");
        assert_eq!(tally.drops(), 3);
    });
}
