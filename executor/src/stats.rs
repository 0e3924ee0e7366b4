//! Always-on counters: per core, a handful of relaxed atomics, read by [`Stats`] snapshots.
//!
//! Counters are statistics, not synchronisation, so they use std atomics even in loom builds
//! (where they would only enlarge the models' state space). The hottest one, polls, is counted
//! in a worker-local batch and added to the core's counter every few dozen polls and before the
//! worker parks, so a snapshot may lag a busy core by up to [`FLUSH_INTERVAL`] polls. Sections
//! are counted at entry, in their worker's own word, so every snapshot shows
//! `eager_handoffs <= handoffs <= sections`.
//!
//! A snapshot prints as a table ([`table`]), two snapshots subtract into the activity between
//! them ([`diff`]), and a [`StatsReporter`] takes them periodically.

mod diff;
mod report;
mod table;

pub use report::StatsReporter;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// Workers started beyond the per-core cap for a core starved at it.
    pub(crate) cap_rescues: AtomicU64,
    /// Sections that ran without a replacement because their call site had reached its learnt
    /// level of concurrency.
    pub(crate) held_sections: AtomicU64,
    /// Tasks that waited for their call site's turn before a poll (see `crate::sites::defer`).
    pub(crate) deferred_tasks: AtomicU64,
    /// Polls outside any section that the monitor found blocked, and handed off.
    pub(crate) detected_blocks: AtomicU64,
    /// Polls outside any section that the monitor found running on the CPU past the hog
    /// threshold, and handed off.
    pub(crate) cpu_hogs: AtomicU64,
    /// Of those two, polls taken over within the grace period because their task's spawn site
    /// had been taken over before.
    pub(crate) watched_detections: AtomicU64,
    /// Of those, polls taken over when their worker thread left its CPU (context-switch
    /// events).
    pub(crate) switch_detections: AtomicU64,
    /// Polls handed off at their start, their spawn site's polls blocking often.
    pub(crate) eager_polls: AtomicU64,
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
///
/// `offline`, `queue_depth`, `running`, `spares`, `in_section` and `workers` are what the core
/// has now; every other field counts since the runtime started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct CoreStats {
    /// The core's index, as passed to `spawn_on` and returned by `current_core`.
    pub core: usize,
    /// Whether the core is offline now ([`Handle::set_cores`](crate::Handle::set_cores)): it
    /// takes no new work, and its workers, once their polls and sections end, are parked spares.
    pub offline: bool,
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
    /// Blocking sections entered on the core's workers, counted at entry.
    pub sections: u64,
    /// Sections whose core was handed to another worker; never more than `sections`.
    pub handoffs: u64,
    /// Of those, handoffs made at once because the call site had blocked before.
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
    /// Workers started beyond the per-core cap ([`Builder::max_threads_per_core`]) because the
    /// core stayed starved at it: every worker blocked in a section, tasks queued, and no
    /// poll started on any core for [`CAP_RESCUE_DELAY`](crate::CAP_RESCUE_DELAY). Within the
    /// runtime's cap ([`Builder::max_threads`]).
    ///
    /// [`Builder::max_threads_per_core`]: crate::Builder::max_threads_per_core
    /// [`Builder::max_threads`]: crate::Builder::max_threads
    pub cap_rescues: u64,
    /// Sections that ran without a replacement because their call site had reached the level
    /// of concurrency the runtime learnt for it (more of them at once stopped raising its
    /// throughput: the *managed concurrency* rule of docs/architecture.md).
    pub held_sections: u64,
    /// Tasks of such a call site that, taken to be polled while the site had as many sections
    /// in flight as its level admits, waited for one of them to end before their poll instead
    /// of holding this core (the kernel's inactive list of a workqueue at its `max_active`).
    pub deferred_tasks: u64,
    /// Polls outside any section that the monitor found blocked (mostly off the CPU past the
    /// detection threshold) and handed off as if they were in a section.
    pub detected_blocks: u64,
    /// Polls outside any section that the monitor found busy on the CPU past
    /// [`HOG_THRESHOLD`](crate::HOG_THRESHOLD) and took out of the core's running count.
    pub cpu_hogs: u64,
    /// Of `detected_blocks` and `cpu_hogs`, polls taken over within the grace period because
    /// their task's spawn site had been taken over before (watched spawn sites).
    pub watched_detections: u64,
    /// Of `watched_detections`, polls taken over as soon as their worker thread left its CPU,
    /// told by a context-switch event rather than seen at the monitor's next look (see
    /// [`Detection::SwitchEvents`]).
    pub switch_detections: u64,
    /// Polls outside any section whose core was handed off as they started, as for an eager
    /// section: their task's spawn site had been taken over before, and enough of its polls
    /// block that watching each one costs more than handing it off.
    pub eager_polls: u64,
    /// Stalls reported: the core had tasks queued and started none for the stall timeout.
    pub stalls: u64,
}

/// A snapshot of a runtime's counters, from [`Runtime::stats`](crate::Runtime::stats).
///
/// It prints as one aligned table per kind of row (cores, work queues, spawn sites) whose
/// headings are the field names, with a legend; `later - &earlier` gives the activity between
/// two snapshots. `docs/observability.md` in the repository says how to read it.
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::builder().cores(2).build()?;
/// let before = rt.stats();
/// rt.block_on(rt.spawn(async {}))?;
/// let stats = rt.stats();
/// assert_eq!(stats.cores.len(), 2);
/// assert!(stats.cores.iter().map(|c| c.workers).sum::<u64>() >= 2);
/// println!("{stats}");
/// let delta = &stats - &before;
/// assert!(delta.cores.iter().all(|c| c.handoffs <= c.sections));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Stats {
    /// One entry per core, in core order.
    pub cores: Vec<CoreStats>,
    /// Tasks waiting in the runtime's shared injector queues.
    pub injector_depth: usize,
    /// One entry per live [`WorkQueue`](crate::WorkQueue), in the order they were built. A
    /// queue is live while a handle or a task of it is.
    pub queues: Vec<QueueStats>,
    /// The counters of every work queue that is gone, added up (named `(retired)`), so that
    /// totals over `queues` and `retired_queues` never go down.
    pub retired_queues: QueueStats,
    /// The spawn sites whose tasks' polls the monitor took over (blocked or hogging the CPU
    /// outside any section), most often first.
    pub sites: Vec<SiteStats>,
    /// The pool that runs `unblock` jobs.
    pub unblock: UnblockStats,
    /// How the runtime notices polls that block without a section.
    pub detection: Detection,
}

/// How a runtime notices polls that block without a section (see
/// [`Builder::detect_blocking`](crate::Builder::detect_blocking)), in [`Stats::detection`].
///
/// # Examples
///
/// ```
/// use baton_executor::Detection;
///
/// let rt = baton_executor::Runtime::builder()
///     .detect_with_perf_events(false)
///     .build()?;
/// assert_ne!(rt.stats().detection, Detection::SwitchEvents);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Detection {
    /// Detection is off, or this system lacks what it needs.
    #[default]
    Off,
    /// The monitor looks at the workers' polls while the runtime is busy, every tick while
    /// polls of watched spawn sites run. Also what a runtime says before its first watched
    /// poll, since context-switch events are only set up then.
    Monitor,
    /// As [`Detection::Monitor`], and the kernel tells the runtime at once when a worker thread
    /// in a poll of a watched spawn site leaves its CPU (`perf_event_open` context-switch
    /// events), so the monitor need not tick for them. Chosen at run time, at the first poll
    /// of a watched spawn site, where the kernel allows it (see
    /// [`Builder::detect_with_perf_events`](crate::Builder::detect_with_perf_events)).
    SwitchEvents,
}

impl Detection {
    /// The name shown in a printed [`Stats`]: `off`, `monitor` or `switch_events`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(baton_executor::Detection::Monitor.name(), "monitor");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Detection::Off => "off",
            Detection::Monitor => "monitor",
            Detection::SwitchEvents => "switch_events",
        }
    }
}

/// A snapshot of the pool that runs [`unblock`](baton_blocking::unblock) jobs, apart from the
/// cores' workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct UnblockStats {
    /// Threads of the pool now, busy or idle.
    pub threads: u64,
    /// Of those, threads waiting for a job now.
    pub idle: u64,
    /// Jobs waiting for a thread now (the pool is at its cap).
    pub queued: u64,
    /// Jobs the pool's threads took to run.
    pub jobs: u64,
    /// Threads started for the pool.
    pub threads_started: u64,
    /// Threads the OS refused to start for the pool.
    pub spawn_failures: u64,
}

/// What the monitor found at one spawn site: polls of tasks spawned there that blocked, or
/// hogged the CPU, outside any blocking section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SiteStats {
    /// The spawn site, `file:line:column`.
    pub site: String,
    /// Polls of its tasks found blocked and taken over.
    pub detected_blocks: u64,
    /// Polls of its tasks found busy on the CPU past
    /// [`HOG_THRESHOLD`](crate::HOG_THRESHOLD) and taken over.
    pub cpu_hogs: u64,
}

/// A snapshot of one work queue's counters (the kernel's `wq_monitor` set).
///
/// `in_flight` and `waiting` are what the queue has now; every other field counts since the
/// queue was built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// Time the queue's tasks spent in their polls (the kernel's CPU time; wall time here,
    /// measured around each poll).
    pub poll_time: Duration,
    /// Polls of the queue's tasks that the monitor took over: blocked, or hogging the CPU,
    /// outside any section (the kernel's CPU hogs).
    pub detections: u64,
    /// Mayday calls sent to the queue's rescuer: a core the queue's tasks may wait on was
    /// starved past the mayday delay (see
    /// [`WorkQueueBuilder::rescuer`](crate::WorkQueueBuilder::rescuer)).
    pub mayday_calls: u64,
    /// Polls of the queue's tasks (or of an ordered queue's runner) made by its rescuer.
    pub rescued: u64,
}

impl QueueStats {
    /// The name of [`Stats::retired_queues`].
    pub const RETIRED: &'static str = "(retired)";

    /// Adds `other`'s counters to this one's (for the retired queues' total).
    pub(crate) fn absorb(&mut self, other: &QueueStats) {
        self.spawned += other.spawned;
        self.started += other.started;
        self.completed += other.completed;
        self.cancelled += other.cancelled;
        self.in_flight += other.in_flight;
        self.waiting += other.waiting;
        self.handoffs += other.handoffs;
        self.poll_time += other.poll_time;
        self.detections += other.detections;
        self.mayday_calls += other.mayday_calls;
        self.rescued += other.rescued;
    }
}
