//! Loom models of the runtime's concurrency protocols (run with `RUSTFLAGS="--cfg loom"`).
//!
//! Each model keeps to three threads or fewer and sets its own preemption bound, so the whole
//! set runs in a few minutes. They drive the real types (`Core`, the queues, `Shared`) with the
//! loom versions of the `crate::sync` primitives; tasks are real async-task tasks whose
//! futures count how often they are polled and dropped. The exception is `runner`: the
//! ordered queue's runner needs a whole runtime, so that model mirrors its steps one for one
//! (its docs name the functions).

mod admission;
mod boost;
mod detect;
mod handoff;
mod park;
mod resize;
mod runner;
mod shutdown;
mod spawn;
mod steal;
mod workqueue;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::core::Core;
use crate::queue::{Priority, Queue, Runnable, TaskMeta};
use crate::sync::{Arc, AtomicUsize, Ordering};

/// Runs `f` under loom with a bounded number of preemptions.
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(f);
}

/// `core`'s `Normal` local queue, where most models queue their tasks.
fn local(core: &Core) -> &Queue {
    &core.classes[Priority::Normal].queue
}

/// A future that counts its polls and drops.
struct Counted {
    polls: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Future for Counted {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counters shared by a model's tasks.
#[derive(Clone)]
struct Tally {
    polls: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            polls: Arc::new(AtomicUsize::new(0)),
            drops: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A runnable task (not yet queued) counting into this tally. Waking it again is never
    /// needed by the models, so its schedule function drops the runnable.
    fn task(&self) -> Runnable {
        let future = Counted {
            polls: self.polls.clone(),
            drops: self.drops.clone(),
        };
        let (runnable, task) = async_task::Builder::new()
            .metadata(TaskMeta::new(
                None,
                crate::queue::Priority::Normal,
                std::panic::Location::caller(),
                None,
                0,
            ))
            .spawn(move |_| future, drop);
        task.detach();
        runnable
    }

    fn polls(&self) -> usize {
        self.polls.load(Ordering::Relaxed)
    }

    fn drops(&self) -> usize {
        self.drops.load(Ordering::Relaxed)
    }
}
