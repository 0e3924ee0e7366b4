//! Reactor workloads: TCP echo over the loopback, and timers armed and fired.
//!
//! Each system gets two cores' worth of threads: baton with 2 cores, tokio's multi-thread
//! runtime with 2 workers, and async-executor run by 2 threads that drive async-io's reactor
//! through `async_io::block_on` (the smol arrangement), with async-net sockets.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use async_executor::Executor;

use crate::report::{self, HeapCounter};

/// Cores (baton) or worker threads (tokio, async-executor) given to each system.
const CORES: usize = 2;

/// Timed runs per workload, after one warm-up.
const RUNS: usize = 7;

/// Concurrent echo connections.
const CONNECTIONS: usize = 50;

/// Round trips per connection.
const ROUND_TRIPS: usize = 2_000;

/// Bytes per echoed message.
const MESSAGE: usize = 64;

/// Timers armed per run: [`TIMER_TASKS`] tasks arm [`TIMERS_PER_TASK`] each.
const TIMER_TASKS: usize = 1_000;
const TIMERS_PER_TASK: usize = 100;

/// Deadlines of the timers are spread over this span, starting one millisecond out.
const TIMER_SPREAD: Duration = Duration::from_millis(4);

/// Timers armed at once to measure heap bytes per pending timer.
const PENDING_TIMERS: usize = 100_000;

/// Runs every workload whose name contains `filter`.
pub(crate) fn run(filter: &str) {
    let echo = format!("tcp echo {CONNECTIONS} conns x {ROUND_TRIPS} x {MESSAGE} B");
    if echo.contains(filter) {
        report::row(
            &echo,
            &[
                ("baton", report::measure(RUNS, || baton_run(baton_echo))),
                ("tokio", report::measure(RUNS, || tokio_run(tokio_echo))),
                (
                    "async-executor",
                    report::measure(RUNS, || smol_run(smol_echo)),
                ),
            ],
        );
    }
    let timers = format!(
        "timers {}k armed and fired",
        TIMER_TASKS * TIMERS_PER_TASK / 1000
    );
    if timers.contains(filter) {
        report::row(
            &timers,
            &[
                ("baton", report::measure(RUNS, || baton_run(baton_timers))),
                ("tokio", report::measure(RUNS, || tokio_run(tokio_timers))),
                (
                    "async-executor",
                    report::measure(RUNS, || smol_run(smol_timers)),
                ),
            ],
        );
    }
    let memory = format!("heap bytes per pending timer ({}k)", PENDING_TIMERS / 1000);
    if memory.contains(filter) {
        report::bytes_row(
            &memory,
            &[
                ("baton", baton_run(|| timer_bytes(baton::time::sleep))),
                ("tokio", tokio_run(|| timer_bytes(tokio::time::sleep))),
                (
                    "async-executor",
                    smol_run(|| timer_bytes(async_io::Timer::after)),
                ),
            ],
        );
    }
}

/// Builds a fresh baton runtime, runs `root` as a task on it, and returns the task's output.
pub(crate) fn baton_run<F, Fut>(root: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let rt = report::baton_builder(CORES)
        .build()
        .expect("cannot build the baton runtime");
    let task = rt.spawn(root());
    rt.block_on(task).expect("the root task failed")
}

/// Builds a fresh tokio runtime, runs `root` as a task on it, and returns the task's output.
pub(crate) fn tokio_run<F, Fut>(root: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CORES)
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    let _guard = rt.enter();
    let task = rt.spawn(root());
    rt.block_on(task).expect("the root task failed")
}

/// Runs `root` on an async-executor driven by [`CORES`] threads in `async_io::block_on`.
pub(crate) fn smol_run<F, Fut>(root: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let executor = Arc::new(Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let threads: Vec<_> = (0..CORES)
        .map(|_| {
            let executor = executor.clone();
            let stopped = stopped.clone();
            thread::spawn(move || {
                let _ = async_io::block_on(executor.run(stopped.recv()));
            })
        })
        .collect();
    let out = SMOL.set(&executor, || async_io::block_on(executor.spawn(root())));
    drop(stop);
    for thread in threads {
        thread.join().expect("an async-executor thread panicked");
    }
    out
}

/// The executor of the running [`smol_run`] (only one runs at a time), so tasks can spawn
/// without passing it around.
static SMOL: Slot = Slot(std::sync::Mutex::new(None));

/// Holds the executor while a [`smol_run`] is in progress.
struct Slot(std::sync::Mutex<Option<Arc<Executor<'static>>>>);

impl Slot {
    /// Runs `f` with `executor` in the slot.
    fn set<R>(&self, executor: &Arc<Executor<'static>>, f: impl FnOnce() -> R) -> R {
        *self.0.lock().unwrap() = Some(executor.clone());
        let out = f();
        *self.0.lock().unwrap() = None;
        out
    }

    /// Calls `f` with the executor in the slot.
    fn with<R>(&self, f: impl FnOnce(&Arc<Executor<'static>>) -> R) -> R {
        let executor = self.0.lock().unwrap().clone().expect("inside smol_run");
        f(&executor)
    }
}

/// Spawns on the async-executor of the current [`smol_run`].
pub(crate) fn smol_spawn<F>(fut: F) -> async_executor::Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    SMOL.with(|executor| executor.spawn(fut))
}

/// One echo run on baton: returns the time from the first connect to the last reply.
async fn baton_echo() -> Duration {
    use baton::net::{TcpListener, TcpStream};
    use futures::io::{AsyncReadExt, AsyncWriteExt};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let start = Instant::now();
    let server = baton::spawn(async move {
        for _ in 0..CONNECTIONS {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            baton::spawn(async move {
                let mut buf = [0; MESSAGE];
                while stream.read_exact(&mut buf).await.is_ok() {
                    stream.write_all(&buf).await.unwrap();
                }
            });
        }
    });
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            baton::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buf = [7; MESSAGE];
                for _ in 0..ROUND_TRIPS {
                    stream.write_all(&buf).await.unwrap();
                    stream.read_exact(&mut buf).await.unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    server.await.unwrap();
    start.elapsed()
}

/// One echo run on tokio.
async fn tokio_echo() -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let start = Instant::now();
    let server = tokio::spawn(async move {
        for _ in 0..CONNECTIONS {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = [0; MESSAGE];
                while stream.read_exact(&mut buf).await.is_ok() {
                    stream.write_all(&buf).await.unwrap();
                }
            });
        }
    });
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buf = [7; MESSAGE];
                for _ in 0..ROUND_TRIPS {
                    stream.write_all(&buf).await.unwrap();
                    stream.read_exact(&mut buf).await.unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    server.await.unwrap();
    start.elapsed()
}

/// One echo run on async-executor with async-net.
async fn smol_echo() -> Duration {
    use async_net::{TcpListener, TcpStream};
    use futures::io::{AsyncReadExt, AsyncWriteExt};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let start = Instant::now();
    let server = smol_spawn(async move {
        for _ in 0..CONNECTIONS {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            smol_spawn(async move {
                let mut buf = [0; MESSAGE];
                while stream.read_exact(&mut buf).await.is_ok() {
                    stream.write_all(&buf).await.unwrap();
                }
            })
            .detach();
        }
    });
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            smol_spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buf = [7; MESSAGE];
                for _ in 0..ROUND_TRIPS {
                    stream.write_all(&buf).await.unwrap();
                    stream.read_exact(&mut buf).await.unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.await;
    }
    server.await;
    start.elapsed()
}

/// The deadline offset of timer `i` of task `task`: spread over [`TIMER_SPREAD`].
fn timer_offset(task: usize, i: usize) -> Duration {
    let n = (task * TIMERS_PER_TASK + i) as u32;
    Duration::from_millis(1) + TIMER_SPREAD * (n % 1000) / 1000
}

/// 100k timers on baton: each task arms its timers at once and waits for all of them.
async fn baton_timers() -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..TIMER_TASKS)
        .map(|task| {
            baton::spawn(async move {
                let sleeps =
                    (0..TIMERS_PER_TASK).map(|i| baton::time::sleep(timer_offset(task, i)));
                futures::future::join_all(sleeps).await;
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

/// 100k timers on tokio.
async fn tokio_timers() -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..TIMER_TASKS)
        .map(|task| {
            tokio::spawn(async move {
                let sleeps =
                    (0..TIMERS_PER_TASK).map(|i| tokio::time::sleep(timer_offset(task, i)));
                futures::future::join_all(sleeps).await;
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

/// 100k timers on async-executor with async-io.
async fn smol_timers() -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..TIMER_TASKS)
        .map(|task| {
            smol_spawn(async move {
                let timers =
                    (0..TIMERS_PER_TASK).map(|i| async_io::Timer::after(timer_offset(task, i)));
                futures::future::join_all(timers).await;
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
    start.elapsed()
}

/// Heap bytes per armed timer: [`PENDING_TIMERS`] boxed timers, each polled once (so armed)
/// and still pending, counting the box and the system's timer bookkeeping.
async fn timer_bytes<T: Future>(make: impl Fn(Duration) -> T) -> f64 {
    let counter = HeapCounter::start();
    let mut timers: Vec<Pin<Box<T>>> = Vec::with_capacity(PENDING_TIMERS);
    let vec_bytes = counter.bytes();
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    for i in 0..PENDING_TIMERS {
        let mut timer = Box::pin(make(Duration::from_secs(3600 + i as u64)));
        assert!(matches!(timer.as_mut().poll(&mut cx), Poll::Pending));
        timers.push(timer);
    }
    let bytes = (counter.bytes() - vec_bytes) as f64 / PENDING_TIMERS as f64;
    drop(timers);
    bytes
}
