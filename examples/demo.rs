//! A short tour of baton: spawning, per-core queues, stealing, the always-on stats, and
//! blocking sections.
//!
//! Run it with `cargo run --release --example demo`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Burns roughly `d` of CPU time without yielding.
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = baton::Runtime::builder().cores(2).build()?;
    println!("baton demo: {} cores\n", rt.handle().cores());

    // 1. Spawn and join: 10,000 small tasks, spread over the cores.
    let start = Instant::now();
    let sum = rt.block_on(async {
        let tasks: Vec<_> = (0..10_000u64)
            .map(|i| baton::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await?;
        }
        Ok::<_, baton::JoinError>(sum)
    })?;
    println!(
        "1. spawned and joined 10,000 tasks in {:?} (sum {sum})",
        start.elapsed()
    );

    // 2. Stealing: a task queues 20 CPU-bound jobs on its own core, then hogs that core
    //    without yielding. The other core steals the queue, so nothing waits for the hog.
    let (hog_core, ran_on) = rt.block_on(rt.spawn(async {
        let here = baton::current_core().expect("tasks run on worker threads");
        let jobs: Vec<_> = (0..20)
            .map(|_| {
                baton::spawn(async {
                    spin(Duration::from_millis(2));
                    baton::current_core().expect("tasks run on worker threads")
                })
            })
            .collect();
        spin(Duration::from_millis(60));
        let mut cores = Vec::new();
        for j in jobs {
            cores.push(j.await.expect("job ran"));
        }
        (here, cores)
    }))?;
    let stolen = ran_on.iter().filter(|&&c| c != hog_core).count();
    println!(
        "2. a task hogged core {hog_core} for 60 ms; {stolen} of its 20 queued jobs were stolen \
         and run by the other core meanwhile"
    );

    // 3. spawn_on pins a task to a core.
    let pinned = rt.block_on(async {
        let a = baton::spawn_on(0, async { baton::current_core() });
        let b = baton::spawn_on(1, async { baton::current_core() });
        (a.await, b.await)
    });
    println!(
        "3. spawn_on(0) ran on {:?}, spawn_on(1) ran on {:?}",
        pinned.0?, pinned.1?
    );

    // 4. Panics are caught and reported; the worker survives. (The default panic hook would
    //    print a backtrace here; silence it for the tour.)
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let err = rt
        .block_on(rt.spawn(async { panic!("a task failed") }))
        .unwrap_err();
    std::panic::set_hook(default_hook);
    println!("4. {err} (is_panic: {})", err.is_panic());

    // 5. The stats, always on.
    println!("\n5. runtime stats:\n{}", rt.stats());
    drop(rt);

    // 6. Blocking: the same mix of CPU steps and blocking calls, run three ways.
    blocking_mix()?;
    Ok(())
}

/// Tasks of the blocking mix, the steps each takes, and the CPU time of a step.
const MIX_TASKS: usize = 400;
const MIX_STEPS: usize = 10;
const MIX_STEP: Duration = Duration::from_micros(20);

/// The blocking call of the mix: it sleeps, as a synchronous file or database call would.
fn block() {
    std::thread::sleep(Duration::from_millis(1));
}

/// Whether step `step` of task `task` blocks: one step in ten, staggered across tasks.
fn blocks(task: usize, step: usize) -> bool {
    (task + step) % 10 == 0
}

/// Step 6: 400 tasks of 10 CPU steps of 20 µs, one step in ten also calling a blocking
/// function, on baton without annotations, on baton with the call in a section, and on tokio
/// with `block_in_place`.
fn blocking_mix() -> Result<(), Box<dyn std::error::Error>> {
    let ideal = MIX_STEP * (MIX_TASKS * MIX_STEPS) as u32 / 2;
    println!(
        "\n6. blocking: {MIX_TASKS} tasks × {MIX_STEPS} steps of 20 µs CPU, one step in ten also \
         blocks for 1 ms\n   (ideal on 2 cores: {ideal:?})\n"
    );
    println!(
        "   {:<22} {:>8} {:>13}  handoffs per core (of which eager)",
        "run", "wall", "peak threads"
    );
    for annotated in [false, true] {
        let before = thread_count();
        let rt = baton::Runtime::builder().cores(2).build()?;
        let (done, wall, threads) = watch(before, || {
            rt.block_on(rt.spawn(async move {
                let tasks: Vec<_> = (0..MIX_TASKS)
                    .map(|task| {
                        baton::spawn(async move {
                            for step in 0..MIX_STEPS {
                                spin(MIX_STEP);
                                if blocks(task, step) {
                                    if annotated {
                                        baton::blocking::section(block);
                                    } else {
                                        block();
                                    }
                                }
                                baton::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("a mix task panicked");
                }
            }))
        });
        done?;
        let handoffs: Vec<String> = rt
            .stats()
            .cores
            .iter()
            .map(|c| format!("{} ({})", c.handoffs, c.eager_handoffs))
            .collect();
        let name = if annotated {
            "baton, section"
        } else {
            "baton, unannotated"
        };
        println!(
            "   {name:<22} {:>8} {threads:>13}  {}",
            format!("{wall:.0?}"),
            handoffs.join(", ")
        );
    }
    let before = thread_count();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;
    let (done, wall, threads) = watch(before, || {
        rt.block_on(rt.spawn(async {
            let tasks: Vec<_> = (0..MIX_TASKS)
                .map(|task| {
                    tokio::spawn(async move {
                        for step in 0..MIX_STEPS {
                            spin(MIX_STEP);
                            if blocks(task, step) {
                                tokio::task::block_in_place(block);
                            }
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("a mix task panicked");
            }
        }))
    });
    done?;
    println!(
        "   {:<22} {:>8} {threads:>13}  -",
        "tokio, block_in_place",
        format!("{wall:.0?}")
    );
    rt.shutdown_timeout(Duration::from_secs(5));
    println!(
        "\n   Unannotated, each blocking call stalls its core and the tasks queued behind it. In a\n   \
         section, baton hands the core to a spare worker: the first time a call site blocks,\n   \
         after a 40 µs grace period; once the site is known to block, at once (eager)."
    );
    Ok(())
}

/// Runs `f`, timing it and sampling the process's thread count about every millisecond.
///
/// Returns `f`'s value, the wall time, and the peak number of threads beyond the `before` that
/// ran before the runtime under test was built (from `/proc/self/status`; `n/a` without it).
fn watch<R>(before: Option<usize>, f: impl FnOnce() -> R) -> (R, Duration, String) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            let mut peak = thread_count();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
                peak = peak.max(thread_count());
            }
            peak
        }
    });
    let start = Instant::now();
    let out = f();
    let wall = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().expect("the sampler panicked");
    let threads = match (before, peak) {
        // The sampler is not the runtime's.
        (Some(before), Some(peak)) => peak.saturating_sub(before + 1).to_string(),
        _ => "n/a".to_string(),
    };
    (out, wall, threads)
}

/// The process's thread count, where `/proc/self/status` has it.
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}
