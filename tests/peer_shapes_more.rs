//! More patterns from other runtimes' own suites (tokio's `rt_common` and `rt_threaded`,
//! async-executor's): runtimes made and used across each other's threads, spawns from blocking
//! code, handles that outlive their runtime, I/O under a CPU-bound load. Each runs under a
//! watchdog, so a hang fails the test with its name instead of stalling the suite.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};

mod watchdog;

use watchdog::finishes;

fn rt(cores: usize) -> baton::Runtime {
    baton::Runtime::builder().cores(cores).build().unwrap()
}

/// The threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_runtime_made_inside_block_on_is_used_and_dropped_outside() {
    finishes("runtime made inside block_on", || {
        let outer = rt(2);
        let inner = outer.block_on(async { rt(1) });
        let task = inner.spawn(async { 7 });
        assert_eq!(inner.block_on(task).unwrap(), 7);
        assert_eq!(outer.block_on(async { 1 }), 1);
        drop(inner);
        drop(outer);
    });
}

#[test]
fn a_runtime_dropped_inside_another_runtimes_task() {
    finishes("runtime dropped in a task", || {
        let outer = rt(2);
        let inner = rt(1);
        let ran = Arc::new(AtomicUsize::new(0));
        {
            let ran = ran.clone();
            inner.spawn(async move {
                ran.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await
            });
        }
        outer.block_on(async move {
            baton::spawn(async move {
                // Dropping a runtime joins its threads: a blocking act, inside a task.
                baton::blocking::section(move || drop(inner));
            })
            .await
            .unwrap();
        });
        drop(outer);
    });
}

#[test]
fn tasks_spawned_from_an_unblock_closure_run_on_the_runtime() {
    finishes("spawn from unblock", || {
        let rt = rt(2);
        let sum = rt.block_on(async {
            let handle = baton::Handle::current();
            baton::blocking::unblock(move || {
                let tasks: Vec<_> = (0..100u64)
                    .map(|i| handle.spawn(async move { i }))
                    .collect();
                // Blocking on the runtime from its blocking pool: a sleep and the joins.
                handle.block_on(async move {
                    baton::time::sleep(Duration::from_millis(1)).await;
                    let mut sum = 0;
                    for task in tasks {
                        sum += task.await.unwrap();
                    }
                    sum
                })
            })
            .await
        });
        assert_eq!(sum, (0..100).sum::<u64>());
    });
}

#[test]
fn spawn_through_an_enter_guard_then_block_on_the_handle() {
    finishes("enter and spawn", || {
        let rt = rt(2);
        let handle = rt.handle();
        let task = {
            let _guard = rt.enter();
            baton::spawn(async { "entered" })
        };
        assert_eq!(handle.block_on(task).unwrap(), "entered");
    });
}

#[test]
fn a_chain_of_spawns_awaited_through_every_link() {
    finishes("spawn await chain", || {
        let rt = rt(2);
        let out = rt.block_on(async {
            baton::spawn(async {
                baton::spawn(async { baton::spawn(async { "deep" }).await.unwrap() })
                    .await
                    .unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(out, "deep");
    });
}

#[test]
fn many_multi_hop_chains_through_channels() {
    finishes("multi-hop chains", || {
        let rt = rt(2);
        const CHAINS: usize = 200;
        const HOPS: usize = 10;
        let done = rt.block_on(async {
            let (done_tx, mut done_rx) = futures::channel::mpsc::unbounded::<usize>();
            let mut firsts = Vec::new();
            for chain in 0..CHAINS {
                let (first_tx, mut rx) = futures::channel::mpsc::unbounded::<usize>();
                for _ in 0..HOPS {
                    let (tx, next_rx) = futures::channel::mpsc::unbounded::<usize>();
                    baton::spawn(async move {
                        use futures::StreamExt;
                        while let Some(n) = rx.next().await {
                            if tx.unbounded_send(n + 1).is_err() {
                                break;
                            }
                        }
                    });
                    rx = next_rx;
                }
                let done_tx = done_tx.clone();
                baton::spawn(async move {
                    use futures::StreamExt;
                    let n = rx.next().await.unwrap();
                    done_tx.unbounded_send(n).unwrap();
                });
                first_tx.unbounded_send(chain).unwrap();
                firsts.push(first_tx);
            }
            drop(done_tx);
            use futures::StreamExt;
            let mut seen = Vec::new();
            while let Some(n) = done_rx.next().await {
                seen.push(n);
                if seen.len() == CHAINS {
                    break;
                }
            }
            drop(firsts);
            seen
        });
        let mut done = done;
        done.sort_unstable();
        assert_eq!(done, (HOPS..CHAINS + HOPS).collect::<Vec<_>>());
        drop(rt);
    });
}

#[test]
fn a_handle_that_outlives_its_runtime_spawns_cancelled_tasks() {
    finishes("spawn after drop", || {
        let rt = rt(1);
        let handle = rt.handle();
        drop(rt);
        let ran = Arc::new(AtomicUsize::new(0));
        let task = {
            let ran = ran.clone();
            handle.spawn(async move {
                ran.fetch_add(1, Ordering::SeqCst);
            })
        };
        // Awaited from another runtime: the task never runs, and the handle says so.
        let other = rt_other();
        let err = other.block_on(task).unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

fn rt_other() -> baton::Runtime {
    rt(1)
}

#[test]
fn io_completes_while_every_core_spins_on_yields() {
    finishes("io under load", || {
        let rt = rt(2);
        rt.block_on(async {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            // Two CPU-bound tasks per core that yield but never wait.
            for _ in 0..4 {
                let stop = stop.clone();
                baton::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        baton::yield_now().await;
                    }
                });
            }
            let listener = baton::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = baton::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 5];
                socket.read_exact(&mut buf).await.unwrap();
                socket.write_all(&buf).await.unwrap();
            });
            let mut client = baton::net::TcpStream::connect(addr).await.unwrap();
            client.write_all(b"hello").await.unwrap();
            let mut back = [0u8; 5];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"hello");
            server.await.unwrap();
            stop.store(true, Ordering::Relaxed);
        });
    });
}

#[test]
fn a_panic_in_block_on_leaves_the_runtime_usable() {
    finishes("panic in block_on", || {
        let rt = rt(2);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async { panic!("boom in block_on") })
        }));
        assert!(caught.is_err());
        assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
    });
}

#[test]
fn runtimes_made_and_dropped_in_a_loop_leave_no_threads() {
    finishes("runtime churn", || {
        // One runtime first, so process-wide threads (detection's, if any) exist already.
        drop(rt(2));
        let before = threads();
        for _ in 0..50 {
            let rt = rt(2);
            rt.block_on(async {
                let tasks: Vec<_> = (0..20)
                    .map(|_| {
                        baton::spawn(async {
                            baton::blocking::section(|| {
                                std::thread::sleep(Duration::from_micros(200))
                            })
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            });
            drop(rt);
        }
        let after = threads();
        assert!(
            after <= before,
            "threads before {before}, after 50 runtimes {after}"
        );
    });
}

#[test]
fn a_join_handle_awaited_on_another_runtime() {
    finishes("cross-runtime join", || {
        let a = rt(1);
        let b = rt(1);
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let task = a.spawn(async move { rx.await.unwrap() * 2 });
        let waiter = b.spawn(async move { task.await.unwrap() });
        tx.send(21).unwrap();
        assert_eq!(b.block_on(waiter).unwrap(), 42);
    });
}

#[test]
fn a_waker_from_a_dropped_runtime_is_harmless_in_another() {
    finishes("stale waker", || {
        let a = rt(1);
        let (waker_tx, waker_rx) = mpsc::channel();
        a.spawn(poll_fn(move |cx| {
            let _ = waker_tx.send(cx.waker().clone());
            Poll::<()>::Pending
        }));
        let waker = waker_rx.recv().unwrap();
        drop(a);
        let b = rt(1);
        b.block_on(async move {
            waker.wake_by_ref();
            baton::spawn(async move { waker.wake() }).await.unwrap();
        });
    });
}

/// Runs `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

#[test]
fn a_destructor_that_spawns_during_shutdown_gets_a_cancelled_task() {
    finishes("spawn from a destructor at shutdown", || {
        let rt = rt(2);
        let (outcome_tx, outcome_rx) = mpsc::channel();
        let (started_tx, started_rx) = mpsc::channel();
        for _ in 0..8 {
            let outcome_tx = outcome_tx.clone();
            let started_tx = started_tx.clone();
            rt.spawn(async move {
                let _spawns_when_dropped = OnDrop(move || {
                    // Shutdown drops this future: the runtime is still current, and a spawn
                    // now must not panic, hang or run the task.
                    let task = baton::spawn(async { "ran" });
                    let _ = outcome_tx.send(futures::executor::block_on(task));
                });
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await
            });
        }
        drop(outcome_tx);
        for _ in 0..8 {
            started_rx.recv().unwrap();
        }
        drop(rt);
        let outcomes: Vec<_> = outcome_rx.iter().collect();
        assert_eq!(outcomes.len(), 8);
        for outcome in outcomes {
            assert!(outcome.unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn block_on_inside_unblock_inside_a_task_inside_block_on() {
    finishes("nested block_on through unblock", || {
        let rt = rt(1);
        let out = rt.block_on(async {
            baton::spawn(async {
                let handle = baton::Handle::current();
                baton::blocking::unblock(move || {
                    handle.block_on(async { baton::spawn(async { 5 }).await.unwrap() + 1 })
                })
                .await
            })
            .await
            .unwrap()
        });
        assert_eq!(out, 6);
    });
}

#[test]
fn a_section_per_core_blocks_while_a_timer_must_fire() {
    finishes("timer behind sections", || {
        let rt = rt(2);
        rt.block_on(async {
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
            // Every core's worker enters a section that waits for the timer's task to fire.
            let blockers: Vec<_> = (0..2)
                .map(|_| {
                    let release_rx = release_rx.clone();
                    baton::spawn(async move {
                        baton::blocking::section(move || {
                            let _ = release_rx.lock().unwrap().recv();
                        })
                    })
                })
                .collect();
            baton::time::sleep(Duration::from_millis(5)).await;
            drop(release_tx);
            for blocker in blockers {
                blocker.await.unwrap();
            }
        });
    });
}

/// What a destructor of a task cancelled at shutdown waits for, in [`waits_in_destructors`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wait {
    QueueJob,
    OrderedJob,
    Unblock,
    Section,
    Flush,
}

/// Drops a runtime whose tasks' destructors each wait for one of `waits` (with
/// `futures::executor::block_on`, as code that knows nothing of the runtime would); returns
/// what each wait gave: `Ok(())`, or the panic message.
fn waits_in_destructors(waits: &[Wait]) -> Vec<(Wait, Result<(), String>)> {
    let rt = rt(2);
    let queue = baton::WorkQueue::builder("q").build(&rt.handle()).unwrap();
    let ordered = baton::WorkQueue::builder("o")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let (outcome_tx, outcome_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    for &wait in waits {
        let outcome_tx = outcome_tx.clone();
        let started_tx = started_tx.clone();
        let queue = queue.clone();
        let ordered = ordered.clone();
        rt.spawn(async move {
            let _waits_when_dropped = OnDrop(move || {
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match wait {
                        Wait::QueueJob => {
                            let _ = futures::executor::block_on(queue.spawn(async {}));
                        }
                        Wait::OrderedJob => {
                            let _ = futures::executor::block_on(ordered.spawn(async {}));
                        }
                        Wait::Unblock => {
                            futures::executor::block_on(baton::blocking::unblock(|| {}))
                        }
                        Wait::Section => baton::blocking::section(|| {}),
                        Wait::Flush => futures::executor::block_on(queue.flush()),
                    }));
                let outcome = outcome
                    .map_err(|panic| panic.downcast_ref::<String>().cloned().unwrap_or_default());
                let _ = outcome_tx.send((wait, outcome));
            });
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await
        });
    }
    drop(outcome_tx);
    for _ in waits {
        started_rx.recv().unwrap();
    }
    drop(rt);
    outcome_rx.iter().collect()
}

#[test]
fn destructors_at_shutdown_that_wait_for_queues_unblock_and_sections_finish() {
    finishes("waits in destructors at shutdown", || {
        let waits = [
            Wait::QueueJob,
            Wait::OrderedJob,
            Wait::Unblock,
            Wait::Section,
            Wait::Flush,
        ];
        let mut outcomes = waits_in_destructors(&waits);
        outcomes.sort_by_key(|(wait, _)| waits.iter().position(|w| w == wait));
        assert_eq!(outcomes.len(), waits.len(), "{outcomes:?}");
        for ((wait, outcome), expected) in outcomes.into_iter().zip(waits) {
            assert_eq!(wait, expected);
            assert_eq!(outcome, Ok(()), "{wait:?}");
        }
    });
}
