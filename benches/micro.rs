//! baton alone on one workload per run, sized to be counted under callgrind: instruction counts
//! are steady on a shared machine where times are not.
//!
//! ```text
//! cargo bench --bench micro --no-run                      # build it (profile `bench`)
//! cargo bench --bench micro -- ping-pong                  # run one workload, timed
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/micro-<hash> ping-pong          # count its instructions
//! ```
//!
//! Workloads (the first argument that is not a flag): `spawn`, `yield`, `ping-pong`,
//! `chained-spawn`, `ordered-queue`, or `all`. Each runs once on a fresh two-core runtime; the
//! count includes the runtime's start and shutdown, the same for every build compared. Build
//! with `--features tracing` to count the feature's cost with no subscriber.
//!
//! Threads make the count vary by about 1% from run to run (stealing, parking): compare
//! medians of several runs, alternating the builds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cores of the runtime.
const CORES: usize = 2;

/// Detection stays on (its per-poll cost is counted) with a threshold no poll of these
/// workloads reaches even under valgrind, which runs one thread at a time, many times slower:
/// at the default threshold the monitor would take over polls that merely waited for their
/// turn on valgrind's one CPU. An hour, since a second was reached on a loaded machine (the
/// spawn workload's root task, which spawns every task in one poll): one takeover made its
/// spawn site watched and the run took the watched path, 4 to 6% more instructions.
const DETECTION_THRESHOLD: Duration = Duration::from_secs(3600);

/// Tasks of `spawn`.
const SPAWN_TASKS: usize = 50_000;

/// Tasks of `yield`, and how often each yields.
const YIELD_TASKS: usize = 200;
const YIELDS_PER_TASK: usize = 500;

/// Pairs of `ping-pong`, and the round trips each pair makes.
const PING_PONG_PAIRS: usize = 100;
const ROUND_TRIPS: usize = 500;

/// Length of the chain of `chained-spawn`.
const CHAIN_DEPTH: usize = 50_000;

/// Jobs of `ordered-queue`.
const JOBS: u64 = 50_000;

/// A workload: its name, and what it runs on a fresh runtime.
type Workload = (&'static str, fn(&baton::Runtime));

/// The workloads, by name.
const WORKLOADS: [Workload; 5] = [
    ("spawn", spawn),
    ("yield", yield_many),
    ("ping-pong", ping_pong),
    ("chained-spawn", chained_spawn),
    ("ordered-queue", ordered_queue),
];

fn main() {
    // Cargo passes flags of its own (`--bench`); the first argument that is not a flag names
    // the workload.
    let name = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_else(|| "all".to_owned());
    let chosen: Vec<_> = WORKLOADS
        .iter()
        .filter(|(workload, _)| name == "all" || *workload == name)
        .collect();
    if chosen.is_empty() {
        let names: Vec<_> = WORKLOADS.iter().map(|(workload, _)| *workload).collect();
        eprintln!("unknown workload {name:?}: one of {names:?} or \"all\"");
        std::process::exit(2);
    }
    for (workload, run) in chosen {
        let rt = baton::Runtime::builder()
            .cores(CORES)
            .detection_threshold(DETECTION_THRESHOLD)
            .build()
            .expect("cannot build the runtime");
        let start = Instant::now();
        run(&rt);
        println!("{workload}: {:?}", start.elapsed());
    }
}

/// Runs `root` as a task and waits for it from outside the runtime.
fn run_root(rt: &baton::Runtime, root: impl std::future::Future<Output = ()> + Send + 'static) {
    rt.block_on(rt.spawn(root)).expect("the root task failed");
}

/// Spawns trivial tasks, then awaits every handle.
fn spawn(rt: &baton::Runtime) {
    run_root(rt, async {
        let handles: Vec<_> = (0..SPAWN_TASKS).map(|_| baton::spawn(async {})).collect();
        for handle in handles {
            handle.await.expect("a task failed");
        }
    });
}

/// Tasks that each yield many times.
fn yield_many(rt: &baton::Runtime) {
    run_root(rt, async {
        let handles: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                baton::spawn(async {
                    for _ in 0..YIELDS_PER_TASK {
                        baton::yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a task failed");
        }
    });
}

/// Pairs of tasks making round trips over two `async-channel` channels of capacity 1.
fn ping_pong(rt: &baton::Runtime) {
    run_root(rt, async {
        let mut handles = Vec::with_capacity(2 * PING_PONG_PAIRS);
        for _ in 0..PING_PONG_PAIRS {
            let (ping, pinged) = async_channel::bounded(1);
            let (pong, ponged) = async_channel::bounded(1);
            handles.push(baton::spawn(async move {
                for _ in 0..ROUND_TRIPS {
                    ping.send(()).await.expect("the ponger hung up");
                    ponged.recv().await.expect("the ponger hung up");
                }
            }));
            handles.push(baton::spawn(async move {
                for _ in 0..ROUND_TRIPS {
                    pinged.recv().await.expect("the pinger hung up");
                    pong.send(()).await.expect("the pinger hung up");
                }
            }));
        }
        for handle in handles {
            handle.await.expect("a task failed");
        }
    });
}

/// Each task spawns the next; the last one signals the root.
fn chained_spawn(rt: &baton::Runtime) {
    fn chain(done: async_channel::Sender<()>, left: usize) {
        if left == 0 {
            done.try_send(()).expect("the chain ended twice");
        } else {
            drop(baton::spawn(async move { chain(done, left - 1) }));
        }
    }
    run_root(rt, async {
        let (done, finished) = async_channel::bounded(1);
        chain(done, CHAIN_DEPTH);
        finished.recv().await.expect("the chain broke");
    });
}

/// Light jobs on an ordered work queue, each folding its number into a checksum that checks
/// their order.
fn ordered_queue(rt: &baton::Runtime) {
    let queue = baton::WorkQueue::builder("micro")
        .ordered()
        .build(&rt.handle())
        .expect("cannot build the queue");
    let sum = Arc::new(AtomicU64::new(0));
    let total = Arc::clone(&sum);
    run_root(rt, async move {
        for job in 0..JOBS {
            let sum = Arc::clone(&sum);
            drop(queue.spawn(async move {
                // One job runs at a time, in order: relaxed is enough.
                let next = sum
                    .load(Ordering::Relaxed)
                    .wrapping_mul(31)
                    .wrapping_add(job);
                sum.store(next, Ordering::Relaxed);
            }));
        }
        queue.flush().await;
    });
    let expected = (0..JOBS).fold(0u64, |sum, job| sum.wrapping_mul(31).wrapping_add(job));
    assert_eq!(
        total.load(Ordering::Relaxed),
        expected,
        "the ordered queue ran its jobs out of order"
    );
}
