//! An ordered queue's tasks keep their turn through every way a task can wait: woken from a
//! thread outside the runtime, aborted while it waits, and its counts read while it waits.

use std::sync::{Arc, Mutex};

fn ordered(rt: &baton::Runtime, name: &str) -> baton::WorkQueue {
    baton::WorkQueue::builder(name)
        .ordered()
        .build(&rt.handle())
        .unwrap()
}

#[test]
fn a_task_woken_from_outside_the_runtime_keeps_the_turn() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = ordered(&rt, "woken");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let first = {
        let log = log.clone();
        q.spawn(async move {
            let value = rx.await.unwrap();
            log.lock().unwrap().push(value);
        })
    };
    let second = {
        let log = log.clone();
        q.spawn(async move { log.lock().unwrap().push(2) })
    };
    // The first task holds the turn until it is woken, however long that takes.
    assert!(log.lock().unwrap().is_empty());
    assert!(!second.is_finished());
    tx.send(1).unwrap();
    rt.block_on(async {
        second.await.unwrap();
        first.await.unwrap();
    });
    assert_eq!(*log.lock().unwrap(), [1, 2]);
    assert_eq!(q.stats().completed, 2);
}

#[test]
fn aborting_the_waiting_task_passes_the_turn_on() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = ordered(&rt, "aborted");
    let (started, wait_started) = std::sync::mpsc::channel::<()>();
    let stuck = q.spawn(async move {
        started.send(()).unwrap();
        std::future::pending::<()>().await;
    });
    let next = q.spawn(async { 7 });
    wait_started.recv().unwrap();
    assert!(!next.is_finished());
    stuck.abort();
    rt.block_on(async {
        assert_eq!(next.await.unwrap(), 7);
        assert!(stuck.await.unwrap_err().is_cancelled());
    });
    let stats = q.stats();
    assert_eq!((stats.started, stats.completed, stats.in_flight), (2, 2, 0));
}

#[test]
fn counts_while_the_first_task_waits() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = ordered(&rt, "counted");
    let (gate, opened) = futures::channel::oneshot::channel::<()>();
    let first = q.spawn(async move { opened.await.unwrap() });
    let rest: Vec<_> = (0..5).map(|i| q.spawn(async move { i })).collect();
    let stats = q.stats();
    assert_eq!(
        (stats.spawned, stats.started, stats.in_flight, stats.waiting),
        (6, 1, 1, 5),
        "{stats:?}"
    );
    gate.send(()).unwrap();
    rt.block_on(async {
        first.await.unwrap();
        for (i, h) in rest.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), i);
        }
    });
    rt.block_on(q.flush());
    let stats = q.stats();
    assert_eq!(
        (
            stats.started,
            stats.completed,
            stats.in_flight,
            stats.waiting
        ),
        (6, 6, 0, 0),
        "{stats:?}"
    );
}

#[test]
fn a_task_awaiting_a_flush_of_earlier_tasks_completes() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = ordered(&rt, "awaits-flush");
    let (gate, opened) = futures::channel::oneshot::channel::<()>();
    let first = q.spawn(async move { opened.await.unwrap() });
    let second = q.spawn(async {});
    // Covers `first` and `second`; awaited by a task of the same queue queued after them.
    let flush = q.flush();
    let third = q.spawn(async move {
        flush.await;
        3
    });
    gate.send(()).unwrap();
    let out = rt.block_on(async {
        first.await.unwrap();
        second.await.unwrap();
        third.await.unwrap()
    });
    assert_eq!(out, 3);
}

#[test]
fn a_flush_does_not_wait_for_a_task_queued_after_it() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = ordered(&rt, "flush-boundary");
    let (gate, opened) = futures::channel::oneshot::channel::<()>();
    let first = q.spawn(async move { opened.await.unwrap() });
    let second = q.spawn(async {});
    let flush = q.flush();
    // Queued after the flush, this task blocks until the flush has returned: if the flush
    // waited for it, neither would ever finish.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let third = q.spawn(async move {
        baton::blocking::section(|| released.recv().unwrap());
    });
    gate.send(()).unwrap();
    let (flushed, done) = std::sync::mpsc::channel();
    let outcome = std::thread::scope(|scope| {
        scope.spawn(|| {
            rt.block_on(flush);
            flushed.send(()).unwrap();
        });
        let outcome = done.recv_timeout(std::time::Duration::from_secs(30));
        // Release the third task either way, so the flusher and the runtime can finish.
        release.send(()).unwrap();
        outcome
    });
    assert!(
        outcome.is_ok(),
        "the flush waited for a task queued after it"
    );
    rt.block_on(async {
        first.await.unwrap();
        second.await.unwrap();
        third.await.unwrap();
    });
    assert_eq!(q.stats().completed, 3);
}
