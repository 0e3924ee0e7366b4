//! `unblock`: run a closure on another thread; await its value, or let it run detached.
//!
//! On a baton worker the job goes to the executor through [`Hook::unblock`](crate::hook::Hook);
//! elsewhere, or when the executor declines, it goes to the `blocking` crate's thread pool.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;

use futures_channel::oneshot;

use crate::hook::{self, Job};

/// Runs `f` on a thread where blocking is harmless; the returned handle gives its value.
///
/// The job is handed over at once, at the call: awaiting the [`UnblockHandle`] gives `f`'s
/// value, and dropping it (or [`UnblockHandle::detach`]) lets `f` run to the end unobserved,
/// like tokio's `spawn_blocking`. On a baton worker the executor runs `f` on a pool of its own,
/// apart from the cores' workers, so `f` never takes a core's turn; elsewhere, or if the
/// executor declines, `f` runs on the thread pool of the [`blocking`](https://docs.rs/blocking)
/// crate. Use it for blocking work that may take long or must not hold the caller's core; for
/// short calls inline, prefer [`section`](crate::section).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let len = baton_blocking::unblock(|| std::fs::read("Cargo.toml").map(|b| b.len())).await;
/// assert!(len.unwrap() > 0);
/// # });
/// ```
///
/// # Panics
///
/// If `f` panics, the panic resumes in the task awaiting the handle, with the same payload.
/// Awaiting the handle also panics if the executor accepted the job and then dropped it without
/// running it (a job still queued when the runtime shuts down).
pub fn unblock<T, F>(f: F) -> UnblockHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = oneshot::channel::<thread::Result<T>>();
    let job: Job = Box::new(move || {
        // The receiver may be gone (the handle was dropped): the value is then dropped.
        let _ = sender.send(panic::catch_unwind(AssertUnwindSafe(f)));
    });
    if let Err(job) = hook::submit(job) {
        blocking::unblock(job).detach();
    }
    UnblockHandle { receiver }
}

/// The handle of a job started by [`unblock`]: a future of its value.
///
/// Dropping the handle detaches the job: it still runs to the end, and its value is dropped.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let (tx, rx) = std::sync::mpsc::channel();
/// baton_blocking::unblock(move || tx.send("ran anyway").unwrap()).detach();
/// assert_eq!(rx.recv().unwrap(), "ran anyway");
/// # });
/// ```
#[must_use = "the job runs anyway; `.await` the handle for its value, or call `.detach()` to say it is not wanted"]
pub struct UnblockHandle<T> {
    receiver: oneshot::Receiver<thread::Result<T>>,
}

impl<T> UnblockHandle<T> {
    /// Lets the job run to the end without waiting for it; its value is dropped. The same as
    /// dropping the handle, said out loud.
    ///
    /// # Examples
    ///
    /// ```
    /// baton_blocking::unblock(|| std::thread::sleep(std::time::Duration::from_millis(1))).detach();
    /// ```
    pub fn detach(self) {
        drop(self);
    }
}

impl<T> Future for UnblockHandle<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.receiver).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(value))) => Poll::Ready(value),
            Poll::Ready(Ok(Err(payload))) => panic::resume_unwind(payload),
            Poll::Ready(Err(oneshot::Canceled)) => {
                panic!("the executor dropped an `unblock` job without running it")
            }
        }
    }
}

impl<T> fmt::Debug for UnblockHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnblockHandle").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::rc::Rc;

    use futures::executor::block_on;

    use super::*;
    use crate::testing::{Recorder, Unblock};

    #[test]
    fn off_a_runtime_unblock_runs_elsewhere_and_returns_the_value() {
        assert!(!hook::is_installed());
        let caller = thread::current().id();
        let (value, ran_on) = block_on(unblock(|| (6 * 7, thread::current().id())));
        assert_eq!(value, 42);
        assert_ne!(ran_on, caller);
    }

    #[test]
    fn a_hook_that_accepts_runs_the_job() {
        let hook = Rc::new(Recorder::unblocking(Unblock::Accept));
        let _installed = hook::install(hook.clone());

        let caller = thread::current().id();
        let (value, ran_on) = block_on(unblock(|| (String::from("done"), thread::current().id())));

        assert_eq!(value, "done");
        assert_ne!(ran_on, caller);
        assert_eq!((hook.accepted(), hook.declined()), (1, 0));
    }

    #[test]
    fn a_hook_that_declines_falls_back() {
        let hook = Rc::new(Recorder::unblocking(Unblock::Decline));
        let _installed = hook::install(hook.clone());

        let value = block_on(unblock(|| vec![1, 2, 3]));

        assert_eq!(value, [1, 2, 3]);
        assert_eq!((hook.accepted(), hook.declined()), (0, 1));
    }

    #[test]
    fn a_panic_in_f_resumes_in_the_caller() {
        let run = || {
            panic::catch_unwind(|| block_on(unblock(|| -> u8 { panic!("boom in unblock") })))
                .expect_err("the panic resumes in the caller")
        };
        let off_runtime = run();
        for behaviour in [Unblock::Accept, Unblock::Decline] {
            let hook = Rc::new(Recorder::unblocking(behaviour));
            let _installed = hook::install(hook.clone());
            let payload = run();
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in unblock"));
            assert_eq!(hook.accepted() + hook.declined(), 1);
        }
        assert_eq!(off_runtime.downcast_ref::<&str>(), Some(&"boom in unblock"));
    }

    #[test]
    #[should_panic = "dropped an `unblock` job without running it"]
    fn a_job_dropped_by_the_executor_panics_the_caller() {
        let _installed = hook::install(Rc::new(Recorder::unblocking(Unblock::Drop)));
        block_on(unblock(|| ()));
    }

    #[test]
    fn a_dropped_handle_lets_the_job_run() {
        let run = || {
            let (tx, rx) = std::sync::mpsc::channel();
            drop(unblock(move || tx.send(thread::current().id()).unwrap()));
            rx.recv().expect("the detached job ran")
        };
        assert_ne!(run(), thread::current().id());
        let hook = Rc::new(Recorder::unblocking(Unblock::Accept));
        let _installed = hook::install(hook.clone());
        assert_ne!(run(), thread::current().id());
        assert_eq!(hook.accepted(), 1);
    }

    #[test]
    fn the_job_is_handed_over_at_the_call() {
        let hook = Rc::new(Recorder::unblocking(Unblock::Accept));
        let _installed = hook::install(hook.clone());
        let handle = unblock(|| 3);
        assert_eq!(hook.accepted(), 1, "submitted before the handle is polled");
        assert_eq!(block_on(handle), 3);
    }

    #[test]
    fn the_future_is_send() {
        fn assert_send<F: Future + Send>(future: F) -> F {
            future
        }
        let _installed = hook::install(Rc::new(Recorder::unblocking(Unblock::Accept)));
        assert_eq!(block_on(assert_send(unblock(|| 1))), 1);
    }
}
