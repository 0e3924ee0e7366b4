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
//!    a chained wake would). Until then it waits inside the queue.
//! 3. async-task drops the future when the task completes, panics (the panic was caught inside),
//!    or is cancelled (aborted, or dropped by shutdown). The [`QueueTask`]'s `Drop` then frees
//!    the task's slot and submits the task admitted in its place.
//! 4. A task dropped while still held (shutdown, a refused spawn, a delay cancelled by shutdown)
//!    never had a slot: dropping a `Held` sets a thread-local flag that tells the wrapper so.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::inner::Inner;
use crate::context;
use crate::queue::Runnable;

thread_local! {
    /// The queue whose task this thread is polling (its `Inner`'s address), or 0: spawns from
    /// inside a draining queue are allowed.
    static POLLING_QUEUE: Cell<usize> = const { Cell::new(0) };
    /// Set while a `Held` drops its runnable: the wrapper being dropped never started.
    static DROPPING_HELD: Cell<Dropping> = const { Cell::new(Dropping::Started) };
    /// Admitted tasks waiting to be submitted by an outer [`submit`] on this thread, so that a
    /// chain of tasks dropped on submission (at shutdown) is unrolled in a loop, not recursion.
    static TRAMPOLINE: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// Submissions queued behind an outer [`submit`] on this thread.
type Pending = Vec<(Arc<Inner>, Held, Submit)>;

/// Whether this thread is polling a task of the queue at `queue` (its `Inner`'s address).
pub(super) fn polling_queue(queue: usize) -> bool {
    POLLING_QUEUE.with(Cell::get) == queue
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
    /// `None` only once submitted.
    runnable: Option<Runnable>,
    /// For a delayed task not yet due: the generation it will count in.
    delayed: Option<u64>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").finish_non_exhaustive()
    }
}

impl Held {
    pub(super) fn new(runnable: Runnable) -> Held {
        Held {
            runnable: Some(runnable),
            delayed: None,
        }
    }

    /// Marks a delayed task, which counts in `generation` once due.
    pub(super) fn delayed(mut self, generation: u64) -> Held {
        self.delayed = Some(generation);
        self
    }

    /// A delayed task became due: returns the generation it now counts in.
    pub(super) fn count(&mut self) -> u64 {
        self.delayed
            .take()
            .expect("only a delayed task is counted late")
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(runnable) = self.runnable.take() {
            let how = if self.delayed.is_some() {
                Dropping::Delayed
            } else {
                Dropping::Held
            };
            DROPPING_HELD.with(|d| d.set(how));
            drop(runnable);
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

/// Submits an admitted task of `inner` to the runtime. Reentrant calls (a submission that
/// dropped a task, at shutdown, whose wrapper admitted the next one) queue on this thread and
/// run in the outer call's loop, so a long chain unrolls without recursion.
pub(super) fn submit(inner: &Arc<Inner>, held: Held, how: Submit) {
    let first = TRAMPOLINE.with(|t| {
        let mut t = t.borrow_mut();
        match t.as_mut() {
            Some(pending) => {
                pending.push((Arc::clone(inner), held, how));
                None
            }
            None => {
                *t = Some(Vec::new());
                Some(held)
            }
        }
    });
    let Some(held) = first else { return };
    submit_one(inner, held, how);
    while let Some((inner, held, how)) =
        TRAMPOLINE.with(|t| t.borrow_mut().as_mut().and_then(Vec::pop))
    {
        submit_one(&inner, held, how);
    }
    TRAMPOLINE.with(|t| *t.borrow_mut() = None);
}

fn submit_one(inner: &Inner, mut held: Held, how: Submit) {
    let runnable = held.runnable.take().expect("a held task is submitted once");
    if inner.any_core {
        inner.shared.submit_anywhere(runnable);
    } else if how == Submit::Next {
        inner.shared.submit_next(runnable);
    } else {
        inner.shared.submit(runnable);
    }
}

/// Wraps the future of one of a queue's tasks: marks the thread as polling the queue, counts
/// the handoffs of its sections, and frees its slot when dropped.
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

/// Restores the thread's polling marks when a poll ends, even by panic.
struct PollGuard<'a> {
    previous: usize,
    handoffs: u64,
    inner: &'a Inner,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        POLLING_QUEUE.with(|p| p.set(self.previous));
        let handed = context::handoffs().wrapping_sub(self.handoffs);
        if handed > 0 {
            self.inner
                .stats
                .handoffs
                .fetch_add(handed, std::sync::atomic::Ordering::Relaxed);
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
        let _guard = PollGuard {
            previous: POLLING_QUEUE.with(|p| p.replace(Arc::as_ptr(&this.inner) as usize)),
            handoffs: context::handoffs(),
            inner: &this.inner,
        };
        // SAFETY: see above; `this.future` stays where it is.
        unsafe { Pin::new_unchecked(&mut *this.future) }.poll(cx)
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
    inner: &'a Arc<Inner>,
    key: Option<u64>,
    generation: u64,
    how: Dropping,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.inner.finished(
            self.key,
            self.generation,
            self.how == Dropping::Started,
            self.how != Dropping::Delayed,
        );
    }
}
