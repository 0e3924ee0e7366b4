//! The facade re-exports the executor's public constants, so users never need
//! `baton_executor` paths (crossbeam's `subcrates.rs` idea).

#[test]
fn tunable_defaults_are_reexported() {
    assert_eq!(baton::DEFAULT_GRACE, baton_executor::DEFAULT_GRACE);
    assert_eq!(
        baton::DEFAULT_KEEP_ALIVE,
        baton_executor::DEFAULT_KEEP_ALIVE
    );
    assert_eq!(
        baton::DEFAULT_DETECTION_THRESHOLD,
        baton_executor::DEFAULT_DETECTION_THRESHOLD
    );
    assert_eq!(
        baton::DEFAULT_STALL_TIMEOUT,
        baton_executor::DEFAULT_STALL_TIMEOUT
    );
    assert_eq!(
        baton::DEFAULT_MAX_THREADS,
        baton_executor::DEFAULT_MAX_THREADS
    );
    assert_eq!(
        baton::DEFAULT_MAX_THREADS_PER_CORE,
        baton_executor::DEFAULT_MAX_THREADS_PER_CORE
    );
    assert_eq!(
        baton::DEFAULT_THREADS_PER_CORE_SHARE,
        baton_executor::DEFAULT_THREADS_PER_CORE_SHARE
    );
    assert_eq!(
        baton::DEFAULT_MAX_UNBLOCK_THREADS,
        baton_executor::DEFAULT_MAX_UNBLOCK_THREADS
    );
    assert_eq!(baton::HOG_THRESHOLD, baton_executor::HOG_THRESHOLD);
    assert_eq!(
        baton::DEFAULT_MAX_ACTIVE,
        baton_executor::DEFAULT_MAX_ACTIVE
    );
    assert_eq!(baton::MAX_ACTIVE_LIMIT, baton_executor::MAX_ACTIVE_LIMIT);
    assert_eq!(baton::MAX_CORES, baton_executor::MAX_CORES);
}
