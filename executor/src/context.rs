//! Which runtime and core the current thread works for, and what it is doing for them.
//!
//! Everything a poll and a wake read or mark on their thread lives in one thread-local,
//! [`Context`]: the worker marking, the poll's baton state, the cooperative budget
//! ([`crate::coop`]) and the class mark ([`crate::task::boost`]). Reaching a thread-local is a
//! call to its accessor, inlined only into the code that shares its codegen unit; the call has
//! no side effects, so a function that reaches the same thread-local several times calls its
//! accessor once. With one thread-local, a worker's loop calls it once for all its polls (the
//! call marking the worker dominates them) and a wake once, whatever fields they touch.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::core::SectionWord;
use crate::sys;

/// The current thread's runtime context (see the module docs); every field a `Cell` of a
/// `Copy` value, so the thread-local is initialised at compile time and has no destructor: an
/// access is an address computation, with no first-use check or registration.
#[derive(Debug)]
pub(crate) struct Context {
    /// `(runtime id, core index)` while this thread is a runtime's worker.
    worker: Cell<Option<(u64, usize)>>,
    /// What this worker thread is doing with its core's baton (see [`Polling`]).
    polling: Cell<Polling>,
    /// Set when a section of the poll in progress on this thread had its baton passed on.
    handed_off: Cell<bool>,
    /// Set when the section in progress on this thread woke a task of its runtime.
    woke_in_section: Cell<bool>,
    /// This worker thread's section word, or null off the runtime's workers.
    word: Cell<*const SectionWord>,
    /// The handoff counter of the work queue whose task this thread is polling, or null.
    queue_handoffs: Cell<*const AtomicU64>,
    /// The id of the ordered work queue whose runner this thread is polling, or 0.
    ordered_queue: Cell<u32>,
    /// Units of cooperative budget left in the poll running on this thread; `None`: no budget
    /// (outside a task poll, or inside `unconstrained`). Read and written by [`crate::coop`].
    pub(crate) budget: Cell<Option<u8>>,
    /// Whether the task a worker of this thread runs now is `High`. Read and written by
    /// [`crate::task::boost`].
    pub(crate) polling_high: Cell<bool>,
}

thread_local! {
    /// This thread's [`Context`].
    static CONTEXT: Context = const {
        Context {
            worker: Cell::new(None),
            polling: Cell::new(Polling::No),
            handed_off: Cell::new(false),
            woke_in_section: Cell::new(false),
            word: Cell::new(std::ptr::null()),
            queue_handoffs: Cell::new(std::ptr::null()),
            ordered_queue: Cell::new(0),
            budget: Cell::new(None),
            polling_high: Cell::new(false),
        }
    };
}

/// Runs `f` with this thread's [`Context`].
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&Context) -> R) -> R {
    CONTEXT.with(f)
}

/// Marks this thread as polling the runner of ordered work queue `id` (0: none), and returns
/// the previous mark, which the caller restores before the poll ends (also when it unwinds).
pub(crate) fn set_ordered_queue(id: u32) -> u32 {
    with(|cx| cx.ordered_queue.replace(id))
}

/// The mark of [`set_ordered_queue`]: the ordered work queue whose tasks this thread runs.
pub(crate) fn ordered_queue() -> u32 {
    with(|cx| cx.ordered_queue.get())
}

/// Counts a section on this thread whose core was handed off, in the counter of the work queue
/// whose task is being polled (if any).
pub(crate) fn count_handoff() {
    let counter = with(|cx| cx.queue_handoffs.get());
    // SAFETY: a non-null pointer was set by `set_queue_handoffs` for the duration of a poll
    // of one of the queue's tasks, which keeps the queue (and so the counter) alive; it is
    // reset before that poll returns or unwinds.
    if let Some(counter) = unsafe { counter.as_ref() } {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Marks this thread as polling a task of the work queue that owns `counter` (null: none), and
/// returns the previous mark. The caller restores the previous mark before the poll ends (also
/// when it unwinds) and keeps the counter alive meanwhile.
pub(crate) fn set_queue_handoffs(counter: *const AtomicU64) -> *const AtomicU64 {
    with(|cx| cx.queue_handoffs.replace(counter))
}

/// The mark of [`set_queue_handoffs`]: which work queue's task this thread is polling.
pub(crate) fn queue_handoffs() -> *const AtomicU64 {
    with(|cx| cx.queue_handoffs.get())
}

/// Whether, and how, this worker thread is polling a task: what a task woken on this thread may
/// count on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Polling {
    /// Not polling a task: not a worker, or a worker between polls, parked (running wakers in
    /// the reactor), or in its thread-start and thread-stop callbacks. The worker does not hold
    /// its core's baton on the runtime's behalf here.
    No,
    /// Polling a task while holding its core's baton, outside any blocking section: this worker
    /// looks at its core's next-task slot at its next poll boundary, before it could park.
    Baton,
    /// Polling a task inside a blocking section. The section's baton may pass on at any moment
    /// (at once for an eager section, or when the monitor hands it off), after which nothing
    /// on this thread looks at the core's queues until the section ends.
    Section,
}

/// Marks the start of a poll by a worker that holds its core's baton.
pub(crate) fn start_poll() {
    with(|cx| {
        cx.polling.set(Polling::Baton);
        cx.handed_off.set(false);
    });
}

/// Marks the end of a poll.
pub(crate) fn end_poll() {
    with(|cx| cx.polling.set(Polling::No));
}

/// What this thread is doing with its core's baton (one thread-local read: the scheduling hot
/// path calls this for every wake).
pub(crate) fn polling() -> Polling {
    with(|cx| cx.polling.get())
}

/// Marks this poll as inside a blocking section. Called by the section hook for a section it
/// tracks, which starts in [`Polling::Baton`].
pub(crate) fn enter_section() {
    with(|cx| {
        cx.polling.set(Polling::Section);
        cx.woke_in_section.set(false);
    });
}

/// Records that the section in progress on this thread woke a task of its runtime on this
/// core: a section that then waits may well wait for that task (a synchronous client in
/// front of an async service), which needs a worker of the core to run.
pub(crate) fn note_woke_in_section() {
    with(|cx| cx.woke_in_section.set(true));
}

/// Whether the section in progress (or the last one) on this thread woke a task of its
/// runtime on this core.
pub(crate) fn woke_in_section() -> bool {
    with(|cx| cx.woke_in_section.get())
}

/// Marks the end of the section [`enter_section`] marked. Only a poll still marked inside a
/// section goes back to [`Polling::Baton`]: a section guard kept across an `.await` (which the
/// guard's docs advise against) may end after the poll that opened it, outside any poll.
pub(crate) fn leave_section() {
    with(|cx| {
        if cx.polling.get() == Polling::Section {
            cx.polling.set(Polling::Baton);
        }
    });
}

/// Records that a section of the current poll had its baton passed on: from here until the poll
/// ends another worker of the core may run too (the core protocol's `keep_working`).
pub(crate) fn note_handed_off() {
    with(|cx| cx.handed_off.set(true));
}

/// Whether a section of the current poll had its baton passed on since the poll started or the
/// last call; clears the mark.
pub(crate) fn take_handed_off() -> bool {
    with(|cx| cx.handed_off.replace(false))
}

/// A fresh runtime id, distinct from every other runtime's in this process.
pub(crate) fn next_runtime_id() -> u64 {
    /// The last id handed out. Relaxed: ids only need to be unique.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Records this worker thread's section word until the guard drops; the caller keeps `word`
/// alive meanwhile.
pub(crate) fn enter_word(word: &SectionWord) -> WordGuard {
    let previous = with(|cx| cx.word.replace(std::ptr::from_ref(word)));
    WordGuard { previous }
}

/// Restores the previous section word when dropped.
#[derive(Debug)]
pub(crate) struct WordGuard {
    previous: *const SectionWord,
}

impl Drop for WordGuard {
    fn drop(&mut self) {
        with(|cx| cx.word.set(self.previous));
    }
}

/// Whether the monitor took over the poll in progress on this worker ([`crate::detect`]): it
/// blocked outside any section, and the core's baton passed on without this thread knowing.
/// Called after queueing a task for this worker's next poll boundary, which is then far off.
///
/// The load pairs with the monitor's claim through the asymmetric barrier
/// ([`sys::light_barrier`] here, the heavy one after the claim): either it sees the claim, or
/// the monitor's handoff, which looks at the core's queues after its barrier, sees the task.
pub(crate) fn poll_taken_over() -> bool {
    sys::light_barrier();
    let word = with(|cx| cx.word.get());
    // SAFETY: a non-null pointer was set by `enter_word` from the worker's own section word,
    // which the worker keeps alive until the guard has reset it.
    unsafe { word.as_ref() }.is_some_and(SectionWord::in_section)
}

/// Marks the current thread as a worker of `runtime`'s `core` until the guard drops.
pub(crate) fn enter_worker(runtime: u64, core: usize) -> WorkerGuard {
    let previous = with(|cx| cx.worker.replace(Some((runtime, core))));
    WorkerGuard { previous }
}

/// Restores the previous worker marking when dropped.
#[derive(Debug)]
pub(crate) struct WorkerGuard {
    previous: Option<(u64, usize)>,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        with(|cx| cx.worker.set(self.previous));
    }
}

/// The `(runtime id, core)` this thread works for, if it is a worker.
pub(crate) fn current_worker() -> Option<(u64, usize)> {
    with(|cx| cx.worker.get())
}

/// The core of `runtime` this thread works for, if it is one of that runtime's workers.
pub(crate) fn worker_core(runtime: u64) -> Option<usize> {
    match current_worker() {
        Some((id, core)) if id == runtime => Some(core),
        _ => None,
    }
}
