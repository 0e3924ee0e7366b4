//! A thread limit stalls nothing: when the OS refuses new worker threads (RLIMIT_NPROC, a
//! cgroup's pids.max), sections run without replacement, every task still finishes, and the
//! counts stay exact (a failed spawn is counted in `spawn_failures`, not as a thread started).
//!
//! The limit is real: the test re-runs itself as a child process under an unprivileged user
//! (root ignores RLIMIT_NPROC), and the child lowers its own RLIMIT_NPROC to a couple of threads
//! above what it already runs once its runtime has started, so that only some of the spares the
//! runtime wants can be created.
#![cfg(target_os = "linux")]

use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
#[path = "common/limited.rs"]
mod limited;

use limited::{set_thread_limit, threads_of_uid};

/// Set in the child's environment.
const CHILD: &str = "BATON_THREAD_LIMIT_CHILD";
/// Tasks of the workload, each with one blocking section among yields.
const TASKS: usize = 2_000;
/// What a section blocks for.
const BLOCK: Duration = Duration::from_millis(1);
/// Threads the child may start beyond those it runs when the limit is set.
const HEADROOM: u64 = 2;
/// How long the child's workload may take before it reports a stall.
const CHILD_WATCHDOG: Duration = Duration::from_secs(60);

#[test]
fn a_thread_limit_stalls_nothing() {
    limited::run(
        "a_thread_limit_stalls_nothing",
        CHILD,
        "child: a runtime that cannot start",
        child,
    );
}

/// The child: a runtime under a thread limit runs a workload of blocking sections.
fn child() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    common::settle(&rt);
    // The watchdog first: once the limit is set, it could not be started.
    let (done, finished) = mpsc::channel::<()>();
    let handle = rt.handle();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(CHILD_WATCHDOG).is_err() {
            eprintln!(
                "child: the workload stalled for {CHILD_WATCHDOG:?}\n{}",
                handle.stats()
            );
            std::process::exit(2);
        }
    });
    let uid = limited::uid();
    let limit = threads_of_uid(uid) + HEADROOM;
    set_thread_limit(limit);
    println!("child: uid {uid}, at most {limit} threads for this user");

    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            rt.spawn(async {
                baton::yield_now().await;
                baton::blocking::section(|| std::thread::sleep(BLOCK));
                baton::yield_now().await;
            })
        })
        .collect();
    rt.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
    let _ = done.send(());
    watchdog.join().unwrap();
    println!("child: every task finished in {:?}", start.elapsed());

    // Once idle, the counts add up: every thread started is a worker or was reaped, and every
    // worker is running, a spare, or in a section.
    let mut stats = common::settle(&rt);
    for _ in 0..5000 {
        let settled = stats.cores.iter().all(|c| {
            c.running + c.spares + c.in_section == c.workers
                && c.threads_started - c.threads_reaped == c.workers
        });
        if settled {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        stats = rt.stats();
    }
    println!("{stats}");
    let failures: u64 = stats.cores.iter().map(|c| c.spawn_failures).sum();
    assert!(failures > 0, "no spawn was refused: {stats}");
    for c in &stats.cores {
        assert_eq!(c.running + c.spares + c.in_section, c.workers, "{stats}");
        assert_eq!(c.threads_started - c.threads_reaped, c.workers, "{stats}");
    }

    // No room for another thread: `unblock` cannot start its pool's first thread, so its job
    // runs on the runtime's workers instead, and is not lost.
    set_thread_limit(threads_of_uid(uid));
    let (out, core) = rt
        .block_on(
            rt.spawn(async { baton::blocking::unblock(|| (6 * 7, baton::current_core())).await }),
        )
        .unwrap();
    assert_eq!(out, 42);
    assert!(
        core.is_some(),
        "the job did not run on the runtime's workers"
    );
    let unblock = rt.stats().unblock;
    assert!(unblock.spawn_failures >= 1, "{unblock:?}");
    assert_eq!(unblock.threads_started, 0, "{unblock:?}");
    println!("child: an unblock job whose pool cannot start a thread still runs: {unblock:?}");

    // Room for one thread only: a second runtime starts a worker for its first core and none
    // for its second, so it fails to build, and stops the thread it started.
    let before = threads_of_uid(uid);
    set_thread_limit(before + 1);
    let err = baton::Runtime::builder().cores(2).build().unwrap_err();
    assert!(err.is_thread_spawn(), "{err}");
    assert_eq!(
        threads_of_uid(uid),
        before,
        "a failed build left threads behind"
    );
    println!("child: a runtime that cannot start a worker per core fails to build: {err}");
}
