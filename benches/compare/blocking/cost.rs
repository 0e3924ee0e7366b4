//! The cost of a section, and of an `unblock`, around a closure that returns at once.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::core::AsyncExecutor;
use crate::report;

use super::*;

/// Sections per timed run on baton, and for the bare closure.
const SECTIONS: usize = 1_000_000;
/// `block_in_place` calls per timed run (each costs microseconds).
const BLOCK_IN_PLACE_CALLS: usize = 20_000;
/// Timed runs per system of the section cost, after one warm-up.
const SECTION_RUNS: usize = 3;

/// Cost per call of a section around a closure that does not block, against `block_in_place`
/// and the bare closure.
///
/// Back to back, tokio's `block_in_place` is flattered: once a call has lost the worker core to
/// another thread, the task runs on without a core until it next yields, and the calls after it
/// return at once. So a second table puts a `yield_now` between calls, on both systems (one
/// core, one worker), and shows the yield alone, so each call gets a core again.
pub(super) fn section_cost(filter: &str) {
    const NAME: &str = "section that does not block (per call)";
    if !NAME.contains(filter) {
        return;
    }
    let baton = baton_runtime(CORES);
    let section = per_call(SECTIONS, || {
        run_baton(&baton, async {
            let start = Instant::now();
            for i in 0..SECTIONS {
                black_box(baton::blocking::section(|| black_box(i)));
            }
            start.elapsed()
        })
    });
    let bare = per_call(SECTIONS, || {
        run_baton(&baton, async {
            let start = Instant::now();
            for i in 0..SECTIONS {
                let f = black_box(|| black_box(i));
                black_box(f());
            }
            start.elapsed()
        })
    });
    drop(baton);
    // One core (one worker) for the runs with yields, so the other core does not steal the
    // yielding task back and forth.
    let baton = baton_runtime(1);
    let baton_yield = per_call(SECTIONS, || {
        run_baton(&baton, async {
            let start = Instant::now();
            for i in 0..SECTIONS {
                black_box(i);
                baton::yield_now().await;
            }
            start.elapsed()
        })
    });
    let baton_both = per_call(SECTIONS, || {
        run_baton(&baton, async {
            let start = Instant::now();
            for i in 0..SECTIONS {
                black_box(baton::blocking::section(|| black_box(i)));
                baton::yield_now().await;
            }
            start.elapsed()
        })
    });
    drop(baton);
    let tokio = tokio_runtime(CORES);
    let in_place = per_call(BLOCK_IN_PLACE_CALLS, || {
        run_tokio(&tokio, async {
            let start = Instant::now();
            for i in 0..BLOCK_IN_PLACE_CALLS {
                black_box(tokio::task::block_in_place(|| black_box(i)));
            }
            start.elapsed()
        })
    });
    tokio.shutdown_timeout(Duration::from_secs(10));
    let tokio = tokio_runtime(1);
    let tokio_yield = per_call(BLOCK_IN_PLACE_CALLS, || {
        run_tokio(&tokio, async {
            let start = Instant::now();
            for i in 0..BLOCK_IN_PLACE_CALLS {
                black_box(i);
                tokio::task::yield_now().await;
            }
            start.elapsed()
        })
    });
    let tokio_both = per_call(BLOCK_IN_PLACE_CALLS, || {
        run_tokio(&tokio, async {
            let start = Instant::now();
            for i in 0..BLOCK_IN_PLACE_CALLS {
                black_box(tokio::task::block_in_place(|| black_box(i)));
                tokio::task::yield_now().await;
            }
            start.elapsed()
        })
    });
    tokio.shutdown_timeout(Duration::from_secs(10));
    println!();
    report::secs_row(
        NAME,
        &[
            ("baton section", section),
            ("tokio block_in_place", in_place),
            ("bare closure", bare),
        ],
    );
    println!();
    report::secs_row(
        "1 core: yield alone (per call)",
        &[("baton", baton_yield), ("tokio", tokio_yield)],
    );
    report::secs_row(
        "1 core: section + yield (per call)",
        &[("baton", baton_both), ("tokio", tokio_both)],
    );
    report::secs_row(
        "1 core: section, yield between (diff.)",
        &[
            ("baton", baton_both - baton_yield),
            ("tokio", tokio_both - tokio_yield),
        ],
    );
}

/// Awaited calls per timed run of the unblock-cost workload.
const UNBLOCK_CALLS: usize = 10_000;

/// The cost of one awaited `unblock` of a closure that returns at once, against its peers.
pub(super) fn unblock_cost(filter: &str) {
    const NAME: &str = "unblock that returns at once (per call)";
    if !NAME.contains(filter) {
        return;
    }
    let rt = baton_runtime(CORES);
    let baton = per_call(UNBLOCK_CALLS, || {
        run_baton(&rt, async {
            let start = Instant::now();
            for i in 0..UNBLOCK_CALLS {
                black_box(baton::blocking::unblock(move || black_box(i)).await);
            }
            start.elapsed()
        })
    });
    drop(rt);
    let rt = tokio_runtime(CORES);
    let tokio = per_call(UNBLOCK_CALLS, || {
        run_tokio(&rt, async {
            let start = Instant::now();
            for i in 0..UNBLOCK_CALLS {
                let value = tokio::task::spawn_blocking(move || black_box(i)).await;
                black_box(value.expect("a spawn_blocking job failed"));
            }
            start.elapsed()
        })
    });
    rt.shutdown_timeout(Duration::from_secs(10));
    let smol = AsyncExecutor::with_threads(CORES);
    let smol = per_call(UNBLOCK_CALLS, || {
        smol.spawn_and_wait(async {
            let start = Instant::now();
            for i in 0..UNBLOCK_CALLS {
                black_box(::blocking::unblock(move || black_box(i)).await);
            }
            start.elapsed()
        })
    });
    println!();
    report::secs_row(
        NAME,
        &[
            ("baton unblock", baton),
            ("tokio spawn_blocking", tokio),
            ("smol unblock", smol),
        ],
    );
}

/// The median time per call, in seconds, of `calls` calls timed by `run`.
fn per_call(calls: usize, run: impl FnMut() -> Duration) -> f64 {
    report::measure(SECTION_RUNS, run).as_secs_f64() / calls as f64
}
