//! Helpers for the unit tests: a hook that records its calls, and a check of auto traits.

use std::cell::Cell;
use std::panic::Location;
use std::rc::Rc;
use std::thread;

use crate::hook::{self, Hook, Job};

/// Compiles only if the type is neither `Send` nor `Sync`: for a `Send` (or `Sync`) type both
/// impls of the helper trait apply, and the `_` in the call is ambiguous. A macro, not a generic
/// function: inside a generic function the `Send` impl never applies, so the check would pass.
macro_rules! assert_neither_send_nor_sync {
    ($ty:ty) => {{
        trait AmbiguousIfSend<A> {
            fn check() {}
        }
        impl<T: ?Sized> AmbiguousIfSend<()> for T {}
        impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

        trait AmbiguousIfSync<A> {
            fn check() {}
        }
        impl<T: ?Sized> AmbiguousIfSync<()> for T {}
        impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}

        <$ty as AmbiguousIfSend<_>>::check();
        <$ty as AmbiguousIfSync<_>>::check();
    }};
}
pub(crate) use assert_neither_send_nor_sync;

/// What [`Recorder`] does with the jobs `unblock` offers it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum Unblock {
    /// Run the job on a new thread.
    Accept,
    /// Give the job back.
    #[default]
    Decline,
    /// Take the job and drop it without running it.
    Drop,
}

/// Counts `enter`, `leave` and `unblock` calls.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    enters: Cell<usize>,
    leaves: Cell<usize>,
    last_enter: Cell<Option<(&'static Location<'static>, bool)>>,
    accepted: Cell<usize>,
    declined: Cell<usize>,
    unblock: Unblock,
    on_enter: OnEnter,
}

/// Misbehaviour on `enter`, to test that callers cope.
#[derive(Debug, Default)]
enum OnEnter {
    #[default]
    Count,
    Panic,
    Install,
}

impl Recorder {
    pub(crate) fn unblocking(unblock: Unblock) -> Self {
        Recorder {
            unblock,
            ..Recorder::default()
        }
    }

    pub(crate) fn panicking_on_enter() -> Self {
        Recorder {
            on_enter: OnEnter::Panic,
            ..Recorder::default()
        }
    }

    pub(crate) fn installing_on_enter() -> Self {
        Recorder {
            on_enter: OnEnter::Install,
            ..Recorder::default()
        }
    }

    pub(crate) fn enters(&self) -> usize {
        self.enters.get()
    }

    pub(crate) fn leaves(&self) -> usize {
        self.leaves.get()
    }

    pub(crate) fn last_enter(&self) -> Option<(&'static Location<'static>, bool)> {
        self.last_enter.get()
    }

    pub(crate) fn accepted(&self) -> usize {
        self.accepted.get()
    }

    pub(crate) fn declined(&self) -> usize {
        self.declined.get()
    }
}

impl Hook for Recorder {
    fn enter(&self, site: &'static Location<'static>, long: bool) {
        self.enters.set(self.enters.get() + 1);
        self.last_enter.set(Some((site, long)));
        match self.on_enter {
            OnEnter::Count => {}
            OnEnter::Panic => panic!("hook enter panics"),
            OnEnter::Install => {
                let _nested = hook::install(Rc::new(Recorder::default()));
            }
        }
    }

    fn leave(&self) {
        self.leaves.set(self.leaves.get() + 1);
    }

    fn unblock(&self, job: Job) -> Result<(), Job> {
        match self.unblock {
            Unblock::Accept => {
                self.accepted.set(self.accepted.get() + 1);
                thread::spawn(job);
                Ok(())
            }
            Unblock::Decline => {
                self.declined.set(self.declined.get() + 1);
                Err(job)
            }
            Unblock::Drop => {
                self.accepted.set(self.accepted.get() + 1);
                drop(job);
                Ok(())
            }
        }
    }
}
