//! An ordered queue's task that awaits a later task of its own queue is told so (its handle's
//! poll panics, naming the awaited task) instead of waiting for ever; awaiting finished tasks,
//! or tasks of another queue, works.

use std::time::Duration;

#[allow(dead_code)] // `settle` is not needed here
mod common;
use common::panic_message;

/// A hang guard only: a task awaiting a later task of its own ordered queue would wait for ever.
const GUARD: Duration = Duration::from_secs(60);

#[test]
fn awaiting_a_later_task_of_the_same_ordered_queue_panics_instead_of_hanging() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("journal")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    rt.block_on(async {
        let inner = q.clone();
        let first = q.spawn(async move { inner.spawn(async { 5 }).await.ok() });
        let out = baton::time::timeout(GUARD, first).await.expect("hung");
        let message = panic_message(out.unwrap_err());
        assert!(
            message.contains("a later task of the same queue") && message.contains("\"journal\""),
            "{message}"
        );
        // The later task still ran once the first ended; the queue goes on.
        assert_eq!(q.spawn(async { 6 }).await.unwrap(), 6);
        baton::time::timeout(GUARD, q.flush()).await.expect("hung");
        assert_eq!(q.stats().completed, 3);
    });
}

#[test]
fn awaiting_a_later_delayed_task_of_the_same_ordered_queue_panics() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("delayed")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let inner = q.clone();
    let first = q.spawn(async move {
        inner
            .spawn_after(Duration::from_millis(1), async {})
            .await
            .ok()
    });
    let out = rt.block_on(async { baton::time::timeout(GUARD, first).await.expect("hung") });
    assert!(out.unwrap_err().is_panic());
}

#[test]
fn awaiting_finished_tasks_or_another_queues_tasks_works() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("a")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let other = baton::WorkQueue::builder("b")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    rt.block_on(async {
        let earlier = q.spawn(async { 1 });
        let other = other.clone();
        let sum = q.spawn(async move {
            // Earlier in the line: finished before this task started.
            let one = earlier.await.unwrap();
            // Another ordered queue, and a plain task.
            let two = other.spawn(async { 2 }).await.unwrap();
            let three = baton::spawn(async { 3 }).await.unwrap();
            one + two + three
        });
        let sum = baton::time::timeout(GUARD, sum).await.expect("hung");
        assert_eq!(sum.unwrap(), 6);
    });
}
