//! The executor behind [baton](https://docs.rs/baton): per-core run queues, workers that pass a
//! baton between them, the reactor, timers, networking and stats.
//!
//! Use it through the `baton` facade crate. Layering, bottom to top (imports should point
//! down): `sync`, `trace`; `core` (the per-core protocol), `queue`, `park`, `stats`,
//! `context`, `coop`, `sites`, `sys`, `reactor`; `task`, `unbound`; `scheduler` (but its
//! `worker` loop), `handle`, `time`, `net`, `io`; `section`; `scheduler::worker`; `detect`,
//! `stall`, `monitor`; `workqueue`; `runtime`. `docs/architecture.md` maps the modules and names
//! the imports that do not point down yet.

mod clock;
mod compat;
mod context;
mod core;
mod error;
mod handle;
mod manager;
mod origin;
mod park;
mod queue;
mod runtime;
mod scheduler;
mod stats;
mod sync;
mod sys;
pub mod task;
mod trace;
mod workqueue;

#[cfg(all(test, loom))]
mod loom;

pub mod coop;
#[cfg(feature = "hyper")]
pub mod hyper;
pub mod io;
pub mod net;
mod reactor;
pub mod time;

// The concurrency manager's modules, at the paths the rest of the crate names them by.
use manager::{detect, monitor, section, sites, stall, unbound};

#[cfg(feature = "tokio")]
pub use compat::TOKIO_WORKER_THREADS;
pub use detect::HOG_THRESHOLD;
pub use error::{BuildError, SetCoresError, TryCurrentError};
pub use handle::{EnterGuard, Handle};
pub use monitor::{CAP_RESCUE_DELAY, MAYDAY_DELAY, MAYDAY_INTERVAL};
pub use queue::Priority;
pub use runtime::{
    Builder, CpuAffinity, Runtime, DEFAULT_DETECTION_THRESHOLD, DEFAULT_GRACE, DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_THREADS, DEFAULT_MAX_THREADS_PER_CORE, DEFAULT_MAX_UNBLOCK_THREADS,
    DEFAULT_STALL_TIMEOUT, DEFAULT_THREADS_PER_CORE_SHARE, MAX_CORES,
};
pub use stats::{CoreStats, Detection, QueueStats, SiteStats, Stats, StatsReporter, UnblockStats};
pub use task::{yield_now, JoinError, JoinHandle, TaskId, YieldNow};
pub use workqueue::{
    Affinity, QueueBuildError, SpawnError, WorkQueue, WorkQueueBuilder, DEFAULT_MAX_ACTIVE,
    MAX_ACTIVE_LIMIT,
};

use std::future::Future;

use crate::task::large::boxed_if_large;
use crate::task::Spawn;

/// Spawns a task on the current runtime; it may run on any core.
///
/// # Panics
///
/// Panics outside a runtime (see [`Handle::current`]); use [`Handle::try_current`] and
/// [`Handle::spawn`] to handle that case.
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let out = rt.block_on(async {
///     let task = baton::spawn(async { 6 * 7 });
///     task.await.unwrap()
/// });
/// assert_eq!(out, 42);
/// # Ok::<(), baton::BuildError>(())
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let site = std::panic::Location::caller();
    boxed_if_large!(future => task::spawn_current(future, Spawn::at(site)))
}

/// Spawns a task on the current runtime that runs only on core `core` (while `core` is
/// offline, on the core that stands in for it: see [`Handle::spawn_on`] and
/// [`Handle::set_cores`]).
///
/// # Panics
///
/// Panics outside a runtime, or if `core` is not below the runtime's core count.
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::builder().cores(2).build()?;
/// let core = rt.block_on(async {
///     baton::spawn_on(0, async { baton::current_core() }).await.unwrap()
/// });
/// assert_eq!(core, Some(0));
/// # Ok::<(), baton::BuildError>(())
/// ```
#[track_caller]
pub fn spawn_on<F>(core: usize, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let site = std::panic::Location::caller();
    let how = Spawn {
        pin: Some(core),
        ..Spawn::at(site)
    };
    boxed_if_large!(future => task::spawn_current(future, how))
}

/// The index of the core the current thread works for, or `None` off a worker thread (for
/// example inside `block_on`, whose future runs on the calling thread).
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::builder().cores(2).build()?;
/// assert_eq!(rt.block_on(async { baton::current_core() }), None);
/// let on_worker = rt.block_on(rt.spawn(async { baton::current_core() }))?;
/// assert!(matches!(on_worker, Some(0 | 1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn current_core() -> Option<usize> {
    context::current_worker().map(|(_, core)| core)
}
