//! The ordered queue's handoff from one task to the next: while the running task finishes on
//! one thread and another thread submits more, tasks still run one at a time, in submission
//! order, and none is lost. Drives the real admission state machine under a loom mutex, the
//! way the queue's task wrapper and `spawn` do (`workqueue/mod.rs`: `spawn`, `finished`).

use super::model;
use crate::sync::{lock, Arc, AtomicBool, Mutex, Ordering};
use crate::workqueue::Admission;

/// What the model's threads share: the queue's admission state, a "running" flag that catches
/// two tasks at once, and the order tasks ran in.
struct Queue {
    admission: Mutex<Admission<usize>>,
    running: AtomicBool,
    log: Mutex<Vec<usize>>,
}

impl Queue {
    /// `spawn`: offers task `id` (lane `key`); runs it here if admitted at once.
    fn spawn(&self, id: usize, key: Option<u64>) {
        let now = lock(&self.admission).push(id, key);
        if let Some(id) = now {
            self.run(id, key);
        }
    }

    /// Runs task `id`, then every task admitted in its place (the wrapper's `Drop` submits the
    /// next; here the same thread runs it, which is one of the schedules the runtime allows).
    fn run(&self, mut id: usize, key: Option<u64>) {
        loop {
            // Acquire/Release: this swap pairs with the store below of the task that ran
            // before; exclusion itself comes from the admission mutex, which this checks.
            assert!(
                !self.running.swap(true, Ordering::Acquire),
                "task {id} started while another ran"
            );
            lock(&self.log).push(id);
            self.running.store(false, Ordering::Release);
            match lock(&self.admission).finish(key) {
                Some(next) => id = next,
                None => return,
            }
        }
    }
}

#[test]
fn ordered_handoff_runs_one_task_at_a_time_in_order() {
    model(3, || {
        let queue = Arc::new(Queue {
            admission: Mutex::new(Admission::new(1)),
            running: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        });
        // Task 0 is admitted and runs on a worker while the spawner submits 1 and 2.
        let first = lock(&queue.admission).push(0, None);
        assert_eq!(first, Some(0));
        let worker = {
            let queue = queue.clone();
            loom::thread::spawn(move || queue.run(0, None))
        };
        queue.spawn(1, None);
        queue.spawn(2, None);
        worker.join().unwrap();
        assert_eq!(*lock(&queue.log), [0, 1, 2], "FIFO order, nothing lost");
        assert_eq!(lock(&queue.admission).waiting(), 0);
    });
}

#[test]
fn keyed_lane_handoff_keeps_the_key_in_order() {
    model(3, || {
        let queue = Arc::new(Queue {
            admission: Mutex::new(Admission::new(2)),
            running: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        });
        // Two tasks of one key: the second waits in the lane and starts on whichever thread
        // finishes the first. The "running" flag doubles as the lane's exclusion check.
        let first = lock(&queue.admission).push(10, Some(1));
        assert_eq!(first, Some(10));
        let worker = {
            let queue = queue.clone();
            loom::thread::spawn(move || queue.run(10, Some(1)))
        };
        queue.spawn(11, Some(1));
        worker.join().unwrap();
        assert_eq!(*lock(&queue.log), [10, 11]);
        assert_eq!(lock(&queue.admission).waiting(), 0);
    });
}
