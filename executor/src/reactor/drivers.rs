//! Who drives the reactor, so that a timer or socket polled when nobody does panics clearly
//! instead of never waking.
//!
//! The reactor has no thread of its own: the workers of live runtimes and threads inside
//! `block_on` drive it. Each of those counts as a *driver* while it lives ([`Driver`]); a
//! runtime stops counting when its shutdown begins. A timer
//! armed or a socket waited for with no driver would never fire: its future was created in a
//! runtime that is gone, or is polled by another executor in a process whose baton runtimes
//! are all dropped.
//!
//! 1. **Assert driven.** A future that registers a waker with the reactor (arming a timer,
//!    waiting for a socket's readiness) then calls [`assert_driven`], which panics, naming what
//!    was polled, if there is no driver.
//! 2. **Wake everything.** When the last driver goes, every pending timer's waker is woken and
//!    every registered socket is reported ready both ways
//!    ([`Reactor::wake_everything`](super::Reactor)): each future polls again, registers again (a
//!    socket finds `WouldBlock` first) and panics as in *assert driven*.
//!
//! No waiter slips between the two: the registration (under the timer shard's or the
//! source's lock) comes before the check's load, and the last driver's decrement comes before
//! its scan (taking the same locks). Either the check sees the decrement and panics, or the
//! scan's lock comes after the registration's and sees the waker. A future polled while a
//! driver lives works as usual, whichever runtime armed it.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::Reactor;

/// Live drivers: runtimes, and `block_on` calls in progress. A process-wide count outside the
/// reactor's protocol, kept with std's atomics even under loom (whose models drive their own
/// reactors).
static DRIVERS: AtomicUsize = AtomicUsize::new(0);

/// One driver of the reactor (a runtime, or a `block_on` call), for as long as it lives.
#[derive(Debug)]
pub(crate) struct Driver {
    _private: (),
}

impl Driver {
    /// Counts a driver until the returned value is dropped.
    pub(crate) fn start() -> Driver {
        // SeqCst: a count checked by `assert_driven`; no other data hangs on it.
        DRIVERS.fetch_add(1, Ordering::SeqCst);
        Driver { _private: () }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SeqCst: before the scan's locks (*wake everything*), pairing with the load in
        // `assert_driven` after a registration's lock (see the module docs).
        if DRIVERS.fetch_sub(1, Ordering::SeqCst) == 1 {
            Reactor::get().wake_everything();
        }
    }
}

/// Panics unless a driver lives (*assert driven*); `what` names the future polled. Call it after
/// the waker is registered.
#[track_caller]
pub(crate) fn assert_driven(what: &str) {
    // SeqCst: see `Driver::drop`.
    if DRIVERS.load(Ordering::SeqCst) == 0 {
        panic!(
            "baton: {what} was polled with no baton runtime running (its runtime was dropped \
             or is shutting down, or none was built): nothing would ever wake it. Poll it \
             inside a baton task or `block_on` of a live runtime"
        );
    }
}
