//! Configuring and building a runtime: the [`Builder`], its settings, and the checks `build`
//! makes before it starts the runtime. The defaults it starts from are in `defaults`.

use std::fmt;
use std::sync::Arc as StdArc;
use std::time::Duration;

use super::defaults::{default_cores, default_max_threads, MAX_CORES, WORKERS_PER_CORE};
#[cfg(doc)]
use super::defaults::{
    DEFAULT_DETECTION_THRESHOLD, DEFAULT_GRACE, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS,
    DEFAULT_MAX_THREADS_PER_CORE, DEFAULT_MAX_UNBLOCK_THREADS, DEFAULT_STALL_TIMEOUT,
    DEFAULT_THREADS_PER_CORE_SHARE,
};
use super::placement::{self, CpuAffinity};
use super::Runtime;
use crate::error::BuildError;
use crate::scheduler::Config;
use crate::sys;

/// Configures a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::builder()
///     .cores(2)
///     .thread_name("app-worker")
///     .thread_stack_size(1 << 20)
///     .on_thread_start(|| println!("worker started"))
///     .build()?;
/// assert_eq!(rt.handle().cores(), 2);
/// # Ok::<(), baton::BuildError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    cores: Option<usize>,
    /// The runtime-wide thread cap, if set; otherwise it follows the core count.
    max_threads: Option<usize>,
    /// Whether the runtime's clock starts paused.
    start_paused: bool,
    config: Config,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        Builder {
            cores: None,
            max_threads: None,
            start_paused: false,
            config: Config::default(),
        }
    }

    /// Sets the number of cores (scheduling units, each with one running worker).
    ///
    /// The default is the number of CPUs in the runtime's set ([`Builder::cpus`]), or else the
    /// number of CPUs this process may use: its CPU affinity mask, and its cgroup's CPU quota
    /// rounded up (a container limited to 1.5 CPUs gets 2 cores, not one per CPU of the
    /// machine). `build` rejects 0 and anything above [`MAX_CORES`].
    pub fn cores(mut self, cores: usize) -> Builder {
        self.cores = Some(cores);
        self
    }

    /// Sets the name prefix of worker threads; each is named `{name}-{core}`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.config.thread_name = name.into();
        self
    }

    /// Sets the stack size of worker threads, in bytes.
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.config.stack_size = Some(bytes);
        self
    }

    /// Runs `f` on each worker thread when it starts, before it runs any task.
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.config.on_thread_start = Some(StdArc::new(f));
        self
    }

    /// Runs `f` on each worker thread just before it exits.
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.config.on_thread_stop = Some(StdArc::new(f));
        self
    }

    /// Sets how long a blocking section may run before its core is handed to a spare worker
    /// (default [`DEFAULT_GRACE`]). Shorter hands off sooner; longer spares more wake-ups on
    /// sections that end quickly. Sections at call sites that blocked before, and
    /// `section_long`, hand off at once regardless. A grace period too long for the clock
    /// (such as `Duration::MAX`) means lazy sections are never handed off; the monitor still
    /// looks at sections at least every few milliseconds, and at most every few microseconds
    /// however short the grace period.
    pub fn grace_period(mut self, grace: Duration) -> Builder {
        self.config.grace = grace;
        self
    }

    /// Sets whether the runtime notices polls that block without a section (default: on).
    ///
    /// The monitor looks at polls that outlive the [detection
    /// threshold](Builder::detection_threshold) and reads their worker thread's CPU clock: a
    /// worker that was mostly off the CPU is blocked (a `std::thread::sleep`, a synchronous
    /// read, a contended lock), so its core is handed to a spare as for a blocking section; one
    /// that was mostly on the CPU is a CPU hog, handed off too once it has run for
    /// [`HOG_THRESHOLD`](crate::HOG_THRESHOLD), so the tasks queued or pinned behind it go on.
    /// Both are counted per core in [`Stats`](crate::Stats).
    ///
    /// # Caveats
    ///
    /// Detection sees only polls that block for longer than the threshold, and needs Linux
    /// (`membarrier` and per-thread CPU clocks; elsewhere it stays off). Polls of spawn sites
    /// that blocked before are judged after the grace period instead, or the moment their
    /// thread goes to sleep where the kernel grants context-switch events (see
    /// [`detect_with_perf_events`](Builder::detect_with_perf_events)). A thread that never
    /// sleeps (a busy wait) is a CPU hog to detection, not a block. Annotating blocking calls
    /// with a section is still better where you can: a section hands its core off within the
    /// grace period, or at once (before the thread sleeps) at a call site known to block, and
    /// costs less.
    pub fn detect_blocking(mut self, on: bool) -> Builder {
        self.config.detect = on;
        self
    }

    /// Sets how long a poll may run outside any section before the monitor checks whether its
    /// worker blocks (default [`DEFAULT_DETECTION_THRESHOLD`]). While the runtime is busy the
    /// monitor looks at polls at this interval, so a blocked poll is handed off after one to
    /// two thresholds.
    pub fn detection_threshold(mut self, threshold: Duration) -> Builder {
        self.config.detection_threshold = threshold;
        self
    }

    /// Sets whether detection may learn from the kernel, at once, that a worker thread in a
    /// poll of a watched spawn site (one whose polls blocked before) left its CPU (default:
    /// on).
    ///
    /// Where `perf_event_open` grants per-thread context-switch events, the runtime starts a small
    /// thread at its first poll of a watched spawn site, and each worker opens an event at its own
    /// first such poll, which that thread waits on: a worker that goes to sleep in such a poll has
    /// its core handed to a spare at once, and the monitor need not look every tick while those
    /// polls run. Where the kernel refuses (no privilege to count kernel events under
    /// `perf_event_paranoid` above 1, a seccomp filter, another system), detection silently keeps
    /// to the monitor's looks. [`Stats::detection`](crate::Stats::detection) says which is in use.
    /// Without [`detect_blocking`](Builder::detect_blocking) this does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// // Detection by the monitor's looks only.
    /// let rt = baton_executor::Runtime::builder()
    ///     .detect_with_perf_events(false)
    ///     .build()?;
    /// assert_ne!(rt.stats().detection, baton_executor::Detection::SwitchEvents);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detect_with_perf_events(mut self, on: bool) -> Builder {
        self.config.perf_events = on;
        self
    }

    /// Sets how long a core with tasks queued may start none before the runtime reports the
    /// stall on standard error, once per stall, with where the tasks its workers poll were
    /// spawned (default [`DEFAULT_STALL_TIMEOUT`]); `None` turns the watchdog off. Each core's
    /// `stalls` counter in [`Stats`](crate::Stats) counts its reports.
    pub fn stall_timeout(mut self, timeout: Option<Duration>) -> Builder {
        self.config.stall_timeout = timeout;
        self
    }

    /// Sets how long a surplus spare worker stays parked before its thread exits (default
    /// [`DEFAULT_KEEP_ALIVE`]). Each core always keeps its initial threads and one spare. A
    /// keep-alive too long for the clock (such as `Duration::MAX`) keeps surplus spares for good.
    pub fn keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.config.keep_alive = keep_alive;
        self
    }

    /// Sets whether each core's workers keep to one CPU: `true` is
    /// [`CpuAffinity::Locked`] (the default), `false` [`CpuAffinity::Unlocked`]; see
    /// [`Builder::affinity`].
    pub fn pin_workers(mut self, pin: bool) -> Builder {
        self.config.affinity = if pin {
            CpuAffinity::Locked
        } else {
            CpuAffinity::Unlocked
        };
        self
    }

    /// Sets how the workers keep to the runtime's CPUs (Linux; elsewhere the OS places them).
    ///
    /// [`CpuAffinity::Locked`] (the default) keeps each core's workers to CPUs of their own:
    /// one CPU per core when the counts match, like the kernel's per-CPU worker pools, so the
    /// spare that takes over a blocked worker's core starts on the CPU that worker just left
    /// idle; runs of CPUs per core with fewer cores than CPUs; CPUs shared evenly by several
    /// cores with more. Without [`Builder::cpus`] it applies only when the runtime has exactly
    /// one core per CPU the building thread may run on. [`CpuAffinity::Unlocked`] lets every
    /// worker run on any CPU of the set (given with [`Builder::cpus`], or else wherever the
    /// building thread may run), and the OS balance them: better when other busy threads
    /// share those CPUs.
    pub fn affinity(mut self, affinity: CpuAffinity) -> Builder {
        self.config.affinity = affinity;
        self
    }

    /// Binds the runtime to a set of CPUs (Linux; elsewhere the set is only checked): its
    /// worker threads run on those CPUs only, placed as [`Builder::affinity`] says, and the
    /// default core count becomes the number of CPUs in the set. The number of cores may differ
    /// from the number of CPUs: `cores(8)` on four CPUs gives each CPU two cores (virtual
    /// cores), `cores(2)` on eight gives each core four. Runtimes on disjoint sets do not
    /// compete for CPUs.
    ///
    /// `build` rejects an empty set and a CPU this process may not run on (outside its
    /// affinity mask).
    pub fn cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Builder {
        let mut cpus: Vec<usize> = cpus.into_iter().collect();
        cpus.sort_unstable();
        cpus.dedup();
        self.config.cpus = Some(cpus);
        self
    }

    /// Caps the worker threads of one core: its running worker, its spares, and its workers
    /// blocked in sections (default [`DEFAULT_MAX_THREADS_PER_CORE`], at least 2). At the cap,
    /// a section runs without replacement and the core's `cap_hits` counts it.
    ///
    /// The cap bounds replacement while sections end. A core *starved* at it (every worker
    /// blocked in a section, tasks queued, none started) while no poll starts on any core for
    /// [`CAP_RESCUE_DELAY`] gets one worker beyond it, and another after each further delay while
    /// it stays starved, within [`Builder::max_threads`] (the hard cap): sections that wait for
    /// tasks queued behind them (a barrier, a reply) complete instead of waiting for ever.
    /// `cap_rescues` counts those workers.
    ///
    /// [`CAP_RESCUE_DELAY`]: crate::CAP_RESCUE_DELAY
    pub fn max_threads_per_core(mut self, max: usize) -> Builder {
        self.config.max_threads_per_core = max;
        self
    }

    /// Caps the worker threads of the whole runtime, at least 2 per core. The default is
    /// [`DEFAULT_MAX_THREADS`], or [`DEFAULT_THREADS_PER_CORE_SHARE`] per core if that is more.
    /// This cap is hard: no rescue goes beyond it (see [`Builder::max_threads_per_core`]), so
    /// at it, sections that wait for tasks queued behind them wait until something else ends
    /// (the stall watchdog reports it).
    pub fn max_threads(mut self, max: usize) -> Builder {
        self.max_threads = Some(max);
        self
    }

    /// Caps the threads of the pool that runs [`unblock`](baton_blocking::unblock) jobs from
    /// this runtime's tasks (default [`DEFAULT_MAX_UNBLOCK_THREADS`], at least 1). The pool is
    /// apart from the cores' workers, so jobs never take a core's turn; its threads start only
    /// when a job finds none idle, and exit after the keep-alive. Jobs beyond the cap wait for
    /// a thread, in submission order.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::builder().max_unblock_threads(4).build()?;
    /// let out = rt.block_on(rt.spawn(async { baton_blocking::unblock(|| 2 + 2).await }))?;
    /// assert_eq!(out, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_unblock_threads(mut self, max: usize) -> Builder {
        self.config.max_unblock_threads = max;
        self
    }

    /// Starts the runtime's worker threads.
    ///
    /// # Errors
    ///
    /// Returns an error for which [`BuildError::is_invalid_config`] holds if the core count is
    /// 0 or above [`MAX_CORES`], the thread name contains a NUL byte, the grace period is zero,
    /// a thread cap leaves a core without its active worker and spare, or the unblock pool's cap
    /// is 0; and one for which
    /// [`BuildError::is_thread_spawn`] holds if the OS refuses to start the monitor thread or
    /// every worker thread of some core (any threads already started are stopped first). A
    /// core whose spare the OS refuses starts without it; the monitor starts one later, and the
    /// refusal counts in [`CoreStats::spawn_failures`](crate::CoreStats::spawn_failures).
    pub fn build(mut self) -> Result<Runtime, BuildError> {
        let cores = match self.cores {
            Some(0) => {
                return Err(BuildError::invalid(
                    "cores(0): a runtime needs at least one core",
                ))
            }
            Some(n) if n > MAX_CORES => {
                return Err(BuildError::invalid(format!(
                    "cores({n}): at most {MAX_CORES} cores are supported"
                )))
            }
            Some(n) => n,
            None => self
                .config
                .cpus
                .as_ref()
                .map_or_else(default_cores, |cpus| cpus.len().clamp(1, MAX_CORES)),
        };
        let allowed = sys::allowed_cpus();
        let set = match &self.config.cpus {
            Some(cpus) => {
                check_cpus(cpus, allowed.as_deref())?;
                Some(cpus.clone())
            }
            None => allowed,
        };
        self.config.placement = match set {
            Some(set) => placement::place(
                cores,
                &set,
                self.config.cpus.is_some(),
                self.config.affinity,
            ),
            None => vec![None; cores],
        };
        if self.config.thread_name.contains('\0') {
            return Err(BuildError::invalid(
                "thread_name: a thread name may not contain a NUL byte",
            ));
        }
        self.config.max_threads = self
            .max_threads
            .unwrap_or_else(|| default_max_threads(cores));
        let config = &self.config;
        if config.grace.is_zero() {
            return Err(BuildError::invalid(
                "grace_period(0): the grace period must be positive",
            ));
        }
        if config.detection_threshold.is_zero() {
            return Err(BuildError::invalid(
                "detection_threshold(0): the detection threshold must be positive",
            ));
        }
        if config.max_threads_per_core < WORKERS_PER_CORE {
            return Err(BuildError::invalid(format!(
                "max_threads_per_core({}): each core needs at least {WORKERS_PER_CORE} threads \
                 (its active worker and a spare)",
                config.max_threads_per_core
            )));
        }
        if config.max_unblock_threads == 0 {
            return Err(BuildError::invalid(
                "max_unblock_threads(0): the unblock pool needs at least one thread",
            ));
        }
        if config.max_threads < cores * WORKERS_PER_CORE {
            return Err(BuildError::invalid(format!(
                "max_threads({}): {cores} cores need at least {} threads \
                 ({WORKERS_PER_CORE} per core)",
                config.max_threads,
                cores * WORKERS_PER_CORE
            )));
        }
        if self.start_paused && cores != 1 {
            return Err(BuildError::invalid(format!(
                "start_paused(true) with {cores} cores: a paused clock needs a runtime with one \
                 core (`cores(1)`), see `baton::time::pause`"
            )));
        }
        let runtime = Runtime::start(cores, self.config)?;
        if self.start_paused {
            runtime
                .handle()
                .shared()
                .clock
                .pause()
                .expect("a new runtime's clock runs");
        }
        Ok(runtime)
    }

    /// Starts the runtime with its clock paused, as if the first thing it ran called
    /// [`time::pause`](crate::time::pause()): for tests of code with timeouts and intervals,
    /// which then run at once and in order. The runtime must have one core.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use baton::time::Instant;
    /// let rt = baton::Runtime::builder().cores(1).start_paused(true).build()?;
    /// rt.block_on(async {
    ///     let start = Instant::now();
    ///     baton::time::sleep(Duration::from_secs(24 * 3600)).await;
    ///     assert_eq!(start.elapsed(), Duration::from_secs(24 * 3600));
    /// });
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`build`](Builder::build) fails if the runtime has more than one core.
    pub fn start_paused(mut self, paused: bool) -> Builder {
        self.start_paused = paused;
        self
    }
}

/// Checks a CPU set given to [`Builder::cpus`] against the CPUs this process may run on
/// (`allowed`, where the system says).
fn check_cpus(cpus: &[usize], allowed: Option<&[usize]>) -> Result<(), BuildError> {
    if cpus.is_empty() {
        return Err(BuildError::invalid(
            "cpus([]): a runtime needs at least one CPU",
        ));
    }
    if let Some(&cpu) = cpus.iter().find(|&&cpu| cpu >= sys::MAX_CPU) {
        return Err(BuildError::invalid(format!(
            "cpus: CPU {cpu} is beyond the {} CPUs an affinity mask can name",
            sys::MAX_CPU
        )));
    }
    if let Some(allowed) = allowed {
        if let Some(&cpu) = cpus.iter().find(|cpu| !allowed.contains(cpu)) {
            return Err(BuildError::invalid(format!(
                "cpus: CPU {cpu} is not one this process may run on (its affinity mask: \
                 {allowed:?})"
            )));
        }
    }
    Ok(())
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("cores", &self.cores)
            .field("max_threads", &self.max_threads)
            .field("start_paused", &self.start_paused)
            .field("config", &self.config)
            .finish()
    }
}
