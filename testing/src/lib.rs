//! Helpers that the tests of more than one baton package share: the executor's unit tests and
//! the facade's integration tests. Plain std, no runtime: helpers that need a runtime live beside
//! the tests that use them (`tests/common/`).
//!
//! - [`Gate`]: threads wait at it until the test opens it.
//! - [`Polls`]: a future that counts its polls.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a test waits for what a healthy run does at once, even on a loaded machine, before
/// it fails instead of hanging.
pub const HANG: Duration = Duration::from_secs(60);

/// A gate that threads wait at until the test opens it; once open, it stays open.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use baton_testing::Gate;
///
/// let gate = Arc::new(Gate::default());
/// let waiter = std::thread::spawn({
///     let gate = Arc::clone(&gate);
///     move || gate.wait()
/// });
/// gate.open();
/// waiter.join().unwrap();
/// ```
#[derive(Debug, Default)]
pub struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    /// Waits until the gate is open.
    ///
    /// # Panics
    ///
    /// Panics if the gate has not opened within [`HANG`].
    pub fn wait(&self) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (open, timeout) = self
            .opened
            .wait_timeout_while(open, HANG, |open| !*open)
            .unwrap_or_else(|p| p.into_inner());
        assert!(*open && !timeout.timed_out(), "the gate never opened");
    }

    /// Opens the gate: the threads waiting at it go on, and those that come later pass.
    pub fn open(&self) {
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.opened.notify_all();
    }
}

/// A future that counts its polls in a shared counter, and otherwise is the future it wraps.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use baton_testing::Polls;
///
/// let polls = Arc::new(AtomicUsize::new(0));
/// futures::executor::block_on(Polls::new(async {}, &polls));
/// assert_eq!(polls.load(Ordering::Relaxed), 1);
/// ```
#[derive(Debug)]
pub struct Polls<F> {
    future: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Polls<F> {
    /// Wraps `future`, counting its polls in `polls`.
    pub fn new(future: F, polls: &Arc<AtomicUsize>) -> Polls<F> {
        Polls {
            future: Box::pin(future),
            polls: Arc::clone(polls),
        }
    }
}

impl<F: Future> Future for Polls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.future.as_mut().poll(cx)
    }
}
