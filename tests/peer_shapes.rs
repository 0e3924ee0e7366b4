//! Patterns from other runtimes' own test suites (tokio's `rt_common` and `rt_threaded`),
//! written again for baton: shutdown with tasks pending or waking each other, wakes from
//! destructors and thread-locals, spawns from outside under load. (tokio's `hang_on_shutdown`
//! and `many_multishot_futures` shapes are in `shutdown_cancels_before_joining.rs` and
//! `shutdown_never_drops_inside_wake.rs`.) Each runs under a watchdog, so a hang fails the test
//! with its name instead of stalling the suite.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long one pattern may take before it counts as a hang.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread and fails if it does not finish within [`WATCHDOG`].
fn bounded(name: &str, f: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        f();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(WATCHDOG) {
        Ok(()) => thread.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{name} hung for {WATCHDOG:?}"),
    }
}

fn rt(cores: usize) -> baton::Runtime {
    baton::Runtime::builder().cores(cores).build().unwrap()
}

/// Yields once by waking itself (not through `yield_now`, so nothing but the waker is used).
async fn yield_once() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Runs `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

#[test]
fn outstanding_tasks_are_dropped_with_the_runtime() {
    bounded("outstanding_tasks", || {
        for cores in [1, 2] {
            let rt = rt(cores);
            let count = Arc::new(());
            let (polled_tx, polled_rx) = mpsc::channel();
            let c = count.clone();
            rt.spawn(poll_fn(move |_| {
                let _ = polled_tx.send(Arc::strong_count(&c));
                Poll::<()>::Pending
            }));
            assert_eq!(polled_rx.recv().unwrap(), 2);
            drop(rt);
            assert_eq!(
                Arc::strong_count(&count),
                1,
                "the pending task's future was dropped"
            );
        }
    });
}

#[test]
fn block_on_and_tasks_complete_under_load() {
    bounded("complete_under_load", || {
        for cores in [1, 2] {
            let rt = rt(cores);
            rt.block_on(async {
                let spinner = baton::spawn(async {
                    loop {
                        yield_once().await;
                    }
                });
                let (tx1, rx1) = futures::channel::oneshot::channel();
                let (tx2, rx2) = futures::channel::oneshot::channel();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    tx1.send(()).unwrap();
                });
                baton::spawn(async move {
                    rx1.await.unwrap();
                    tx2.send(()).unwrap();
                });
                rx2.await.unwrap();
                spinner.abort();
            });
        }
    });
}

#[test]
fn spawns_from_another_thread_run_under_load() {
    bounded("spawn_from_other_thread_under_load", || {
        for cores in [1, 2] {
            let rt = rt(cores);
            let handle = rt.handle();
            rt.block_on(async move {
                // Every core spins on self-waking tasks that never finish.
                let spinners: Vec<_> = (0..cores * 2)
                    .map(|_| {
                        baton::spawn(async {
                            loop {
                                yield_once().await;
                            }
                        })
                    })
                    .collect();
                for _ in 0..20 {
                    let (tx, rx) = futures::channel::oneshot::channel();
                    let handle = handle.clone();
                    std::thread::spawn(move || {
                        handle.spawn(async move {
                            tx.send(()).unwrap();
                        });
                    });
                    rx.await.unwrap();
                }
                for s in spinners {
                    s.abort();
                }
            });
        }
    });
}

#[test]
fn futures_are_dropped_eagerly_at_shutdown() {
    bounded("eagerly_drops_futures_on_shutdown", || {
        struct Never(mpsc::Sender<()>);
        impl Future for Never {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
                Poll::Pending
            }
        }
        impl Drop for Never {
            fn drop(&mut self) {
                self.0.send(()).unwrap();
            }
        }
        let rt = rt(2);
        let (drop_tx, drop_rx) = mpsc::channel();
        let (run_tx, run_rx) = futures::channel::oneshot::channel();
        rt.block_on(async move {
            baton::spawn(async move {
                run_tx.send(()).unwrap();
                Never(drop_tx).await
            });
            run_rx.await.unwrap();
        });
        drop(rt);
        drop_rx
            .try_recv()
            .expect("the future was dropped before the runtime's drop returned");
    });
}

#[test]
fn tasks_that_wake_each_other_from_destructors_do_not_hang_shutdown() {
    bounded("wake_while_rt_is_dropping", || {
        for _ in 0..20 {
            let (tx1, rx1) = futures::channel::oneshot::channel::<()>();
            let (tx2, rx2) = futures::channel::oneshot::channel::<()>();
            let (polled_tx, polled_rx) = mpsc::channel();
            let rt = rt(2);
            let p = polled_tx.clone();
            rt.spawn(async move {
                let mut tx2 = Some(tx2);
                let _d = OnDrop(move || {
                    let _ = tx2.take().unwrap().send(());
                });
                p.send(()).unwrap();
                let _ = rx1.await;
            });
            rt.spawn(async move {
                let mut tx1 = Some(tx1);
                let _d = OnDrop(move || {
                    let _ = tx1.take().unwrap().send(());
                });
                polled_tx.send(()).unwrap();
                let _ = rx2.await;
            });
            polled_rx.recv().unwrap();
            polled_rx.recv().unwrap();
            // Whichever task is dropped first wakes the other from its destructor.
            drop(rt);
        }
    });
}

#[test]
fn a_wake_under_a_lock_during_shutdown_does_not_deadlock() {
    // One task's destructor wakes the other while holding the lock that the other's
    // destructor takes: the woken task must not be dropped inside that `wake()`.
    bounded("wake_during_shutdown", || {
        struct Shared {
            waker: Option<Waker>,
        }
        struct MyFuture {
            shared: Arc<Mutex<Shared>>,
            put_waker: bool,
        }
        impl Future for MyFuture {
            type Output = ();
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                let me = Pin::into_inner(self);
                let mut lock = me.shared.lock().unwrap();
                if me.put_waker {
                    lock.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
        impl Drop for MyFuture {
            fn drop(&mut self) {
                let mut lock = self.shared.lock().unwrap();
                if !self.put_waker {
                    if let Some(waker) = lock.waker.take() {
                        waker.wake();
                    }
                }
                drop(lock);
            }
        }
        for _ in 0..20 {
            let rt = rt(1);
            let shared = Arc::new(Mutex::new(Shared { waker: None }));
            let (polled_tx, polled_rx) = mpsc::channel();
            let p = polled_tx.clone();
            let s = shared.clone();
            rt.spawn(async move {
                let f = MyFuture {
                    shared: s,
                    put_waker: true,
                };
                p.send(()).unwrap();
                f.await
            });
            rt.spawn(async move {
                let f = MyFuture {
                    shared,
                    put_waker: false,
                };
                polled_tx.send(()).unwrap();
                f.await
            });
            polled_rx.recv().unwrap();
            polled_rx.recv().unwrap();
            rt.block_on(baton::time::sleep(Duration::from_millis(2)));
            drop(rt);
        }
    });
}

#[test]
fn a_runtime_drops_while_another_thread_wakes_its_tasks() {
    bounded("shutdown_concurrent_spawn", || {
        const TASKS: usize = 2_000;
        for _ in 0..5 {
            let (tx, rx) = mpsc::channel();
            let rt = rt(2);
            let mut senders = Vec::with_capacity(TASKS);
            for _ in 0..TASKS {
                let (tx, rx) = futures::channel::oneshot::channel::<()>();
                senders.push(tx);
                rt.spawn(async move {
                    let _ = rx.await;
                });
            }
            rt.block_on(baton::yield_now());
            let th = std::thread::spawn(move || {
                tx.send(()).unwrap();
                for tx in senders.drain(..) {
                    let _ = tx.send(());
                }
            });
            rx.recv().unwrap();
            drop(rt);
            th.join().unwrap();
        }
    });
}

#[test]
fn a_waker_kept_in_a_thread_local_outlives_the_runtime() {
    for by_ref in [true, false] {
        bounded("wake_from_thread_local", move || {
            struct Kept {
                by_ref: bool,
                waker: Option<Waker>,
                done: mpsc::Sender<()>,
            }
            impl Drop for Kept {
                fn drop(&mut self) {
                    let waker = self.waker.take().unwrap();
                    if self.by_ref {
                        waker.wake_by_ref();
                    } else {
                        waker.wake();
                    }
                    let _ = self.done.send(());
                }
            }
            thread_local! {
                static KEPT: std::cell::RefCell<Option<Kept>> =
                    const { std::cell::RefCell::new(None) };
            }
            let (done_tx, done_rx) = mpsc::channel();
            std::thread::spawn(move || {
                let rt = rt(1);
                rt.block_on(rt.spawn(poll_fn(move |cx| {
                    let kept = Kept {
                        by_ref,
                        waker: Some(cx.waker().clone()),
                        done: done_tx.clone(),
                    };
                    KEPT.with(|k| *k.borrow_mut() = Some(kept));
                    Poll::Ready(())
                })))
                .unwrap();
            })
            .join()
            .unwrap();
            // The worker thread's thread-local held the waker; it was woken when that thread
            // exited, after the runtime had gone.
            done_rx.recv().unwrap();
        });
    }
}

#[test]
fn a_runtime_kept_in_a_thread_local_drops_at_thread_exit() {
    bounded("runtime_in_thread_local", || {
        thread_local! {
            static RT: std::cell::RefCell<Option<baton::Runtime>> =
                const { std::cell::RefCell::new(None) };
        }
        std::thread::spawn(|| {
            RT.with(|cell| *cell.borrow_mut() = Some(rt(1)));
            let _rt = rt(1);
        })
        .join()
        .unwrap();
    });
}

#[test]
fn ping_pong_saturation_lets_another_task_finish() {
    bounded("ping_pong_saturation", || {
        const PAIRS: usize = 50;
        let rt = rt(2);
        let running = Arc::new(AtomicBool::new(true));
        rt.block_on(async {
            let mut tasks = vec![];
            for _ in 0..PAIRS {
                let (tx1, rx1) = async_channel::unbounded::<()>();
                let (tx2, rx2) = async_channel::unbounded::<()>();
                let running = running.clone();
                tasks.push(baton::spawn(async move {
                    while running.load(Ordering::Relaxed) {
                        tx1.send(()).await.unwrap();
                        rx2.recv().await.unwrap();
                    }
                    drop(tx1);
                    assert!(rx2.recv().await.is_err());
                }));
                tasks.push(baton::spawn(async move {
                    while rx1.recv().await.is_ok() {
                        tx2.send(()).await.unwrap();
                    }
                }));
            }
            baton::spawn(async {
                for _ in 0..5 {
                    baton::yield_now().await;
                }
            })
            .await
            .unwrap();
            running.store(false, Ordering::Relaxed);
            for t in tasks {
                t.await.unwrap();
            }
        });
    });
}

#[test]
fn a_task_that_spawns_itself_again_does_not_starve_one_core() {
    // tokio's `lifo_slot_budget`: each task spawns the next one into the next-task slot.
    bounded("lifo_slot_budget", || {
        fn chain(left: Arc<AtomicUsize>) {
            if left.fetch_sub(1, Ordering::Relaxed) > 0 {
                baton::spawn(async move { chain(left) });
            }
        }
        let rt = rt(1);
        let (tx, rx) = futures::channel::oneshot::channel();
        let left = Arc::new(AtomicUsize::new(usize::MAX / 2));
        let l = left.clone();
        rt.spawn(async move {
            baton::spawn(async move { chain(l) });
            let _ = tx.send(());
        });
        rt.block_on(rx).unwrap();
        left.store(0, Ordering::Relaxed);
    });
}

#[test]
fn two_threads_blocking_on_one_runtime_both_progress() {
    // tokio's `always_active_parker`.
    bounded("always_active_parker", || {
        let rt = Arc::new(rt(2));
        let rt2 = rt.clone();
        let (tx1, rx1) = futures::channel::oneshot::channel();
        let (tx2, rx2) = futures::channel::oneshot::channel();
        let a = std::thread::spawn(move || {
            rt.block_on(async move {
                rx2.await.unwrap();
                baton::time::sleep(Duration::from_millis(5)).await;
                tx1.send(()).unwrap();
            })
        });
        let b = std::thread::spawn(move || {
            rt2.block_on(async move {
                tx2.send(()).unwrap();
                baton::time::sleep(Duration::from_millis(5)).await;
                rx1.await.unwrap();
                baton::time::sleep(Duration::from_millis(5)).await;
            })
        });
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn io_wakes_during_shutdown_are_harmless() {
    // tokio's `io_notify_while_shutting_down`: a receiver that blocks its worker briefly after
    // each datagram, a sender on a timer, and the runtime dropped in the middle.
    bounded("io_notify_while_shutting_down", || {
        for _ in 0..10 {
            let rt = rt(2);
            rt.block_on(async {
                let socket = baton::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let addr = socket.local_addr().unwrap();
                let send_half = Arc::new(socket);
                let recv_half = send_half.clone();
                baton::spawn(async move {
                    let mut buf = [0];
                    loop {
                        recv_half.recv_from(&mut buf).await.unwrap();
                        std::thread::sleep(Duration::from_millis(2));
                    }
                });
                baton::spawn(async move {
                    let buf = [0];
                    loop {
                        send_half.send_to(&buf, addr).await.unwrap();
                        baton::time::sleep(Duration::from_millis(1)).await;
                    }
                });
                baton::time::sleep(Duration::from_millis(5)).await;
            });
        }
    });
}

#[test]
fn shutdown_timeout_returns_while_a_section_blocks_forever() {
    bounded("shutdown_timeout", || {
        let rt = rt(1);
        let (entered_tx, entered_rx) = mpsc::channel();
        let (_never_tx, never_rx) = mpsc::channel::<()>();
        rt.spawn(async move {
            baton::blocking::section_long(move || {
                entered_tx.send(()).unwrap();
                let _ = never_rx.recv();
            });
        });
        entered_rx.recv().unwrap();
        assert!(
            !rt.shutdown_timeout(Duration::from_millis(50)),
            "a worker blocked in a section cannot exit in time"
        );
        // `_never_tx` lives until here, so the section is still blocked when shutdown returns.
    });
}

#[test]
fn a_task_that_panics_has_its_future_dropped_and_its_handle_told() {
    bounded("panic_in_task", || {
        struct Boom(Option<mpsc::Sender<()>>);
        impl Future for Boom {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
                panic!("boom");
            }
        }
        impl Drop for Boom {
            fn drop(&mut self) {
                self.0.take().unwrap().send(()).unwrap();
            }
        }
        let rt = rt(2);
        let (tx, rx) = mpsc::channel();
        let handle = rt.spawn(Boom(Some(tx)));
        assert!(rt.block_on(handle).unwrap_err().is_panic());
        rx.recv_timeout(WATCHDOG)
            .expect("the panicked future was dropped");
    });
}
