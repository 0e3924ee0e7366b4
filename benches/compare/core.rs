//! Runtime-core workloads in tokio's own benchmark shapes: spawn, yield, ping-pong, chained
//! spawn, and heap bytes per idle task.
//!
//! Each workload is written once, against [`Spawner`], and run as a root task spawned on each
//! [`System`] in turn while the bench thread waits for it from outside the runtime. Only one
//! system is alive at a time.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use async_executor::Executor;
use futures_lite::future;

use crate::report::{self, HeapCounter};

/// Cores (baton) or worker threads (tokio, async-executor) given to each system.
const CORES: usize = 2;

/// Timed runs per workload, after one warm-up.
const RUNS: usize = 10;

/// Runs per system of the memory workload, which has no warm-up.
const MEMORY_RUNS: usize = 3;

/// Tasks spawned by [`SpawnMany`].
const SPAWN_TASKS: usize = 100_000;

/// Tasks of [`YieldMany`], and how often each yields.
const YIELD_TASKS: usize = 200;
const YIELDS_PER_TASK: usize = 1_000;

/// Pairs of tasks in [`PingPong`], and the round trips each pair makes.
const PING_PONG_PAIRS: usize = 100;
const ROUND_TRIPS: usize = 1_000;

/// Length of the chain of [`ChainedSpawn`].
const CHAIN_DEPTH: usize = 100_000;

/// Idle tasks spawned to measure heap bytes per task.
const IDLE_TASKS: usize = 1_000_000;

/// Runs every workload whose name contains `filter`.
pub(crate) fn run(filter: &str) {
    time::<SpawnMany>(filter);
    time::<YieldMany>(filter);
    time::<PingPong>(filter);
    time::<ChainedSpawn>(filter);
    memory(filter);
}

/// What a workload uses of a runtime, from inside one of its tasks.
trait Spawner: Clone + Send + Sync + 'static {
    /// A spawned task's handle, awaiting its output.
    type Join<T: Send + 'static>: Future<Output = T> + Send + 'static;

    /// Spawns a task.
    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns a task nobody waits for.
    fn detach<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// The runtime's own yield.
    fn yield_now(&self) -> impl Future<Output = ()> + Send;
}

/// A runtime under test.
trait System {
    /// The name in the table header.
    const NAME: &'static str;

    /// How its tasks spawn.
    type Spawner: Spawner;

    /// Builds the runtime with [`CORES`] cores or worker threads.
    fn start() -> Self;

    /// A spawner for the root task.
    fn spawner(&self) -> Self::Spawner;

    /// Spawns `fut` as a task and blocks this thread, which is not a worker, until it is done.
    fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

/// One workload: its row name and its root task.
trait Workload {
    const NAME: &'static str;

    /// The root task, run once per measurement.
    fn root<S: Spawner>(spawner: S) -> impl Future<Output = ()> + Send + 'static;
}

/// Times workload `W` on every system and prints its row.
fn time<W: Workload>(filter: &str) {
    if !W::NAME.contains(filter) {
        return;
    }
    report::row(
        W::NAME,
        &[
            (Baton::NAME, median::<Baton, W>()),
            (Tokio::NAME, median::<Tokio, W>()),
            (AsyncExecutor::NAME, median::<AsyncExecutor, W>()),
        ],
    );
}

/// The median time of workload `W` on a fresh `Sys`.
fn median<Sys: System, W: Workload>() -> Duration {
    let system = Sys::start();
    report::measure(RUNS, || {
        let root = W::root(system.spawner());
        let start = Instant::now();
        system.run(root);
        start.elapsed()
    })
}

/// Spawns [`SPAWN_TASKS`] trivial tasks, then awaits every handle.
struct SpawnMany;

impl Workload for SpawnMany {
    const NAME: &'static str = "spawn 100k";

    async fn root<S: Spawner>(spawner: S) {
        let handles: Vec<_> = (0..SPAWN_TASKS).map(|_| spawner.spawn(async {})).collect();
        for handle in handles {
            handle.await;
        }
    }
}

/// [`YIELD_TASKS`] tasks each yield [`YIELDS_PER_TASK`] times.
struct YieldMany;

impl Workload for YieldMany {
    const NAME: &'static str = "yield 200 × 1,000";

    async fn root<S: Spawner>(spawner: S) {
        let handles: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                let own = spawner.clone();
                spawner.spawn(async move {
                    for _ in 0..YIELDS_PER_TASK {
                        own.yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await;
        }
    }
}

/// [`PING_PONG_PAIRS`] pairs of tasks each make [`ROUND_TRIPS`] round trips over two
/// `async-channel` channels of capacity 1, the same channel on every system.
struct PingPong;

impl Workload for PingPong {
    const NAME: &'static str = "ping-pong 100 pairs × 1,000";

    async fn root<S: Spawner>(spawner: S) {
        let mut handles = Vec::with_capacity(2 * PING_PONG_PAIRS);
        for _ in 0..PING_PONG_PAIRS {
            let (ping, pinged) = async_channel::bounded(1);
            let (pong, ponged) = async_channel::bounded(1);
            handles.push(spawner.spawn(async move {
                for _ in 0..ROUND_TRIPS {
                    ping.send(()).await.expect("the ponger hung up");
                    ponged.recv().await.expect("the ponger hung up");
                }
            }));
            handles.push(spawner.spawn(async move {
                for _ in 0..ROUND_TRIPS {
                    pinged.recv().await.expect("the pinger hung up");
                    pong.send(()).await.expect("the pinger hung up");
                }
            }));
        }
        for handle in handles {
            handle.await;
        }
    }
}

/// Each task spawns the next, [`CHAIN_DEPTH`] deep; the last one signals the root.
struct ChainedSpawn;

impl Workload for ChainedSpawn {
    const NAME: &'static str = "chained spawn 100k";

    async fn root<S: Spawner>(spawner: S) {
        let (done, finished) = async_channel::bounded(1);
        chain(spawner, done, CHAIN_DEPTH);
        finished.recv().await.expect("the chain broke");
    }
}

/// Spawns the next link of [`ChainedSpawn`]'s chain, or signals `done` when none are `left`.
fn chain<S: Spawner>(spawner: S, done: async_channel::Sender<()>, left: usize) {
    if left == 0 {
        done.try_send(()).expect("the chain ended twice");
    } else {
        let next = spawner.clone();
        spawner.detach(async move { chain(next, done, left - 1) });
    }
}

/// Idle tasks polled at least once, so every queue they passed through has drained.
static IDLE_POLLED: AtomicUsize = AtomicUsize::new(0);

/// A task that announces its first poll, then waits forever. It captures nothing.
async fn idle() {
    // Release: pairs with the Acquire load in `bytes_per_idle_task`, so the bench thread sees
    // every allocation made to spawn and first poll this task.
    IDLE_POLLED.fetch_add(1, Ordering::Release);
    std::future::pending::<()>().await;
}

/// Prints heap bytes per idle task on every system.
fn memory(filter: &str) {
    const NAME: &str = "memory per idle task (1M tasks)";
    if !NAME.contains(filter) {
        return;
    }
    report::bytes_row(
        NAME,
        &[
            (Baton::NAME, bytes_per_idle_task::<Baton>()),
            (Tokio::NAME, bytes_per_idle_task::<Tokio>()),
            (AsyncExecutor::NAME, bytes_per_idle_task::<AsyncExecutor>()),
        ],
    );
}

/// The median over [`MEMORY_RUNS`] fresh runtimes of the heap that [`IDLE_TASKS`] idle tasks
/// keep, per task, once all of them have been polled.
fn bytes_per_idle_task<Sys: System>() -> f64 {
    let mut runs: Vec<f64> = (0..MEMORY_RUNS)
        .map(|_| {
            let system = Sys::start();
            IDLE_POLLED.store(0, Ordering::Relaxed);
            let heap = HeapCounter::start();
            let spawner = system.spawner();
            system.run(async move {
                for _ in 0..IDLE_TASKS {
                    spawner.detach(idle());
                }
            });
            // Acquire: pairs with the Release increment in `idle`.
            while IDLE_POLLED.load(Ordering::Acquire) < IDLE_TASKS {
                thread::sleep(Duration::from_millis(1));
            }
            // Let the workers finish the bookkeeping after the last first poll.
            thread::sleep(Duration::from_millis(20));
            let bytes = heap.bytes();
            drop(heap);
            drop(system);
            bytes as f64 / IDLE_TASKS as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// A join handle whose output is a `Result`, unwrapped: a task failing is a bug in the bench.
struct Unwrap<H>(H);

impl<T, E, H> Future for Unwrap<H>
where
    E: Debug,
    H: Future<Output = Result<T, E>> + Unpin,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|out| out.expect("a benchmark task failed"))
    }
}

/// A baton runtime with [`CORES`] cores (also used by the work queue workloads).
pub(crate) fn baton_runtime() -> baton::Runtime {
    report::baton_builder(CORES)
        .build()
        .expect("cannot build the baton runtime")
}

/// A tokio multi-thread runtime with [`CORES`] workers, I/O and time drivers enabled (also used
/// by the work queue workloads).
pub(crate) fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CORES)
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime")
}

/// baton with [`CORES`] cores.
struct Baton(baton::Runtime);

/// Spawns with `baton::spawn`, from inside the runtime.
#[derive(Clone)]
struct BatonSpawner;

impl Spawner for BatonSpawner {
    type Join<T: Send + 'static> = Unwrap<baton::JoinHandle<T>>;

    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(baton::spawn(fut))
    }

    fn detach<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(baton::spawn(fut));
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        baton::yield_now()
    }
}

impl System for Baton {
    const NAME: &'static str = "baton";
    type Spawner = BatonSpawner;

    fn start() -> Self {
        Self(baton_runtime())
    }

    fn spawner(&self) -> BatonSpawner {
        BatonSpawner
    }

    fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0
            .block_on(self.0.spawn(fut))
            .expect("the root task failed")
    }
}

/// tokio's multi-thread runtime with [`CORES`] workers, I/O and time drivers enabled.
struct Tokio(tokio::runtime::Runtime);

/// Spawns with `tokio::spawn`, from inside the runtime.
#[derive(Clone)]
struct TokioSpawner;

impl Spawner for TokioSpawner {
    type Join<T: Send + 'static> = Unwrap<tokio::task::JoinHandle<T>>;

    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(tokio::spawn(fut))
    }

    fn detach<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(fut));
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

impl System for Tokio {
    const NAME: &'static str = "tokio";
    type Spawner = TokioSpawner;

    fn start() -> Self {
        Self(tokio_runtime())
    }

    fn spawner(&self) -> TokioSpawner {
        TokioSpawner
    }

    fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0
            .block_on(self.0.spawn(fut))
            .expect("the root task failed")
    }
}

/// An `async_executor::Executor` run by its own threads until dropped (also used by the
/// blocking workloads).
pub(crate) struct AsyncExecutor {
    pub(crate) executor: Arc<Executor<'static>>,
    /// Dropping it stops the threads.
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// async-executor's tasks spawn through a shared executor.
impl Spawner for Arc<Executor<'static>> {
    type Join<T: Send + 'static> = async_executor::Task<T>;

    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Executor::spawn(self, fut)
    }

    fn detach<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Executor::spawn(self, fut).detach();
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        future::yield_now()
    }
}

impl AsyncExecutor {
    /// Starts an executor run by [`CORES`] threads.
    pub(crate) fn new() -> Self {
        Self::with_threads(CORES)
    }

    /// Starts an executor run by `threads` threads.
    pub(crate) fn with_threads(threads: usize) -> Self {
        let executor = Arc::new(Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..threads)
            .map(|i| {
                let executor = Arc::clone(&executor);
                let stopped = stopped.clone();
                thread::Builder::new()
                    .name(format!("async-executor-{i}"))
                    .spawn(move || {
                        let _ = future::block_on(executor.run(stopped.recv()));
                    })
                    .expect("cannot start an async-executor thread")
            })
            .collect();
        Self {
            executor,
            stop: Some(stop),
            threads,
        }
    }

    /// Spawns `fut` and blocks this thread, which is not one of the executor's, until it is done.
    pub(crate) fn spawn_and_wait<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        future::block_on(self.executor.spawn(fut))
    }
}

impl System for AsyncExecutor {
    const NAME: &'static str = "async-executor";
    type Spawner = Arc<Executor<'static>>;

    fn start() -> Self {
        AsyncExecutor::new()
    }

    fn spawner(&self) -> Arc<Executor<'static>> {
        Arc::clone(&self.executor)
    }

    fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_and_wait(fut)
    }
}

impl Drop for AsyncExecutor {
    fn drop(&mut self) {
        drop(self.stop.take());
        for thread in self.threads.drain(..) {
            thread.join().expect("an async-executor thread panicked");
        }
    }
}
