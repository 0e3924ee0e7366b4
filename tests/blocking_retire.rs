//! Rule 2 (retirement): never more than one worker of a core polls tasks outside sections at
//! the same time, even while workers come back from sections whose baton passed on.
//!
//! Every task is wrapped in [`Counted`], which counts, per core, the tasks being polled and not
//! inside a section. A task that enters a section stops counting before it and does not count
//! again for the rest of that poll: the worker coming back from a section keeps running its
//! current poll until the poll boundary, where the protocol retires one of the two workers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

mod common;
use common::settle;

const CORES: usize = 2;

/// Per core: tasks being polled outside sections now, and the most ever seen.
struct Polling {
    now: [AtomicUsize; CORES],
    max: [AtomicUsize; CORES],
}

static POLLING: Polling = Polling {
    now: [AtomicUsize::new(0), AtomicUsize::new(0)],
    max: [AtomicUsize::new(0), AtomicUsize::new(0)],
};

thread_local! {
    /// Whether the poll running on this thread still counts in `POLLING.now[core]`.
    static COUNTED: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

fn start_counting(core: usize) {
    let now = POLLING.now[core].fetch_add(1, Ordering::SeqCst) + 1;
    POLLING.max[core].fetch_max(now, Ordering::SeqCst);
    COUNTED.with(|c| c.set(Some(core)));
}

fn stop_counting() {
    if let Some(core) = COUNTED.with(|c| c.take()) {
        POLLING.now[core].fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts its task's polls, per core of the polling worker.
struct Counted<F>(Pin<Box<F>>);

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let core = baton::current_core().expect("a task polled off the runtime's workers");
        start_counting(core);
        let out = self.0.as_mut().poll(cx);
        stop_counting();
        out
    }
}

/// Blocks in a section, uncounted from its start to the end of the current poll.
fn block_in_a_section() {
    stop_counting();
    baton::blocking::section(|| std::thread::sleep(Duration::from_millis(2)));
}

#[test]
fn one_worker_per_core_polls_outside_sections() {
    let rt = baton::Runtime::builder().cores(CORES).build().unwrap();
    let sum = rt.block_on(rt.spawn(Counted(Box::pin(async move {
        let mut handles = Vec::new();
        for round in 0..40u64 {
            for _ in 0..4 {
                handles.push(baton::spawn(Counted(Box::pin(async move {
                    block_in_a_section();
                    baton::yield_now().await;
                    block_in_a_section();
                    0
                }))));
            }
            for i in 0..50u64 {
                handles.push(baton::spawn(Counted(Box::pin(async move {
                    // Short work with a few yields, so polls overlap with sections ending.
                    let mut x = i;
                    for _ in 0..3 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(round));
                        baton::yield_now().await;
                    }
                    std::hint::black_box(x);
                    1
                }))));
            }
            baton::yield_now().await;
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    }))));
    assert_eq!(sum.unwrap(), 40 * 50);
    let max: Vec<usize> = POLLING
        .max
        .iter()
        .map(|m| m.load(Ordering::SeqCst))
        .collect();
    assert!(
        max.iter().all(|&m| m <= 1),
        "more than one worker of a core polled outside sections at once: {max:?}, {}",
        rt.stats()
    );
    let stats = settle(&rt);
    let handoffs: u64 = stats.cores.iter().map(|c| c.handoffs).sum();
    let retirements: u64 = stats.cores.iter().map(|c| c.retirements).sum();
    assert!(handoffs > 0, "no section was handed off: {stats}");
    assert!(
        retirements > 0,
        "workers came back from sections but none retired: {stats}"
    );
    for core in &stats.cores {
        assert!(
            core.running + core.spares + core.in_section <= core.workers,
            "{stats}"
        );
    }
}
