//! Panics that must not escape: a destructor or a waker that panics where unwinding would abort
//! the process (async-task's guards) or break the caller's state (a listener list, the reactor's
//! wake-ups, a worker's loop).

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Drops a value whose destructor may panic, discarding such a panic (and, should dropping
/// that payload panic as well, leaking the payload rather than unwinding).
pub(super) fn drop_quietly<T>(value: T) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(panic))) {
            std::mem::forget(payload);
        }
    }
}

/// Wakes `waker`, discarding a panic of its `wake` (see [`drop_quietly`]): a waker that some
/// future registered and that panics (a bug of that future's owner) neither stops its caller
/// from waking the others nor unwinds into a worker, the reactor or async-task (which aborts).
pub(crate) fn wake_quietly(waker: std::task::Waker) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(move || waker.wake())) {
        drop_quietly(panic);
    }
}

/// A waker that wakes another through [`wake_quietly`], to register where a waker is woken in
/// code that must not unwind: async-task wakes a finished task's awaiter inside its
/// abort-on-panic guard, and event-listener wakes a flush's listener inside its notify. The
/// waker it wakes follows the caller's, as a future polled with a new waker must.
pub(crate) struct QuietWaker(std::sync::Mutex<std::task::Waker>);

impl QuietWaker {
    /// The waker to register for a caller whose waker is `waker`: the one in `quiet`, made at
    /// the first call and told of a change of the caller's waker at the later ones.
    pub(crate) fn waker_for(
        quiet: &mut Option<std::sync::Arc<QuietWaker>>,
        waker: &std::task::Waker,
    ) -> std::task::Waker {
        let quiet = match quiet {
            Some(quiet) => {
                let mut current = quiet.waker();
                if !current.will_wake(waker) {
                    current.clone_from(waker);
                }
                drop(current);
                std::sync::Arc::clone(quiet)
            }
            None => std::sync::Arc::clone(quiet.insert(std::sync::Arc::new(QuietWaker(
                std::sync::Mutex::new(waker.clone()),
            )))),
        };
        std::task::Waker::from(quiet)
    }

    fn waker(&self) -> std::sync::MutexGuard<'_, std::task::Waker> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::task::Wake for QuietWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        let waker = self.waker().clone();
        wake_quietly(waker);
    }
}
