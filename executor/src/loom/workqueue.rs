//! The work queues' handoffs under loom.
//!
//! - The ordered queue's handoff from one task to the next: while the running task finishes on
//!   one thread and another thread submits more, tasks still run one at a time, in submission
//!   order, and none is lost. Drives the real admission state machine under a loom mutex, the
//!   way the queue's `accept` and `finished` do (`workqueue/spawn.rs`, `workqueue/inner.rs`).
//! - A keyed lane's handoff, with a second key submitted meanwhile: each key's tasks run one at
//!   a time in order, while the other key may run beside them.
//! - `flush` waiting (`wait_until`, the real function: check, listen, check again) while the
//!   task that ends its generation finishes and notifies after releasing the lock: the
//!   notification is never lost (a lost one shows as a loom deadlock).

use event_listener::Event;

use super::model;
use crate::sync::{lock, Arc, AtomicBool, Mutex, Ordering};
use crate::workqueue::{wait_until, Admission, Generations};

/// Keys the model uses (`None` counts as key 0).
const KEYS: usize = 3;

/// What the model's threads share: the queue's admission state, one "running" flag per key
/// that catches two tasks of a key at once, and the order tasks ran in.
struct Queue {
    admission: Mutex<Admission<usize>>,
    running: [AtomicBool; KEYS],
    log: Mutex<Vec<usize>>,
}

impl Queue {
    fn new(max_active: usize) -> Queue {
        Queue {
            admission: Mutex::new(Admission::new(max_active)),
            running: std::array::from_fn(|_| AtomicBool::new(false)),
            log: Mutex::new(Vec::new()),
        }
    }

    /// `accept`: offers task `id` (lane `key`); runs it here if admitted at once.
    fn spawn(&self, id: usize, key: Option<u64>) {
        let now = lock(&self.admission).push(id, key);
        if let Some(id) = now {
            self.run(id, key);
        }
    }

    /// Runs task `id`, then every task admitted in its place (`finished` submits the next; here
    /// the same thread runs it, which is one of the schedules the runtime allows). The key of
    /// an admitted task is found from its id (`id / 10`), as the wrapper carries its own key.
    fn run(&self, mut id: usize, mut key: Option<u64>) {
        loop {
            let flag = &self.running[key.unwrap_or(0) as usize];
            // Acquire/Release: this swap pairs with the store below of the task of the key
            // that ran before; exclusion itself comes from the admission mutex, which this
            // checks.
            assert!(
                !flag.swap(true, Ordering::Acquire),
                "task {id} started while another of its key ran"
            );
            lock(&self.log).push(id);
            flag.store(false, Ordering::Release);
            match lock(&self.admission).finish(key) {
                Some(next) => {
                    id = next;
                    key = key_of(next);
                }
                None => return,
            }
        }
    }

    /// The ids that ran, of lane `key`, in order.
    fn ran(&self, key: Option<u64>) -> Vec<usize> {
        lock(&self.log)
            .iter()
            .copied()
            .filter(|&id| key_of(id) == key)
            .collect()
    }
}

/// The key of task `id` in these models: tens are keys, below ten no key.
fn key_of(id: usize) -> Option<u64> {
    match id / 10 {
        0 => None,
        key => Some(key as u64),
    }
}

#[test]
fn ordered_handoff_runs_one_task_at_a_time_in_order() {
    model(3, || {
        let queue = Arc::new(Queue::new(1));
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
fn keyed_lane_handoff_keeps_the_key_in_order_beside_another_key() {
    model(2, || {
        let queue = Arc::new(Queue::new(2));
        // Two tasks of key 1: the second waits in the lane and starts on whichever thread
        // finishes the first. A task of key 2, submitted meanwhile, takes the other slot (or
        // waits for one) and may run beside key 1's.
        let first = lock(&queue.admission).push(10, Some(1));
        assert_eq!(first, Some(10));
        let worker = {
            let queue = queue.clone();
            loom::thread::spawn(move || queue.run(10, Some(1)))
        };
        queue.spawn(11, Some(1));
        queue.spawn(20, Some(2));
        worker.join().unwrap();
        assert_eq!(queue.ran(Some(1)), [10, 11]);
        assert_eq!(queue.ran(Some(2)), [20]);
        let admission = lock(&queue.admission);
        assert_eq!((admission.waiting(), admission.in_flight()), (0, 0));
    });
}

/// Polls `future` to completion on this loom thread, parking it between wake-ups (loom's own
/// `block_on` needs a loom feature this workspace does not enable).
pub(super) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// Unparks the waiting loom thread.
    struct Unpark(loom::thread::Thread);

    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(loom::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        loom::thread::park();
    }
}

/// A queue's generations and its event, as `flush` and `finished` use them.
struct Flushed {
    generations: Mutex<Generations>,
    event: Event,
}

#[test]
fn flush_wakes_when_the_last_task_of_its_generation_finishes() {
    model(3, || {
        let queue = Arc::new(Flushed {
            generations: Mutex::new(Generations::default()),
            event: Event::new(),
        });
        // Two tasks of generation 0 are running; a flush waits for them while a third task
        // joins the next generation. The finishing tasks remove themselves under the lock and
        // notify after releasing it, as `finished` (and the runner's report) do.
        let target = {
            let mut generations = lock(&queue.generations);
            generations.add(0);
            generations.add(0);
            let target = generations.open();
            let current = generations.current();
            generations.add(current);
            target
        };
        let finish = |queue: &Flushed, generation: u64| {
            let wake = lock(&queue.generations).remove(generation);
            if wake {
                queue.event.notify(usize::MAX);
            }
        };
        let worker = {
            let queue = queue.clone();
            loom::thread::spawn(move || {
                finish(&queue, 0);
                finish(&queue, 0);
            })
        };
        block_on(wait_until(&queue.generations, &queue.event, |g| {
            g.done(target)
        }));
        worker.join().unwrap();
        let generations = lock(&queue.generations);
        assert!(generations.done(target));
        assert_eq!(generations.current(), 1, "the later task is still out");
    });
}
