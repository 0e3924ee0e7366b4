//! Work queue workloads: an ordered queue's throughput against the usual ways to get the same
//! guarantee elsewhere, one consumer task reading a channel.
//!
//! - **baton**: an ordered [`baton::WorkQueue`]; the producer task spawns every job on it, then
//!   awaits `flush`.
//! - **tokio**: a `tokio::sync::mpsc` unbounded channel of boxed job futures and one consumer
//!   task that awaits each job in turn.
//! - **async-executor**: the same with an `async-channel` unbounded channel.
//!
//! Every job runs the same work: it folds its number into a running checksum, which also checks
//! the order (each system must produce [`expected`]); a third row adds about a microsecond of
//! CPU work per job, so the job stream rather than the spawning bounds the run. Jobs are futures on every system, since
//! that is what a work queue runs; on the channel systems they are boxed, as a job queue of
//! mixed jobs must box them. The second row makes every job yield once, like a job that awaits
//! something: the ordered queue then keeps the turn while other work could run, the channel
//! consumer just waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::{baton_runtime, tokio_runtime, AsyncExecutor};
use crate::report;

/// Jobs per run.
const JOBS: u64 = 100_000;

/// Rounds of [`mix`] in a job of the "heavier jobs" row (about a microsecond).
const HEAVY_ROUNDS: u32 = 400;

/// Timed runs per row, after one warm-up.
const RUNS: usize = 10;

/// A boxed job, as the channel systems carry them.
type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs every workload whose name contains `filter`.
pub(crate) fn run(filter: &str) {
    let light = Shape {
        yields: false,
        rounds: 0,
    };
    let yielding = Shape {
        yields: true,
        ..light
    };
    let heavy = Shape {
        rounds: HEAVY_ROUNDS,
        ..light
    };
    row("ordered queue 100k jobs", light, filter);
    row("ordered queue 100k jobs, yield once", yielding, filter);
    row("ordered queue 100k jobs of ~1 µs", heavy, filter);
}

/// What each job of a row does besides folding its number into the checksum.
#[derive(Clone, Copy)]
struct Shape {
    /// Yield once first.
    yields: bool,
    /// Rounds of CPU work ([`mix`]) first.
    rounds: u32,
}

/// One row: the ordered job stream on every system.
fn row(name: &str, shape: Shape, filter: &str) {
    if !name.contains(filter) {
        return;
    }
    report::row(
        name,
        &[
            ("baton", baton_ordered(shape)),
            ("tokio", tokio_channel(shape)),
            ("async-executor", smol_channel(shape)),
        ],
    );
}

/// The per-job work: folds `job` (mixed `rounds` times) into the checksum. Only one job runs
/// at a time on every system, so a relaxed load and store are enough (the queue or channel
/// orders the jobs).
async fn work(sum: Arc<AtomicU64>, job: u64, shape: Shape) {
    if shape.yields {
        yield_once().await;
    }
    let value = mix(job, shape.rounds);
    let next = sum
        .load(Ordering::Relaxed)
        .wrapping_mul(31)
        .wrapping_add(value);
    sum.store(next, Ordering::Relaxed);
}

/// `rounds` rounds of xorshift over `x`, opaque to the optimiser.
fn mix(mut x: u64, rounds: u32) -> u64 {
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = std::hint::black_box(x);
    }
    x
}

/// The checksum of jobs `0..JOBS` run in order.
fn expected(shape: Shape) -> u64 {
    (0..JOBS).fold(0, |sum: u64, job| {
        sum.wrapping_mul(31).wrapping_add(mix(job, shape.rounds))
    })
}

/// Returns `Pending` once (waking itself), then `Ready`: a runtime-neutral yield.
fn yield_once() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}

/// Times `run` (given the checksum it must fold every job into) over [`RUNS`] runs, checking
/// after each that `system` ran the jobs in order.
fn timed_in_order(system: &str, shape: Shape, mut run: impl FnMut(Arc<AtomicU64>)) -> Duration {
    report::measure(RUNS, || {
        let sum = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        run(sum.clone());
        let elapsed = start.elapsed();
        assert_eq!(
            sum.load(Ordering::Relaxed),
            expected(shape),
            "{system} ran jobs out of order"
        );
        elapsed
    })
}

fn baton_ordered(shape: Shape) -> Duration {
    let rt = baton_runtime();
    let queue = baton::WorkQueue::builder("bench")
        .ordered()
        .build(&rt.handle())
        .expect("cannot build the queue");
    timed_in_order("baton", shape, |s| {
        let q = queue.clone();
        let root = rt.spawn(async move {
            for job in 0..JOBS {
                drop(q.spawn(work(s.clone(), job, shape)));
            }
            q.flush().await;
        });
        rt.block_on(root).expect("the producer failed");
    })
}

fn tokio_channel(shape: Shape) -> Duration {
    let rt = tokio_runtime();
    timed_in_order("tokio", shape, |s| {
        let root = rt.spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
            let consumer = tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    job.await;
                }
            });
            for job in 0..JOBS {
                let job: Job = Box::pin(work(s.clone(), job, shape));
                tx.send(job).expect("the consumer hung up");
            }
            drop(tx);
            consumer.await.expect("the consumer failed");
        });
        rt.block_on(root).expect("the producer failed");
    })
}

fn smol_channel(shape: Shape) -> Duration {
    let smol = AsyncExecutor::new();
    timed_in_order("async-executor", shape, |s| {
        let executor = Arc::clone(&smol.executor);
        smol.spawn_and_wait(async move {
            let (tx, rx) = async_channel::unbounded::<Job>();
            let consumer = executor.spawn(async move {
                while let Ok(job) = rx.recv().await {
                    job.await;
                }
            });
            for job in 0..JOBS {
                let job: Job = Box::pin(work(s.clone(), job, shape));
                tx.try_send(job).expect("the consumer hung up");
            }
            drop(tx);
            consumer.await;
        });
    })
}
