//! Shutdown drops every pending task's future (handles report cancelled), joins the workers,
//! and neither leaks nor hangs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_runtime_cancels_pending_tasks() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..1000 {
        let c = Counted(dropped.clone());
        handles.push(rt.spawn(async move {
            let _c = c;
            std::future::pending::<()>().await;
        }));
    }
    // Detached tasks must be dropped too.
    for _ in 0..1000 {
        let c = Counted(dropped.clone());
        drop(rt.spawn(async move {
            let _c = c;
            std::future::pending::<()>().await;
        }));
    }
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 2000);
    for h in handles {
        assert!(futures::executor::block_on(h).unwrap_err().is_cancelled());
    }
}

#[test]
fn tasks_queued_but_never_run_are_cancelled() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    // Keep the only core busy so the tasks behind stay queued.
    let blocker = rt.spawn(async move {
        started_tx.send(()).unwrap();
        rx.recv_timeout(Duration::from_millis(200)).ok();
    });
    started_rx.recv().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..100)
        .map(|_| {
            let c = Counted(dropped.clone());
            rt.spawn(async move {
                let _c = c;
            })
        })
        .collect();
    drop(rt);
    drop(tx);
    assert_eq!(dropped.load(Ordering::SeqCst), 100);
    let mut cancelled = 0;
    for h in queued {
        // Each either ran (Ok) before shutdown reached it or was cancelled; none is lost.
        match futures::executor::block_on(h) {
            Ok(()) => {}
            Err(e) => {
                assert!(e.is_cancelled());
                cancelled += 1;
            }
        }
    }
    assert!(cancelled > 0, "the busy core had no chance to run them all");
    assert!(futures::executor::block_on(blocker).is_ok());
}

#[test]
fn shutdown_timeout_returns_while_a_worker_is_stuck() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let _stuck = rt.spawn(async move {
        started_tx.send(()).unwrap();
        // Blocks its worker until the test lets it go.
        let _ = rx.recv();
    });
    started_rx.recv().unwrap();
    let pending = rt.spawn(std::future::pending::<()>());
    assert!(!rt.shutdown_timeout(Duration::from_millis(50)));
    assert!(futures::executor::block_on(pending)
        .unwrap_err()
        .is_cancelled());
    drop(tx);
}

#[test]
fn spawning_after_shutdown_cancels_at_once() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let handle = rt.handle();
    drop(rt);
    let late = handle.spawn(async { 1 });
    assert!(futures::executor::block_on(late)
        .unwrap_err()
        .is_cancelled());
}

#[test]
fn worker_threads_exit_and_run_their_stop_hooks() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let rt = baton::Runtime::builder()
        .cores(2)
        .on_thread_start({
            let s = started.clone();
            move || {
                s.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_thread_stop({
            let s = stopped.clone();
            move || {
                s.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    rt.block_on(rt.spawn(async {})).unwrap();
    let workers: u64 = rt.stats().cores.iter().map(|c| c.workers).sum();
    drop(rt);
    assert_eq!(started.load(Ordering::SeqCst) as u64, workers);
    assert_eq!(stopped.load(Ordering::SeqCst) as u64, workers);
}
