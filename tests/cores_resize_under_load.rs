//! A runtime resized hundreds of times while it runs tasks of every kind (plain, pinned,
//! chained spawns, ping-pong wakes across cores, blocking sections, timers, an ordered work
//! queue bound to a subset of the cores): every task runs exactly once, the ordered queue keeps
//! its order, and nothing is left queued.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton::{Affinity, JoinHandle, WorkQueue};

const CORES: usize = 4;
/// Tasks per round, of the kinds below in turn.
const TASKS: usize = 600;
/// The fewest resizes the test makes while tasks run.
const RESIZES: usize = 1000;
/// A hang guard, far longer than a round takes.
const PATIENCE: Duration = Duration::from_secs(60);

/// One counter per task (and per chained child): how many times it ran to completion.
struct Runs(Vec<AtomicU32>);

impl Runs {
    fn new(n: usize) -> Arc<Runs> {
        Arc::new(Runs((0..n).map(|_| AtomicU32::new(0)).collect()))
    }

    fn ran(&self, i: usize) {
        self.0[i].fetch_add(1, Ordering::SeqCst);
    }
}

/// Spawns the `i`th task of a round, counting into `runs` (slot `i`, and `TASKS + i` for a
/// chained child).
fn spawn_task(
    i: usize,
    runs: &Arc<Runs>,
    ordered: &WorkQueue,
    order: &Arc<Mutex<Vec<usize>>>,
) -> JoinHandle<()> {
    let runs = runs.clone();
    match i % 6 {
        // Yields: woken by itself, to the back of a queue, many times.
        0 => baton::spawn(async move {
            for _ in 0..4 {
                baton::yield_now().await;
            }
            runs.ran(i);
        }),
        // Pinned to a core that may go offline while it yields.
        1 => baton::spawn_on(i % CORES, async move {
            for _ in 0..4 {
                baton::yield_now().await;
            }
            runs.ran(i);
        }),
        // A chained spawn (the next-task slot), awaited.
        2 => baton::spawn(async move {
            let child = {
                let runs = runs.clone();
                baton::spawn(async move { runs.ran(TASKS + i) })
            };
            child.await.unwrap();
            runs.ran(i);
        }),
        // A blocking section long enough to be handed off now and then.
        3 => baton::spawn(async move {
            baton::blocking::section(|| std::thread::sleep(Duration::from_micros(300)));
            runs.ran(i);
        }),
        // A timer.
        4 => baton::spawn(async move {
            baton::time::sleep(Duration::from_millis(1)).await;
            runs.ran(i);
        }),
        // An ordered queue bound to cores 2 and 3, which go offline now and then.
        _ => {
            let order = order.clone();
            ordered.spawn(async move {
                order.lock().unwrap().push(i);
                baton::yield_now().await;
                runs.ran(i);
            })
        }
    }
}

/// Two tasks pinned to different cores waking each other through channels.
fn ping_pong(rounds: usize) -> JoinHandle<usize> {
    let (to_b, from_a) = async_channel::bounded::<usize>(1);
    let (to_a, from_b) = async_channel::bounded::<usize>(1);
    let b = baton::spawn_on(CORES - 1, async move {
        while let Ok(n) = from_a.recv().await {
            if to_a.send(n + 1).await.is_err() {
                break;
            }
        }
    });
    baton::spawn_on(0, async move {
        let mut n = 0;
        for _ in 0..rounds {
            to_b.send(n).await.unwrap();
            n = from_b.recv().await.unwrap();
        }
        drop(to_b);
        b.await.unwrap();
        n
    })
}

#[test]
fn every_task_runs_exactly_once_while_cores_come_and_go() {
    let rt = baton::Runtime::builder().cores(CORES).build().unwrap();
    let handle = rt.handle();
    let ordered = WorkQueue::builder("ordered")
        .ordered()
        .affinity(Affinity::Cores(vec![2, 3]))
        .build(&handle)
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let resizes = Arc::new(AtomicUsize::new(0));
    let resizer = {
        let (handle, stop, resizes) = (handle.clone(), stop.clone(), resizes.clone());
        std::thread::spawn(move || {
            // A fixed pseudo-random walk over 1..=CORES, so that every size follows every other.
            let mut x: u32 = 0x2545_f491;
            while !stop.load(Ordering::SeqCst) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                handle.set_cores(1 + x as usize % CORES).unwrap();
                // Now and then at once, for tight races with the workers' own moves.
                if resizes.fetch_add(1, Ordering::SeqCst) % 4 == 0 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        })
    };

    let mut rounds = 0;
    while rounds < 5 || resizes.load(Ordering::SeqCst) < RESIZES {
        rounds += 1;
        let runs = Runs::new(2 * TASKS);
        let order = Arc::new(Mutex::new(Vec::new()));
        let pongs = rt.block_on({
            let (runs, ordered, order) = (runs.clone(), ordered.clone(), order.clone());
            // A hang guard: a task stranded on an offline core would never finish.
            baton::time::timeout(PATIENCE, async move {
                let pongs = ping_pong(200);
                let tasks: Vec<_> = (0..TASKS)
                    .map(|i| spawn_task(i, &runs, &ordered, &order))
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                ordered.flush().await;
                pongs.await.unwrap()
            })
        });
        let pongs =
            pongs.unwrap_or_else(|_| panic!("round {rounds}: tasks stranded\n{}", rt.stats()));
        assert_eq!(pongs, 200, "round {rounds}");
        for i in 0..TASKS {
            let expected = |slot: usize| runs.0[slot].load(Ordering::SeqCst);
            assert_eq!(
                expected(i),
                1,
                "round {rounds}: task {i} ran {} times",
                expected(i)
            );
            let child = if i % 6 == 2 { 1 } else { 0 };
            assert_eq!(
                expected(TASKS + i),
                child,
                "round {rounds}: child of task {i}"
            );
        }
        let order = order.lock().unwrap();
        let submitted: Vec<usize> = (0..TASKS).filter(|i| i % 6 == 5).collect();
        assert_eq!(
            *order, submitted,
            "round {rounds}: the ordered queue's order"
        );
    }
    stop.store(true, Ordering::SeqCst);
    resizer.join().unwrap();
    assert!(resizes.load(Ordering::SeqCst) >= RESIZES);

    // All back online: the runtime still runs on every core, and nothing was left queued.
    handle.set_cores(CORES).unwrap();
    for core in 0..CORES {
        let task = handle.spawn_on(core, async { baton::current_core() });
        assert_eq!(rt.block_on(task).unwrap(), Some(core));
    }
    let stats = rt.stats();
    assert!(
        stats.cores.iter().all(|c| !c.offline && c.queue_depth == 0),
        "{stats}"
    );
    assert_eq!(stats.injector_depth, 0, "{stats}");
    let queue = &stats.queues[0];
    assert_eq!(queue.spawned, queue.completed, "{stats}");
}
