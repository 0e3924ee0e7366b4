//! Shapes of blocking sections taken from other runtimes' suites (tokio's `block_in_place`
//! tests in `rt_threaded`): `block_on` inside a section driving timers, I/O and spawned tasks,
//! nested through two sections, coop and yields around sections, a section that panics after
//! its handoff, a resize and a shutdown while a section waits. Each runs under a watchdog, so a
//! hang fails the test with its name instead of stalling the suite.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};

mod watchdog;

use watchdog::finishes;

fn rt(cores: usize) -> baton::Runtime {
    baton::Runtime::builder().cores(cores).build().unwrap()
}

fn handoffs(stats: &baton::Stats) -> u64 {
    stats.cores.iter().map(|c| c.handoffs).sum()
}

/// Blocks the calling section until the runtime has counted one handoff more than `before`,
/// so the section certainly outlived the grace period and was handed off.
fn until_handed_off(handle: &baton::Handle, before: u64) {
    while handoffs(&handle.stats()) == before {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn block_on_in_a_section_drives_timers_io_and_spawned_tasks() {
    finishes("block_on in a section", || {
        let rt = rt(1);
        let out = rt.block_on(rt.spawn(async {
            let handle = baton::Handle::current();
            baton::blocking::section(|| {
                handle.block_on(async {
                    baton::time::sleep(Duration::from_millis(5)).await;
                    let (mut a, mut b) = baton::net::UnixStream::pair().unwrap();
                    // The writer is a task on the core this thread's section handed on.
                    let writer = baton::spawn(async move {
                        a.write_all(b"ping").await.unwrap();
                        a
                    });
                    let mut buf = [0; 4];
                    b.read_exact(&mut buf).await.unwrap();
                    drop(writer.await.unwrap());
                    let n = baton::spawn(async { 41 }).await.unwrap();
                    (buf, n + 1)
                })
            })
        }));
        assert_eq!(out.unwrap(), (*b"ping", 42));
    });
}

#[test]
fn block_on_nests_through_two_sections() {
    finishes("block_on nested through two sections", || {
        let rt = rt(1);
        let out = rt.block_on(rt.spawn(async {
            let handle = baton::Handle::current();
            baton::blocking::section(|| {
                handle.block_on(async {
                    baton::spawn(async {
                        let handle = baton::Handle::current();
                        baton::blocking::section(|| {
                            handle.block_on(async {
                                baton::time::sleep(Duration::from_millis(1)).await;
                                baton::spawn(async { 3 }).await.unwrap()
                            })
                        })
                    })
                    .await
                    .unwrap()
                })
            })
        }));
        assert_eq!(out.unwrap(), 3);
    });
}

/// tokio's `yield_after_block_in_place` and `coop_and_block_in_place`: a task alternating
/// sections with awaits on a channel that always has a message keeps yielding to the others.
#[test]
fn sections_between_awaits_keep_the_task_cooperative() {
    finishes("sections between awaits", || {
        let rt = rt(1);
        let (tx, rx) = async_channel::unbounded::<u32>();
        for i in 0..10_000 {
            tx.try_send(i).unwrap();
        }
        let other_ran = Arc::new(AtomicUsize::new(0));
        let got = rt.block_on(rt.spawn({
            let other_ran = other_ran.clone();
            async move {
                let other = baton::spawn({
                    let other_ran = other_ran.clone();
                    async move {
                        other_ran.fetch_add(1, Ordering::SeqCst);
                    }
                });
                let mut got = 0;
                while let Ok(v) = rx.recv().await {
                    baton::blocking::section(|| assert!(baton::blocking::in_section()));
                    got += 1;
                    if v == 9_999 {
                        break;
                    }
                    if got % 100 == 0 {
                        baton::yield_now().await;
                    }
                }
                other.await.unwrap();
                got
            }
        }));
        assert_eq!(got.unwrap(), 10_000);
        assert_eq!(other_ran.load(Ordering::SeqCst), 1);
        drop(tx);
    });
}

/// A section that panics after the monitor handed its core on: the task fails, and the core's
/// bookkeeping is whole afterwards (tasks run, and a later blocked section is handed off again).
#[test]
fn a_section_that_panics_after_its_handoff_leaves_the_core_whole() {
    finishes("a section panicking after its handoff", || {
        let rt = baton::Runtime::builder()
            .cores(1)
            .grace_period(Duration::from_millis(20))
            .build()
            .unwrap();
        for round in 0..3 {
            let err = rt
                .block_on(rt.spawn(async move {
                    let handle = baton::Handle::current();
                    let before = handoffs(&handle.stats());
                    baton::blocking::section(|| {
                        until_handed_off(&handle, before);
                        panic!("boom {round}");
                    })
                }))
                .unwrap_err();
            assert!(err.is_panic(), "{err}");
            let sum = rt.block_on(async {
                let tasks: Vec<_> = (0..100).map(|i| baton::spawn(async move { i })).collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.unwrap();
                }
                sum
            });
            assert_eq!(sum, 4950);
        }
        let stats = rt.stats();
        assert!(handoffs(&stats) >= 3, "{stats}");
        // Every worker that panicked out of a section is back to a worker or a spare: none
        // stays counted as running or in a section once the runtime is idle.
        let core = &stats.cores[0];
        assert_eq!(core.in_section, 0, "{stats}");
    });
}

/// A section on core 1 takes its own core offline, then comes back: nothing is lost.
#[test]
fn a_section_takes_its_own_core_offline() {
    finishes("set_cores from inside a section", || {
        let rt = rt(2);
        let handle = rt.handle().clone();
        let out = rt.block_on(rt.handle().spawn_on(1, async move {
            let ok = baton::blocking::section(|| handle.set_cores(1));
            ok.unwrap();
            // This task may have moved; it and new tasks still run.
            let tasks: Vec<_> = (0..50).map(|i| baton::spawn(async move { i })).collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            baton::blocking::section(|| handle.set_cores(2)).unwrap();
            sum
        }));
        assert_eq!(out.unwrap(), 1225);
        let on_one = rt.block_on(rt.handle().spawn_on(1, async { baton::current_core() }));
        assert_eq!(on_one.unwrap(), Some(1));
    });
}

/// The runtime drops while a task's section waits in `block_on` for a task that never
/// finishes: shutdown cancels that task, the `block_on` returns, and the drop completes.
#[test]
fn shutdown_while_a_section_waits_in_block_on_for_a_task() {
    finishes("shutdown while a section block_on waits for a task", || {
        let rt = rt(2);
        let (entered_tx, entered_rx) = mpsc::channel();
        let (result_tx, result_rx) = mpsc::channel();
        rt.spawn(async move {
            let handle = baton::Handle::current();
            let forever = baton::spawn(std::future::pending::<()>());
            let joined = baton::blocking::section(|| {
                entered_tx.send(()).unwrap();
                handle.block_on(forever)
            });
            let _ = result_tx.send(joined.map_err(|e| e.is_cancelled()));
        });
        entered_rx.recv().unwrap();
        drop(rt);
        // The section's task may itself be cancelled before it reports; if it reports, the
        // task it waited for was cancelled.
        if let Ok(joined) = result_rx.recv() {
            assert_eq!(joined, Err(true));
        }
    });
}

/// The runtime drops while a task's section waits in `block_on` on a long timer: the drop
/// neither hangs for the timer nor aborts.
#[test]
fn shutdown_while_a_section_waits_in_block_on_for_a_timer() {
    finishes("shutdown while a section block_on sleeps", || {
        let rt = rt(1);
        let (entered_tx, entered_rx) = mpsc::channel();
        let task = rt.spawn(async move {
            let handle = baton::Handle::current();
            baton::blocking::section(|| {
                entered_tx.send(()).unwrap();
                handle.block_on(baton::time::sleep(Duration::from_secs(3600)));
            });
        });
        entered_rx.recv().unwrap();
        drop(rt);
        assert_released(futures::executor::block_on(task));
    });
}

/// The same with the section waiting on a socket no one writes to.
#[test]
fn shutdown_while_a_section_waits_in_block_on_for_io() {
    finishes("shutdown while a section block_on reads", || {
        let rt = rt(1);
        let (entered_tx, entered_rx) = mpsc::channel();
        let (keep_tx, keep_rx) = mpsc::channel();
        let task = rt.spawn(async move {
            let handle = baton::Handle::current();
            let (a, mut b) = baton::net::UnixStream::pair().unwrap();
            keep_tx.send(a).unwrap();
            baton::blocking::section(|| {
                entered_tx.send(()).unwrap();
                let mut buf = [0; 1];
                let _ = handle.block_on(b.read(&mut buf));
            });
        });
        entered_rx.recv().unwrap();
        let _kept = keep_rx.recv().unwrap();
        drop(rt);
        assert_released(futures::executor::block_on(task));
    });
}

/// The same with the wait in an `unblock` job, on the runtime's unbound pool.
#[test]
fn shutdown_while_an_unblock_job_waits_in_block_on_for_io() {
    finishes("shutdown while an unblock job's block_on reads", || {
        let rt = rt(1);
        let (entered_tx, entered_rx) = mpsc::channel();
        let (a, mut b) = rt.block_on(async { baton::net::UnixStream::pair().unwrap() });
        let handle = rt.handle().clone();
        let job = rt.spawn(async move {
            baton::blocking::unblock(move || {
                entered_tx.send(()).unwrap();
                let mut buf = [0; 1];
                handle.block_on(b.read(&mut buf)).map(|_| ())
            })
            .await
        });
        entered_rx.recv().unwrap();
        drop(rt);
        drop(a);
        // The task awaiting the job was cancelled; the job's wait was ended by its panic.
        assert!(futures::executor::block_on(job).unwrap_err().is_cancelled());
    });
}

/// A task whose section's `block_on` waited past the shutdown's cancelling reports the panic
/// that ended the wait (or a cancel, if the shutdown came first), never a hang.
fn assert_released(joined: Result<(), baton::JoinError>) {
    let err = joined.unwrap_err();
    assert!(
        err.is_cancelled()
            || err
                .to_string()
                .contains("was still waiting after its runtime"),
        "{err}"
    );
}

/// Runs 300 ready sleeps under another executor's `block_on` inside a section, after the
/// enclosing poll spent its budget: tokio's `coop_disabled_in_block_in_place`. With the
/// budget in force inside the section, the first sleep would yield for ever.
fn foreign_block_on_in_a_section() -> usize {
    baton::blocking::section(|| {
        futures::executor::block_on(async {
            let mut ready = 0;
            for _ in 0..300 {
                baton::time::sleep(Duration::ZERO).await;
                ready += 1;
            }
            ready
        })
    })
}

/// Spends the cooperative budget of the enclosing poll.
async fn spend_the_budget() {
    for _ in 0..usize::from(baton::coop::BUDGET) * 2 {
        baton::time::sleep(Duration::ZERO).await;
    }
}

#[test]
fn the_budget_is_lifted_inside_a_section_of_a_task() {
    finishes("a foreign block_on in a task's section", || {
        let rt = rt(1);
        let ready = rt.block_on(rt.spawn(async {
            spend_the_budget().await;
            foreign_block_on_in_a_section()
        }));
        assert_eq!(ready.unwrap(), 300);
    });
}

#[test]
fn the_budget_is_lifted_inside_a_section_in_block_on() {
    finishes("a foreign block_on in block_on's section", || {
        let rt = rt(1);
        let ready = rt.block_on(async {
            spend_the_budget().await;
            foreign_block_on_in_a_section()
        });
        assert_eq!(ready, 300);
    });
}
