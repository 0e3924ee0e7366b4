//! What the polls of a queue's tasks leave on their thread: the queue it is polling (for its
//! sections' handoffs and spawns during a drain), the time spent, and what the task the ordered
//! queue's runner is running tells the runner (it finished, or it waits).

use std::cell::Cell;
use std::sync::atomic::AtomicU64;
use std::task::Waker;
use std::time::Instant;

use super::counters::QueueCounters;
use crate::context;

thread_local! {
    /// Set when the task the runner is running on this thread finished (its future dropped).
    static JOB_DONE: Cell<bool> = const { Cell::new(false) };
    /// The waker of the task the runner is running on this thread, if it returned `Pending`.
    static PENDING: Cell<Option<Waker>> = const { Cell::new(None) };
}

/// The task being run on this thread by its queue's runner returned `Pending` (called by its
/// wrapper's poll): the runner keeps its waker, to cancel it if the runner is dropped first.
pub(super) fn job_pending(waker: &Waker) {
    PENDING.with(|p| {
        let current = p.take();
        p.set(Some(match current {
            Some(current) if current.will_wake(waker) => current,
            _ => waker.clone(),
        }));
    });
}

/// The task being run on this thread by its queue's runner finished (called by its wrapper's
/// drop).
pub(super) fn job_done() {
    JOB_DONE.with(|d| d.set(true));
}

/// For the runner, after a task's run: whether it finished ([`job_done`]), and its waker if it
/// returned `Pending` ([`job_pending`]). Resets both.
pub(super) fn take_job_outcome() -> (bool, Option<Waker>) {
    (
        JOB_DONE.with(|d| d.replace(false)),
        PENDING.with(Cell::take),
    )
}

/// Sets the waker the runner keeps for the task it runs on this thread (see [`job_pending`]).
pub(super) fn keep_pending(waker: Option<Waker>) {
    PENDING.with(|p| p.set(waker));
}

/// Marks this thread as polling a task of the queue whose `counters` are given, until dropped
/// (also by unwinding): spawns from it pass a drain, and its sections' handoffs count for the
/// queue.
pub(super) struct Marked {
    previous: *const AtomicU64,
}

impl Marked {
    pub(super) fn enter(counters: &QueueCounters) -> Marked {
        Marked {
            previous: context::set_queue_handoffs(counters.handoffs()),
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
    counters: &'a QueueCounters,
    since: Instant,
}

impl Timed<'_> {
    pub(super) fn since(counters: &QueueCounters, since: Instant) -> Timed<'_> {
        Timed { counters, since }
    }
}

impl Drop for Timed<'_> {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.counters.add_poll_nanos(nanos);
    }
}
