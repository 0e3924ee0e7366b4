//! Adversarial tests of panicking destructors and panicking wakers wherever a task or its
//! output is dropped or woken: `JoinSet`'s drop, `LocalSet`'s drop, `block_on`, join handles,
//! timers and work queue flushes. None of them may abort the process, hang, or take down a
//! worker; the runtime keeps working afterwards.

mod watchdog;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Counts its drop, then panics.
#[derive(Debug)]
struct PanicOnDrop(Arc<AtomicUsize>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("drop boom");
    }
}

/// A task that waits for ever holding a `PanicOnDrop`.
async fn pending_with(guard: PanicOnDrop) {
    let _guard = guard;
    std::future::pending::<()>().await;
}

/// A waker that panics whenever it is woken, after counting the wake.
struct PanickingWaker(AtomicUsize);

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("waker boom");
    }
}

fn panicking_waker() -> (Arc<PanickingWaker>, Waker) {
    let inner = Arc::new(PanickingWaker(AtomicUsize::new(0)));
    (inner.clone(), Waker::from(inner))
}

/// Checks that every core of `rt` still runs tasks, and that timers still fire.
fn still_works(rt: &baton::Runtime) {
    for core in 0..rt.handle().cores() {
        let task = rt.handle().spawn_on(core, async move {
            baton::time::sleep(Duration::from_millis(1)).await;
            core * 2
        });
        assert_eq!(rt.block_on(task).unwrap(), core * 2);
    }
}

/// Waits until `done` holds, failing the test after the watchdog's bound.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < watchdog::LIMIT, "{what}: never happened");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A `JoinSet` dropped with running tasks whose futures panic when dropped and finished tasks
/// whose outputs panic when dropped, inside a task and outside the runtime.
#[test]
fn join_set_dropped_with_panicking_futures_and_outputs() {
    watchdog::finishes("join sets with panicking drops", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let fill = |drops: &Arc<AtomicUsize>| {
            let mut set = baton::task::JoinSet::new();
            for _ in 0..10 {
                let pending = pending_with(PanicOnDrop(drops.clone()));
                set.spawn(async move {
                    pending.await;
                    None
                });
                let guard = PanicOnDrop(drops.clone());
                set.spawn(async move { Some(guard) });
            }
            set
        };
        // Dropped outside the runtime, on this thread.
        let set = rt.block_on(async { fill(&drops) });
        rt.block_on(baton::yield_now());
        drop(set);
        // Dropped inside a task.
        let inner = drops.clone();
        rt.block_on(rt.spawn(async move {
            let set = fill(&inner);
            baton::yield_now().await;
            drop(set);
        }))
        .unwrap();
        wait_until("every guard dropped", || drops.load(Ordering::SeqCst) == 40);
        still_works(&rt);
    });
}

/// `JoinSet::abort_all` and `join_next` over tasks whose drops panic: each reports the panic
/// or its value's panic, none is lost.
#[test]
fn join_set_abort_all_reports_every_task() {
    watchdog::finishes("join set abort_all with panicking drops", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let results = rt.block_on({
            let drops = drops.clone();
            async move {
                let mut set = baton::task::JoinSet::new();
                for _ in 0..20 {
                    set.spawn(pending_with(PanicOnDrop(drops.clone())));
                }
                baton::yield_now().await;
                set.abort_all();
                let mut results = Vec::new();
                while let Some(result) = set.join_next().await {
                    results.push(result);
                }
                results
            }
        });
        assert_eq!(results.len(), 20);
        for result in results {
            let err = result.unwrap_err();
            assert!(err.is_panic(), "{err}");
        }
        assert_eq!(drops.load(Ordering::SeqCst), 20);
        still_works(&rt);
    });
}

/// A `LocalSet` dropped with local tasks whose futures panic when dropped (spawned directly
/// and through a `JoinSet`), some woken from other threads meanwhile.
#[test]
fn local_set_dropped_with_panicking_tasks() {
    watchdog::finishes("local sets with panicking drops", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let local = baton::task::LocalSet::new();
        let (tx, rx) = async_channel::unbounded::<()>();
        let mut set = baton::task::JoinSet::new();
        let handles: Vec<_> = local.block_on(&rt, async {
            let mut handles = Vec::new();
            for i in 0..10 {
                let guard = PanicOnDrop(drops.clone());
                let rx = rx.clone();
                handles.push(baton::task::spawn_local(async move {
                    let _guard = guard;
                    let _ = rx.recv().await;
                    if i % 2 == 0 {
                        std::future::pending::<()>().await;
                    }
                }));
                set.spawn_local(pending_with(PanicOnDrop(drops.clone())));
            }
            baton::yield_now().await;
            handles
        });
        // Woken from another thread while the set is not running: queued on it.
        drop(tx);
        drop(set);
        drop(local);
        assert_eq!(drops.load(Ordering::SeqCst), 20);
        for handle in handles {
            let err = futures::executor::block_on(handle).unwrap_err();
            assert!(err.is_panic() || err.is_cancelled(), "{err}");
        }
        still_works(&rt);
    });
}

/// Ready at once; panics when dropped.
struct ReadyThenPanics(u8);

impl Future for ReadyThenPanics {
    type Output = u8;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
        Poll::Ready(self.0)
    }
}

impl Drop for ReadyThenPanics {
    fn drop(&mut self) {
        panic!("drop boom");
    }
}

/// `block_on` of a future whose drop panics: the panic reaches the caller (as any panic of the
/// caller's own future does), and the runtime, the handle and a local set keep working.
#[test]
fn block_on_of_a_future_whose_drop_panics() {
    watchdog::finishes("block_on with a panicking drop", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        for round in 0..3 {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match round {
                0 => rt.block_on(ReadyThenPanics(1)),
                1 => rt.handle().block_on(ReadyThenPanics(2)),
                _ => baton::task::LocalSet::new().block_on(&rt, ReadyThenPanics(3)),
            }));
            let panic = result.unwrap_err();
            assert_eq!(panic.downcast_ref::<&str>(), Some(&"drop boom"));
            still_works(&rt);
        }
        // Inside a blocking section of a task, too.
        let handle = rt.handle();
        let task = rt.spawn(async move {
            baton::blocking::section(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle.block_on(ReadyThenPanics(4))
                }))
                .is_err()
            })
        });
        assert!(rt.block_on(task).unwrap());
        still_works(&rt);
    });
}

/// A join handle polled with a waker that panics: the task completes on a worker, whose wake of
/// the handle panics. The worker survives, the handle still yields the value, and the runtime
/// drops without hanging.
#[test]
fn join_handle_with_a_panicking_waker() {
    watchdog::finishes("join handles with panicking wakers", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let (woken, waker) = panicking_waker();
        let mut handles = Vec::new();
        let (release_tx, release_rx) = async_channel::bounded::<()>(1);
        for i in 0..8usize {
            let release_rx = release_rx.clone();
            let mut handle = rt.spawn(async move {
                let _ = release_rx.recv().await;
                i
            });
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut handle).poll(&mut cx).is_pending());
            handles.push(handle);
        }
        drop(release_tx);
        wait_until("every handle woken", || {
            woken.0.load(Ordering::SeqCst) >= handles.len()
        });
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(rt.block_on(handle).unwrap(), i);
        }
        still_works(&rt);
        drop(rt);
    });
}

/// A timer polled with a waker that panics: the timer fires (wherever the runtime fires
/// timers), its wake panics; other timers still fire, tasks still run, and the runtime drops.
#[test]
fn timer_with_a_panicking_waker() {
    watchdog::finishes("timers with panicking wakers", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let (woken, waker) = panicking_waker();
        let mut sleeps: Vec<_> = {
            let _entered = rt.enter();
            (0..4u64)
                .map(|i| Box::pin(baton::time::sleep(Duration::from_millis(i))))
                .collect()
        };
        let mut cx = Context::from_waker(&waker);
        for sleep in &mut sleeps {
            let _ = sleep.as_mut().poll(&mut cx);
        }
        wait_until("every timer fired", || woken.0.load(Ordering::SeqCst) >= 3);
        still_works(&rt);
        drop(sleeps);
        drop(rt);
    });
}

/// A flush of a work queue polled with a waker that panics: the queue's tasks finish on the
/// workers (an ordered queue's runner reports them), whose wake of the flush panics. Every
/// task of the queue still runs and reports its own outcome, later ones included.
#[test]
fn flush_with_a_panicking_waker() {
    watchdog::finishes("flushes with panicking wakers", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        for builder in [
            baton::WorkQueue::builder("one").max_active(1),
            baton::WorkQueue::builder("ordered").ordered(),
        ] {
            let q = builder.build(&rt.handle()).unwrap();
            let (woken, waker) = panicking_waker();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let first = q.spawn(async move {
                baton::blocking::section(|| release_rx.recv().unwrap());
                0
            });
            let mut flush = Box::pin(q.flush());
            let later: Vec<_> = (1..20).map(|i| q.spawn(async move { i })).collect();
            let mut cx = Context::from_waker(&waker);
            assert!(flush.as_mut().poll(&mut cx).is_pending());
            release_tx.send(()).unwrap();
            assert_eq!(rt.block_on(first).unwrap(), 0);
            for (i, handle) in later.into_iter().enumerate() {
                assert_eq!(rt.block_on(handle).unwrap(), i + 1, "{}", q.name());
            }
            wait_until("the flush woken", || woken.0.load(Ordering::SeqCst) >= 1);
            rt.block_on(flush);
            rt.block_on(q.drain());
        }
        still_works(&rt);
    });
}
