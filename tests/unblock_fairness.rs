//! `unblock` never starves the cores: its jobs run on a pool of their own, apart from the cores'
//! workers, so a task spawned while many jobs block runs at once, whatever the cores' thread
//! caps.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use baton_testing::Gate;

/// Jobs that block at once: more than a core may have worker threads.
const JOBS: usize = 40;
/// How long the test waits for the new task before it calls the cores starved.
const WATCHDOG: Duration = Duration::from_secs(30);

#[test]
fn a_task_spawned_while_unblock_jobs_block_runs() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .max_threads_per_core(4)
        .build()
        .unwrap();
    let gate = Arc::new(Gate::default());
    let (started, jobs_started) = mpsc::channel();
    let jobs = {
        let gate = Arc::clone(&gate);
        rt.block_on(rt.spawn(async move {
            (0..JOBS)
                .map(|i| {
                    let gate = Arc::clone(&gate);
                    let started = started.clone();
                    baton::blocking::unblock(move || {
                        started.send(()).unwrap();
                        gate.wait();
                        i
                    })
                })
                .collect::<Vec<_>>()
        }))
        .unwrap()
    };
    let (ran, task_ran) = mpsc::channel();
    drop(rt.spawn(async move { ran.send(baton::current_core()).unwrap() }));
    let core = task_ran.recv_timeout(WATCHDOG);
    // Every job runs at once (the pool's cap is above `JOBS`), none on a core.
    let started = if core.is_ok() {
        (0..JOBS)
            .take_while(|_| jobs_started.recv_timeout(WATCHDOG).is_ok())
            .count()
    } else {
        0
    };
    // Open the gate before judging, so that the runtime can shut down either way.
    gate.open();
    let core = core.unwrap_or_else(|_| {
        panic!(
            "a task spawned while {JOBS} unblock jobs block did not run within {WATCHDOG:?}: {}",
            rt.stats()
        )
    });
    assert_eq!(started, JOBS, "the unblock jobs did not all run at once");
    assert_eq!(core, Some(0));
    let values = rt.block_on(async {
        let mut values = Vec::new();
        for job in jobs {
            values.push(job.await);
        }
        values
    });
    assert_eq!(values, (0..JOBS).collect::<Vec<_>>());
    let stats = rt.stats();
    assert_eq!(stats.unblock.jobs, JOBS as u64, "{stats:?}");
    assert!(
        stats.cores.iter().all(|c| c.sections == 0),
        "a job ran in a section on a core: {stats:?}"
    );
}
