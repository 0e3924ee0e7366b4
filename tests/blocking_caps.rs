//! Thread caps: a core at its cap runs sections without replacement (counted in `cap_hits`),
//! never exceeds the cap, and still completes everything; caps too small are rejected.

use std::time::Duration;

#[test]
fn a_core_at_its_thread_cap_runs_sections_without_replacement() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .max_threads_per_core(2)
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
