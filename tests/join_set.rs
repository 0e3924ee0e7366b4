//! `task::JoinSet`: outputs in completion order, none lost (finished before the join, or
//! finishing while the set is polled), abort on drop, `abort_all`, `shutdown`, `detach_all`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use baton::task::JoinSet;
use futures::channel::oneshot;

/// Runs `f` on a thread of its own; fails the test if it has not returned within a minute (a
/// hang guard for lost wake-ups, never a timing assertion).
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the set never returned (lost wake-up?)")
}

/// Counts its drops: shows that a task's future was dropped (aborted tasks' futures are).
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn outputs_come_in_completion_order_not_spawn_order() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let mut set = JoinSet::new();
        let mut gates = Vec::new();
        for i in 0..4usize {
            let (tx, rx) = oneshot::channel::<()>();
            gates.push(Some(tx));
            set.spawn(async move {
                rx.await.unwrap();
                i
            });
        }
        assert_eq!(set.len(), 4);
        for i in [2usize, 0, 3, 1] {
            gates[i].take().unwrap().send(()).unwrap();
            assert_eq!(set.join_next().await.unwrap().unwrap(), i);
        }
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
    });
}

#[test]
fn tasks_that_finished_before_the_join_are_all_returned() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let mut set = JoinSet::new();
    let (done, finished) = mpsc::channel();
    for i in 0..50usize {
        let done = done.clone();
        set.spawn_with(&rt.handle(), async move {
            done.send(()).unwrap();
            i
        });
    }
    // Every task has run to its end before anyone asks the set.
    for _ in 0..50 {
        finished.recv().unwrap();
    }
    let mut got = rt.block_on(async {
        let mut got = Vec::new();
        while let Some(out) = set.join_next().await {
            got.push(out.unwrap());
        }
        got
    });
    got.sort_unstable();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

/// Many short tasks finishing on two cores while the set is polled from a task: repeated, so a
/// wake-up lost between a task finishing and the set registering its waker would hang a round.
#[test]
fn many_tasks_finishing_concurrently_are_never_missed() {
    let rounds = within_a_minute(|| {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        for round in 0..50usize {
            let sum = rt
                .block_on(rt.spawn(async move {
                    let mut set = JoinSet::new();
                    for i in 0..200usize {
                        set.spawn(async move {
                            if i % 3 == 0 {
                                baton::yield_now().await;
                            }
                            i + round
                        });
                    }
                    let mut sum = 0;
                    let mut joined = 0;
                    while let Some(out) = set.join_next().await {
                        sum += out.unwrap();
                        joined += 1;
                    }
                    assert_eq!(joined, 200);
                    sum
                }))
                .unwrap();
            assert_eq!(sum, (0..200).map(|i| i + round).sum::<usize>());
        }
        50
    });
    assert_eq!(rounds, 50);
}

#[test]
fn try_join_next_returns_only_finished_tasks() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let mut set = JoinSet::new();
    let (tx, rx) = oneshot::channel::<()>();
    set.spawn_with(&rt.handle(), async move {
        rx.await.unwrap();
        7
    });
    assert!(set.try_join_next().is_none());
    assert_eq!(set.len(), 1);
    tx.send(()).unwrap();
    let out = loop {
        if let Some(out) = set.try_join_next() {
            break out;
        }
        std::thread::yield_now();
    };
    assert_eq!(out.unwrap(), 7);
    assert!(set.is_empty());
    assert!(set.try_join_next().is_none());
}

#[test]
fn a_panicking_task_is_returned_as_an_error_and_the_others_go_on() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let mut set = JoinSet::new();
        set.spawn(async { panic!("boom") });
        set.spawn(async { 1 });
        let mut results: Vec<_> = Vec::new();
        while let Some(out) = set.join_next().await {
            results.push(out);
        }
        assert_eq!(results.len(), 2);
        assert_eq!(results.iter().filter(|r| matches!(r, Ok(1))).count(), 1);
        let err = results.into_iter().find_map(Result::err).unwrap();
        assert!(err.is_panic());
    });
}

#[test]
fn abort_all_cancels_the_tasks_which_the_joins_then_return() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&dropped);
    rt.block_on(async move {
        let mut set = JoinSet::new();
        for _ in 0..5 {
            let guard = DropCounter(Arc::clone(&d));
            set.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
        }
        set.spawn(async {});
        // The finished one comes back with its output, the others cancelled.
        assert!(set.join_next().await.unwrap().is_ok());
        set.abort_all();
        let mut cancelled = 0;
        while let Some(out) = set.join_next().await {
            assert!(out.unwrap_err().is_cancelled());
            cancelled += 1;
        }
        assert_eq!(cancelled, 5);
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 5);
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let (gone, all_gone) = mpsc::channel();
    let mut set = JoinSet::new();
    for _ in 0..4 {
        let gone = gone.clone();
        // Sends when the future is dropped, whether or not it was ever polled.
        let on_drop = Defer(Some(move || gone.send(()).unwrap()));
        set.spawn_with(&rt.handle(), async move {
            let _on_drop = on_drop;
            std::future::pending::<()>().await;
        });
    }
    drop(gone);
    drop(set);
    // Each of the four futures is dropped (the runtime is still running: only the abort can
    // have dropped them).
    for _ in 0..4 {
        all_gone
            .recv_timeout(Duration::from_secs(60))
            .expect("a task of a dropped set was not aborted");
    }
}

#[test]
fn shutdown_aborts_and_waits_for_every_task() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&dropped);
    rt.block_on(async move {
        let mut set = JoinSet::new();
        for _ in 0..6 {
            let guard = DropCounter(Arc::clone(&d));
            set.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
        }
        set.shutdown().await;
        assert!(set.is_empty());
        // Every future was dropped before shutdown returned.
        assert_eq!(d.load(Ordering::SeqCst), 6);
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 6);
}

#[test]
fn detached_tasks_run_on_after_the_set_is_dropped() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let (tx, rx) = mpsc::channel();
    let (go, gate) = async_channel::bounded::<()>(1);
    let mut set = JoinSet::new();
    for i in 0..3 {
        let tx = tx.clone();
        let gate = gate.clone();
        set.spawn_with(&rt.handle(), async move {
            let _ = gate.recv().await;
            tx.send(i).unwrap();
        });
    }
    set.detach_all();
    assert!(set.is_empty());
    drop(set);
    // Opened only after the set is gone: the tasks were neither aborted nor finished yet.
    go.close();
    let mut got: Vec<i32> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(60)).unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn insert_adopts_named_tasks_and_spawn_on_pins() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let mut set = JoinSet::new();
        set.insert(
            baton::task::Builder::new()
                .name("named")
                .spawn(async { panic!("oops") }),
        );
        let err = set.join_next().await.unwrap().unwrap_err();
        assert_eq!(err.name(), Some("named"));
        let mut set = JoinSet::new();
        set.spawn_on(1, async { baton::current_core() });
        assert_eq!(set.join_next().await.unwrap().unwrap(), Some(1));
    });
}

#[test]
#[should_panic(expected = "already returned its task's output")]
fn inserting_an_awaited_handle_panics() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let mut handle = rt.spawn(async { 1 });
    rt.block_on(&mut handle).unwrap();
    JoinSet::new().insert(handle);
}

/// Runs a closure when dropped.
struct Defer<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for Defer<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}
