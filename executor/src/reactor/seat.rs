//! The reactor's seat: which thread may wait in the poller, and how a worker takes it over from
//! a `block_on` thread (the *take the seat* and *take over* steps of
//! the protocol in the [module docs](super)).

use crate::sync::{lock, AtomicUsize, Condvar, Mutex, Ordering};

/// Seat state: nobody sits in the reactor.
const FREE: usize = 0;
/// Seat state: a runtime worker sits in the reactor.
const WORKER: usize = 1;
/// Seat state: a `block_on` thread sits in the reactor.
const BLOCK_ON: usize = 2;
/// Flag on `BLOCK_ON`: a worker waits on the handoff latch to take the seat over.
const TAKEOVER: usize = 4;

/// Who takes the seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sitter {
    /// A runtime worker, through `try_react_unless`: it can take the seat over from a `BlockOn`.
    Worker,
    /// A thread in `block_on`: it yields the seat to a worker that asks for it.
    BlockOn,
}

/// The seat: one atomic word, and a latch through which a `block_on` thread hands the seat to
/// the worker that took it over.
pub(super) struct Seat {
    /// `FREE`, `WORKER`, `BLOCK_ON` or `BLOCK_ON | TAKEOVER`.
    state: AtomicUsize,
    /// Set by the `block_on` thread when it hands the seat over; consumed by the worker.
    handed: Mutex<bool>,
    /// Signalled when `handed` is set.
    cvar: Condvar,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        let who = match state & !TAKEOVER {
            FREE => "free",
            WORKER => "worker",
            BLOCK_ON => "block_on",
            _ => "invalid",
        };
        f.debug_struct("Seat")
            .field("sitter", &who)
            .field("takeover", &(state & TAKEOVER != 0))
            .finish()
    }
}

impl Seat {
    /// A free seat.
    pub(super) fn new() -> Seat {
        Seat {
            state: AtomicUsize::new(FREE),
            handed: Mutex::new(false),
            cvar: Condvar::new(),
        }
    }

    /// Takes the seat if it is free.
    pub(super) fn try_take(&self, sitter: Sitter) -> bool {
        let taken = match sitter {
            Sitter::Worker => WORKER,
            Sitter::BlockOn => BLOCK_ON,
        };
        // Acquire: pairs with the Release in `leave`, so this turn sees the previous turn's
        // writes to the reactor's state (its event buffer and timers also sit behind mutexes).
        self.state
            .compare_exchange(FREE, taken, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether nobody sits in the reactor; the caller orders this load with a fence.
    pub(super) fn is_free(&self) -> bool {
        // Relaxed: see the caller, `Reactor::standby_for`.
        self.state.load(Ordering::Relaxed) == FREE
    }

    /// Whether a runtime worker sits in the reactor. A stale yes names a worker that has just
    /// left the seat, which then is on duty (*stay on duty*) or has kicked a standby thread itself.
    pub(super) fn held_by_worker(&self) -> bool {
        // Relaxed: see above; no data is read through it.
        self.state.load(Ordering::Relaxed) == WORKER
    }

    /// Marks a seated `block_on` thread for take-over; true if this caller won the mark and
    /// must now call [`Seat::wait_handoff`]. (Only a parking worker takes a seat over, and
    /// loom models park without the reactor.)
    #[cfg(not(loom))]
    pub(super) fn try_mark_takeover(&self) -> bool {
        // Relaxed: the seat's ownership passes through the `handed` mutex, not this word.
        self.state
            .compare_exchange(
                BLOCK_ON,
                BLOCK_ON | TAKEOVER,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Waits until the `block_on` thread marked by [`Seat::try_mark_takeover`] hands the seat
    /// over; the caller then sits as a worker.
    #[cfg(not(loom))]
    pub(super) fn wait_handoff(&self) {
        let mut handed = lock(&self.handed);
        while !*handed {
            handed = self
                .cvar
                .wait(handed)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *handed = false;
    }

    /// Leaves the seat; a marked `block_on` thread hands it to the waiting worker instead.
    pub(super) fn leave(&self, sitter: Sitter) {
        match sitter {
            // Release: pairs with the Acquire in `try_take`.
            Sitter::Worker => self.state.store(FREE, Ordering::Release),
            Sitter::BlockOn => {
                // Release: pairs with the Acquire in `try_take`.
                let left = self.state.compare_exchange(
                    BLOCK_ON,
                    FREE,
                    Ordering::Release,
                    Ordering::Relaxed,
                );
                match left {
                    Ok(_) => {}
                    Err(state) if state == BLOCK_ON | TAKEOVER => {
                        // Relaxed: the worker learns of the handoff through the mutex below,
                        // which orders this turn's writes before its turn.
                        self.state.store(WORKER, Ordering::Relaxed);
                        *lock(&self.handed) = true;
                        self.cvar.notify_one();
                    }
                    Err(state) => panic!("inconsistent reactor seat: {state:#x}"),
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn seat_is_exclusive() {
        let seat = Seat::new();
        assert!(seat.try_take(Sitter::Worker));
        assert!(!seat.try_take(Sitter::Worker));
        assert!(!seat.try_take(Sitter::BlockOn));
        assert!(
            !seat.try_mark_takeover(),
            "a worker's seat is never taken over"
        );
        seat.leave(Sitter::Worker);
        assert!(seat.try_take(Sitter::BlockOn));
    }

    #[test]
    fn block_on_hands_the_seat_to_the_marking_worker() {
        let seat = Arc::new(Seat::new());
        assert!(seat.try_take(Sitter::BlockOn));
        assert!(seat.try_mark_takeover());
        assert!(
            !seat.try_mark_takeover(),
            "only one worker waits for the handoff"
        );
        let taker = {
            let seat = seat.clone();
            std::thread::spawn(move || seat.wait_handoff())
        };
        seat.leave(Sitter::BlockOn);
        taker.join().unwrap();
        // The worker now holds the seat.
        assert!(!seat.try_take(Sitter::BlockOn));
        seat.leave(Sitter::Worker);
        assert!(seat.try_take(Sitter::Worker));
    }
}
