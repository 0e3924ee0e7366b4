//! baton: an async executor with blocking-aware concurrency control.
//!
//! Each core runs exactly one worker at a time, like the Linux kernel's concurrency-managed
//! workqueues. When that worker enters a blocking section, a spare worker of the same core takes
//! over the core's queue, so blocking code stops stalling the tasks behind it, without a thread
//! per blocking call and without oversubscribing the CPU.
//!
//! # Examples
//!
//! ```
//! let rt = baton::Runtime::new()?;
//! let out = rt.block_on(async {
//!     let task = baton::spawn(async { 1 + 1 });
//!     task.await.unwrap()
//! });
//! assert_eq!(out, 2);
//! # Ok::<(), baton::BuildError>(())
//! ```
//!
//! Beyond [`spawn`], a [`WorkQueue`] gives a named group of tasks its own policy: strict
//! ordering, `max_active`, keyed lanes, a [`Priority`] class, an [`Affinity`], delayed tasks,
//! `flush` and `drain`.
//!
//! ```
//! let rt = baton::Runtime::new()?;
//! let q = baton::WorkQueue::builder("journal").ordered().build(&rt.handle())?;
//! let first = q.spawn(async { 1 });
//! let second = q.spawn(async { 2 }); // starts only after `first` finished
//! assert_eq!(rt.block_on(async { first.await.unwrap() + second.await.unwrap() }), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For code that tokio users know: [`task::JoinSet`] awaits a group of tasks in the order
//! they finish; [`task::LocalSet`] and [`task::spawn_local`] run futures that are not `Send`
//! on one thread; [`Handle::block_on`] calls async code from a synchronous function, inside a
//! task only within a blocking section (tokio's `block_in_place(|| handle.block_on(..))`).
//!
//! Every runtime keeps counters ([`Runtime::stats`]); with the `tracing` feature each task is a
//! span that tokio-console understands. The repository's `docs/observability.md` says how to
//! read them and find what blocks. Features: `tracing` (spans and events, off by default and
//! compiled out when off), `serde` (serialisable [`Stats`]).
//!
//! This crate is a facade: it re-exports `baton-executor` (the runtime), `baton-blocking`
//! (annotations any library can use without depending on the executor) and `baton-macros`.

pub use baton_executor::{
    current_core, spawn, spawn_on, yield_now, BuildError, Builder, CoreStats, CpuAffinity,
    Detection, EnterGuard, Handle, JoinError, JoinHandle, Runtime, SetCoresError, SiteStats, Stats,
    StatsReporter, TaskId, TryCurrentError, UnblockStats, YieldNow, MAX_CORES,
};

pub use baton_executor::{
    Affinity, Priority, QueueBuildError, QueueStats, SpawnError, WorkQueue, WorkQueueBuilder,
    CAP_RESCUE_DELAY, DEFAULT_MAX_ACTIVE, MAX_ACTIVE_LIMIT, MAYDAY_DELAY, MAYDAY_INTERVAL,
};

pub use baton_executor::{
    DEFAULT_DETECTION_THRESHOLD, DEFAULT_GRACE, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS,
    DEFAULT_MAX_THREADS_PER_CORE, DEFAULT_MAX_UNBLOCK_THREADS, DEFAULT_STALL_TIMEOUT,
    DEFAULT_THREADS_PER_CORE_SHARE, HOG_THRESHOLD,
};

pub use baton_executor::coop;
pub use baton_executor::task;
pub use baton_executor::{io, net, time};

/// hyper 1.x on baton: executor, timer, I/O adapter and hyper-util connector (feature `hyper`).
#[cfg(feature = "hyper")]
pub use baton_executor::hyper;
/// Threads of the tokio runtime the `tokio` feature starts (feature `tokio`).
#[cfg(feature = "tokio")]
pub use baton_executor::TOKIO_WORKER_THREADS;

/// Blocking sections: tell the runtime that code may block, so it can hand the core on.
///
/// See the [`baton_blocking`] crate, re-exported here whole.
pub mod blocking {
    pub use baton_blocking::*;
}

pub use baton_macros::{blocking, main, test};
