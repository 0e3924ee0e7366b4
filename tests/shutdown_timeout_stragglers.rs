//! A task whose poll outlives `shutdown_timeout` is cancelled when that poll ends: its future
//! is dropped (nothing is left to leak) and its handle reports it.

mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Counts drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_poll_that_outlives_the_timeout_ends_in_cancellation() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let dropped = Arc::new(AtomicUsize::new(0));
    let counted = Counted(dropped.clone());
    let straggler = rt.spawn(async move {
        let _counted = counted;
        started_tx.send(()).unwrap();
        // Blocks its worker, unannounced, until the test lets it go.
        let _ = release_rx.recv();
        // Then waits forever: only a cancellation ends it.
        std::future::pending::<()>().await;
    });
    started_rx.recv().unwrap();
    assert!(
        !rt.shutdown_timeout(Duration::from_millis(10)),
        "the worker is still in its poll"
    );
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        0,
        "its poll is still running"
    );
    drop(release_tx);
    let result = watchdog::finishes("the straggler's cancellation", move || {
        futures::executor::block_on(straggler)
    });
    assert!(result.unwrap_err().is_cancelled());
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}
