//! The blocking mix: tasks of short CPU steps, some of which block, run every way each system
//! offers.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use async_executor::Executor;
use futures_lite::future;

use crate::core::AsyncExecutor;
use crate::report;

use super::*;

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
pub(super) fn mix(filter: &str) {
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
