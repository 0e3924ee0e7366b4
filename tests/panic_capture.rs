//! A panicking task does not take its worker down: the handle reports the panic and the
//! runtime keeps running tasks on every core.

#[test]
fn panic_is_reported_through_the_handle() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let task = rt.spawn(async { panic!("boom {}", 7) });
    let id = task.id();
    let err = rt.block_on(task).unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert_eq!(err.to_string(), format!("task {id} panicked: boom 7"));
}

#[test]
fn the_panic_payload_comes_back_unchanged() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let task = rt.spawn(async { std::panic::panic_any(42_u32) });
    let id = task.id();
    let err = rt.block_on(task).unwrap_err();
    assert_eq!(err.to_string(), format!("task {id} panicked"));
    assert_eq!(*err.into_panic().downcast::<u32>().unwrap(), 42);
}

#[test]
fn workers_survive_panics() {
    // Printing a panic's backtrace blocks its poll for milliseconds: detection would hand the
    // core to new spares, and this test counts workers.
    let rt = baton::Runtime::builder()
        .cores(2)
        .detect_blocking(false)
        .build()
        .unwrap();
    let workers_before: u64 = rt.stats().cores.iter().map(|c| c.workers).sum();
    let results = rt.block_on(async {
        let panics: Vec<_> = (0..100)
            .map(|i| baton::spawn(async move { assert!(i > 1000, "task {i} fails") }))
            .collect();
        let mut failed = 0;
        for p in panics {
            failed += usize::from(p.await.unwrap_err().is_panic());
        }
        // Every core still runs tasks afterwards.
        let after: Vec<_> = (0..2)
            .map(|core| baton::spawn_on(core, async move { baton::current_core() }))
            .collect();
        let mut cores = Vec::new();
        for a in after {
            cores.push(a.await.unwrap());
        }
        (failed, cores)
    });
    assert_eq!(results, (100, vec![Some(0), Some(1)]));
    let workers_after: u64 = rt.stats().cores.iter().map(|c| c.workers).sum();
    assert_eq!(workers_before, workers_after);
}

#[test]
fn try_into_panic_on_a_cancelled_task_gives_the_error_back() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let task = rt.spawn(std::future::pending::<()>());
    let id = task.id();
    task.abort();
    let err = rt.block_on(task).unwrap_err();
    let err = err.try_into_panic().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.to_string(), format!("task {id} was cancelled"));
}
