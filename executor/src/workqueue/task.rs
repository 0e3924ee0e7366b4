//! A work queue's tasks: the future wrapped around each one, and the runnable a queue holds
//! back until admission lets it start.
//!
//! # A task's life in a queue
//!
//! 1. `spawn` allocates the task (async-task) with its future wrapped in a [`QueueTask`], and
//!    offers its `Runnable`, as a [`Held`], to admission.
//! 2. Admitted at once, or later when another task finishes, the `Held` is submitted to the
//!    runtime ([`submit`]): a task admitted at its spawn like any new task, one admitted because
//!    the task being polled finished to the core's next-task slot (it runs next, cache-hot, as
//!    a chained wake would). Until then it waits inside the queue. An ordered queue's tasks are
//!    never submitted: its runner runs them (see [`super::runner`]).
//! 3. The task's future is dropped when the task completes, panics (the panic was caught
//!    inside), or is cancelled (aborted, or by shutdown; see [`crate::task`]). The [`QueueTask`]'s `Drop` then frees
//!    the task's slot and submits the task admitted in its place (inside an ordered queue's
//!    runner, it tells the runner instead).
//! 4. A task dropped while still held (shutdown, a refused spawn, a delay cancelled by shutdown)
//!    never had a slot: dropping a `Held` sets a thread-local flag that tells the wrapper so.

use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::inner::Inner;
use super::runner;
use crate::context;
use crate::queue::Runnable;

thread_local! {
    /// Set while a `Held` drops its runnable: the wrapper being dropped never started.
    static DROPPING_HELD: Cell<Dropping> = const { Cell::new(Dropping::Started) };
}

/// What a queue task's wrapper learns, when it is dropped, about how far its task got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dropping {
    /// It was submitted: it had a slot (the default, read when no `Held` is dropping).
    Started,
    /// It was held back, counted in its generation.
    Held,
    /// It was a delayed task whose delay had not expired: not counted in a generation.
    Delayed,
}

/// A task held back by its queue.
pub(super) struct Held {
    /// `None` only once submitted (or taken by the runner).
    runnable: Option<Runnable>,
    /// The generation it counts in (once due, for a delayed task).
    generation: u64,
    /// A delayed task whose delay has not expired.
    delayed: bool,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").finish_non_exhaustive()
    }
}

impl Held {
    pub(super) fn new(runnable: Runnable, generation: u64) -> Held {
        Held {
            runnable: Some(runnable),
            generation,
            delayed: false,
        }
    }

    /// Marks a delayed task, which counts in its generation once due.
    pub(super) fn delayed(mut self) -> Held {
        self.delayed = true;
        self
    }

    /// A delayed task became due: returns the generation it now counts in.
    pub(super) fn count(&mut self) -> u64 {
        debug_assert!(self.delayed, "only a delayed task is counted late");
        self.delayed = false;
        self.generation
    }

    /// The generation the task counts in.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the task was raised to `High` (priority inheritance) while its queue's class is
    /// lower.
    pub(super) fn is_raised(&self, queue: crate::queue::Priority) -> bool {
        queue != crate::queue::Priority::High
            && self
                .runnable
                .as_ref()
                .is_some_and(|r| r.metadata().priority() == crate::queue::Priority::High)
    }

    /// Raises the task to `High` if it counts in generation `target` or earlier (a flush
    /// awaited by a `High` task waits for it); returns whether it was lower.
    pub(super) fn raise_until(&self, target: u64) -> bool {
        self.runnable
            .as_ref()
            .filter(|_| self.generation <= target)
            .is_some_and(|runnable| runnable.metadata().raise())
    }

    /// Takes the runnable to run or submit it: the task now has a slot.
    pub(super) fn take(mut self) -> Runnable {
        self.runnable.take().expect("a held task is submitted once")
    }
}

impl Drop for Held {
    /// Cancels the task, which never started, on this thread.
    fn drop(&mut self) {
        if let Some(runnable) = self.runnable.take() {
            let how = if self.delayed {
                Dropping::Delayed
            } else {
                Dropping::Held
            };
            DROPPING_HELD.with(|d| d.set(how));
            crate::task::cancel(runnable);
            // Normally the wrapper has reset it already; a task whose future had already been
            // dropped (it cannot have been: it never ran) would leave it set.
            DROPPING_HELD.with(|d| d.set(Dropping::Started));
        }
    }
}

/// How an admitted task is submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Submit {
    /// Admitted at its spawn: placed like any new task (`Shared::submit`: the next-task slot
    /// if it is free and the spawner is a task on a worker, else the back of the queue).
    Spawned,
    /// Admitted because the task this worker is polling finished: runs next on this core.
    Next,
}

/// Submits an admitted task of `inner` to the runtime.
///
/// At shutdown the runtime drops it instead, which re-enters [`Inner::finished`]; that admits
/// nothing once the runtime shuts down, so such drops never chain.
pub(super) fn submit(inner: &Inner, held: Held, how: Submit) {
    inner.submit(held.take(), how);
}

/// Marks this thread as polling a task of the queue `inner` until dropped (also by
/// unwinding): spawns from it pass a drain, and its sections' handoffs count for the queue.
pub(super) struct Marked {
    previous: *const AtomicU64,
}

impl Marked {
    pub(super) fn enter(inner: &Inner) -> Marked {
        Marked {
            previous: context::set_queue_handoffs(&inner.stats.handoffs),
        }
    }
}

impl Drop for Marked {
    fn drop(&mut self) {
        context::set_queue_handoffs(self.previous);
    }
}

/// Adds the time from `since` until dropped (also by unwinding) to the queue's poll time.
pub(super) struct Timed<'a> {
    poll_nanos: &'a AtomicU64,
    since: Instant,
}

impl Timed<'_> {
    pub(super) fn since(inner: &Inner, since: Instant) -> Timed<'_> {
        Timed {
            poll_nanos: &inner.stats.poll_nanos,
            since,
        }
    }
}

impl Drop for Timed<'_> {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.poll_nanos.fetch_add(nanos, Relaxed);
    }
}

/// Wraps the future of one of a queue's tasks: marks the thread as polling the queue (an
/// ordered queue's runner does it around the whole run), and frees its slot when dropped.
pub(super) struct QueueTask<F> {
    /// Dropped by hand, before the slot is freed, so the next task never overlaps it.
    future: ManuallyDrop<F>,
    inner: Arc<Inner>,
    key: Option<u64>,
    generation: u64,
}

impl<F> QueueTask<F> {
    pub(super) fn new(future: F, inner: Arc<Inner>, key: Option<u64>, generation: u64) -> Self {
        QueueTask {
            future: ManuallyDrop::new(future),
            inner,
            key,
            generation,
        }
    }
}

impl<F: Future> Future for QueueTask<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self`, and
        // `QueueTask` has no `Unpin` impl that would allow moving it while pinned. The other
        // fields are only read.
        let this = unsafe { self.get_unchecked_mut() };
        // A takeover of this poll by the monitor counts in the queue's detections, before the
        // task's handle can learn that it finished.
        if this.inner.ordered {
            // Run by the runner, which marks the thread around the run, times its whole poll,
            // and starts a task only in a poll not taken over (it looks before each): a
            // takeover seen after this task's poll happened during it.
            // SAFETY: see above; `this.future` stays where it is.
            let poll = unsafe { Pin::new_unchecked(&mut *this.future) }.poll(cx);
            if context::poll_taken_over() {
                this.inner.stats.detections.fetch_add(1, Relaxed);
            }
            if poll.is_pending() {
                // The runner must be able to cancel it while it waits (shutdown).
                runner::job_pending(cx.waker());
            }
            return poll;
        }
        let taken_over = context::poll_taken_over();
        let poll = {
            let _timed = Timed::since(&this.inner, Instant::now());
            let _marked = Marked::enter(&this.inner);
            // SAFETY: see above; `this.future` stays where it is.
            unsafe { Pin::new_unchecked(&mut *this.future) }.poll(cx)
        };
        if !taken_over && context::poll_taken_over() {
            this.inner.stats.detections.fetch_add(1, Relaxed);
        }
        poll
    }
}

impl<F> Drop for QueueTask<F> {
    fn drop(&mut self) {
        let how = DROPPING_HELD.with(|d| d.replace(Dropping::Started));
        let _release = Finish {
            inner: &self.inner,
            key: self.key,
            generation: self.generation,
            how,
        };
        // SAFETY: the future is dropped in place, once, and never touched again: `self` is
        // being dropped. Dropping in place keeps the pinning guarantee.
        unsafe { ManuallyDrop::drop(&mut self.future) };
    }
}

/// Tells the queue a task is gone, when dropped.
struct Finish<'a> {
    inner: &'a Inner,
    key: Option<u64>,
    generation: u64,
    how: Dropping,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let started = self.how == Dropping::Started;
        if started && self.inner.ordered && self.inner.is_polled_here() {
            // Inside the runner's run of this task: counted now (before its handle learns it
            // finished), reported to the state by the runner.
            self.inner.stats.ran.fetch_add(1, Relaxed);
            runner::job_done();
            return;
        }
        self.inner.finished(
            self.key,
            self.generation,
            started,
            self.how != Dropping::Delayed,
        );
    }
}
