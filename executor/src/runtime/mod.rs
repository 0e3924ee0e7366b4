//! The runtime: builds the shared state, starts the workers, runs `block_on`, shuts down.

mod builder;
mod defaults;
mod placement;

pub use placement::CpuAffinity;

pub use builder::Builder;
pub use defaults::{
    DEFAULT_DETECTION_THRESHOLD, DEFAULT_GRACE, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS,
    DEFAULT_MAX_THREADS_PER_CORE, DEFAULT_MAX_UNBLOCK_THREADS, DEFAULT_STALL_TIMEOUT,
    DEFAULT_THREADS_PER_CORE_SHARE, MAX_CORES,
};

use std::future::Future;
use std::panic::Location;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::BuildError;
use crate::handle::{EnterGuard, Handle};
use crate::monitor;
use crate::reactor::Driver;
use crate::scheduler::worker;
use crate::scheduler::{Config, Shared};
use crate::stats::Stats;
use crate::sync::Arc;
use crate::task::large::boxed_if_large;
use crate::task::JoinHandle;

/// The longest shutdown sleeps between two looks at a worker it waits for (it is woken at once
/// when a task is queued for it to cancel).
const MAX_NAP: Duration = Duration::from_millis(5);

/// A baton runtime: `cores` cores, each with one running worker and a parked spare.
///
/// # Shutdown
///
/// Dropping the runtime (or calling [`Runtime::shutdown_timeout`]) shuts it down, on the
/// dropping thread:
///
/// 1. No task is polled again. Every task that is not running is cancelled at once: its
///    future is dropped on this thread (never inside a `wake()` call), and its handle reports
///    [`JoinError::is_cancelled`](crate::JoinError::is_cancelled), or
///    [`JoinError::is_panic`](crate::JoinError::is_panic) if the future panicked while
///    dropped (that panic never reaches this thread). So is every task woken or spawned from
///    then on.
/// 2. It waits for the polls running on the workers to end, sections included: `drop` waits
///    for as long as they take; [`Runtime::shutdown_timeout`] stops waiting at its timeout.
///    Meanwhile it keeps cancelling the tasks that are scheduled, so a poll that waits for
///    another task's cancellation (a section blocked on a channel whose sender a pending task
///    holds) ends. A task whose poll ends without completing is cancelled, and each worker
///    exits after its poll. The threads of the `unblock` pool are waited for the same way. A
///    [`Handle::block_on`] of this runtime that runs on one of these threads (in a section, or in
///    an `unblock` job) and still waits once the pending tasks are cancelled panics, naming its
///    call, since nothing of the runtime will end its wait (tokio fails its timers and sockets
///    at shutdown instead); so a timer or a socket there never holds the drop.
/// 3. It cancels whatever is left and returns, every worker joined (except those still in a
///    poll when a timeout expired). A task scheduled after that (the task of such a worker,
///    when its poll ends) is cancelled on a short-lived thread of its own.
///
/// Dropping the runtime from inside one of its own tasks works the same way, except that the
/// worker running that task is not waited for: the rest of that poll runs after the drop
/// returns (a task spawned there is cancelled at once), then the task is cancelled unless it
/// completed, and the worker exits.
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let out = rt.block_on(async { 1 + 1 });
/// assert_eq!(out, 2);
/// # Ok::<(), baton::BuildError>(())
/// ```
#[derive(Debug)]
pub struct Runtime {
    handle: Handle,
    /// The monitor thread; `None` once joined.
    monitor: Option<std::thread::JoinHandle<()>>,
    /// Counts this runtime among the reactor's drivers until its shutdown begins: from then
    /// on its workers drive the reactor no more (they exit at their next poll boundary), so a
    /// timer or socket that only this runtime would drive panics clearly instead of waiting for
    /// ever (a destructor of a cancelled task that waits for a sleep, say).
    driver: Option<Driver>,
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
            driver: Some(Driver::start()),
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
    /// [`spawn`](crate::spawn) and [`Handle::current`] work inside it. This is
    /// [`Handle::block_on`] on this runtime's handle: see there for where it may be called.
    ///
    /// # Panics
    ///
    /// Panics when called inside a task of a baton runtime, outside a blocking section: blocking
    /// a worker on a future would stall its core. Inside a task, `.await` the future instead, or
    /// run the call in a section (see [`Handle::block_on`]).
    ///
    /// With the `tokio` feature, also panics, saying why, when called on a thread of a tokio
    /// current-thread runtime (in its `block_on` or one of its tasks): that runtime cannot go
    /// on while its one thread is blocked here.
    ///
    /// # Caveats
    ///
    /// Called from a thread of another runtime, `block_on` blocks that thread until the future
    /// completes, as any blocking call does; that runtime's other tasks wait meanwhile if it
    /// has no other thread to run them. With the `tokio` feature, on a worker of a tokio
    /// multi-thread runtime it first hands the worker's tokio core over to another thread
    /// (`tokio::task::block_in_place`), so tokio goes on. Without the feature baton cannot tell
    /// tokio's threads from others: there, wrap the call in `tokio::task::block_in_place`, or
    /// spawn the future on baton and await its `JoinHandle` instead.
    ///
    /// With the `tokio` feature, the future runs in the tokio context of the runtime's own
    /// tokio runtime, as tasks do.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let v = rt.block_on(async {
    ///     let a = baton::spawn(async { 20 });
    ///     let b = baton::spawn(async { 22 });
    ///     a.await.unwrap() + b.await.unwrap()
    /// });
    /// assert_eq!(v, 42);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let caller = Location::caller();
        boxed_if_large!(future => self.handle.block_on_at(future, caller))
    }

    /// Spawns a task on this runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let task = rt.spawn(async { 5 });
    /// assert_eq!(rt.block_on(task).unwrap(), 5);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = Location::caller();
        boxed_if_large!(future => Shared::spawn(self.handle.shared(), future, None, site))
    }

    /// A handle to this runtime.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Makes this runtime the current one on this thread until the guard drops, so that
    /// [`spawn`](crate::spawn) and [`Handle::current`] work outside tasks (as
    /// [`Handle::enter`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let task = {
    ///     let _guard = rt.enter();
    ///     baton::spawn(async { 3 })
    /// };
    /// assert_eq!(rt.block_on(task).unwrap(), 3);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn enter(&self) -> EnterGuard {
        self.handle.enter()
    }

    /// A snapshot of the runtime's counters, per core.
    pub fn stats(&self) -> Stats {
        self.handle.stats()
    }

    /// Shuts the runtime down (see [Shutdown](Runtime#shutdown)), waiting at most `timeout` for
    /// the polls running on the workers to end. Returns whether every worker exited in time.
    ///
    /// Every task that has not finished is cancelled and its handle reports it. A worker still
    /// inside a poll when the time is up is left to finish it on its own; its task is cancelled
    /// when the poll ends (unless it completed), and the worker exits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = baton::Runtime::new()?;
    /// let task = rt.spawn(std::future::pending::<()>());
    /// assert!(rt.shutdown_timeout(Duration::from_secs(5)));
    /// assert!(futures::executor::block_on(task).unwrap_err().is_cancelled());
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shutdown(Some(timeout))
    }

    /// Shuts the runtime down without waiting for polls still running on the workers: as
    /// [`shutdown_timeout`](Runtime::shutdown_timeout) with a zero timeout. Every task that
    /// has not finished is cancelled; a worker still inside a poll exits once the poll ends.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let task = rt.spawn(std::future::pending::<()>());
    /// rt.shutdown_background();
    /// assert!(futures::executor::block_on(task).unwrap_err().is_cancelled());
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO);
    }

    /// Cancels every pending task, then waits for the workers (at most until `timeout`), then
    /// cancels what is left (the protocol is in the shutdown notes of `scheduler/shutdown.rs`).
    fn shutdown(&mut self, timeout: Option<Duration>) -> bool {
        // The tasks cancelled on this thread are dropped in the runtime's context, as on its
        // workers: a destructor may call `spawn` or `Handle::current` (its spawn is cancelled).
        // Not at thread exit, once the thread-locals are being destroyed.
        let _context = self.handle.enter_if_possible();
        let shared = Arc::clone(self.handle.shared());
        let _shutting_down = shared.shutdown_thread_guard();
        shared.begin_shutdown();
        drop(self.driver.take());
        // A timeout too long for the clock is no deadline at all.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        shared.cancel_pending();
        // What still waits in a `block_on` on a thread joined below waits for nothing the
        // runtime will bring.
        shared.joined.release();
        // The monitor first: once it has exited, no new worker thread appears.
        let mut all_exited = self
            .monitor
            .take()
            .is_none_or(|m| wait_for(&shared, m, deadline));
        // A spare the monitor started during shutdown parked after the first wake-up.
        shared.wake_all_workers();
        let current = std::thread::current().id();
        let unbound = shared.unbound.shut_down();
        for thread in shared.take_threads().into_iter().chain(unbound) {
            if thread.thread().id() == current {
                // Dropped from inside one of this runtime's tasks: this worker exits once the
                // poll that is dropping the runtime ends.
                continue;
            }
            all_exited &= wait_for(&shared, thread, deadline);
        }
        shared.finish_shutdown();
        // Baton's tasks are gone: whatever tokio resources they held are released.
        shared.tokio.shutdown(deadline);
        all_exited
    }
}

// A panic in a caller never leaves a runtime half-changed: tasks' panics are caught on the
// workers, and the shared state is updated through atomics and short critical sections. So a
// runtime may be used across `catch_unwind` (tokio's `Runtime` is, too); only the thread
// callbacks of the builder keep the compiler from seeing it.
impl std::panic::UnwindSafe for Runtime {}
impl std::panic::RefUnwindSafe for Runtime {}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.handle.shared().is_shutdown() {
            self.shutdown(None);
        }
    }
}

/// Waits for `thread` to exit, at most until `deadline` if given, and joins it; returns whether
/// it exited. Meanwhile cancels the tasks queued for shutdown to cancel: the poll `thread` is in
/// may be waiting for one of them to go.
fn wait_for(
    shared: &Shared,
    thread: std::thread::JoinHandle<()>,
    deadline: Option<Instant>,
) -> bool {
    let mut nap = Duration::from_micros(50);
    while !thread.is_finished() {
        if shared.cancel_queued() > 0 {
            continue;
        }
        let mut sleep = nap;
        if let Some(deadline) = deadline {
            let now = Instant::now();
            if now >= deadline {
                // Left to finish its poll on its own; it exits when it sees the shutdown.
                return false;
            }
            sleep = sleep.min(deadline - now);
        }
        // Woken early by a task queued for cancelling (`Shared::cancel_later`).
        std::thread::park_timeout(sleep);
        nap = (nap * 2).min(MAX_NAP);
    }
    // A worker never unwinds (task panics are caught), so an error here would be a panic in a
    // user `on_thread_*` callback, already reported by the panic hook.
    let _ = thread.join();
    true
}
