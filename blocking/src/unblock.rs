//! `unblock`: run a closure on another thread and await its value.
//!
//! On a baton worker the job goes to the executor through [`Hook::unblock`](crate::hook::Hook);
//! elsewhere, or when the executor declines, it goes to the `blocking` crate's thread pool.

use std::panic::{self, AssertUnwindSafe};
use std::thread;

use futures_channel::oneshot;

use crate::hook::{self, Job};

/// Runs `f` on a thread where blocking is harmless and returns its value once it is done.
///
/// On a baton worker the executor runs `f` on its own threads; elsewhere, or if the executor
/// declines, `f` runs on the thread pool of the [`blocking`](https://docs.rs/blocking) crate. Use
/// it for blocking work that may take long or must not hold the caller's core, when the value is
/// needed asynchronously; for short calls inline, prefer [`section`](crate::section).
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
/// If `f` panics, the panic resumes in the task awaiting `unblock`, with the same payload.
/// It also panics if the executor accepted the job and then dropped it without running it (for
/// example while shutting down).
///
/// # Caveats
///
/// Dropping the returned future does not stop `f`: it runs to completion and its value is
/// dropped.
pub async fn unblock<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    if !hook::is_installed() {
        return blocking::unblock(f).await;
    }
    let (sender, receiver) = oneshot::channel::<thread::Result<T>>();
    let job: Job = Box::new(move || {
        // The receiver may be gone (the caller stopped waiting): the value is then dropped.
        let _ = sender.send(panic::catch_unwind(AssertUnwindSafe(f)));
    });
    if let Err(job) = hook::submit(job) {
        blocking::unblock(job).await;
    }
    match receiver.await {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(oneshot::Canceled) => {
            panic!("the executor dropped an `unblock` job without running it")
        }
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
    fn the_future_is_send() {
        fn assert_send<F: Future + Send>(future: F) -> F {
            future
        }
        let _installed = hook::install(Rc::new(Recorder::unblocking(Unblock::Accept)));
        assert_eq!(block_on(assert_send(unblock(|| 1))), 1);
    }
}
