//! Which runtime and core the current thread works for.
//!
//! A single `Cell` read on the scheduling hot path: a task woken on one of its runtime's
//! workers goes to that worker's core queue, any other wake goes through the injector.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::core::SectionWord;
use crate::sys;

thread_local! {
    /// `(runtime id, core index)` while this thread is a runtime's worker.
    static WORKER: Cell<Option<(u64, usize)>> = const { Cell::new(None) };
    /// What this worker thread is doing with its core's baton (see [`Polling`]).
    static POLLING: Cell<Polling> = const { Cell::new(Polling::No) };
    /// Set when a section of the poll in progress on this thread had its baton passed on.
    static HANDED_OFF: Cell<bool> = const { Cell::new(false) };
    /// Set when the section in progress on this thread woke a task of its runtime.
    static WOKE_IN_SECTION: Cell<bool> = const { Cell::new(false) };
    /// This worker thread's section word, or null off the runtime's workers.
    static WORD: Cell<*const SectionWord> = const { Cell::new(std::ptr::null()) };
    /// The handoff counter of the work queue whose task this thread is polling, or null.
    static QUEUE_HANDOFFS: Cell<*const AtomicU64> = const { Cell::new(std::ptr::null()) };
    /// The id of the ordered work queue whose runner this thread is polling, or 0.
    static ORDERED_QUEUE: Cell<u32> = const { Cell::new(0) };
}

/// Marks this thread as polling the runner of ordered work queue `id` (0: none), and returns
/// the previous mark, which the caller restores before the poll ends (also when it unwinds).
pub(crate) fn set_ordered_queue(id: u32) -> u32 {
    ORDERED_QUEUE.with(|c| c.replace(id))
}

/// The mark of [`set_ordered_queue`]: the ordered work queue whose tasks this thread runs.
pub(crate) fn ordered_queue() -> u32 {
    ORDERED_QUEUE.with(Cell::get)
}

/// Counts a section on this thread whose core was handed off, in the counter of the work queue
/// whose task is being polled (if any).
pub(crate) fn count_handoff() {
    let counter = QUEUE_HANDOFFS.with(Cell::get);
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
    QUEUE_HANDOFFS.with(|c| c.replace(counter))
}

/// The mark of [`set_queue_handoffs`]: which work queue's task this thread is polling.
pub(crate) fn queue_handoffs() -> *const AtomicU64 {
    QUEUE_HANDOFFS.with(Cell::get)
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
    POLLING.with(|p| p.set(Polling::Baton));
    HANDED_OFF.with(|h| h.set(false));
}

/// Marks the end of a poll.
pub(crate) fn end_poll() {
    POLLING.with(|p| p.set(Polling::No));
}

/// What this thread is doing with its core's baton (one thread-local read: the scheduling hot
/// path calls this for every wake).
pub(crate) fn polling() -> Polling {
    POLLING.with(Cell::get)
}

/// Marks this poll as inside a blocking section. Called by the section hook for a section it
/// tracks, which starts in [`Polling::Baton`].
pub(crate) fn enter_section() {
    POLLING.with(|p| p.set(Polling::Section));
    WOKE_IN_SECTION.with(|w| w.set(false));
}

/// Records that the section in progress on this thread woke a task of its runtime on this
/// core: a section that then waits may well wait for that task (a synchronous client in
/// front of an async service), which needs a worker of the core to run.
pub(crate) fn note_woke_in_section() {
    WOKE_IN_SECTION.with(|w| w.set(true));
}

/// Whether the section in progress (or the last one) on this thread woke a task of its
/// runtime on this core.
pub(crate) fn woke_in_section() -> bool {
    WOKE_IN_SECTION.with(Cell::get)
}

/// Marks the end of the section [`enter_section`] marked. Only a poll still marked inside a
/// section goes back to [`Polling::Baton`]: a section guard kept across an `.await` (which the
/// guard's docs advise against) may end after the poll that opened it, outside any poll.
pub(crate) fn leave_section() {
    POLLING.with(|p| {
        if p.get() == Polling::Section {
            p.set(Polling::Baton);
        }
    });
}

/// Records that a section of the current poll had its baton passed on: from here until the poll
/// ends another worker of the core may run too (the core protocol's `keep_working`).
pub(crate) fn note_handed_off() {
    HANDED_OFF.with(|h| h.set(true));
}

/// Whether a section of the current poll had its baton passed on since the poll started or the
/// last call; clears the mark.
pub(crate) fn take_handed_off() -> bool {
    HANDED_OFF.with(|h| h.replace(false))
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
    let previous = WORD.with(|s| s.replace(std::ptr::from_ref(word)));
    WordGuard { previous }
}

/// Restores the previous section word when dropped.
#[derive(Debug)]
pub(crate) struct WordGuard {
    previous: *const SectionWord,
}

impl Drop for WordGuard {
    fn drop(&mut self) {
        WORD.with(|s| s.set(self.previous));
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
    let word = WORD.with(Cell::get);
    // SAFETY: a non-null pointer was set by `enter_word` from the worker's own section word,
    // which the worker keeps alive until the guard has reset it.
    unsafe { word.as_ref() }.is_some_and(SectionWord::in_section)
}

/// Marks the current thread as a worker of `runtime`'s `core` until the guard drops.
pub(crate) fn enter_worker(runtime: u64, core: usize) -> WorkerGuard {
    let previous = WORKER.with(|w| w.replace(Some((runtime, core))));
    WorkerGuard { previous }
}

/// Restores the previous worker marking when dropped.
#[derive(Debug)]
pub(crate) struct WorkerGuard {
    previous: Option<(u64, usize)>,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        WORKER.with(|w| w.set(self.previous));
    }
}

/// The `(runtime id, core)` this thread works for, if it is a worker.
pub(crate) fn current_worker() -> Option<(u64, usize)> {
    WORKER.with(Cell::get)
}

/// The core of `runtime` this thread works for, if it is one of that runtime's workers.
pub(crate) fn worker_core(runtime: u64) -> Option<usize> {
    match current_worker() {
        Some((id, core)) if id == runtime => Some(core),
        _ => None,
    }
}
