//! Adversarial tests under a real thread limit (`RLIMIT_NPROC`, as a cgroup's `pids.max`
//! would): wherever baton starts a thread (workers and spares at build, the monitor, a work
//! queue's rescuer, the unblock pool, the thread that cancels a straggler's task after
//! shutdown), a refusal is an error or a documented fallback: never a hang, an abort, a lost
//! task or a thread left behind.
//!
//! Each test re-runs itself as a child process under an unprivileged uid of its own (see
//! `common/limited.rs`), so the limit counts only the child's threads.
#![cfg(target_os = "linux")]

use std::sync::mpsc;
use std::time::Duration;

mod common;
#[path = "common/limited.rs"]
mod limited;
mod watchdog;

use limited::{set_thread_limit, threads_of_uid};

/// Set in the child's environment.
const CHILD: &str = "BATON_ADVERSARIAL_THREAD_LIMIT_CHILD";

/// No limit to speak of: the hard limit, which `set_thread_limit` clamps to.
const UNLIMITED: u64 = u64::MAX;

/// Runs a runtime's basic duties: tasks on every core, a blocking section, a timer, an
/// unblock job and a work queue; panics if one goes wrong.
fn exercise(rt: &baton::Runtime) {
    let q = baton::WorkQueue::builder("exercise")
        .max_active(1)
        .build(&rt.handle())
        .unwrap();
    let tasks: Vec<_> = (0..rt.handle().cores())
        .map(|core| {
            rt.handle().spawn_on(core, async move {
                baton::blocking::section(|| std::thread::sleep(Duration::from_millis(1)));
                baton::time::sleep(Duration::from_millis(1)).await;
                core
            })
        })
        .collect();
    let queued: Vec<_> = (0..4).map(|i| q.spawn(async move { i })).collect();
    rt.block_on(async {
        for (core, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), core);
        }
        for (i, task) in queued.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), i);
        }
        let job = baton::spawn(async { baton::blocking::unblock(|| 6 * 7).await });
        assert_eq!(job.await.unwrap(), 42);
    });
}

#[test]
fn every_thread_refusal_at_build_is_an_error_or_a_working_runtime() {
    limited::run(
        "every_thread_refusal_at_build_is_an_error_or_a_working_runtime",
        CHILD,
        "child: every build under every limit ended well",
        build_sweep,
    );
}

/// The child: builds runtimes (and a rescued queue on each) with room for 0, 1, 2, ... more
/// threads, so that each thread the build starts is, in one round or another, the first to
/// be refused. Each build works or fails with a thread spawn error, and a runtime built
/// does its work whatever it could not start.
fn build_sweep() {
    let uid = limited::uid();
    // Threads that come and go (the membarrier registration, the reactor's helpers) are
    // started once, outside the limit.
    drop(baton::Runtime::builder().cores(2).build().unwrap());
    let (mut built, mut refused, mut rescued) = (0, 0, 0);
    for room in 0..12 {
        // Counted before the watchdog's thread starts, which the limit then leaves no room
        // for: `room` counts from -1.
        let before = threads_of_uid(uid);
        let outcome = watchdog::finishes("a build under a thread limit", move || {
            set_thread_limit(before + room);
            let result = baton::Runtime::builder().cores(2).build();
            match result {
                Ok(rt) => {
                    // Room for the runtime, maybe not for the rescuer, spares or the pool.
                    let rescuer = match baton::WorkQueue::builder("rescued")
                        .rescuer()
                        .build(&rt.handle())
                    {
                        Ok(q) => {
                            assert_eq!(rt.block_on(q.spawn(async { 1 })).unwrap(), 1);
                            true
                        }
                        Err(err) => {
                            assert!(err.is_thread_spawn(), "{err}");
                            false
                        }
                    };
                    exercise(&rt);
                    drop(rt);
                    set_thread_limit(UNLIMITED);
                    Some(rescuer)
                }
                Err(err) => {
                    assert!(err.is_thread_spawn(), "room {room}: {err}");
                    set_thread_limit(UNLIMITED);
                    None
                }
            }
        });
        match outcome {
            None => refused += 1,
            Some(rescuer) => {
                built += 1;
                rescued += usize::from(rescuer);
            }
        }
    }
    println!("child: {refused} builds refused, {built} built, {rescued} of those with a rescuer");
    assert!(refused > 0 && built > 0);
    println!("child: every build under every limit ended well");
}

#[test]
fn a_stragglers_task_is_cancelled_when_no_thread_can_be_started() {
    limited::run(
        "a_stragglers_task_is_cancelled_when_no_thread_can_be_started",
        CHILD,
        "child: the straggler's task was cancelled",
        straggler,
    );
}

/// The child: a task whose poll outlives `shutdown_timeout` wakes itself once shutdown is
/// done; the thread that would cancel it cannot be started, so it is cancelled where it is.
/// Its handle reports the cancellation, and the worker exits.
fn straggler() {
    // The watchdog's thread first: once the limit is set, it could not be started.
    watchdog::finishes("a straggler under a thread limit", straggler_bounded);
    println!("child: the straggler's task was cancelled");
}

fn straggler_bounded() {
    let uid = limited::uid();
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    common::settle(&rt);
    let (in_section_tx, in_section_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let task = rt.spawn(async move {
        baton::blocking::section(|| {
            in_section_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        // Woken by itself after shutdown is done: cancelled by whoever schedules it.
        baton::yield_now().await;
        baton::yield_now().await;
    });
    in_section_rx.recv().unwrap();
    rt.shutdown_timeout(Duration::ZERO);
    // No new thread from here on.
    set_thread_limit(threads_of_uid(uid));
    release_tx.send(()).unwrap();
    let err = futures::executor::block_on(task).unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    set_thread_limit(UNLIMITED);
}

#[test]
fn sections_and_queues_with_no_thread_to_spare() {
    limited::run(
        "sections_and_queues_with_no_thread_to_spare",
        CHILD,
        "child: no thread to spare, nothing lost",
        no_spare,
    );
}

/// The child: once the runtime runs, no thread may be started beyond those that come and go
/// (no spare, no rescuer, an unblock pool thread at most when another thread has exited). Tasks with sections, unblock jobs, delayed and ordered queue
/// tasks, flushes and drains all complete; then the runtime drops with tasks still pending.
fn no_spare() {
    // The watchdog's thread first: once the limit is set, it could not be started.
    watchdog::finishes("work with no thread to spare", no_spare_bounded);
    println!("child: no thread to spare, nothing lost");
}

fn no_spare_bounded() {
    let uid = limited::uid();
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    common::settle(&rt);
    set_thread_limit(threads_of_uid(uid));
    // Refused, unless a thread that comes and goes left meanwhile.
    if let Err(err) = baton::WorkQueue::builder("rescued")
        .rescuer()
        .build(&rt.handle())
    {
        assert!(err.is_thread_spawn(), "{err}");
    }
    let ordered = baton::WorkQueue::builder("ordered")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let one = baton::WorkQueue::builder("one")
        .max_active(1)
        .build(&rt.handle())
        .unwrap();
    let outs = {
        let (ordered, one) = (ordered.clone(), one.clone());
        let handle = rt.handle();
        {
            let mut tasks = Vec::new();
            for i in 0..40u64 {
                let q = if i % 2 == 0 { &ordered } else { &one };
                let job = async move {
                    baton::blocking::section(|| std::thread::sleep(Duration::from_micros(100)));
                    let doubled = baton::blocking::unblock(move || i * 2).await;
                    baton::yield_now().await;
                    doubled
                };
                tasks.push(if i % 5 == 0 {
                    q.spawn_after(Duration::from_micros(i * 10), job)
                } else {
                    q.spawn(job)
                });
            }
            let flush = ordered.flush();
            let drain = one.drain();
            handle.block_on(async move {
                flush.await;
                drain.await;
                let mut outs = Vec::new();
                for task in tasks {
                    outs.push(task.await.unwrap());
                }
                outs
            })
        }
    };
    assert_eq!(outs, (0..40).map(|i| i * 2).collect::<Vec<_>>());
    // Pending work when the runtime drops, still with no thread to spare.
    let pending: Vec<_> = (0..10)
        .map(|_| ordered.spawn(std::future::pending::<()>()))
        .chain((0..10).map(|_| one.spawn(std::future::pending::<()>())))
        .collect();
    drop(rt);
    for task in pending {
        assert!(futures::executor::block_on(task)
            .unwrap_err()
            .is_cancelled());
    }
    set_thread_limit(UNLIMITED);
}
