//! A runtime dropped from inside one of its own tasks shuts down: every other task is
//! cancelled (its future dropped, its handle reports it), the dropping task finishes its poll,
//! and every worker thread exits.

mod watchdog;

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
fn dropping_the_runtime_inside_its_own_task_cancels_the_others() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let rt = baton::Runtime::builder()
        .cores(2)
        .on_thread_start({
            let started = started.clone();
            move || {
                started.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_thread_stop({
            let stopped = stopped.clone();
            move || {
                stopped.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let others: Vec<_> = (0..100)
        .map(|_| {
            let counted = Counted(dropped.clone());
            rt.spawn(async move {
                let _counted = counted;
                std::future::pending::<()>().await;
            })
        })
        .collect();
    let handle = rt.handle();
    let dropper = handle.spawn(async move {
        drop(rt);
        // The rest of this poll still runs; a spawn now is cancelled at once. Its handle is
        // the task's output, to check outside.
        let late = baton::spawn(async { 1 });
        Some(late)
    });
    let out = watchdog::finishes("the task dropping its runtime", move || {
        futures::executor::block_on(dropper)
    });
    let late = out
        .expect("the dropping task finishes its poll")
        .expect("the handle of the task spawned after the drop");
    assert!(futures::executor::block_on(late)
        .unwrap_err()
        .is_cancelled());
    assert_eq!(dropped.load(Ordering::SeqCst), 100);
    for other in others {
        assert!(futures::executor::block_on(other)
            .unwrap_err()
            .is_cancelled());
    }
    // Every worker exits, the one that ran the dropping task once its poll ended.
    watchdog::finishes("the workers' exit", move || {
        while stopped.load(Ordering::SeqCst) < started.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}
