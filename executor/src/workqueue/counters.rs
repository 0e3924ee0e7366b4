//! A work queue's counters kept outside its state lock: relaxed atomics, statistics rather than
//! synchronisation.
//!
//! The task counts a spawn and a finish change (spawned, completed, cancelled) are plain integers
//! under the state lock, which both take anyway (see [`super::state`]): cheaper than atomics that
//! the spawning and the finishing core would pull back and forth. The counters here are bumped
//! where no lock is held:
//!
//! - `ran`: an ordered queue's runner does not take the lock per task; it counts the tasks it ran
//!   here (before their handles learn they finished) and reports their generations to the state
//!   when it waits, takes a new line or exits, and before a task of a later generation starts.
//! - `handoffs`: bumped at the handoff site. While one of the queue's tasks is polled, the
//!   thread's `context::set_queue_handoffs` mark points at this counter (which also tells `drain`
//!   that a spawn comes from inside the queue).
//! - `mayday_calls`, `poll_nanos`, `detections`: the rescuer's calls, the time spent polling the
//!   queue's tasks, and the polls the monitor took over.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::stats::QueueStats;

/// Per-queue counters updated outside the lock, relaxed: statistics, not synchronisation.
#[derive(Default)]
pub(super) struct QueueCounters {
    /// Sections of the queue's tasks whose core was handed off. Also marks the thread as
    /// polling one of the queue's tasks (`context::set_queue_handoffs`).
    handoffs: AtomicU64,
    /// Tasks an ordered queue's runner ran to the end (completed, panicked or aborted).
    ran: AtomicU64,
    /// Mayday calls the queue sent its rescuer.
    mayday_calls: AtomicU64,
    /// Nanoseconds spent polling the queue's tasks (an ordered queue's runner's whole runs).
    poll_nanos: AtomicU64,
    /// Polls of the queue's tasks that the monitor took over.
    detections: AtomicU64,
}

impl QueueCounters {
    /// The handoff counter, which the thread-local mark of a poll of the queue's tasks points at
    /// (`context::set_queue_handoffs`): its address names the queue.
    #[inline]
    pub(super) fn handoffs(&self) -> &AtomicU64 {
        &self.handoffs
    }

    /// Tasks an ordered queue's runner ran to the end.
    #[inline]
    pub(super) fn ran(&self) -> u64 {
        self.ran.load(Relaxed)
    }

    /// An ordered queue's runner ran a task to the end.
    #[inline]
    pub(super) fn count_ran(&self) {
        self.ran.fetch_add(1, Relaxed);
    }

    /// The queue sent its rescuer a mayday call.
    #[inline]
    pub(super) fn count_mayday(&self) {
        self.mayday_calls.fetch_add(1, Relaxed);
    }

    /// The monitor took over a poll of one of the queue's tasks.
    #[inline]
    pub(super) fn count_detection(&self) {
        self.detections.fetch_add(1, Relaxed);
    }

    /// Adds `nanos` to the time spent polling the queue's tasks.
    #[inline]
    pub(super) fn add_poll_nanos(&self, nanos: u64) {
        self.poll_nanos.fetch_add(nanos, Relaxed);
    }

    /// Copies the counters into `stats`.
    pub(super) fn fill(&self, stats: &mut QueueStats) {
        stats.handoffs = self.handoffs.load(Relaxed);
        stats.mayday_calls = self.mayday_calls.load(Relaxed);
        stats.poll_time = Duration::from_nanos(self.poll_nanos.load(Relaxed));
        stats.detections = self.detections.load(Relaxed);
    }
}
