//! The runtime: builds the shared state, starts the workers, runs `block_on`, shuts down.

mod builder;

pub use builder::{
    Builder, DEFAULT_DETECTION_THRESHOLD, DEFAULT_GRACE, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS,
    DEFAULT_MAX_THREADS_PER_CORE, DEFAULT_STALL_TIMEOUT, DEFAULT_THREADS_PER_CORE_SHARE, MAX_CORES,
};

use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::context;
use crate::error::BuildError;
use crate::handle::Handle;
use crate::shared::{Config, Shared};
use crate::stats::Stats;
use crate::sync::Arc;
use crate::task::JoinHandle;
use crate::{monitor, worker};

/// How many passes shutdown makes over the live tasks once every worker has exited.
const CANCEL_ROUNDS: usize = 1000;
/// How many passes shutdown makes when some worker did not exit in time.
const CANCEL_ROUNDS_WITH_STRAGGLERS: usize = 10;

/// A baton runtime: `cores` cores, each with one running worker and a parked spare.
///
/// Dropping the runtime shuts it down: workers stop at their next poll boundary and are joined,
/// and every task that has not finished is dropped (its handle reports cancelled).
///
/// # Examples
///
/// ```
/// let rt = baton_executor::Runtime::new()?;
/// let out = rt.block_on(async { 1 + 1 });
/// assert_eq!(out, 2);
/// # Ok::<(), baton_executor::BuildError>(())
/// ```
#[derive(Debug)]
pub struct Runtime {
    handle: Handle,
    /// The monitor thread; `None` once joined.
    monitor: Option<std::thread::JoinHandle<()>>,
}

impl Runtime {
    /// A runtime with the default settings (one core per CPU this process may use).
    ///
    /// # Errors
    ///
    /// Returns an error if the OS refuses to start the monitor thread or every worker thread
    /// of some core (see [`Builder::build`]).
    pub fn new() -> Result<Runtime, BuildError> {
        Runtime::builder().build()
    }

    /// A [`Builder`] to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Starts `cores` cores and their workers.
    fn start(cores: usize, config: Config) -> Result<Runtime, BuildError> {
        let workers_per_core = config.workers_per_core;
        let shared = Arc::new(Shared::new(cores, config));
        let mut runtime = Runtime {
            handle: Handle::from_shared(Arc::clone(&shared)),
            monitor: None,
        };
        // On error, dropping `runtime` stops the threads already started.
        let (started, all_started) = mpsc::channel::<()>();
        let mut refused = None;
        for core in 0..cores {
            for _ in 0..workers_per_core {
                match worker::spawn(&shared, core, Some(started.clone())) {
                    Ok(thread) => shared.add_thread(thread),
                    Err(err) => refused = Some(err),
                }
            }
        }
        // Every worker thread drops its sender once it has parked itself, so that the
        // runtime's counts are exact from the start. Nothing is sent: `recv` returns an error
        // once every sender is gone.
        drop(started);
        let _ = all_started.recv();
        // A core may start without its spare (the monitor starts one later), but not without
        // any worker.
        if let Some(err) = refused {
            if shared.cores.iter().any(|core| core.state().workers() == 0) {
                return Err(BuildError::spawn(err));
            }
        }
        runtime.monitor = Some(monitor::spawn(&shared).map_err(BuildError::spawn)?);
        Ok(runtime)
    }

    /// Runs `future` to completion on the current thread and returns its output.
    ///
    /// Tasks spawned meanwhile run on the runtime's workers; the future itself runs here, and
    /// [`spawn`](crate::spawn) and [`Handle::current`] work inside it.
    ///
    /// # Panics
    ///
    /// Panics when called on a worker thread of a baton runtime (from inside a task): blocking a
    /// worker on a future would stall its core. Inside a task, `.await` the future instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton_executor::Runtime::new()?;
    /// let v = rt.block_on(async {
    ///     let a = baton_executor::spawn(async { 20 });
    ///     let b = baton_executor::spawn(async { 22 });
    ///     a.await.unwrap() + b.await.unwrap()
    /// });
    /// assert_eq!(v, 42);
    /// # Ok::<(), baton_executor::BuildError>(())
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if context::current_worker().is_some() {
            panic!(
                "Runtime::block_on called from a baton worker thread (inside a task): this would \
                 block the worker and stall its core; `.await` the future instead, or spawn it"
            );
        }
        let _enter = self.handle.enter();
        crate::reactor::block_on(future)
    }

    /// Spawns a task on this runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton_executor::Runtime::new()?;
    /// let task = rt.spawn(async { 5 });
    /// assert_eq!(rt.block_on(task).unwrap(), 5);
    /// # Ok::<(), baton_executor::BuildError>(())
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// A handle to this runtime.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// A snapshot of the runtime's counters, per core.
    pub fn stats(&self) -> Stats {
        self.handle.stats()
    }

    /// Shuts the runtime down, waiting at most `timeout` for workers busy in a poll.
    ///
    /// Every task that has not finished is dropped and its handle reports cancelled. Workers
    /// still inside a poll when the time is up are left to finish it on their own and exit;
    /// their tasks are dropped when that poll ends. Returns whether every worker exited in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = baton_executor::Runtime::new()?;
    /// let task = rt.spawn(std::future::pending::<()>());
    /// assert!(rt.shutdown_timeout(Duration::from_secs(5)));
    /// assert!(futures::executor::block_on(task).unwrap_err().is_cancelled());
    /// # Ok::<(), baton_executor::BuildError>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shutdown(Some(timeout))
    }

    /// Stops the workers (waiting at most `timeout`) and cancels every remaining task.
    fn shutdown(&mut self, timeout: Option<Duration>) -> bool {
        let shared = self.handle.shared();
        shared.begin_shutdown();
        let deadline = timeout.map(|t| Instant::now() + t);
        // The monitor first: once it has exited, no new worker thread appears.
        let mut all_exited = self.monitor.take().is_none_or(|m| join(m, deadline));
        // A spare the monitor started during shutdown parked after the first wake-up.
        shared.wake_all_workers();
        for thread in shared.take_threads() {
            all_exited &= join(thread, deadline);
        }
        shared.cancel_all(if all_exited {
            CANCEL_ROUNDS
        } else {
            CANCEL_ROUNDS_WITH_STRAGGLERS
        });
        all_exited
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.handle.shared().is_shutdown() {
            self.shutdown(None);
        }
    }
}

/// Joins `thread`, waiting at most until `deadline` if given; returns whether it exited.
fn join(thread: std::thread::JoinHandle<()>, deadline: Option<Instant>) -> bool {
    if let Some(deadline) = deadline {
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if !thread.is_finished() {
            // Left to finish its poll on its own; it exits when it sees the shutdown.
            return false;
        }
    }
    // A worker never unwinds (task panics are caught), so an error here would be a panic in a
    // user `on_thread_*` callback, already reported by the panic hook.
    let _ = thread.join();
    true
}
