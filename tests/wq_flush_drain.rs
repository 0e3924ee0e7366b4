//! `flush` waits for everything queued before it; `drain` refuses outside spawns, waits until
//! the queue is empty, and lets the queue's own tasks spawn more; `close` refuses for good.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[allow(dead_code)] // `settle` is not needed here
mod common;
use common::panic_message;

#[test]
fn flush_waits_for_earlier_tasks_only() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("flush")
        .max_active(4)
        .build(&rt.handle())
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..500 {
        let done = done.clone();
        drop(q.spawn(async move {
            baton::yield_now().await;
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    // A task queued after the flush that never finishes does not hold the flush up.
    let (tx, rx) = async_channel::bounded::<()>(1);
    rt.block_on(async {
        let flush = q.flush();
        let later = q.spawn(async move { rx.recv().await.unwrap() });
        flush.await;
        assert_eq!(done.load(Ordering::SeqCst), 500);
        tx.send(()).await.unwrap();
        later.await.unwrap();
    });
}

#[test]
fn flush_of_an_empty_queue_returns_at_once() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("empty")
        .build(&rt.handle())
        .unwrap();
    rt.block_on(q.flush());
    rt.block_on(q.drain());
}

#[test]
fn flush_waits_for_a_blocked_ordered_task() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("flush-ordered")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    {
        let finished = finished.clone();
        drop(q.spawn(async move {
            baton::blocking::section(|| std::thread::sleep(Duration::from_millis(20)));
            finished.store(true, Ordering::SeqCst);
        }));
    }
    rt.block_on(q.flush());
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn drain_refuses_outside_spawns_and_accepts_inside_ones() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("drain")
        .build(&rt.handle())
        .unwrap();
    let (open, opened) = async_channel::bounded::<()>(1);
    let (spawned_inside, inside_result) = async_channel::bounded(1);
    let children = Arc::new(AtomicUsize::new(0));
    {
        let (q2, children) = (q.clone(), children.clone());
        drop(q.spawn(async move {
            opened.recv().await.unwrap();
            // From inside the queue, during the drain: accepted, and waited for.
            let child = q2.try_spawn(async move {
                baton::yield_now().await;
                children.fetch_add(1, Ordering::SeqCst);
            });
            spawned_inside.send(child.is_ok()).await.unwrap();
        }));
    }
    rt.block_on(async {
        // The drain starts at the call.
        let drain = q.drain();
        let refused = q.try_spawn(async {}).unwrap_err();
        assert!(refused.is_draining());
        assert!(q.spawn(async {}).await.unwrap_err().is_cancelled());
        open.send(()).await.unwrap();
        drain.await;
        assert!(
            inside_result.recv().await.unwrap(),
            "an inside spawn was refused"
        );
        assert_eq!(
            children.load(Ordering::SeqCst),
            1,
            "drain returned before the child ran"
        );
        // After the drain the queue accepts spawns again.
        assert_eq!(q.spawn(async { 5 }).await.unwrap(), 5);
    });
}

#[test]
fn drain_waits_for_delayed_tasks() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("drain-delayed")
        .build(&rt.handle())
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    {
        let ran = ran.clone();
        drop(q.spawn_after(Duration::from_millis(20), async move {
            ran.store(true, Ordering::SeqCst)
        }));
    }
    rt.block_on(q.drain());
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn close_refuses_new_tasks_and_runs_accepted_ones() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("close")
        .max_active(1)
        .build(&rt.handle())
        .unwrap();
    let accepted: Vec<_> = (0..5).map(|i| q.spawn(async move { i })).collect();
    q.close();
    let err = q.try_spawn(async { 99 }).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(rt.block_on(err.into_inner()), 99);
    assert!(rt
        .block_on(q.spawn_after(Duration::ZERO, async {}))
        .unwrap_err()
        .is_cancelled());
    rt.block_on(async {
        for (i, h) in accepted.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), i);
        }
    });
}

#[test]
fn flush_or_drain_awaited_from_the_queues_own_task_panics_instead_of_hanging() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    for ordered in [false, true] {
        let mut builder = baton::WorkQueue::builder("self-waiting");
        if ordered {
            builder = builder.ordered();
        }
        let q = builder.build(&rt.handle()).unwrap();
        rt.block_on(async {
            let inner = q.clone();
            let flush = q.spawn(async move { inner.flush().await });
            let inner = q.clone();
            let drain = q.spawn(async move { inner.drain().await });
            // A hang guard only: a flush or drain that waits for itself would wait here for ever.
            let guard = Duration::from_secs(60);
            let flushed = baton::time::timeout(guard, flush).await.expect("hung");
            let message = panic_message(flushed.unwrap_err());
            assert!(
                message.contains("WorkQueue::flush") && message.contains("own tasks"),
                "{message}"
            );
            let drained = baton::time::timeout(guard, drain).await.expect("hung");
            let message = panic_message(drained.unwrap_err());
            assert!(
                message.contains("WorkQueue::drain") && message.contains("\"self-waiting\""),
                "{message}"
            );
            // The queue still works, and a flush from outside completes.
            assert_eq!(q.spawn(async { 7 }).await.unwrap(), 7);
            baton::time::timeout(guard, q.flush()).await.expect("hung");
        });
    }
}

#[test]
fn a_flush_made_in_a_queue_task_and_awaited_outside_the_queue_completes() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("flush-elsewhere")
        .build(&rt.handle())
        .unwrap();
    let inner = q.clone();
    let out = rt.block_on(q.spawn(async move {
        // Made inside a queue task but awaited by a task outside the queue: no deadlock.
        let flush = inner.flush();
        drop(baton::spawn(flush));
        3
    }));
    assert_eq!(out.unwrap(), 3);
}
