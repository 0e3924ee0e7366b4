//! A work queue's tasks: the future wrapped around each one.
//!
//! # A task's life in a queue
//!
//! 1. `spawn` ([`super::spawn`]) allocates the task (async-task) with its future wrapped in a
//!    [`QueueTask`], and offers its `Runnable`, as a [`Held`](super::held::Held), to admission.
//! 2. Admitted at once, or later when another task finishes, the `Held` is submitted to the
//!    runtime ([`Inner::submit`]): a task admitted at its spawn like any new task, one admitted
//!    because the task being polled finished to the core's next-task slot (it runs next,
//!    cache-hot, as a chained wake would). Until then it waits inside the queue. An ordered queue's
//!    tasks are never submitted: its runner runs them (see [`super::runner`]).
//! 3. The task's future is dropped when the task completes, panics (the panic was caught
//!    inside), or is cancelled (aborted, or by shutdown; see [`crate::task`]). The
//!    [`QueueTask`]'s drop then frees the task's place and submits the task admitted to it
//!    (inside an ordered queue's runner, it tells the runner instead).
//! 4. A task dropped while still held (shutdown, a refused spawn, a delay cancelled by shutdown)
//!    never had a place: dropping a `Held` sets a thread-local flag that tells the wrapper so.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::held::{self, Dropping};
use super::inner::Inner;
use super::live::LiveId;
use super::marks::{Marked, Timed};
use super::runner;
use crate::context;

pin_project_lite::pin_project! {
    /// Wraps the future of one of a queue's tasks: marks the thread as polling the queue (an
    /// ordered queue's runner does it around the whole run), and frees its place when dropped.
    pub(super) struct QueueTask<F> {
        // Dropped in place by the `PinnedDrop` below, before `finish` (even when its drop
        // panics: `None` is written all the same): the next task never overlaps it. `None`
        // only from then on.
        #[pin]
        future: Option<F>,
        // Tells the queue the task is gone, after the future is dropped.
        finish: Finish,
    }

    impl<F> PinnedDrop for QueueTask<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Read before the future is dropped: dropping it may drop other tasks.
            this.finish.how = held::take_dropping();
            // Its destructors run as part of the task, like its polls: one that waits for the
            // queue (a flush or drain) would wait for this very task, and panics instead. (An
            // ordered queue's runner marks the thread around the whole run already.)
            let inner = &this.finish.inner;
            let _marked = (!inner.is_polled_here()).then(|| Marked::enter(inner.counters()));
            this.future.set(None);
        }
    }
}

impl<F> QueueTask<F> {
    pub(super) fn new(
        future: F,
        inner: Arc<Inner>,
        key: Option<u64>,
        generation: u64,
        live: LiveId,
    ) -> Self {
        QueueTask {
            future: Some(future),
            finish: Finish {
                inner,
                key,
                generation,
                live,
                how: Dropping::Started,
            },
        }
    }
}

impl<F: Future> Future for QueueTask<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this
            .future
            .as_pin_mut()
            .expect("a queue's task is polled only before it is dropped");
        let inner = &this.finish.inner;
        // A takeover of this poll by the monitor counts in the queue's detections, before the
        // task's handle can learn that it finished.
        if inner.is_ordered() {
            // Run by the runner, which marks the thread around the run, times its whole poll,
            // and starts a task only in a poll not taken over (it looks before each): a
            // takeover seen after this task's poll happened during it.
            let poll = future.poll(cx);
            if context::poll_taken_over() {
                inner.counters().count_detection();
            }
            if poll.is_pending() {
                // The runner must be able to cancel it while it waits (shutdown).
                runner::job_pending(cx.waker());
            }
            return poll;
        }
        let taken_over = context::poll_taken_over();
        let poll = {
            let _timed = Timed::since(inner.counters(), Instant::now());
            let _marked = Marked::enter(inner.counters());
            future.poll(cx)
        };
        if !taken_over && context::poll_taken_over() {
            inner.counters().count_detection();
        }
        poll
    }
}

/// Tells the queue a task is gone, when dropped: how far the task got is recorded by the
/// task's drop, before its future is dropped.
struct Finish {
    inner: Arc<Inner>,
    key: Option<u64>,
    generation: u64,
    /// Its entry among the queue's live tasks, freed when it is dropped.
    live: LiveId,
    how: Dropping,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let started = self.how == Dropping::Started;
        if started && self.inner.is_ordered() && self.inner.is_polled_here() {
            // Inside the runner's run of this task: counted now (before its handle learns it
            // finished), reported to the state by the runner.
            self.inner.counters().count_ran();
            runner::job_done();
            return;
        }
        self.inner.finished(
            self.key,
            self.generation,
            self.live,
            started,
            self.how != Dropping::Delayed,
        );
    }
}
