//! Thread caps: a runtime at its cap runs sections without replacement (counted in
//! `cap_hits`), never exceeds the cap, and still completes everything; a core starved at its
//! per-core cap gets a worker beyond it (the cap rescue), so sections that wait for tasks
//! queued behind them complete; caps too small are rejected.

use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

#[test]
fn a_runtime_at_its_thread_cap_runs_sections_without_replacement() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .max_threads(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..16u64)
        .map(|i| {
            rt.spawn(async move {
                baton::blocking::section_long(|| std::thread::sleep(Duration::from_millis(3)));
                i
            })
        })
        .collect();
    // Sample the worker count while the tasks run (bounded: 60 s of sampling at most).
    let mut seen_max = 0;
    let mut samples = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        samples += 1;
        assert!(
            samples < 300_000,
            "the tasks did not finish: {}",
            rt.stats()
        );
        seen_max = seen_max.max(rt.stats().cores[0].workers);
        std::thread::sleep(Duration::from_micros(200));
    }
    let sum: u64 = rt.block_on(async {
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..16).sum::<u64>(), "every task completed");
    let stats = rt.stats();
    seen_max = seen_max.max(stats.cores[0].workers);
    assert!(
        seen_max <= 2,
        "a core exceeded its thread cap: {seen_max} workers, {stats}"
    );
    assert!(
        stats.cores[0].threads_started <= 2,
        "more threads than the cap were started: {stats}"
    );
    assert!(stats.cores[0].cap_hits > 0, "{stats}");
    assert_eq!(stats.cores[0].cap_rescues, 0, "{stats}");
}

/// Sections on a barrier: each waits until all of them run at once, so with more sections than
/// the per-core cap allows workers, the last ones wait in the core's queue behind sections that
/// wait for them.
#[test]
fn sections_that_wait_for_each_other_beyond_the_per_core_cap_complete() {
    const SECTIONS: usize = 6;
    let rt = baton::Runtime::builder()
        .cores(1)
        .max_threads_per_core(2)
        .build()
        .unwrap();
    let barrier = Arc::new(Barrier::new(SECTIONS));
    let tasks: Vec<_> = (0..SECTIONS)
        .map(|_| {
            let barrier = barrier.clone();
            rt.spawn(async move {
                baton::blocking::section(move || {
                    barrier.wait();
                })
            })
        })
        .collect();
    let (done, finished) = mpsc::channel();
    let handle = rt.handle();
    std::thread::spawn(move || {
        handle.block_on(async {
            for task in tasks {
                task.await.unwrap();
            }
        });
        let _ = done.send(());
    });
    if finished.recv_timeout(Duration::from_secs(60)).is_err() {
        panic!("the sections never all ran at once: {}", rt.stats());
    }
    let stats = rt.stats();
    // Two workers fit the cap; each other section needed a rescue.
    assert!(
        stats.cores[0].cap_rescues >= (SECTIONS - 2) as u64,
        "{stats}"
    );
    assert!(stats.cores[0].cap_hits > 0, "{stats}");
}

/// The runtime's cap is hard: at it, a starved core gets no rescue (it waits, as here, until
/// what its sections wait for comes from outside).
#[test]
fn no_rescue_beyond_the_runtime_cap() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .max_threads(2)
        .build()
        .unwrap();
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    let (ran_tx, ran_rx) = mpsc::channel::<()>();
    let blockers: Vec<_> = (0..2)
        .map(|_| {
            let released = released.clone();
            rt.spawn(async move {
                baton::blocking::section(move || {
                    let _ = released.lock().unwrap().recv();
                })
            })
        })
        .collect();
    // Queued behind the two sections, which hold both threads the runtime may have.
    let queued = rt.spawn(async move { ran_tx.send(()).unwrap() });
    // Starved for many rescue delays: nothing beyond the cap starts, the queued task waits.
    assert!(
        ran_rx.recv_timeout(baton::CAP_RESCUE_DELAY * 6).is_err(),
        "a task ran beyond the runtime's cap: {}",
        rt.stats()
    );
    let stats = rt.stats();
    assert_eq!(stats.cores[0].cap_rescues, 0, "{stats}");
    assert!(stats.cores[0].workers <= 2, "{stats}");
    drop(release);
    rt.block_on(async move {
        for blocker in blockers {
            blocker.await.unwrap();
        }
        queued.await.unwrap();
    });
}

#[test]
fn caps_too_small_are_rejected() {
    let err = baton::Runtime::builder()
        .cores(1)
        .max_threads_per_core(1)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    let err = baton::Runtime::builder()
        .cores(2)
        .max_threads(1)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    let err = baton::Runtime::builder()
        .cores(2)
        .max_threads(3)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    let err = baton::Runtime::builder()
        .cores(1)
        .grace_period(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    // The smallest valid caps build.
    let rt = baton::Runtime::builder()
        .cores(2)
        .max_threads(4)
        .max_threads_per_core(2)
        .build()
        .unwrap();
    assert_eq!(rt.block_on(rt.spawn(async { 7 })).unwrap(), 7);
}
