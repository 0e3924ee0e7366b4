//! A runtime with many cores builds with the default thread caps: the default runtime-wide cap
//! grows with the core count, so `Runtime::new()` works on machines with hundreds of CPUs.

/// More cores than 512 threads (the runtime-wide cap for small machines) can start with their
/// active worker and spare each.
const MANY_CORES: usize = 300;

#[test]
fn many_cores_build_with_the_default_thread_cap() {
    let rt = baton::Runtime::builder()
        .cores(MANY_CORES)
        .build()
        .unwrap_or_else(|err| panic!("{MANY_CORES} cores with the default caps: {err}"));
    assert_eq!(rt.handle().cores(), MANY_CORES);
    // Every core has its active worker and spare from the start.
    let stats = rt.stats();
    assert!(
        stats.cores.iter().all(|c| c.workers == 2),
        "every core starts with two workers: {stats}"
    );
    // Tasks spread over the cores still run.
    let sum: usize = rt.block_on(async {
        let tasks: Vec<_> = (0..MANY_CORES)
            .map(|core| baton::spawn_on(core, async move { core }))
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..MANY_CORES).sum::<usize>());
}

#[test]
fn an_explicit_cap_below_what_the_cores_need_is_an_error() {
    let err = baton::Runtime::builder()
        .cores(MANY_CORES)
        .max_threads(MANY_CORES * 2 - 1)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("{MANY_CORES} cores need")),
        "{err}"
    );
}
