//! `baton::blocking::unblock` on the runtime and off it, and a panic in the job resuming in the
//! awaiting task.

use futures::FutureExt;
use std::panic::AssertUnwindSafe;

#[test]
fn unblock_from_a_task() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let out = rt
        .block_on(rt.spawn(async {
            assert!(baton::current_core().is_some(), "the task runs on a worker");
            baton::blocking::unblock(|| 6 * 7).await
        }))
        .unwrap();
    assert_eq!(out, 42);
}

#[test]
fn unblock_from_block_on() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    assert_eq!(rt.block_on(baton::blocking::unblock(|| 6 * 7)), 42);
}

#[test]
fn unblock_without_a_runtime() {
    let out = futures::executor::block_on(baton::blocking::unblock(|| 6 * 7));
    assert_eq!(out, 42);
}

#[test]
fn unblock_runs_on_the_runtimes_pool_apart_from_the_cores() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .thread_name("fair")
        .build()
        .unwrap();
    assert_eq!(
        rt.stats().unblock.threads_started,
        0,
        "the pool starts lazily"
    );
    let (core, in_section, name) = rt
        .block_on(rt.spawn(async {
            baton::blocking::unblock(|| {
                (
                    baton::current_core(),
                    baton::blocking::in_section(),
                    std::thread::current().name().map(str::to_owned),
                )
            })
            .await
        }))
        .unwrap();
    assert_eq!(core, None, "the job ran on a core's worker");
    assert!(!in_section, "the job ran in a section");
    assert_eq!(name.as_deref(), Some("fair-unblock"));
    assert_eq!(rt.stats().unblock.threads_started, 1);
    // Off the runtime the job goes to another pool.
    let core = futures::executor::block_on(baton::blocking::unblock(baton::current_core));
    assert_eq!(core, None);
}

#[test]
fn a_dropped_unblock_handle_lets_the_job_run() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    rt.block_on(rt.spawn(async move {
        drop(baton::blocking::unblock(move || tx.send("ran").unwrap()));
    }))
    .unwrap();
    assert_eq!(rx.recv().unwrap(), "ran");
}

#[test]
fn a_panic_in_unblock_resumes_in_the_awaiting_task() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let caught = rt
        .block_on(rt.spawn(async {
            let result = AssertUnwindSafe(baton::blocking::unblock(|| -> u32 {
                panic!("boom in unblock")
            }))
            .catch_unwind()
            .await;
            let payload = result.expect_err("the panic did not reach the awaiting task");
            // The task goes on after catching it.
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .unwrap_or("")
                .to_owned();
            (message, baton::blocking::unblock(|| 1).await)
        }))
        .unwrap();
    assert_eq!(caught, ("boom in unblock".to_owned(), 1));

    // Uncaught, it fails the task with the same payload; the runtime goes on.
    let err = rt
        .block_on(
            rt.spawn(async { baton::blocking::unblock(|| -> u32 { panic!("uncaught") }).await }),
        )
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(
        err.into_panic().downcast_ref::<&str>().copied(),
        Some("uncaught")
    );
    assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
}

#[test]
fn a_panic_in_unblock_without_a_runtime_resumes_in_the_caller() {
    let result = futures::executor::block_on(
        AssertUnwindSafe(baton::blocking::unblock(|| -> u32 {
            panic!("off runtime")
        }))
        .catch_unwind(),
    );
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>().copied(), Some("off runtime"));
}
