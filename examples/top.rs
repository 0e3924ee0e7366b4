//! A live view of a runtime at work, refreshed in place like `top`: per core and per work
//! queue, what happened in the last interval, while a mixed workload runs: tasks that block in
//! sections, tasks that block without one (the monitor detects them), CPU-bound tasks, an
//! ordered work queue and timers.
//!
//! Run it with `cargo run --release --example top` (10 s), or give the seconds to run:
//! `cargo run --release --example top -- 60`. The columns are `baton::CoreStats` and
//! `baton::QueueStats` fields, per second; `docs/observability.md` explains each.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the view refreshes.
const REFRESH: Duration = Duration::from_millis(500);

/// Burns roughly `d` of CPU time without yielding.
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The columns of the cores' view: `CoreStats` fields.
const CORE_HEADINGS: &[&str] = &[
    "core",
    "polls",
    "sections",
    "handoffs",
    "retirements",
    "running",
    "spares",
    "in_section",
    "workers",
    "detected_blocks",
    "cpu_hogs",
    "cap_hits",
];

/// The columns of the queues' view: `QueueStats` fields (`poll_time` as a share of the
/// interval).
const QUEUE_HEADINGS: &[&str] = &[
    "queue",
    "spawned",
    "completed",
    "in_flight",
    "waiting",
    "poll_time %",
    "handoffs",
];

/// Writes `rows` under `headings`, each column as wide as its heading.
fn table(out: &mut String, headings: &[&str], rows: &[Vec<String>]) {
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        headings
            .iter()
            .zip(cells)
            .map(|(h, c)| format!("{c:>width$}", width = h.len().max(8)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(out, "{}", line(&mut headings.iter().copied()));
    for row in rows {
        let _ = writeln!(out, "{}", line(&mut row.iter().map(String::as_str)));
    }
}

/// `n` counted over `interval`, per second.
fn rate(n: u64, interval: Duration) -> String {
    format!("{:.0}", n as f64 / interval.as_secs_f64())
}

/// The screen: the cores' and queues' activity in `delta` (over `interval`), and what they
/// have now from `now`.
fn screen(now: &baton::Stats, delta: &baton::Stats, interval: Duration, left: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "baton top: {} cores, {:.0} s left; rates per second over the last {:?}\n",
        now.cores.len(),
        left.as_secs_f64(),
        interval
    );
    let cores: Vec<Vec<String>> = delta
        .cores
        .iter()
        .map(|c| {
            vec![
                c.core.to_string(),
                rate(c.polls, interval),
                rate(c.sections, interval),
                rate(c.handoffs, interval),
                rate(c.retirements, interval),
                c.running.to_string(),
                c.spares.to_string(),
                c.in_section.to_string(),
                c.workers.to_string(),
                rate(c.detected_blocks, interval),
                rate(c.cpu_hogs, interval),
                rate(c.cap_hits, interval),
            ]
        })
        .collect();
    table(&mut out, CORE_HEADINGS, &cores);
    let queues: Vec<Vec<String>> = delta
        .queues
        .iter()
        .map(|q| {
            let busy = 100.0 * q.poll_time.as_secs_f64() / interval.as_secs_f64();
            vec![
                q.name.clone(),
                rate(q.spawned, interval),
                rate(q.completed, interval),
                q.in_flight.to_string(),
                q.waiting.to_string(),
                format!("{busy:.1}"),
                rate(q.handoffs, interval),
            ]
        })
        .collect();
    out.push('\n');
    table(&mut out, QUEUE_HEADINGS, &queues);
    if !now.sites.is_empty() {
        let _ = writeln!(
            out,
            "\nspawn sites whose polls blocked or hogged the CPU (since the start):"
        );
        for s in now.sites.iter().take(5) {
            let _ = writeln!(
                out,
                "  {}: detected_blocks {}, cpu_hogs {}",
                s.site, s.detected_blocks, s.cpu_hogs
            );
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("not a number of seconds: {arg}"))?,
        None => 10,
    };
    let run_for = Duration::from_secs(seconds);
    let rt = baton::Runtime::builder().cores(2).build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let journal = baton::WorkQueue::builder("journal")
        .ordered()
        .build(&rt.handle())?;

    let start = Instant::now();
    let reporter = rt.handle().report_stats(REFRESH, move |now, delta| {
        let left = run_for.saturating_sub(start.elapsed());
        // Home the cursor and clear the screen, then draw.
        print!("\x1b[H\x1b[2J{}", screen(now, delta, REFRESH, left));
        let _ = std::io::stdout().flush();
    })?;

    let workload = {
        let stop = Arc::clone(&stop);
        async move {
            let mut tasks = Vec::new();
            // Tasks that block in sections (a 1 ms synchronous call, annotated).
            for _ in 0..8 {
                let stop = Arc::clone(&stop);
                tasks.push(baton::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        baton::blocking::section(|| std::thread::sleep(Duration::from_millis(1)));
                        baton::time::sleep(Duration::from_millis(2)).await;
                    }
                }));
            }
            // A task that blocks without a section now and then: the monitor detects it.
            let unannotated = Arc::clone(&stop);
            tasks.push(
                baton::task::Builder::new()
                    .name("unannotated")
                    .spawn(async move {
                        while !unannotated.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(5));
                            baton::time::sleep(Duration::from_millis(50)).await;
                        }
                    }),
            );
            // CPU-bound tasks that yield between short bursts.
            for _ in 0..4 {
                let stop = Arc::clone(&stop);
                tasks.push(baton::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        spin(Duration::from_micros(200));
                        baton::yield_now().await;
                    }
                }));
            }
            // An ordered queue fed by a timer: a burst of small jobs every 10 ms.
            let feeder = Arc::clone(&stop);
            tasks.push(baton::spawn(async move {
                let mut tick = baton::time::interval(Duration::from_millis(10));
                while !feeder.load(Ordering::Relaxed) {
                    tick.tick().await;
                    for _ in 0..50 {
                        drop(journal.spawn(async { spin(Duration::from_micros(20)) }));
                    }
                }
                journal.drain().await;
            }));
            for task in tasks {
                let _ = task.await;
            }
        }
    };
    let main = rt.spawn(workload);
    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    rt.block_on(main)?;
    reporter.stop();
    println!("\nfinal counters:\n{}", rt.stats());
    Ok(())
}
