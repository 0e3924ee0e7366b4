//! The turns of one call site: how many of its sections are in flight, and the tasks waiting
//! for a turn in the async form of a section (`baton::blocking::section_async`).
//!
//! # The handshake
//!
//! A task takes a turn while fewer than the admitted level are in flight (a compare-exchange
//! on the count). Otherwise it waits:
//!
//! 1. **Waiter.** Under the lock, it queues its waker and raises the count of waiters; then a
//!    `SeqCst` fence; then it tries for a turn again. If it gets one, it takes its waker out of
//!    the queue (under the lock): no one has to wake it any more.
//! 2. **Leaver.** A section ends: the count of sections in flight goes down; then a `SeqCst`
//!    fence; then, if the count of waiters is not zero, it pops the first waiter (under the
//!    lock) and wakes it.
//! 3. The fences order both store-then-load pairs: either the waiter's second try sees the
//!    turn given back, or the leaver sees the waiter queued and wakes it. A woken waiter tries
//!    again when polled and queues itself again, at the front, if another took the turn first.
//! 4. A woken waiter dropped before it tried again passes its wake-up on to the next waiter,
//!    so a turn given back is never left with waiters asleep.
//!
//! Sections of the plain (sync) form do not wait: they count themselves in flight at once, and
//! one beyond the admitted level runs without a replacement worker (see `crate::section`).

use std::collections::VecDeque;
use std::task::Waker;

use crate::sync::{fence, lock, AtomicUsize, Mutex, Ordering};

/// A waiter's place in the queue.
pub(crate) type Ticket = u64;

/// The turns of one call site.
#[derive(Debug)]
pub(crate) struct Admission {
    /// Sections of the site in flight.
    in_flight: AtomicUsize,
    /// Waiters queued (the queue's length, readable without the lock).
    waiting: AtomicUsize,
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    next: Ticket,
    waiters: VecDeque<(Ticket, Waker)>,
}

/// What [`Admission::poll_turn`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// The caller holds a turn: it must call [`Admission::leave`] when its section ends. The
    /// level is the count in flight, the caller included.
    Taken(usize),
    /// The caller waits with this ticket, and is woken when a turn may be free.
    Waiting(Ticket),
}

impl Admission {
    /// No section in flight, no waiter.
    pub(crate) fn new() -> Admission {
        Admission {
            in_flight: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            queue: Mutex::new(Queue::default()),
        }
    }

    /// A section that does not wait starts: counts it in flight and returns the count, itself
    /// included.
    pub(crate) fn enter(&self) -> usize {
        // Relaxed: a statistic for the sync form, which does not wait; the waiters' handshake
        // is on `leave`'s side.
        self.in_flight.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Takes a turn if fewer than `admitted` are in flight; returns the count in flight then.
    fn try_take(&self, admitted: usize) -> Option<usize> {
        let mut current = self.in_flight.load(Ordering::Relaxed);
        loop {
            if current >= admitted {
                return None;
            }
            // Relaxed: a count; the handshake's ordering is the fences'.
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(current + 1),
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes a turn if fewer than `admitted` are in flight; otherwise queues `waker` (as
    /// `ticket`'s, if the caller waited before) to be woken when one may be free.
    pub(crate) fn poll_turn(&self, admitted: usize, waker: &Waker, ticket: Option<Ticket>) -> Turn {
        if let Some(level) = self.try_take(admitted) {
            if let Some(ticket) = ticket {
                self.forget(ticket);
            }
            return Turn::Taken(level);
        }
        let first = ticket.is_none();
        let ticket = {
            let mut queue = lock(&self.queue);
            let ticket = match ticket {
                Some(ticket) => ticket,
                None => {
                    queue.next += 1;
                    queue.next
                }
            };
            match queue.waiters.iter_mut().find(|(t, _)| *t == ticket) {
                Some((_, queued)) => queued.clone_from(waker),
                // First wait, or woken and beaten to the turn: to the front if woken.
                None if first => queue.waiters.push_back((ticket, waker.clone())),
                None => queue.waiters.push_front((ticket, waker.clone())),
            }
            // Relaxed: ordered by the fence below.
            self.waiting.store(queue.waiters.len(), Ordering::Relaxed);
            ticket
        };
        // Pairs with the fence in `leave`: either the try below sees its turn given back, or
        // its load of `waiting` sees this waiter queued.
        fence(Ordering::SeqCst);
        match self.try_take(admitted) {
            Some(level) => {
                self.forget(ticket);
                Turn::Taken(level)
            }
            None => Turn::Waiting(ticket),
        }
    }

    /// A section that held a turn (or entered without waiting) ends.
    pub(crate) fn leave(&self) {
        // Relaxed: ordered by the fence below.
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        // Pairs with the fence in `poll_turn`.
        fence(Ordering::SeqCst);
        self.wake(1);
    }

    /// Wakes up to `n` waiters (the admitted level rose, or a turn was given back).
    pub(crate) fn wake(&self, n: usize) {
        if self.waiting.load(Ordering::Relaxed) == 0 {
            return;
        }
        let woken: Vec<Waker> = {
            let mut queue = lock(&self.queue);
            let n = n.min(queue.waiters.len());
            let woken = queue.waiters.drain(..n).map(|(_, waker)| waker).collect();
            self.waiting.store(queue.waiters.len(), Ordering::Relaxed);
            woken
        };
        // Outside the lock: a waker may run code that polls, or takes other locks.
        woken.into_iter().for_each(Waker::wake);
    }

    /// The waiter holding `ticket` stops waiting without a turn (its future was dropped): if it
    /// had been woken, the wake-up goes to the next waiter.
    pub(crate) fn cancel(&self, ticket: Ticket) {
        if !self.forget(ticket) {
            self.wake(1);
        }
    }

    /// Takes `ticket` out of the queue; returns whether it was there (not yet woken).
    fn forget(&self, ticket: Ticket) -> bool {
        let mut queue = lock(&self.queue);
        let before = queue.waiters.len();
        queue.waiters.retain(|(t, _)| *t != ticket);
        self.waiting.store(queue.waiters.len(), Ordering::Relaxed);
        queue.waiters.len() != before
    }

    /// Sections of the site in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::AtomicUsize as Count;
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;

    #[derive(Default)]
    struct Flag(Count);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag::default());
        (flag.clone(), Waker::from(flag))
    }

    /// A waiter: its wake-up count, its waker and its ticket.
    type Waiter = (Arc<Flag>, Waker, Ticket);

    /// One turn, taken; two waiters queued after it.
    fn one_turn_two_waiters() -> (Admission, Waiter, Waiter) {
        let admission = Admission::new();
        let (_, w0) = waker();
        assert_eq!(admission.poll_turn(1, &w0, None), Turn::Taken(1));
        let queue = || {
            let (flag, waker) = waker();
            let Turn::Waiting(ticket) = admission.poll_turn(1, &waker, None) else {
                panic!("the turn is taken: it waits");
            };
            (flag, waker, ticket)
        };
        let (first, second) = (queue(), queue());
        (admission, first, second)
    }

    fn wakes(flag: &Flag) -> usize {
        flag.0.load(Ordering::Relaxed)
    }

    #[test]
    fn turns_beyond_the_level_wait_in_order_and_are_woken_one_by_one() {
        let (admission, (f1, w1, t1), (f2, w2, t2)) = one_turn_two_waiters();
        admission.leave();
        assert_eq!((wakes(&f1), wakes(&f2)), (1, 0));
        assert_eq!(admission.poll_turn(1, &w1, Some(t1)), Turn::Taken(1));
        assert_eq!(admission.poll_turn(1, &w2, Some(t2)), Turn::Waiting(t2));
        admission.leave();
        assert_eq!(wakes(&f2), 1);
        assert_eq!(admission.poll_turn(1, &w2, Some(t2)), Turn::Taken(1));
        admission.leave();
        assert_eq!(admission.in_flight(), 0);
    }

    #[test]
    fn a_woken_waiter_dropped_passes_its_wake_up_on() {
        let (admission, (_, _, t1), (f2, _, _)) = one_turn_two_waiters();
        admission.leave();
        assert_eq!(wakes(&f2), 0);
        admission.cancel(t1);
        assert_eq!(wakes(&f2), 1, "the next waiter is woken");
    }

    #[test]
    fn a_waiter_dropped_before_its_wake_up_wakes_no_one() {
        let (admission, (_, _, t1), (f2, _, _)) = one_turn_two_waiters();
        admission.cancel(t1);
        assert_eq!(wakes(&f2), 0);
        admission.leave();
        assert_eq!(wakes(&f2), 1, "the turn goes to the next waiter");
    }
}
