//! Parking a worker thread until another thread hands it the baton.
//!
//! A [`Parker`] is a one-token latch: [`Parker::unpark`] stores the token and wakes the thread,
//! [`Parker::park`] waits for the token and consumes it. An unpark that comes first makes the
//! next park return at once, so no wake-up is lost between deciding to park and parking. The
//! token says why the worker was woken (see [`WakeFor`]).
//!
//! # Waiting in the reactor
//!
//! A parked worker waits in the process's reactor when no other thread does, so an idle core
//! serves I/O and timers without a dedicated reactor thread; otherwise it waits on its condition
//! variable.
//!
//! 1. **Park.** `park` sets `in_reactor`, then checks the token under the lock, then waits in the
//!    reactor.
//! 2. **Unpark.** `unpark` stores the token under the lock, then reads `in_reactor`; if set, it
//!    calls the reactor's `notify`, which makes a wait in progress (or about to start) return.
//! 3. **Ordering.** The lock orders the two: if `unpark`'s critical section comes first, `park`'s
//!    check sees the token; if it comes second, `unpark`'s read sees `in_reactor` (SeqCst on both).
//! 4. **Wait again.** Returning from the reactor (I/O, a timer, or a notify) without a token, the
//!    worker waits again, in the reactor if it can take the seat.
//! 5. **Look before blocking.** Whoever holds the reactor's seat consumes a pending notification,
//!    so one meant for a worker about to take the seat may be used up by the thread seated before
//!    it. So a worker that took the seat looks at its token once more before it blocks
//!    ([`Reactor::try_react_unless`]).
//! 6. **Standby.** The reactor is shared by every runtime in the process, so a worker turned away
//!    from the seat must not wait forever on its condition variable while the seat goes unused: it
//!    registers on the reactor's standby list ([`Reactor::wait_for_seat`]; the reactor's module
//!    docs describe the list) with a waker that *kicks* its parker. A thread leaving the seat wakes
//!    the oldest standby worker, which tries the seat again; a worker woken for work instead
//!    cancels its registration.
//! 7. **Pass the vacancy on.** A worker told of a vacancy (kicked, or the seat found free) that
//!    leaves with a token instead of trying the seat, or whose registration a kick already took
//!    when it cancels it, passes the vacancy on to the next standby thread
//!    ([`Reactor::hand_over_duty`]), so no kick is swallowed.
//!
//! [`Reactor::wait_for_seat`]: crate::reactor::Reactor::wait_for_seat
//! [`Reactor::try_react_unless`]: crate::reactor::Reactor::try_react_unless
//! [`Reactor::hand_over_duty`]: crate::reactor::Reactor::hand_over_duty

use crate::sync::{lock, Arc, AtomicBool, Condvar, Mutex, Ordering};

/// Why a parked worker was woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WakeFor {
    /// To run its own core's work (or to see that the runtime shuts down).
    Work,
    /// To search other cores and the injector for work; the waker counted it as searching.
    Search,
    /// To exit: the worker is a surplus spare past its keep-alive, already uncounted.
    Exit,
}

/// A worker's parking spot.
#[derive(Debug, Default)]
pub(crate) struct Parker {
    /// The token, and whether the worker was kicked to try the reactor's seat again.
    state: Mutex<Token>,
    /// Signalled by `unpark` and by kicks.
    cvar: Condvar,
    /// Whether the parked thread waits in the reactor.
    in_reactor: AtomicBool,
}

/// What a parked worker waits for.
#[derive(Debug, Default)]
struct Token {
    wake: Option<WakeFor>,
    kicked: bool,
    /// Whether the parked thread waits on the condition variable, so a signal is needed (a
    /// signal costs a system call even with nobody waiting).
    on_condvar: bool,
}

impl Parker {
    /// A parker without a token.
    pub(crate) fn new() -> Parker {
        Parker::default()
    }

    /// Waits until [`Parker::unpark`] is called, then consumes the token and returns it.
    ///
    /// (An associated function: loom's `Arc` cannot be a `self` type.)
    pub(crate) fn park(this: &Arc<Parker>) -> WakeFor {
        let parker = &**this;
        // Whether this thread learnt that the seat is free and has not tried it since.
        let mut told_free = false;
        loop {
            // Park (SeqCst: see *ordering* in the module docs).
            parker.in_reactor.store(true, Ordering::SeqCst);
            if let Some(wake) = lock(&parker.state).wake.take() {
                parker.in_reactor.store(false, Ordering::Relaxed);
                if told_free {
                    // Pass the vacancy on: leaving with a token, the vacancy goes to another
                    // thread.
                    reactor::hand_over_duty();
                }
                return wake;
            }
            let outcome = reactor::wait(this);
            parker.in_reactor.store(false, Ordering::Relaxed);
            told_free = false;
            match outcome {
                // Wait again: back from the reactor; look for the token again.
                reactor::Outcome::Reacted => {}
                // The seat was found free again: try it at once.
                reactor::Outcome::SeatFree => told_free = true,
                // Standby: for the seat, or without a reactor.
                reactor::Outcome::TurnedAway => match parker.wait_on_condvar() {
                    Some(wake) => {
                        // Pass the vacancy on: an entry already gone was taken by a thread that
                        // vacated the seat, telling this one to take it: pass that on.
                        if !reactor::cancel_wait(this) {
                            reactor::hand_over_duty();
                        }
                        return wake;
                    }
                    // Kicked: the seat was vacated; try it again. The kick may be a stale one
                    // (a kick that came after this thread stopped waiting) while the entry
                    // registered just now is still listed: remove it, or a later vacancy
                    // would be told to a thread that is not waiting.
                    None => {
                        reactor::cancel_wait(this);
                        told_free = true;
                    }
                },
            }
        }
    }

    /// Waits on the condition variable for the token (the reactor's seat was taken), or for a
    /// kick (`None`).
    fn wait_on_condvar(&self) -> Option<WakeFor> {
        let mut state = lock(&self.state);
        loop {
            if let Some(wake) = state.wake.take() {
                // A kick that came with the token is handled through the standby entry.
                state.kicked = false;
                return Some(wake);
            }
            if std::mem::take(&mut state.kicked) {
                return None;
            }
            state.on_condvar = true;
            state = self
                .cvar
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.on_condvar = false;
        }
    }

    /// Whether a token waits (read by the reactor before it blocks this worker in its seat).
    #[cfg(not(loom))]
    fn has_token(&self) -> bool {
        lock(&self.state).wake.is_some()
    }

    /// Stores the token and wakes the parked thread, wherever it waits (the *unpark* step of the
    /// [module docs](self)).
    pub(crate) fn unpark(&self, wake: WakeFor) {
        // Under the lock, before the reactor notify below: see `Reactor::try_react_unless`.
        let on_condvar = {
            let mut state = lock(&self.state);
            state.wake = Some(wake);
            state.on_condvar
        };
        // After the unlock: a thread woken while the lock is held would block on it again.
        if on_condvar {
            self.cvar.notify_one();
        }
        // SeqCst: see *ordering* in the module docs.
        if self.in_reactor.load(Ordering::SeqCst) {
            reactor::notify();
        }
    }

    /// Stores the token without waking the parked thread (for tests that wake it otherwise).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn give_token_quietly(&self, wake: WakeFor) {
        lock(&self.state).wake = Some(wake);
    }

    /// Asks a worker waiting on its condition variable to try the reactor's seat again.
    #[cfg(not(loom))]
    fn kick(&self) {
        let on_condvar = {
            let mut state = lock(&self.state);
            state.kicked = true;
            state.on_condvar
        };
        if on_condvar {
            self.cvar.notify_one();
        }
    }
}

/// The reactor as parking sees it. Loom models have no reactor: parking always uses the
/// condition variable there.
#[cfg(not(loom))]
mod reactor {
    use std::task::Waker;

    use super::Parker;
    use crate::reactor::Reactor;
    use crate::sync::Arc;

    /// How a try at the reactor went.
    pub(super) enum Outcome {
        /// Waited in the reactor and came back.
        Reacted,
        /// The seat was taken, and then found free again: try at once.
        SeatFree,
        /// The seat is taken; the parker is on standby (or the poller failed).
        TurnedAway,
    }

    /// The parker's standby waker: waking it kicks the parker (the *standby* step of the
    /// [module docs](super)).
    impl std::task::Wake for Parker {
        fn wake(self: Arc<Self>) {
            self.kick();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.kick();
        }
    }

    /// Waits in the reactor until an event, a timer or a notify, or goes on standby.
    pub(super) fn wait(parker: &Arc<Parker>) -> Outcome {
        let reactor = Reactor::get();
        match reactor.try_react_unless(None, Some(&|| parker.has_token())) {
            Some(Ok(())) => Outcome::Reacted,
            // A failing poller leaves the worker to its condition variable.
            Some(Err(_)) => Outcome::TurnedAway,
            None if reactor.wait_for_seat(&Waker::from(Arc::clone(parker))) => Outcome::TurnedAway,
            None => Outcome::SeatFree,
        }
    }

    /// Cancels a standby registration (the worker was woken for work); false if the entry
    /// was gone already, taken by a thread that vacated the seat.
    pub(super) fn cancel_wait(parker: &Arc<Parker>) -> bool {
        Reactor::get().cancel_wait_for_seat(&Waker::from(Arc::clone(parker)))
    }

    /// Wakes another standby thread for a vacancy this one was told of but does not take.
    pub(super) fn hand_over_duty() {
        Reactor::get().hand_over_duty();
    }

    /// Makes the thread waiting in the reactor return.
    pub(super) fn notify() {
        Reactor::get().notify();
    }
}

/// Loom stand-in: no reactor.
#[cfg(loom)]
mod reactor {
    use super::Parker;
    use crate::sync::Arc;

    pub(super) enum Outcome {
        #[allow(dead_code)]
        Reacted,
        #[allow(dead_code)]
        SeatFree,
        TurnedAway,
    }

    pub(super) fn wait(_: &Arc<Parker>) -> Outcome {
        Outcome::TurnedAway
    }

    pub(super) fn cancel_wait(_: &Arc<Parker>) -> bool {
        true
    }

    pub(super) fn hand_over_duty() {}

    pub(super) fn notify() {}
}
