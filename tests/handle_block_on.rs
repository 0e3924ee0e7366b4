//! `Handle::block_on`: from any thread that is not a worker, and inside a task only within a
//! blocking section, where the section's handoff lets the blocked-on future's own tasks run.

use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a thread of its own and fails the test if it has not returned within a minute
/// (a hang guard for the deadlock these tests check; never a timing assertion).
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(60))
        .expect("block_on deadlocked (no result within a minute)")
}

#[test]
fn from_a_plain_thread_it_runs_the_future_to_completion() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let handle = rt.handle();
    let out = std::thread::spawn(move || {
        handle.block_on(async {
            assert!(baton::Handle::try_current().is_ok());
            baton::spawn(async { 20 }).await.unwrap() + 22
        })
    })
    .join()
    .unwrap();
    assert_eq!(out, 42);
}

#[test]
fn inside_a_task_outside_a_section_it_panics_and_says_to_use_a_section() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let err = rt
        .block_on(rt.spawn(async { baton::Handle::current().block_on(async { 1 }) }))
        .unwrap_err();
    assert!(err.is_panic());
    let message = err.to_string();
    assert!(message.contains("outside a blocking section"), "{message}");
    assert!(message.contains("baton::blocking::section"), "{message}");
    // The message names the caller's line, in this file.
    assert!(message.contains(file!()), "{message}");
    // The core keeps working afterwards.
    assert_eq!(rt.block_on(rt.spawn(async { 2 })).unwrap(), 2);
}

/// The future blocked on spawns onto the one core of the runtime and awaits what it spawned:
/// the worker blocked in `block_on` must hand the core on for those tasks to run.
#[test]
fn in_a_section_on_one_core_the_futures_own_tasks_run() {
    let out = within_a_minute(|| {
        let rt = baton::Runtime::builder().cores(1).build().unwrap();
        let task = rt.spawn(async {
            let handle = baton::Handle::current();
            let mut sum = 0;
            for round in 0..10u64 {
                sum += baton::blocking::section(|| {
                    handle.block_on(async move {
                        let a = baton::spawn_on(0, async move { round });
                        let b = baton::spawn(async move {
                            baton::yield_now().await;
                            round * 2
                        });
                        a.await.unwrap() + b.await.unwrap()
                    })
                });
            }
            sum
        });
        rt.block_on(task).unwrap()
    });
    assert_eq!(out, (0..10).map(|r| r * 3).sum::<u64>());
}

#[test]
fn the_guard_form_of_a_section_allows_it_too() {
    let out = within_a_minute(|| {
        let rt = baton::Runtime::builder().cores(1).build().unwrap();
        rt.block_on(rt.spawn(async {
            let handle = baton::Handle::current();
            let _section = baton::blocking::enter();
            handle.block_on(async { baton::spawn_on(0, async { 5 }).await.unwrap() })
        }))
        .unwrap()
    });
    assert_eq!(out, 5);
}

#[test]
fn runtime_block_on_in_a_section_works_like_the_handles() {
    let out = within_a_minute(|| {
        let rt = std::sync::Arc::new(baton::Runtime::builder().cores(1).build().unwrap());
        let inner = std::sync::Arc::clone(&rt);
        let out = rt
            .block_on(rt.spawn(async move {
                baton::blocking::section(|| {
                    inner.block_on(async { baton::spawn_on(0, async { 6 }).await.unwrap() })
                })
            }))
            .unwrap();
        drop(rt);
        out
    });
    assert_eq!(out, 6);
}

#[test]
fn in_an_unblock_closure_it_runs_the_future() {
    let out = within_a_minute(|| {
        let rt = baton::Runtime::builder().cores(1).build().unwrap();
        rt.block_on(rt.spawn(async {
            let handle = baton::Handle::current();
            baton::blocking::unblock(move || {
                handle.block_on(async { baton::spawn(async { 8 }).await.unwrap() })
            })
            .await
        }))
        .unwrap()
    });
    assert_eq!(out, 8);
}

/// Many tasks on two cores each block on a future in a section at once: every worker may be
/// in a section, and the tasks their futures spawn still all run. (Fewer of them than a
/// core's default thread cap, `DEFAULT_MAX_THREADS_PER_CORE`: at the cap a section gets no
/// replacement.)
#[test]
fn many_tasks_blocking_on_futures_in_sections_all_finish() {
    let out = within_a_minute(|| {
        const { assert!(8 < baton::DEFAULT_MAX_THREADS_PER_CORE) };
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let tasks: Vec<_> = (0..8u64)
            .map(|i| {
                rt.spawn(async move {
                    let handle = baton::Handle::current();
                    baton::blocking::section(|| {
                        handle
                            .block_on(async move { baton::spawn(async move { i }).await.unwrap() })
                    })
                })
            })
            .collect();
        rt.block_on(async {
            let mut sum = 0;
            for task in tasks {
                sum += task.await.unwrap();
            }
            sum
        })
    });
    assert_eq!(out, (0..8).sum::<u64>());
}
