//! Bounds a test that could hang: the work runs on its own thread, and the test fails with a
//! message if it has not finished within [`LIMIT`], instead of hanging CI.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// A bound that no healthy run comes near, even on a loaded machine.
pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// Runs `work` on a new thread and returns its output; a panic in `work` fails the test with
/// that panic.
///
/// # Panics
///
/// Panics, naming `what`, if `work` has not finished within [`LIMIT`] (the thread is left
/// behind; the test process exits without it).
pub(crate) fn finishes<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("watched: {what}"))
        .spawn(move || {
            let _ = tx.send(work());
        })
        .expect("start the watched thread");
    match rx.recv_timeout(LIMIT) {
        Ok(out) => {
            thread.join().expect("the watched thread finished");
            out
        }
        Err(RecvTimeoutError::Timeout) => panic!("{what} did not finish within {LIMIT:?}: hung"),
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the watched thread exited without sending its output"),
        },
    }
}
