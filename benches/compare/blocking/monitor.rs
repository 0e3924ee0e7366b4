//! The monitor thread's CPU time and wake-ups while sections never block, and while polls
//! run without sections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::report;

use super::*;

/// How long the sections of the monitor-cost workload run (they never block).
const MONITOR_SECTION: Duration = Duration::from_micros(2);
/// How long one run of the monitor-cost workload lasts.
const MONITOR_RUN: Duration = Duration::from_secs(1);
/// Timed runs of the monitor-cost workload, after one warm-up.
const MONITOR_RUNS: usize = 3;

/// The monitor thread's CPU time and wake-ups per second of wall time while two tasks run
/// in a loop on two cores, short sections that never block between yields if `sections`,
/// otherwise 2 µs of work without any section (a busy runtime where nothing blocks: what
/// detection of unannotated blocking costs).
pub(super) fn monitor_cost(filter: &str, sections: bool) {
    let name = if sections {
        "monitor while 2 tasks run 2 µs sections"
    } else {
        "monitor while 2 tasks run 2 µs polls, no sections"
    };
    if !name.contains(filter) {
        return;
    }
    // A short prefix, so the monitor's name ("mc-monitor") fits the 15 bytes Linux keeps.
    let rt = report::baton_builder(CORES)
        .thread_name("mc")
        .build()
        .expect("cannot build the baton runtime");
    // The monitor names itself once it runs: give it a moment.
    let monitor = (0..1000).find_map(|_| {
        thread_named("mc-monitor").or_else(|| {
            thread::sleep(Duration::from_millis(1));
            None
        })
    });
    let Some(monitor) = monitor else {
        println!("\n(monitor cost: no /proc/self/task here, skipped)");
        return;
    };
    let mut samples: Vec<(f64, f64)> = (0..=MONITOR_RUNS)
        .map(|_| {
            let stop = Arc::new(AtomicBool::new(false));
            let tasks: Vec<_> = (0..CORES)
                .map(|core| {
                    let stop = Arc::clone(&stop);
                    rt.handle().spawn_on(core, async move {
                        while !stop.load(Ordering::Relaxed) {
                            if sections {
                                baton::blocking::section(|| spin(MONITOR_SECTION));
                            } else {
                                spin(MONITOR_SECTION);
                            }
                            baton::yield_now().await;
                        }
                    })
                })
                .collect();
            let before = ThreadUsage::of(&monitor);
            let start = Instant::now();
            thread::sleep(MONITOR_RUN);
            let after = ThreadUsage::of(&monitor);
            let wall = start.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            rt.block_on(async {
                for task in tasks {
                    task.await.expect("a section loop failed");
                }
            });
            let cpu = after.cpu.saturating_sub(before.cpu).as_secs_f64() / wall;
            let wakes = (after.switches - before.switches) as f64 / wall;
            (cpu, wakes)
        })
        .collect();
    samples.remove(0);
    let median = |key: fn(&(f64, f64)) -> f64| {
        let mut figures: Vec<f64> = samples.iter().map(key).collect();
        figures.sort_by(f64::total_cmp);
        figures[figures.len() / 2]
    };
    let (cpu, wakes) = (median(|s| s.0), median(|s| s.1));
    println!();
    report::text_row(
        name,
        &[
            ("monitor CPU ÷ wall", format!("{:.2}%", cpu * 100.0)),
            ("monitor wake-ups/s", format!("{wakes:.0}")),
        ],
    );
}

/// The `/proc` directory of this process's thread named `name`, if there is one.
fn thread_named(name: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .map(|task| task.path())
        .find(|path| {
            std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.trim_end() == name)
        })
}

/// One thread's CPU time and wake-ups so far, from `/proc`.
#[derive(Clone, Copy, Debug, Default)]
struct ThreadUsage {
    cpu: Duration,
    /// Voluntary context switches: each is a wait that ended in a wake-up.
    switches: u64,
}

impl ThreadUsage {
    fn of(task: &std::path::Path) -> ThreadUsage {
        // `schedstat` starts with the time on CPU in nanoseconds.
        let cpu = std::fs::read_to_string(task.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .map_or(Duration::ZERO, Duration::from_nanos);
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
        let switches = status
            .lines()
            .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        ThreadUsage { cpu, switches }
    }
}
