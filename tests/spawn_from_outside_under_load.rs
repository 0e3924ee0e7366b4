//! Tasks spawned from outside the runtime are not starved by tasks that keep the cores busy:
//! the workers look at the injector within a bounded number of polls, and within fewer polls
//! when polls are long, so the wait is bounded in time as well.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Runs `f` on a thread of its own and returns its result; panics with `what` if it does not
/// finish within a generous time.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} did not finish"))
}

/// tokio's `spawn_from_other_thread_under_load`: tasks that yield forever keep every core busy
/// while a thread outside spawns a task; that task runs.
#[test]
fn a_task_spawned_from_outside_runs_while_tasks_spin_yielding() {
    for cores in [1, 2] {
        bounded("the task spawned from outside", move || {
            let rt = baton::Runtime::builder().cores(cores).build().unwrap();
            let handle = rt.handle();
            let (tx, rx) = futures::channel::oneshot::channel();
            rt.block_on(async move {
                for _ in 0..=cores {
                    drop(baton::spawn(async {
                        loop {
                            baton::yield_now().await;
                        }
                    }));
                }
                std::thread::spawn(move || {
                    drop(handle.spawn(async move { tx.send(()).unwrap() }));
                });
                rx.await.unwrap();
            });
        });
    }
}

/// Spins for at least `d`.
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// One step of a chain that keeps its core busy: it spins for at least `STEP`, counts itself,
/// and spawns the next step from inside the task (which runs next, before anything queued).
fn step(run: Arc<AtomicBool>, steps: Arc<AtomicUsize>) {
    /// How long a step takes, at least: a poll long enough that a fixed count of polls between
    /// looks at the injector would be a long wait.
    const STEP: Duration = Duration::from_micros(100);
    if !run.load(Ordering::Relaxed) {
        return;
    }
    spin(STEP);
    steps.fetch_add(1, Ordering::Relaxed);
    drop(baton::spawn(async move { step(run, steps) }));
}

/// tokio's `test_tuning` shape: on one core, a chain of long polls keeps the worker busy while a
/// thread outside spawns tasks one after another; each reports how many steps of the chain ran
/// between its spawn and its run. With polls that long, the worker looks at the injector after a
/// few of them, not after a fixed count meant for short polls.
#[test]
fn long_polls_make_the_worker_look_at_the_injector_sooner() {
    /// Samples taken after the warm-up.
    const SAMPLES: usize = 30;
    /// Samples taken while the worker learns how long its polls are.
    const WARM_UP: usize = 5;
    /// The most steps allowed between two spawned tasks.
    const MAX_STEPS: usize = 8;
    let seen = bounded("the spawned tasks", || {
        // Detection off: on a loaded machine it may judge a preempted step a CPU hog and hand
        // the core to a spare, which then runs the spawned tasks beside the chain and tunes
        // its pace to their short polls; this test is about one worker's pace alone.
        let rt = baton::Runtime::builder()
            .cores(1)
            .detect_blocking(false)
            .build()
            .unwrap();
        let run = Arc::new(AtomicBool::new(true));
        let steps = Arc::new(AtomicUsize::new(0));
        {
            let (run, steps) = (run.clone(), steps.clone());
            drop(rt.spawn(async move { step(run, steps) }));
        }
        let mut seen = Vec::new();
        for _ in 0..WARM_UP + SAMPLES {
            let (tx, rx) = mpsc::channel();
            let task = {
                let steps = steps.clone();
                rt.spawn(async move { tx.send(steps.load(Ordering::Relaxed)).unwrap() })
            };
            // Read after the spawn: if this thread is held up here, the count only shrinks.
            let at_spawn = steps.load(Ordering::Relaxed);
            let at_run = rx.recv().unwrap();
            rt.block_on(task).unwrap();
            seen.push(at_run.saturating_sub(at_spawn));
        }
        run.store(false, Ordering::Relaxed);
        seen.split_off(WARM_UP)
    });
    assert!(
        seen.iter().all(|&n| n <= MAX_STEPS),
        "steps of the chain between two tasks spawned from outside: {seen:?}"
    );
}
