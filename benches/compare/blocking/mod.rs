//! Blocking workloads: the blocking mix, the cost of a section that does not block, and the
//! handoff latency on one core (the targets in docs/architecture.md).
//!
//! - **Blocking mix**: tasks of short CPU steps, one step in ten also calling a blocking function,
//!   run on baton (with and without sections, and with its `unblock`), tokio (`block_in_place`,
//!   `spawn_blocking`) and async-executor (`blocking::unblock`). Besides the wall time, each
//!   system's peak thread count and context switches are reported.
//! - **Section that does not block**: the cost of entering and leaving a section around a
//!   closure that returns at once, against tokio's `block_in_place` and the bare closure.
//! - **Unblock that returns at once**: the cost of handing a closure that returns at once to
//!   another thread and awaiting its value: baton's `unblock`, tokio's `spawn_blocking` and
//!   smol's `unblock`.
//! - **Handoff latency**: on one core, the time from a 5 ms section's start to the start of the
//!   task queued behind it, for a call site the runtime has not seen block and for a known one.
//! - **Monitor cost**: the CPU time and wake-ups of baton's monitor thread while two tasks run
//!   2 µs sections that never block, in a loop (target: under 2% of one CPU), and while they
//!   run 2 µs polls with no section at all (detection's cost on a busy runtime; target: under
//!   1%).
//!
//! Each workload is a file of this folder: [`mix`], [`cost`] (a section and an `unblock` that
//! return at once), [`latency`] (the handoff, and the wait behind unannotated blocking) and
//! [`monitor`]; [`measure`] samples a run (wall time, threads, context switches, CPU time).

use std::future::Future;
use std::thread;
use std::time::{Duration, Instant};

use crate::report;

mod cost;
mod latency;
mod measure;
mod mix;
mod monitor;

pub(crate) use measure::{foreign_threads, observe, percentile, Sample};

/// Cores (baton) or worker threads (tokio, async-executor) of the blocking mix.
pub(crate) const CORES: usize = 2;

/// Runs every workload whose name contains `filter`.
pub(crate) fn run(filter: &str) {
    mix::mix(filter);
    cost::section_cost(filter);
    cost::unblock_cost(filter);
    latency::handoff(filter);
    latency::unannotated_wait(filter);
    monitor::monitor_cost(filter, true);
    monitor::monitor_cost(filter, false);
}

/// Burns `d` of CPU time without yielding.
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

pub(crate) fn baton_runtime(cores: usize) -> baton::Runtime {
    report::baton_builder(cores)
        .build()
        .expect("cannot build the baton runtime")
}

/// A fresh baton runtime that has run one task and had time to park its spares.
fn settled_baton(cores: usize) -> baton::Runtime {
    let rt = baton_runtime(cores);
    run_baton(&rt, async {});
    thread::sleep(Duration::from_millis(2));
    rt
}

/// Runs `fut` as a task on `rt` and waits for it from outside.
fn run_baton<F>(rt: &baton::Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(fut)).expect("the root task failed")
}

pub(crate) fn tokio_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime")
}

/// Runs `fut` as a task on `rt` and waits for it from outside.
fn run_tokio<F>(rt: &tokio::runtime::Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(fut)).expect("the root task failed")
}
