//! What the polls of a queue's tasks leave on their thread: the queue it is polling (for its
//! sections' handoffs and spawns during a drain) and the time spent. What a task the ordered
//! queue's runner runs tells the runner (it finished, or it waits) is in [`super::runner`].

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use super::counters::QueueCounters;
use crate::context;

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
