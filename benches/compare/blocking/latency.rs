//! Handoff latency on one core, and how long short tasks wait behind unannotated blocking.

use std::thread;
use std::time::{Duration, Instant};

use crate::report;

use super::*;

/// How long the section of a handoff trial blocks.
const HANDOFF_BLOCK: Duration = Duration::from_millis(5);
/// Handoff trials per row.
const HANDOFF_TRIALS: usize = 50;

/// How long the unannotated blocking call of the wait benchmark blocks.
const UNANNOTATED_BLOCK: Duration = Duration::from_millis(50);
/// Short tasks queued behind it.
const BEHIND: usize = 1_000;
/// Trials of the wait benchmark per system.
const WAIT_TRIALS: usize = 5;

/// Time from a 5 ms section's start to the start of the task queued behind it, on one core.
pub(super) fn handoff(filter: &str) {
    const NAME: &str = "handoff latency, 1 core";
    if !NAME.contains(filter) {
        return;
    }
    // A first-time call site: a fresh runtime per trial, since sites are learnt per runtime.
    let first_baton: Vec<Duration> = (0..HANDOFF_TRIALS)
        .map(|_| {
            let rt = settled_baton(1);
            run_baton(&rt, baton_trial())
        })
        .collect();
    let first_tokio: Vec<Duration> = (0..HANDOFF_TRIALS)
        .map(|_| {
            let rt = tokio_runtime(1);
            thread::sleep(Duration::from_millis(2));
            let latency = run_tokio(&rt, tokio_trial());
            rt.shutdown_timeout(Duration::from_secs(10));
            latency
        })
        .collect();
    // A known site: one runtime, warmed by one trial at the same call site.
    let rt = settled_baton(1);
    run_baton(&rt, baton_trial());
    let known_baton: Vec<Duration> = (0..HANDOFF_TRIALS)
        .map(|_| run_baton(&rt, baton_trial()))
        .collect();
    let stats = rt.stats();
    drop(rt);
    let rt = tokio_runtime(1);
    run_tokio(&rt, tokio_trial());
    let known_tokio: Vec<Duration> = (0..HANDOFF_TRIALS)
        .map(|_| run_tokio(&rt, tokio_trial()))
        .collect();
    rt.shutdown_timeout(Duration::from_secs(10));

    println!();
    println!("### {NAME}: 5 ms section to the start of the task queued behind it");
    println!("(tokio: multi-thread runtime with 1 worker; {HANDOFF_TRIALS} trials per row)");
    let systems = ("baton", "tokio block_in_place");
    for (label, baton, tokio) in [
        ("first-time site", first_baton, first_tokio),
        ("known site", known_baton, known_tokio),
    ] {
        for (quantile, q) in [("p50", 0.5), ("p90", 0.9)] {
            report::secs_row(
                &format!("handoff, {label}, {quantile}"),
                &[
                    (systems.0, percentile(&baton, q)),
                    (systems.1, percentile(&tokio, q)),
                ],
            );
        }
    }
    let core = &stats.cores[0];
    println!(
        "\n(baton, known-site runtime: {} sections, {} handoffs of which {} eager)",
        core.sections, core.handoffs, core.eager_handoffs
    );
}

/// How long short tasks queued behind an unannotated 50 ms sleep wait to start, on one core.
pub(super) fn unannotated_wait(filter: &str) {
    const NAME: &str = "unannotated sleep, 1 core";
    if !NAME.contains(filter) {
        return;
    }
    let mut baton_waits = Vec::new();
    let mut detected = 0;
    for _ in 0..WAIT_TRIALS {
        let rt = settled_baton(1);
        baton_waits.extend(run_baton(&rt, async {
            let spawned = Instant::now();
            let blocker = baton::spawn(async { thread::sleep(UNANNOTATED_BLOCK) });
            let behind: Vec<_> = (0..BEHIND)
                .map(|_| baton::spawn(async move { Instant::now() }))
                .collect();
            let mut waits = Vec::with_capacity(BEHIND);
            for task in behind {
                waits.push(task.await.expect("a short task failed") - spawned);
            }
            blocker.await.expect("the blocker failed");
            waits
        }));
        detected += rt.stats().cores[0].detected_blocks;
    }
    let mut tokio_waits = Vec::new();
    for _ in 0..WAIT_TRIALS {
        let rt = tokio_runtime(1);
        tokio_waits.extend(run_tokio(&rt, async {
            let spawned = Instant::now();
            let blocker = tokio::spawn(async { thread::sleep(UNANNOTATED_BLOCK) });
            let behind: Vec<_> = (0..BEHIND)
                .map(|_| tokio::spawn(async move { Instant::now() }))
                .collect();
            let mut waits = Vec::with_capacity(BEHIND);
            for task in behind {
                waits.push(task.await.expect("a short task failed") - spawned);
            }
            blocker.await.expect("the blocker failed");
            waits
        }));
        rt.shutdown_timeout(Duration::from_secs(10));
    }
    println!();
    println!(
        "### {NAME}: {BEHIND} short tasks queued behind a task that sleeps {} ms without a \
         section, from their spawn to their start",
        UNANNOTATED_BLOCK.as_millis()
    );
    println!("(tokio: multi-thread runtime with 1 worker; {WAIT_TRIALS} trials per system)");
    for (quantile, q) in [("p50", 0.5), ("p99", 0.99)] {
        report::secs_row(
            &format!("wait behind the sleep, {quantile}"),
            &[
                ("baton", percentile(&baton_waits, q)),
                ("tokio", percentile(&tokio_waits, q)),
            ],
        );
    }
    println!("\n(baton: {detected} blocked polls detected over {WAIT_TRIALS} trials)");
}

/// One handoff trial on baton: a task queues a second task on its own core, then blocks in a
/// section; returns the time from the section's start (just before entering it, so an eager
/// handoff's own cost counts) to the second task's start.
///
/// Every trial calls the section from this one call site.
async fn baton_trial() -> Duration {
    let next = baton::spawn(async { Instant::now() });
    let entered = Instant::now();
    baton::blocking::section(|| thread::sleep(HANDOFF_BLOCK));
    let started = next.await.expect("the queued task failed");
    started.saturating_duration_since(entered)
}

/// [`baton_trial`] on tokio, with `block_in_place`.
async fn tokio_trial() -> Duration {
    let next = tokio::spawn(async { Instant::now() });
    let entered = Instant::now();
    tokio::task::block_in_place(|| thread::sleep(HANDOFF_BLOCK));
    let started = next.await.expect("the queued task failed");
    started.saturating_duration_since(entered)
}
