//! An abort is never lost: `JoinHandle::abort` racing the task's poll cancels it whenever the
//! abort lands (before the worker looks at the task, between that look and the poll, during
//! the poll, or after it), so awaiting the handle returns a cancellation and the future is
//! dropped. The narrow window is an abort landing between the worker's look at the abort flag
//! and the poll: the task is still scheduled then, so the abort's wake-up changes nothing, and
//! unless the poll looks at the flag again the task stays pending for ever.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Counts the drops of the futures that own one.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn aborts_racing_first_polls_always_cancel() {
    const ROUNDS: usize = 500;
    const TASKS: usize = 5;
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        for _ in 0..ROUNDS {
            let dropped = Arc::new(AtomicUsize::new(0));
            let d = Arc::clone(&dropped);
            rt.block_on(async move {
                let handles: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let guard = DropCounter(Arc::clone(&d));
                        baton::spawn(async move {
                            let _guard = guard;
                            std::future::pending::<()>().await;
                        })
                    })
                    .collect();
                // Let the workers pick the tasks up, so some aborts land mid-way.
                baton::spawn(async {}).await.unwrap();
                for handle in &handles {
                    handle.abort();
                }
                for handle in handles {
                    assert!(handle.await.unwrap_err().is_cancelled());
                }
            });
            assert_eq!(dropped.load(Ordering::SeqCst), TASKS);
        }
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(120))
        .expect("an aborted task was never cancelled (a lost abort)");
}
