//! `task::LocalSet` and `spawn_local`: futures that are not `Send` run on the set's thread
//! only, whoever wakes them; they are cancelled on that thread when the set is dropped; and
//! `spawn_local` outside a set panics and says what to do.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::thread::ThreadId;
use std::time::Duration;

use baton::task::{spawn_local, LocalSet};

/// Runs `f` on a thread of its own; fails the test if it has not returned within a minute (a
/// hang guard for lost wake-ups, never a timing assertion).
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the local set never finished (lost wake-up?)")
}

/// Records the thread of every poll of the future it wraps.
async fn record_threads<F: std::future::Future>(
    seen: Rc<RefCell<Vec<ThreadId>>>,
    future: F,
) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        seen.borrow_mut().push(std::thread::current().id());
        future.as_mut().poll(cx)
    })
    .await
}

#[test]
fn not_send_tasks_run_only_on_the_sets_thread_whoever_wakes_them() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let here = std::thread::current().id();
    let local = LocalSet::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let total = local.block_on(&rt, async {
        let mut tasks = Vec::new();
        for i in 0..20u64 {
            let value = Rc::new(Cell::new(i));
            let seen = Rc::clone(&seen);
            tasks.push(spawn_local(record_threads(seen, async move {
                baton::yield_now().await;
                // Woken by the reactor's timer.
                baton::time::sleep(Duration::from_millis(1)).await;
                // Woken by a worker thread that completes a task.
                let doubled = baton::spawn(async move { i * 2 }).await.unwrap();
                // Woken by a thread of our own.
                let (tx, rx) = futures::channel::oneshot::channel();
                std::thread::spawn(move || tx.send(1u64).unwrap());
                let one = rx.await.unwrap();
                value.set(value.get() + doubled + one);
                value.get()
            })));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total
    });
    assert_eq!(total, (0..20).map(|i| i * 3 + 1).sum::<u64>());
    let seen = seen.borrow();
    // Each task was polled at least three times: first, after its yield, after its sleep. (The
    // join and the channel may be ready at their first poll: the other thread can be done
    // before it is awaited.)
    assert!(seen.len() >= 20 * 3, "{} polls", seen.len());
    assert!(
        seen.iter().all(|&id| id == here),
        "a local task ran on another thread"
    );
}

#[test]
fn spawn_local_outside_a_set_panics_and_says_to_use_one() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    // In block_on without a set.
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { drop(spawn_local(async {})) })
    }))
    .unwrap_err();
    let message = err.downcast_ref::<String>().unwrap();
    assert!(message.contains("outside a LocalSet"), "{message}");
    assert!(message.contains("LocalSet::run_until"), "{message}");
    assert!(message.contains(file!()), "{message}");
    // In an ordinary task.
    let err = rt
        .block_on(rt.spawn(async {
            drop(spawn_local(async {}));
        }))
        .unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("outside a LocalSet"), "{err}");
}

#[test]
fn tasks_wait_in_the_set_between_runs() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let local = LocalSet::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = Rc::clone(&log);
    // Spawned before any run: it has not run yet.
    let first = local.spawn_local(async move { l.borrow_mut().push("first") });
    assert!(log.borrow().is_empty());
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let l = Rc::clone(&log);
    let second = local.spawn_local(async move {
        rx.await.unwrap();
        l.borrow_mut().push("second");
    });
    local.block_on(&rt, first).unwrap();
    assert_eq!(*log.borrow(), ["first"]);
    // `second` is still in the set, waiting; the next run finishes it.
    tx.send(()).unwrap();
    local.block_on(&rt, second).unwrap();
    assert_eq!(*log.borrow(), ["first", "second"]);
}

/// Counts its drops and checks the thread it is dropped on.
struct DropCheck {
    drops: Rc<Cell<usize>>,
    thread: ThreadId,
}

impl Drop for DropCheck {
    fn drop(&mut self) {
        assert_eq!(std::thread::current().id(), self.thread);
        self.drops.set(self.drops.get() + 1);
    }
}

#[test]
fn dropping_the_set_cancels_its_tasks_on_its_thread() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let drops = Rc::new(Cell::new(0));
    let local = LocalSet::new();
    let mut handles = Vec::new();
    for started in [true, false] {
        for _ in 0..3 {
            let check = DropCheck {
                drops: Rc::clone(&drops),
                thread: std::thread::current().id(),
            };
            let handle = local.spawn_local(async move {
                let _check = check;
                std::future::pending::<()>().await;
            });
            if started {
                // Polled once, now pending: woken by nothing.
                local.block_on(&rt, baton::yield_now());
            }
            handles.push(handle);
        }
    }
    // One of them is woken from another thread before the drop: queued, never run.
    handles[0].abort();
    assert_eq!(drops.get(), 0);
    drop(local);
    assert_eq!(drops.get(), 6);
    for handle in handles {
        assert!(futures::executor::block_on(handle)
            .unwrap_err()
            .is_cancelled());
    }
}

#[test]
fn abort_and_panics_of_local_tasks_are_reported() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    LocalSet::new().block_on(&rt, async {
        let pending = spawn_local(std::future::pending::<()>());
        pending.abort();
        assert!(pending.await.unwrap_err().is_cancelled());
        let err = spawn_local(async { panic!("local boom") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("local boom"), "{err}");
        // The set goes on.
        assert_eq!(spawn_local(async { 3 }).await.unwrap(), 3);
    });
}

#[test]
fn local_tasks_spawn_local_tasks() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let out = LocalSet::new().block_on(&rt, async {
        let counter = Rc::new(Cell::new(0));
        let c = Rc::clone(&counter);
        spawn_local(async move {
            let inner = Rc::clone(&c);
            spawn_local(async move { inner.set(inner.get() + 10) })
                .await
                .unwrap();
            c.set(c.get() + 1);
        })
        .await
        .unwrap();
        counter.get()
    });
    assert_eq!(out, 11);
}

/// Many local tasks woken from the runtime's workers at once, repeated: a wake lost between a
/// task being queued and the set's runner registering its waker would hang a round.
#[test]
fn many_local_tasks_woken_from_workers_all_finish() {
    let rounds = within_a_minute(|| {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let local = LocalSet::new();
        for round in 0..30usize {
            let sum = local.block_on(&rt, async move {
                let mut set = baton::task::JoinSet::new();
                for i in 0..100usize {
                    let marker = Rc::new(i);
                    set.spawn_local(async move {
                        let (tx, rx) = async_channel::bounded(1);
                        baton::spawn(async move { tx.send(1usize).await.unwrap() });
                        *marker + round + rx.recv().await.unwrap()
                    });
                }
                let mut sum = 0;
                while let Some(out) = set.join_next().await {
                    sum += out.unwrap();
                }
                sum
            });
            assert_eq!(sum, (0..100).map(|i| i + round + 1).sum::<usize>());
        }
        30
    });
    assert_eq!(rounds, 30);
}

#[test]
fn a_handle_of_a_local_task_with_a_send_output_is_send() {
    let rt = Arc::new(baton::Runtime::builder().cores(1).build().unwrap());
    let local = LocalSet::new();
    let handle = local.spawn_local(async {
        let _not_send = Rc::new(());
        5u32
    });
    // Awaited on another thread, while this one runs the set.
    let waiter = std::thread::spawn(move || futures::executor::block_on(handle).unwrap());
    let (done_tx, done_rx) = futures::channel::oneshot::channel::<()>();
    let watcher = std::thread::spawn(move || {
        let out = waiter.join().unwrap();
        done_tx.send(()).unwrap();
        out
    });
    local.block_on(&rt, async { done_rx.await.unwrap() });
    assert_eq!(watcher.join().unwrap(), 5);
}
