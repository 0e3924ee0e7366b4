//! `JoinHandle::abort` cancels a task: its future is dropped and the handle reports cancelled.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Sets a flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn abort_an_idle_task_drops_its_future() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let task = rt.spawn(async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    });
    task.abort();
    let err = rt.block_on(task).unwrap_err();
    assert!(err.is_cancelled());
    assert!(!err.is_panic());
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn abort_a_task_that_keeps_yielding() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let task = rt.spawn(async move {
        loop {
            p.fetch_add(1, Ordering::SeqCst);
            baton::yield_now().await;
        }
    });
    while polls.load(Ordering::SeqCst) < 10 {
        std::thread::yield_now();
    }
    task.abort();
    assert!(rt.block_on(task).unwrap_err().is_cancelled());
    let after = polls.load(Ordering::SeqCst);
    // Give the worker a chance to poll it again if the abort had not taken.
    rt.block_on(async {
        for _ in 0..10 {
            baton::yield_now().await;
        }
    });
    assert_eq!(
        polls.load(Ordering::SeqCst),
        after,
        "an aborted task is never polled again"
    );
}

#[test]
fn abort_after_completion_keeps_the_output() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let task = rt.spawn(async { 5 });
    while !task.is_finished() {
        std::thread::yield_now();
    }
    task.abort();
    assert_eq!(rt.block_on(task).unwrap(), 5);
}

#[test]
fn abort_from_inside_another_task() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let cancelled = rt.block_on(rt.spawn(async {
        let victim = baton::spawn(std::future::pending::<()>());
        baton::yield_now().await;
        victim.abort();
        victim.await.unwrap_err().is_cancelled()
    }));
    assert!(cancelled.unwrap());
}
