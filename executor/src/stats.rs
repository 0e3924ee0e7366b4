//! Always-on counters: per core, a handful of relaxed atomics, read by [`Stats`] snapshots.
//!
//! Counters are statistics, not synchronisation, so they use std atomics even in loom builds
//! (where they would only enlarge the models' state space). The hottest one, polls, is counted
//! in a worker-local batch and added to the core's counter every few dozen polls and before the
//! worker parks, so a snapshot may lag a busy core by up to [`FLUSH_INTERVAL`] polls.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many polls a worker counts locally before adding them to its core's counter.
pub(crate) const FLUSH_INTERVAL: u32 = 61;

/// The live counters of one core.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Tasks polled on this core.
    pub(crate) polls: AtomicU64,
    /// Tasks this core took from other cores' queues.
    pub(crate) steals: AtomicU64,
    /// Times a worker of this core parked.
    pub(crate) parks: AtomicU64,
    /// Times a parked worker of this core was woken to run its work.
    pub(crate) wakeups: AtomicU64,
    /// Blocking sections entered on this core's workers.
    pub(crate) sections: AtomicU64,
    /// Sections whose baton passed on (by the monitor or eagerly).
    pub(crate) handoffs: AtomicU64,
    /// Of those, handoffs made at once because the call site had blocked before.
    pub(crate) eager_handoffs: AtomicU64,
    /// Workers that retired at a poll boundary because another worker of the core ran.
    pub(crate) retirements: AtomicU64,
    /// Worker threads started for this core (including the initial ones), counted once they
    /// run.
    pub(crate) threads_started: AtomicU64,
    /// Worker threads the OS refused to start for this core.
    pub(crate) spawn_failures: AtomicU64,
    /// Surplus spares that exited after their keep-alive.
    pub(crate) threads_reaped: AtomicU64,
    /// Sections that had to run without a replacement because a thread cap was reached.
    pub(crate) cap_hits: AtomicU64,
    /// Sections that ran without a replacement because their call site had reached its learnt
    /// level of concurrency.
    pub(crate) held_sections: AtomicU64,
    /// Polls outside any section that the monitor found blocked, and handed off.
    pub(crate) detected_blocks: AtomicU64,
    /// Polls outside any section that the monitor found running on the CPU past the hog
    /// threshold, and handed off.
    pub(crate) cpu_hogs: AtomicU64,
    /// Stalls reported: the core had work and started no poll for the stall timeout.
    pub(crate) stalls: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A snapshot of one core's counters and worker counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoreStats {
    /// The core's index, as passed to `spawn_on` and returned by `current_core`.
    pub core: usize,
    /// Tasks polled on this core (may lag a busy core by a few dozen polls).
    pub polls: u64,
    /// Tasks this core took from other cores' queues.
    pub steals: u64,
    /// Times a worker of this core parked for lack of work.
    pub parks: u64,
    /// Times a parked worker of this core was woken.
    pub wake_ups: u64,
    /// Tasks waiting in the core's queues now.
    pub queue_depth: usize,
    /// Workers holding the baton and not in a blocking section now.
    pub running: u64,
    /// Workers parked on the core's spare stack now.
    pub spares: u64,
    /// Workers in a blocking section whose baton was passed on.
    pub in_section: u64,
    /// All worker threads of the core, including any being started.
    pub workers: u64,
    /// Blocking sections entered on the core's workers (may lag by a few dozen).
    pub sections: u64,
    /// Sections whose core was handed to another worker.
    pub handoffs: u64,
    /// Of those, handoffs made at once because the call site had blocked before, and polls
    /// taken over within the grace period because their task's spawn site had blocked before.
    pub eager_handoffs: u64,
    /// Workers that retired to the spare stack after their section ended.
    pub retirements: u64,
    /// Worker threads started for the core, including the initial ones.
    pub threads_started: u64,
    /// Worker threads the OS refused to start for the core (a thread limit such as
    /// `RLIMIT_NPROC` or a cgroup's `pids.max`). The core goes on with the workers it has, and
    /// the monitor tries again later.
    pub spawn_failures: u64,
    /// Surplus spare threads that exited after their keep-alive.
    pub threads_reaped: u64,
    /// Sections that ran without a replacement because a thread cap was reached.
    pub cap_hits: u64,
    /// Sections that ran without a replacement because their call site had reached the level
    /// of concurrency the runtime learnt for it (more of them at once stopped raising its
    /// throughput: DESIGN.md rule 7).
    pub held_sections: u64,
    /// Polls outside any section that the monitor found blocked (mostly off the CPU past the
    /// detection threshold) and handed off as if they were in a section.
    pub detected_blocks: u64,
    /// Polls outside any section that the monitor found busy on the CPU past
    /// [`HOG_THRESHOLD`](crate::HOG_THRESHOLD) and took out of the core's running count.
    pub cpu_hogs: u64,
    /// Stalls reported: the core had tasks queued and started none for the stall timeout.
    pub stalls: u64,
}

/// A snapshot of a runtime's counters, from [`Runtime::stats`](crate::Runtime::stats).
///
/// # Examples
///
/// ```
/// let rt = baton_executor::Runtime::builder().cores(2).build()?;
/// rt.block_on(rt.spawn(async {}))?;
/// let stats = rt.stats();
/// assert_eq!(stats.cores.len(), 2);
/// assert!(stats.cores.iter().map(|c| c.workers).sum::<u64>() >= 2);
/// println!("{stats}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// One entry per core, in core order.
    pub cores: Vec<CoreStats>,
    /// Tasks waiting in the runtime's shared injector queue.
    pub injector_depth: usize,
    /// One entry per live [`WorkQueue`](crate::WorkQueue), in the order they were built.
    pub queues: Vec<QueueStats>,
}

/// A snapshot of one work queue's counters (the kernel's `wq_monitor` set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// The queue's name, as given to `WorkQueue::builder`.
    pub name: String,
    /// Tasks accepted by the queue.
    pub spawned: u64,
    /// Tasks that started running (were admitted past `max_active` and ordering).
    pub started: u64,
    /// Tasks that finished after they started: completed, panicked or were cancelled.
    pub completed: u64,
    /// Tasks dropped before they started (held back or delayed when the runtime shut down).
    pub cancelled: u64,
    /// Tasks started and not finished.
    pub in_flight: u64,
    /// Tasks accepted and waiting for their turn (including delayed tasks not yet due).
    pub waiting: u64,
    /// Blocking sections of the queue's tasks whose core was handed to another worker.
    pub handoffs: u64,
}

impl fmt::Display for Stats {
    /// A fixed-width table, one row per core, then one row per work queue.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>4} {:>9} {:>7} {:>6} {:>6} {:>6} {:>7} {:>6} {:>7} {:>8} {:>8} {:>5} {:>7} {:>7} {:>6} {:>6} {:>4} {:>7} {:>4} {:>6}",
            "core",
            "polls",
            "steals",
            "parks",
            "wakes",
            "queued",
            "running",
            "spares",
            "workers",
            "sections",
            "handoffs",
            "eager",
            "retired",
            "started",
            "reaped",
            "failed",
            "caps",
            "blocked",
            "hogs",
            "stalls"
        )?;
        for c in &self.cores {
            writeln!(
                f,
                "{:>4} {:>9} {:>7} {:>6} {:>6} {:>6} {:>7} {:>6} {:>7} {:>8} {:>8} {:>5} {:>7} {:>7} {:>6} {:>6} {:>4} {:>7} {:>4} {:>6}",
                c.core,
                c.polls,
                c.steals,
                c.parks,
                c.wake_ups,
                c.queue_depth,
                c.running,
                c.spares,
                c.workers,
                c.sections,
                c.handoffs,
                c.eager_handoffs,
                c.retirements,
                c.threads_started,
                c.threads_reaped,
                c.spawn_failures,
                c.cap_hits,
                c.detected_blocks,
                c.cpu_hogs,
                c.stalls
            )?;
        }
        write!(f, "injector: {} queued", self.injector_depth)?;
        if !self.queues.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<16} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
                "queue",
                "spawned",
                "started",
                "completed",
                "cancelled",
                "inflight",
                "waiting",
                "handoffs"
            )?;
            for (i, q) in self.queues.iter().enumerate() {
                if i > 0 {
                    writeln!(f)?;
                }
                write!(
                    f,
                    "{:<16} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
                    q.name,
                    q.spawned,
                    q.started,
                    q.completed,
                    q.cancelled,
                    q.in_flight,
                    q.waiting,
                    q.handoffs
                )?;
            }
        }
        Ok(())
    }
}
