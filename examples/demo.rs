//! A short tour of baton: spawning, per-core queues, stealing, and the always-on stats.
//!
//! Run it with `cargo run --release --example demo`.

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
    Ok(())
}
