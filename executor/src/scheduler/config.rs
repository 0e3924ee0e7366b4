//! The settings a runtime's threads are started with.

use std::time::Duration;

/// A callback run on worker threads.
pub(crate) type Callback = std::sync::Arc<dyn Fn() + Send + Sync + 'static>;

/// Settings for the runtime's threads.
#[derive(Clone)]
pub(crate) struct Config {
    /// Worker thread name prefix.
    pub(crate) thread_name: String,
    /// Worker thread stack size, if set.
    pub(crate) stack_size: Option<usize>,
    /// Run on each worker thread when it starts.
    pub(crate) on_thread_start: Option<Callback>,
    /// Run on each worker thread before it exits.
    pub(crate) on_thread_stop: Option<Callback>,
    /// Worker threads each core starts with (its active worker and its spares).
    pub(crate) workers_per_core: usize,
    /// How long a lazy section may run before its core is handed to a spare.
    pub(crate) grace: Duration,
    /// How long a surplus spare stays parked before it exits.
    pub(crate) keep_alive: Duration,
    /// The most worker threads one core may have.
    pub(crate) max_threads_per_core: usize,
    /// The most worker threads the runtime may have.
    pub(crate) max_threads: usize,
    /// The most threads of the pool that runs `unblock` jobs.
    pub(crate) max_unblock_threads: usize,
    /// How the workers keep to the CPUs of the runtime's set.
    pub(crate) affinity: crate::runtime::CpuAffinity,
    /// The runtime's CPU set, if one was given.
    pub(crate) cpus: Option<Vec<usize>>,
    /// Per core, the CPUs its workers are bound to, if any (computed when the runtime is
    /// built, see `runtime::placement`).
    pub(crate) placement: Vec<Option<Vec<usize>>>,
    /// Whether the monitor takes over polls that block without a section.
    pub(crate) detect: bool,
    /// How long a poll may run outside a section before the monitor checks it.
    pub(crate) detection_threshold: Duration,
    /// Whether detection may use per-thread context-switch events where the kernel allows.
    pub(crate) perf_events: bool,
    /// How long a core with work may start no poll before the stall is reported, if at all.
    pub(crate) stall_timeout: Option<Duration>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("thread_name", &self.thread_name)
            .field("stack_size", &self.stack_size)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .field("workers_per_core", &self.workers_per_core)
            .field("grace", &self.grace)
            .field("keep_alive", &self.keep_alive)
            .field("max_threads_per_core", &self.max_threads_per_core)
            .field("max_threads", &self.max_threads)
            .field("max_unblock_threads", &self.max_unblock_threads)
            .field("affinity", &self.affinity)
            .field("cpus", &self.cpus)
            .field("detect", &self.detect)
            .field("detection_threshold", &self.detection_threshold)
            .field("perf_events", &self.perf_events)
            .field("stall_timeout", &self.stall_timeout)
            .finish()
    }
}
