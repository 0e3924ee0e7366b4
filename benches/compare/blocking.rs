//! Blocking workloads: the blocking mix, the cost of a section that does not block, and the
//! handoff latency on one core (the targets in docs/architecture.md).
//!
//! - **Blocking mix**: tasks of short CPU steps, one step in ten also calling a blocking function,
//!   run on baton (with and without sections, and with its `unblock`), tokio (`block_in_place`, `spawn_blocking`) and
//!   async-executor (`blocking::unblock`). Besides the wall time, each system's peak thread count
//!   and context switches are reported.
//! - **Section that does not block**: the cost of entering and leaving a section around a
//!   closure that returns at once, against tokio's `block_in_place` and the bare closure.
//! - **Unblock that returns at once**: the cost of handing a closure that returns at once to
//!   another thread and awaiting its value: baton's `unblock`, tokio's `spawn_blocking` and
//!   smol's `unblock`.
//! - **Handoff latency**: on one core, the time from a 5 ms section's start to the start of the
//!   task queued behind it, for a call site the runtime has not seen block and for a known one.
//! - **Monitor cost**: the CPU time and wake-ups of baton's monitor thread while two tasks run
//!   2 µs sections that never block, in a loop (target: under 2% of one CPU), and while they
//!   run 2 µs polls with no section at all (detection's cost on a busy runtime; target: under
//!   1%).

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use async_executor::Executor;

use crate::core::AsyncExecutor;
use futures_lite::future;

use crate::report;

/// Cores (baton) or worker threads (tokio, async-executor) of the blocking mix.
pub(crate) const CORES: usize = 2;

/// Tasks of the blocking mix, the steps each takes, and the CPU time of a step.
const MIX_TASKS: usize = 2_000;
const MIX_STEPS: usize = 10;
const MIX_STEP: Duration = Duration::from_micros(20);
/// The shapes of the mix's blocking: the same CPU work, with blocking spread out (the
/// classic mix), arriving in bursts, rare and long, or dense and short.
const SHAPES: [Shape; 4] = [
    Shape {
        name: "blocking mix: 2,000 tasks × 10 steps",
        blocking: "one step in ten also sleeps 1 ms, staggered across tasks",
        every: 10,
        block: Duration::from_millis(1),
        burst: false,
    },
    Shape {
        name: "blocking mix, bursts",
        blocking: "every task sleeps 1 ms at its 6th step, so they block at about the same moment",
        every: 10,
        block: Duration::from_millis(1),
        burst: true,
    },
    Shape {
        name: "blocking mix, rare long blocking",
        blocking: "one step in a hundred also sleeps 10 ms, staggered",
        every: 100,
        block: Duration::from_millis(10),
        burst: false,
    },
    Shape {
        name: "blocking mix, dense short blocking",
        blocking: "one step in two also sleeps 50 µs, staggered",
        every: 2,
        block: Duration::from_micros(50),
        burst: false,
    },
];

/// Where and how long the mix's tasks block.
#[derive(Clone, Copy, Debug)]
struct Shape {
    /// The heading (and the filter's target).
    name: &'static str,
    /// What the blocking is, in words.
    blocking: &'static str,
    /// One step in this many calls the blocking function.
    every: usize,
    /// What the blocking function blocks for.
    block: Duration,
    /// Every task blocks at the same step (else the blocking steps are staggered across tasks).
    burst: bool,
}

impl Shape {
    /// The blocking function of the mix.
    fn block(self) {
        thread::sleep(self.block);
    }

    /// Whether step `step` of task `task` calls the blocking function.
    fn blocks(self, task: usize, step: usize) -> bool {
        if self.burst {
            step % self.every == self.every / 2
        } else {
            (task + step) % self.every == 0
        }
    }
}
/// Timed runs of the mix per system, after one warm-up.
const MIX_RUNS: usize = 3;

/// Sections per timed run on baton, and for the bare closure.
const SECTIONS: usize = 1_000_000;
/// `block_in_place` calls per timed run (each costs microseconds).
const BLOCK_IN_PLACE_CALLS: usize = 20_000;
/// Timed runs per system of the section cost, after one warm-up.
const SECTION_RUNS: usize = 3;

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
/// How long the sections of the monitor-cost workload run (they never block).
const MONITOR_SECTION: Duration = Duration::from_micros(2);
/// How long one run of the monitor-cost workload lasts.
const MONITOR_RUN: Duration = Duration::from_secs(1);
/// Timed runs of the monitor-cost workload, after one warm-up.
const MONITOR_RUNS: usize = 3;

/// Runs every workload whose name contains `filter`.
pub(crate) fn run(filter: &str) {
    mix(filter);
    section_cost(filter);
    unblock_cost(filter);
    handoff(filter);
    unannotated_wait(filter);
    monitor_cost(filter, true);
    monitor_cost(filter, false);
}

/// Burns `d` of CPU time without yielding.
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking mix
// ---------------------------------------------------------------------------------------------

impl Sample {
    /// The sample with `foreign` threads (see [`foreign_threads`]) taken off its peak: what the
    /// system itself had running at most. (smol's `blocking` pool is the process's, and kept:
    /// a later smol run reuses the threads an earlier one left, which count as foreign then.)
    pub(crate) fn without(mut self, foreign: usize) -> Sample {
        self.peak_threads = self.peak_threads.saturating_sub(foreign);
        self
    }
}

/// What one run of the mix measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    /// The process's peak thread count during the run, not counting the sampler.
    pub(crate) peak_threads: usize,
    /// Context switches of the process during the run, not counting the sampler's.
    switches: u64,
    /// CPU time of the process during the run (user and system), not counting the sampler's:
    /// below `CORES ×` the wall time, the cores sat idle for the difference.
    cpu: Duration,
}

/// The ways the mix runs.
#[derive(Clone, Copy, Debug)]
enum Mix {
    BatonSection,
    BatonUnannotated,
    BatonUnblock,
    TokioBlockInPlace,
    TokioSpawnBlocking,
    SmolUnblock,
}

impl Mix {
    const ALL: [Mix; 6] = [
        Mix::BatonSection,
        Mix::BatonUnannotated,
        Mix::BatonUnblock,
        Mix::TokioBlockInPlace,
        Mix::TokioSpawnBlocking,
        Mix::SmolUnblock,
    ];

    fn name(self) -> &'static str {
        match self {
            Mix::BatonSection => "baton section",
            Mix::BatonUnannotated => "baton unannotated",
            Mix::BatonUnblock => "baton unblock",
            Mix::TokioBlockInPlace => "tokio block_in_place",
            Mix::TokioSpawnBlocking => "tokio spawn_blocking",
            Mix::SmolUnblock => "smol unblock",
        }
    }

    /// The samples of the timed runs (the warm-up's dropped) on a fresh runtime.
    fn samples(self, shape: Shape) -> Vec<Sample> {
        let foreign = foreign_threads();
        self.run_samples(shape)
            .into_iter()
            .map(|sample| sample.without(foreign))
            .collect()
    }

    /// [`Mix::samples`], with every thread of the process counted.
    fn run_samples(self, shape: Shape) -> Vec<Sample> {
        match self {
            Mix::BatonSection | Mix::BatonUnannotated | Mix::BatonUnblock => {
                let rt = baton_runtime(CORES);
                let call = match self {
                    Mix::BatonSection => Call::Section,
                    Mix::BatonUnblock => Call::Unblock,
                    _ => Call::Plain,
                };
                let samples = repeat(|| observe(|| baton_mix(&rt, Some(call), shape)));
                match call {
                    Call::Section => print_stats("baton section", &rt),
                    Call::Plain => print_detections("baton unannotated", &rt),
                    Call::Unblock => {}
                }
                drop(rt);
                samples
            }
            Mix::TokioBlockInPlace | Mix::TokioSpawnBlocking => {
                let rt = tokio_runtime(CORES);
                let in_place = matches!(self, Mix::TokioBlockInPlace);
                let samples = repeat(|| observe(|| tokio_mix(&rt, in_place, shape)));
                rt.shutdown_timeout(Duration::from_secs(10));
                samples
            }
            Mix::SmolUnblock => {
                let smol = AsyncExecutor::with_threads(CORES);
                repeat(|| {
                    observe(|| smol.spawn_and_wait(smol_mix(Arc::clone(&smol.executor), shape)))
                })
            }
        }
    }
}

/// Prints the per-core handoff counters of a mix runtime, summed over all its runs.
fn print_stats(name: &str, rt: &baton::Runtime) {
    for core in rt.stats().cores {
        println!(
            "{name}, core {}: {} sections, {} handoffs ({} eager), {} retirements, \
             {} threads started, {} reaped, {} cap hits, {} held, {} parks, {} wake-ups, \
             {} workers now",
            core.core,
            core.sections,
            core.handoffs,
            core.eager_handoffs,
            core.retirements,
            core.threads_started,
            core.threads_reaped,
            core.cap_hits,
            core.held_sections,
            core.parks,
            core.wake_ups,
            core.workers,
        );
    }
}

/// Prints the per-core detection counters of a mix runtime, summed over all its runs.
fn print_detections(name: &str, rt: &baton::Runtime) {
    let stats = rt.stats();
    for core in &stats.cores {
        println!(
            "{name}, core {}: detection {}, {} detected blocks ({} watched, {} at a context \
             switch), {} CPU hogs, {} polls handed off at their start, {} retirements, {} \
             threads started, {} workers now",
            core.core,
            stats.detection.name(),
            core.detected_blocks,
            core.watched_detections,
            core.switch_detections,
            core.cpu_hogs,
            core.eager_polls,
            core.retirements,
            core.threads_started,
            core.workers,
        );
    }
}

/// Runs `f` through [`report::measure`] and returns the samples of its timed runs.
fn repeat(mut f: impl FnMut() -> Sample) -> Vec<Sample> {
    let mut samples = Vec::new();
    report::measure(MIX_RUNS, || {
        let sample = f();
        samples.push(sample);
        sample.wall
    });
    samples.remove(0);
    samples
}

/// The blocking mix in each of its shapes.
fn mix(filter: &str) {
    for shape in SHAPES {
        if shape.name.contains(filter) {
            mix_shape(shape);
        }
    }
}

/// The blocking mix of one shape on every system (or those `BATON_BENCH_SYSTEMS` selects, see
/// [`report::system_selected`]), with the ideal time.
fn mix_shape(shape: Shape) {
    let ideal = MIX_STEP * (MIX_TASKS * MIX_STEPS) as u32 / CORES as u32;
    println!();
    println!(
        "### {}: {MIX_TASKS} tasks × {MIX_STEPS} steps of 20 µs CPU; {} \
         (ideal: CPU work ÷ {CORES} cores = {ideal:?}; median of {MIX_RUNS} runs)",
        shape.name, shape.blocking,
    );
    // The reference only when every system runs: a short A/B run of one column skips it.
    if report::every_system_selected() {
        let rt = baton_runtime(CORES);
        let cpu_only = report::measure(MIX_RUNS, || observe(|| baton_mix(&rt, None, shape)).wall);
        drop(rt);
        println!(
            "(reference: the same mix without its blocking calls takes {cpu_only:.1?} on baton \
             here)"
        );
    }
    let results: Vec<(&str, Vec<Sample>)> = Mix::ALL
        .iter()
        .filter(|system| report::system_selected(system.name()))
        .map(|&system| (system.name(), system.samples(shape)))
        .collect();
    let median = |samples: &[Sample], key: &dyn Fn(&Sample) -> f64| {
        let mut figures: Vec<f64> = samples.iter().map(key).collect();
        figures.sort_by(f64::total_cmp);
        figures[figures.len() / 2]
    };
    let walls: Vec<(&str, f64)> = results
        .iter()
        .map(|(name, samples)| (*name, median(samples, &|s| s.wall.as_secs_f64())))
        .collect();
    report::secs_row("mix: wall time", &walls);
    report::text_row(
        "mix: wall ÷ ideal",
        &walls
            .iter()
            .map(|&(name, wall)| (name, format!("{:.2}×", wall / ideal.as_secs_f64())))
            .collect::<Vec<_>>(),
    );
    report::count_row(
        "mix: peak threads",
        &results
            .iter()
            .map(|(name, samples)| {
                let peak = samples.iter().map(|s| s.peak_threads).max().unwrap_or(0);
                (*name, peak as f64)
            })
            .collect::<Vec<_>>(),
    );
    report::text_row(
        "mix: cores busy (CPU ÷ wall)",
        &results
            .iter()
            .map(|(name, samples)| {
                let busy = median(samples, &|s| s.cpu.as_secs_f64() / s.wall.as_secs_f64());
                (*name, format!("{busy:.2}"))
            })
            .collect::<Vec<_>>(),
    );
    report::count_row(
        "mix: context switches",
        &results
            .iter()
            .map(|(name, samples)| (*name, median(samples, &|s| s.switches as f64)))
            .collect::<Vec<_>>(),
    );
}

/// How baton's mix makes its blocking calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    /// In a section.
    Section,
    /// Unannotated.
    Plain,
    /// Through `unblock`, awaited.
    Unblock,
}

/// One run of the mix on baton, making its blocking calls as `call` says, or leaving them out
/// (`None`: the CPU-only reference).
fn baton_mix(rt: &baton::Runtime, call: Option<Call>, shape: Shape) {
    let root = rt.spawn(async move {
        let tasks: Vec<_> = (0..MIX_TASKS)
            .map(|task| {
                baton::spawn(async move {
                    for step in 0..MIX_STEPS {
                        spin(MIX_STEP);
                        match call {
                            Some(call) if shape.blocks(task, step) => match call {
                                Call::Section => baton::blocking::section(|| shape.block()),
                                Call::Plain => shape.block(),
                                Call::Unblock => {
                                    baton::blocking::unblock(move || shape.block()).await
                                }
                            },
                            _ => {}
                        }
                        baton::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a mix task failed");
        }
    });
    rt.block_on(root).expect("the root task failed");
}

/// One run of the mix on tokio, with `block_in_place` or `spawn_blocking`.
fn tokio_mix(rt: &tokio::runtime::Runtime, in_place: bool, shape: Shape) {
    let root = rt.spawn(async move {
        let tasks: Vec<_> = (0..MIX_TASKS)
            .map(|task| {
                tokio::spawn(async move {
                    for step in 0..MIX_STEPS {
                        spin(MIX_STEP);
                        if shape.blocks(task, step) {
                            if in_place {
                                tokio::task::block_in_place(|| shape.block());
                            } else {
                                tokio::task::spawn_blocking(move || shape.block())
                                    .await
                                    .expect("a blocking call failed");
                            }
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a mix task failed");
        }
    });
    rt.block_on(root).expect("the root task failed");
}

/// One run of the mix on async-executor, with `blocking::unblock`.
async fn smol_mix(executor: Arc<Executor<'static>>, shape: Shape) {
    let tasks: Vec<_> = (0..MIX_TASKS)
        .map(|task| {
            executor.spawn(async move {
                for step in 0..MIX_STEPS {
                    spin(MIX_STEP);
                    if shape.blocks(task, step) {
                        ::blocking::unblock(move || shape.block()).await;
                    }
                    future::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
}

/// Runs `f` while a sampler thread watches the process's thread count, and counts the
/// process's context switches.
pub(crate) fn observe(f: impl FnOnce()) -> Sample {
    let sampler = Sampler::start();
    let before = usage(libc::RUSAGE_SELF);
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    let after = usage(libc::RUSAGE_SELF);
    let (peak, sampler) = sampler.stop();
    Sample {
        wall,
        peak_threads: peak.saturating_sub(1),
        switches: (after.switches - before.switches).saturating_sub(sampler.switches),
        cpu: (after.cpu.saturating_sub(before.cpu)).saturating_sub(sampler.cpu),
    }
}

/// A thread reading `Threads:` from `/proc/self/status` about every millisecond.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<(usize, Usage)>,
}

impl Sampler {
    /// Starts sampling, and returns once the first sample is taken.
    fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, started) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name("thread-sampler".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || {
                    let mut peak = thread_count();
                    let first = usage(libc::RUSAGE_THREAD);
                    let _ = ready.send(());
                    while !stop.load(Ordering::Relaxed) {
                        thread::sleep(Duration::from_millis(1));
                        peak = peak.max(thread_count());
                    }
                    let last = usage(libc::RUSAGE_THREAD);
                    let own = Usage {
                        switches: last.switches - first.switches,
                        cpu: last.cpu.saturating_sub(first.cpu),
                    };
                    (peak, own)
                }
            })
            .expect("cannot start the sampler thread");
        let _ = started.recv();
        Sampler { stop, thread }
    }

    /// Stops sampling; returns the peak thread count and the sampler's own usage.
    fn stop(self) -> (usize, Usage) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler panicked")
    }
}

/// The process's thread count, from `/proc/self/status` (0 where there is none).
/// Threads of the process besides the main thread, before a system starts: the pools that
/// earlier systems left behind (smol's `blocking` pool keeps its idle threads), which a
/// system's peak must not count (see [`Sample::without`]).
pub(crate) fn foreign_threads() -> usize {
    thread_count().saturating_sub(1)
}

fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Context switches (voluntary and involuntary) and CPU time (user and system) so far.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    switches: u64,
    cpu: Duration,
}

/// The usage of `who`: `RUSAGE_SELF` for the whole process (including threads that have
/// exited), `RUSAGE_THREAD` for the calling thread.
fn usage(who: libc::c_int) -> Usage {
    // SAFETY: `rusage` is plain old data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`, and `who` is a valid target.
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    if rc != 0 {
        return Usage::default();
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Usage {
        switches: (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
    }
}

// ---------------------------------------------------------------------------------------------
// A section that does not block
// ---------------------------------------------------------------------------------------------

/// Cost per call of a section around a closure that does not block, against `block_in_place`
/// and the bare closure.
///
/// Back to back, tokio's `block_in_place` is flattered: once a call has lost the worker core to
/// another thread, the task runs on without a core until it next yields, and the calls after it
/// return at once. So a second table puts a `yield_now` between calls, on both systems (one
/// core, one worker), and shows the yield alone, so each call gets a core again.
fn section_cost(filter: &str) {
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
fn unblock_cost(filter: &str) {
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

// ---------------------------------------------------------------------------------------------
// Handoff latency
// ---------------------------------------------------------------------------------------------

/// Time from a 5 ms section's start to the start of the task queued behind it, on one core.
fn handoff(filter: &str) {
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
fn unannotated_wait(filter: &str) {
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

/// The `q` quantile of `samples`, in seconds.
pub(crate) fn percentile(samples: &[Duration], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i].as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// Monitor cost
// ---------------------------------------------------------------------------------------------

/// The monitor thread's CPU time and wake-ups per second of wall time while two tasks run
/// in a loop on two cores, short sections that never block between yields if `sections`,
/// otherwise 2 µs of work without any section (a busy runtime where nothing blocks: what
/// detection of unannotated blocking costs).
fn monitor_cost(filter: &str, sections: bool) {
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

// ---------------------------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------------------------

pub(crate) fn baton_runtime(cores: usize) -> baton::Runtime {
    report::baton_builder(cores)
        .build()
        .expect("cannot build the baton runtime")
}

/// A fresh baton runtime that has run one task and had time to park its spares.
fn settled_baton(cores: usize) -> baton::Runtime {
    let rt = baton_runtime(cores);
    run_baton(&rt, async {});
    thread::sleep(Duration::from_millis(2));
    rt
}

/// Runs `fut` as a task on `rt` and waits for it from outside.
fn run_baton<F>(rt: &baton::Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(fut)).expect("the root task failed")
}

pub(crate) fn tokio_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime")
}

/// Runs `fut` as a task on `rt` and waits for it from outside.
fn run_tokio<F>(rt: &tokio::runtime::Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(fut)).expect("the root task failed")
}
