//! `block_on` on a worker thread is refused with a clear message instead of deadlocking.

#[test]
fn block_on_inside_a_task_panics_with_a_message() {
    let rt = std::sync::Arc::new(baton::Runtime::builder().cores(1).build().unwrap());
    let inner = rt.clone();
    let err = rt
        .block_on(rt.spawn(async move { inner.block_on(async { 1 }) }))
        .unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("baton worker thread"), "{err}");
    // The core keeps working afterwards.
    assert_eq!(rt.block_on(rt.spawn(async { 2 })).unwrap(), 2);
}

#[test]
fn block_on_may_nest_runtimes_off_worker_threads() {
    let outer = baton::Runtime::builder().cores(1).build().unwrap();
    let inner = baton::Runtime::builder().cores(1).build().unwrap();
    let v = outer.block_on(async { inner.block_on(async { 3 }) });
    assert_eq!(v, 3);
}
