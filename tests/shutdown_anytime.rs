//! A runtime dropped (or shut down with a timeout, or in the background) at an arbitrary moment
//! of a busy mix: tasks talking over channels, sections that block, wait for a task they woke
//! or run `block_on`, `unblock` jobs waiting for tasks, work queues (ordered, `max_active`,
//! delayed) with flushes in flight, timers, a `JoinSet`. Every shutdown returns, and every
//! handle then reports an outcome (its value, a cancel or a panic), never a hang.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use baton::WorkQueue;

mod watchdog;

/// Cycles per test: each builds a runtime, starts the mix and drops it after a pseudo-random
/// wait.
const CYCLES: u64 = 60;

/// A small deterministic generator (xorshift), so a failing cycle can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// How a cycle ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Drop,
    Timeout(Duration),
    Background,
}

/// Every handle the mix made, to be awaited after the shutdown.
#[derive(Default)]
struct Handles {
    tasks: Vec<baton::JoinHandle<u64>>,
    unblocked: Vec<baton::JoinHandle<u64>>,
}

/// Starts the mix on `rt`; `progress` counts what completed.
fn start_mix(rt: &baton::Runtime, progress: &Arc<AtomicU64>, rng: &mut Rng) -> Handles {
    let mut handles = Handles::default();
    let handle = rt.handle();
    let (tx, rx) = async_channel::unbounded::<u64>();
    // A service answering over the channel, and clients that block in sections meanwhile.
    let served = progress.clone();
    handles.tasks.push(rt.spawn(async move {
        let mut n = 0;
        while let Ok(v) = rx.recv().await {
            n += v;
            served.fetch_add(1, Ordering::Relaxed);
        }
        n
    }));
    for c in 0..4u64 {
        let tx = tx.clone();
        let blocks = rng.below(3);
        handles.tasks.push(rt.spawn(async move {
            for i in 0..20 {
                tx.send(c * i).await.unwrap_or(());
                match blocks {
                    0 => {
                        baton::blocking::section(|| std::thread::sleep(Duration::from_micros(300)))
                    }
                    1 => baton::yield_now().await,
                    _ => baton::time::sleep(Duration::from_micros(200)).await,
                }
            }
            c
        }));
    }
    // A section that waits for a task it spawned, and one that runs block_on.
    handles.tasks.push(rt.spawn(async {
        let handle = baton::Handle::current();
        let woken = baton::spawn(async { 7 });
        baton::blocking::section(|| {
            let woke = handle.block_on(woken).unwrap_or(0);
            let slept = handle.block_on(async {
                baton::time::sleep(Duration::from_millis(1)).await;
                1
            });
            woke + slept
        })
    }));
    // unblock jobs, one waiting for a task's message.
    let (job_tx, job_rx) = std::sync::mpsc::channel::<u64>();
    handles.unblocked.push(rt.spawn(async move {
        baton::blocking::unblock(move || job_rx.recv_timeout(Duration::from_secs(5)).unwrap_or(0))
            .await
    }));
    handles.tasks.push(rt.spawn(async move {
        baton::time::sleep(Duration::from_micros(500)).await;
        let _ = job_tx.send(3);
        3
    }));
    // Work queues: ordered, bounded, delayed, with flushes in flight.
    let ordered = WorkQueue::builder("ordered")
        .ordered()
        .build(&handle)
        .unwrap();
    let bounded = WorkQueue::builder("bounded")
        .max_active(2)
        .build(&handle)
        .unwrap();
    for i in 0..10 {
        let done = progress.clone();
        handles.tasks.push(ordered.spawn(async move {
            baton::yield_now().await;
            done.fetch_add(1, Ordering::Relaxed);
            i
        }));
        handles.tasks.push(bounded.spawn(async move {
            baton::blocking::section(|| std::thread::sleep(Duration::from_micros(100)));
            i
        }));
    }
    handles
        .tasks
        .push(bounded.spawn_after(Duration::from_millis(rng.below(4)), async { 11 }));
    handles.tasks.push(rt.spawn({
        let (ordered, bounded) = (ordered.clone(), bounded.clone());
        async move {
            ordered.flush().await;
            bounded.drain().await;
            1
        }
    }));
    // A JoinSet of timers.
    handles.tasks.push(rt.spawn(async {
        let mut set = baton::task::JoinSet::new();
        for i in 0..8u64 {
            set.spawn(async move {
                baton::time::sleep(Duration::from_micros(100 * i)).await;
                i
            });
        }
        let mut sum = 0;
        while let Some(out) = set.join_next().await {
            sum += out.unwrap_or(0);
        }
        sum
    }));
    drop(tx);
    handles
}

fn cycle(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let cores = 1 + rng.below(2) as usize;
    let rt = baton::Runtime::builder()
        .cores(cores)
        .grace_period(Duration::from_millis(1 + rng.below(3)))
        .build()
        .unwrap();
    let progress = Arc::new(AtomicU64::new(0));
    let handles = start_mix(&rt, &progress, &mut rng);
    std::thread::sleep(Duration::from_micros(rng.below(4_000)));
    let end = match rng.below(4) {
        0 => End::Timeout(Duration::from_millis(rng.below(3))),
        1 => End::Background,
        _ => End::Drop,
    };
    match end {
        End::Drop => drop(rt),
        End::Timeout(t) => {
            rt.shutdown_timeout(t);
        }
        End::Background => rt.shutdown_background(),
    }
    // Every handle reports: a value, a cancel or a panic (a wait left after a timeout ends
    // by itself, within its own bound).
    for task in handles.tasks.into_iter().chain(handles.unblocked) {
        if let Err(err) = futures::executor::block_on(task) {
            assert!(
                err.is_cancelled() || err.is_panic(),
                "seed {seed} ({end:?}): {err}"
            );
        }
    }
}

#[test]
fn shutdown_at_any_moment_of_a_busy_mix_returns_and_every_handle_reports() {
    watchdog::finishes("shutdown at any moment", || {
        for seed in 0..CYCLES {
            cycle(seed);
        }
    });
}
