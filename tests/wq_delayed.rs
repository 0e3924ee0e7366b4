//! `spawn_after` never starts a task early, and flush does not wait for delays still pending.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn delayed_task_never_runs_early() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("delayed")
        .build(&rt.handle())
        .unwrap();
    let delays = [0, 1, 5, 20, 40];
    let start = Instant::now();
    let handles: Vec<_> = delays
        .iter()
        .map(|&ms| {
            let delay = Duration::from_millis(ms);
            q.spawn_after(delay, async move { (delay, Instant::now()) })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            let (delay, ran) = h.await.unwrap();
            assert!(
                ran.duration_since(start) >= delay,
                "ran before its {delay:?}"
            );
        }
    });
}

#[test]
fn flush_does_not_wait_for_a_pending_delay() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("delayed-flush")
        .build(&rt.handle())
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let later = {
        let ran = ran.clone();
        q.spawn_after(Duration::from_secs(3600), async move {
            ran.store(true, Ordering::SeqCst)
        })
    };
    rt.block_on(q.flush());
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(q.stats().waiting, 1);
    // Shutdown cancels it.
    drop(rt);
    assert!(futures::executor::block_on(later)
        .unwrap_err()
        .is_cancelled());
}

#[test]
fn delayed_tasks_spawned_off_runtime_do_not_panic() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("off-runtime")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let out = std::thread::spawn(move || {
        let a = q.spawn_after(Duration::from_millis(2), async { 1 });
        let b = q.spawn(async { 2 });
        futures::executor::block_on(async { a.await.unwrap() + b.await.unwrap() })
    })
    .join()
    .unwrap();
    assert_eq!(out, 3);
}
