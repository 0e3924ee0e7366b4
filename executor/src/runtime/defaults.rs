//! The runtime's limits and defaults: the constants a [`Builder`](super::Builder) starts from,
//! each documented once here, and the [`Config`] they fill.

use std::time::Duration;

use super::placement::CpuAffinity;
use crate::scheduler::Config;
use crate::sys;

/// The most cores a runtime may have.
pub const MAX_CORES: usize = 1024;

/// Worker threads each core starts with: the active worker and one parked spare, so that a
/// handoff is a wake, not a thread spawn. Also the fewest a core may be capped at.
pub(super) const WORKERS_PER_CORE: usize = 2;

/// The default grace period: how long a section may run before its core is handed to a spare.
pub const DEFAULT_GRACE: Duration = Duration::from_micros(40);
/// The default keep-alive of surplus spare threads.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// The default cap on worker threads per core (the active worker, spares, and workers blocked
/// in sections).
pub const DEFAULT_MAX_THREADS_PER_CORE: usize = 10;
/// The default cap on worker threads per runtime, for runtimes of up to
/// `DEFAULT_MAX_THREADS / DEFAULT_THREADS_PER_CORE_SHARE` cores; larger runtimes default to
/// [`DEFAULT_THREADS_PER_CORE_SHARE`] threads per core, so every core has room for its active
/// worker, its spare and some replacements.
pub const DEFAULT_MAX_THREADS: usize = 512;
/// The most threads of the pool that runs `unblock` jobs, when the builder does not say
/// otherwise ([`Builder::max_unblock_threads`](super::Builder::max_unblock_threads)): room for a
/// hundred long jobs at once, a quarter of tokio's 512 blocking threads.
pub const DEFAULT_MAX_UNBLOCK_THREADS: usize = 128;
/// The default detection threshold: how long a poll may run outside any section before the
/// monitor asks the OS whether its worker is blocked (see
/// [`Builder::detection_threshold`](super::Builder::detection_threshold)).
pub const DEFAULT_DETECTION_THRESHOLD: Duration = Duration::from_micros(500);
/// The default stall timeout: how long a core with queued tasks may start none before the
/// runtime reports it (see [`Builder::stall_timeout`](super::Builder::stall_timeout)).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Worker threads per core that the default runtime-wide cap allows for at least: the active
/// worker and spare each core starts with, and as many replacements for blocked workers.
pub const DEFAULT_THREADS_PER_CORE_SHARE: usize = 2 * WORKERS_PER_CORE;

/// The runtime-wide thread cap for `cores` cores when none is set.
pub(super) fn default_max_threads(cores: usize) -> usize {
    DEFAULT_MAX_THREADS.max(cores.saturating_mul(DEFAULT_THREADS_PER_CORE_SHARE))
}

/// The CPUs this process may use: its affinity mask, and its cgroup's CPU quota rounded up (a
/// container limited to 1.5 CPUs gets 2 cores); at least 1, at most [`MAX_CORES`].
pub(super) fn default_cores() -> usize {
    let allowed = sys::allowed_cpus()
        .map(|cpus| cpus.len())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    let quota = sys::cgroup_cpu_limit().unwrap_or(usize::MAX);
    allowed.min(quota).clamp(1, MAX_CORES)
}

impl Default for Config {
    /// The settings a builder starts from.
    fn default() -> Config {
        Config {
            thread_name: "baton-worker".to_owned(),
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            workers_per_core: WORKERS_PER_CORE,
            grace: DEFAULT_GRACE,
            keep_alive: DEFAULT_KEEP_ALIVE,
            max_threads_per_core: DEFAULT_MAX_THREADS_PER_CORE,
            max_threads: DEFAULT_MAX_THREADS,
            max_unblock_threads: DEFAULT_MAX_UNBLOCK_THREADS,
            affinity: CpuAffinity::Locked,
            cpus: None,
            placement: Vec::new(),
            detect: true,
            detection_threshold: DEFAULT_DETECTION_THRESHOLD,
            perf_events: true,
            stall_timeout: Some(DEFAULT_STALL_TIMEOUT),
        }
    }
}
