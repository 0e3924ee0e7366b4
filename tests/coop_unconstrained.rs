//! `coop::unconstrained` opts a future out of the cooperative budget: its always-ready leaf
//! futures run to the end in one poll, where a budgeted future yields every so often.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use baton::coop::unconstrained;
use baton::time::sleep;
use baton_testing::Polls;

/// Ready leaves awaited in a row: more than a budget's worth.
const READY: usize = 1000;

/// Awaits [`READY`] due sleeps.
async fn ready_sleeps() {
    for _ in 0..READY {
        sleep(Duration::ZERO).await;
    }
}

/// Spawns [`READY`] tasks on `rt` and waits (outside any poll) until they all finished;
/// returns their handles, ready to be awaited.
fn finished_tasks(rt: &baton::Runtime) -> Vec<baton::JoinHandle<()>> {
    let handles: Vec<_> = (0..READY).map(|_| rt.spawn(async {})).collect();
    while !handles.iter().all(baton::JoinHandle::is_finished) {
        std::thread::yield_now();
    }
    handles
}

/// Awaits handles of finished tasks.
async fn ready_handles(handles: Vec<baton::JoinHandle<()>>) {
    for handle in handles {
        handle.await.unwrap();
    }
}

/// Runs `future` in `block_on` and in a task, and returns how often it was polled in each.
fn polls<F: Future<Output = ()> + Send + 'static>(make: impl Fn() -> F) -> (usize, usize) {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    polls_on(&rt, make)
}

/// [`polls`] on `rt`.
fn polls_on<F: Future<Output = ()> + Send + 'static>(
    rt: &baton::Runtime,
    make: impl Fn() -> F,
) -> (usize, usize) {
    let in_block_on = Arc::new(AtomicUsize::new(0));
    rt.block_on(Polls::new(make(), &in_block_on));
    let in_task = Arc::new(AtomicUsize::new(0));
    rt.block_on(rt.spawn(Polls::new(make(), &in_task))).unwrap();
    (
        in_block_on.load(Ordering::Relaxed),
        in_task.load(Ordering::Relaxed),
    )
}

#[test]
fn a_budgeted_future_yields_between_ready_leaves() {
    let (block_on, task) = polls(ready_sleeps);
    // At least one yield per budget's worth of ready sleeps.
    assert!(
        block_on > 1 && task > 1,
        "polled {block_on} and {task} times"
    );
    assert!(
        block_on <= READY && task <= READY,
        "polled {block_on} and {task} times"
    );
}

#[test]
fn a_budgeted_future_yields_between_ready_join_handles() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let handles = std::sync::Mutex::new(vec![finished_tasks(&rt), finished_tasks(&rt)]);
    let (block_on, task) = polls_on(&rt, || {
        ready_handles(handles.lock().unwrap().pop().unwrap())
    });
    assert!(
        block_on > 1 && task > 1,
        "polled {block_on} and {task} times"
    );
}

#[test]
fn an_unconstrained_future_never_yields_for_the_budget() {
    let (block_on, task) = polls(|| unconstrained(ready_sleeps()));
    assert_eq!((block_on, task), (1, 1));
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let handles = std::sync::Mutex::new(vec![finished_tasks(&rt), finished_tasks(&rt)]);
    let (block_on, task) = polls_on(&rt, || {
        unconstrained(ready_handles(handles.lock().unwrap().pop().unwrap()))
    });
    assert_eq!((block_on, task), (1, 1));
}
