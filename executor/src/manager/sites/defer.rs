//! Tasks that wait for their call site's turn before their next poll: the kernel's inactive
//! list of a workqueue at its `max_active`, for a level learnt per call site.
//!
//! A section of the plain (sync) form beyond its site's level is held: it keeps its core's
//! baton while it waits (behind a lock, say), so no thread is spent on it. But a core whose
//! worker is held runs nothing else meanwhile, and when many tasks take turns at such a site
//! (hundreds of tasks writing through one database lock), every one of them that the core
//! polls holds it for a lock's wait: a task queued behind them (a ticker) waits for all of
//! them. The kernel does not let such work in at all: work items of a workqueue beyond its
//! `max_active` wait on the workqueue's inactive list, off the pool's worklist, and each one
//! that finishes activates the next.
//!
//! Here, a task whose poll entered a section at a site with a limited level carries the site's
//! hint ([`TaskMeta::site_hint`](crate::queue::TaskMeta::site_hint)). A worker that takes such a
//! task while the site already has as many sections in flight as its level admits puts the
//! task on the site's list instead of polling it; each section of the site that ends lets the
//! first one go back to the run queues. A task whose poll did not enter the site after all
//! loses its hint, so a task is deferred at most once for a site it no longer uses.
//!
//! # The handshake
//!
//! Like the async form's waiters (see [`super::admission`]):
//!
//! 1. **Deferrer.** Under the lock it queues the task; then a `SeqCst` fence; then it looks at
//!    the sections in flight again. If a turn is free after all, it takes the first task off
//!    the list and runs it now.
//! 2. **Leaver.** A section ends: the count in flight goes down; then a `SeqCst` fence (in
//!    [`Admission::leave`](super::admission::Admission::leave)); then, if the list is not empty
//!    and a turn is free, it sends the first task back to the run queues.
//!
//! Either the deferrer's second look sees the turn given back, or the leaver sees the task
//! queued.
//!
//! # Never for good
//!
//! A site's sections might wait for one of the tasks deferred (several kinds of calls share one
//! site, or a synchronous client waits on a task that once used its site). So the monitor
//! looks at the lists: a task deferred for [`DEFER_GRACE`] while no section of its site ended
//! lets every task of the list go, and the site's sections are not held (nor its tasks
//! deferred) for a while, as when a held section had to be handed off (see
//! [`Managed::hold_failed`](super::Managed::hold_failed)).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::queue::Runnable;
use crate::sync::{lock, AtomicUsize, Mutex, Ordering};

/// How long a task may wait on its site's list while none of the site's sections ends before
/// the monitor lets the list go: the held grace period's.
pub(crate) const DEFER_GRACE: Duration = Duration::from_millis(10);

/// One deferred task.
#[derive(Debug)]
struct Entry {
    runnable: Runnable,
    /// When it was deferred.
    since: Instant,
    /// The site's completed sections then.
    completed: u64,
}

/// The tasks deferred at one call site, first come first out.
#[derive(Debug)]
pub(crate) struct Deferred {
    queue: Mutex<VecDeque<Entry>>,
    /// The queue's length, readable without the lock.
    len: AtomicUsize,
}

impl Deferred {
    /// No task deferred.
    pub(crate) fn new() -> Deferred {
        Deferred {
            queue: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// How many tasks are deferred (relaxed: see the handshake in the module docs for what
    /// orders it).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Queues `runnable`, deferred at `now` while the site had `completed` sections done.
    pub(crate) fn push(&self, runnable: Runnable, now: Instant, completed: u64) {
        let mut queue = lock(&self.queue);
        queue.push_back(Entry {
            runnable,
            since: now,
            completed,
        });
        // Relaxed: ordered by the deferrer's fence.
        self.len.store(queue.len(), Ordering::Relaxed);
    }

    /// Takes the first task off the list.
    pub(crate) fn pop(&self) -> Option<Runnable> {
        if self.len() == 0 {
            return None;
        }
        let mut queue = lock(&self.queue);
        let entry = queue.pop_front();
        self.len.store(queue.len(), Ordering::Relaxed);
        entry.map(|e| e.runnable)
    }

    /// Takes every task off the list.
    pub(crate) fn drain(&self) -> Vec<Runnable> {
        if self.len() == 0 {
            return Vec::new();
        }
        let mut queue = lock(&self.queue);
        self.len.store(0, Ordering::Relaxed);
        queue.drain(..).map(|e| e.runnable).collect()
    }

    /// If the first task has waited for [`DEFER_GRACE`] by `now`: how many of the site's
    /// sections were done when it was deferred.
    pub(crate) fn overdue(&self, now: Instant) -> Option<u64> {
        if self.len() == 0 {
            return None;
        }
        let queue = lock(&self.queue);
        let first = queue.front()?;
        (now.saturating_duration_since(first.since) >= DEFER_GRACE).then_some(first.completed)
    }
}
