//! The admission handshake of a call site's turns ([`crate::sites::admission`]): a section
//! giving its turn back racing a task that queues itself to wait for one, and a woken waiter
//! dropped racing the wake-up. No turn given back is ever left with a waiter asleep.

use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};

use super::model;
use crate::sites::admission::{Admission, Turn};
use crate::sync::{Arc, AtomicUsize, Ordering};

/// A waker that counts its wake-ups.
struct Flag(AtomicUsize);

impl Wake for Flag {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn waker() -> (StdArc<Flag>, Waker) {
    let flag = StdArc::new(Flag(AtomicUsize::new(0)));
    (flag.clone(), Waker::from(flag))
}

fn woken(flag: &Flag) -> bool {
    flag.0.load(Ordering::Relaxed) > 0
}

/// One turn, held by a section that ends while a task asks for the turn: the task either takes
/// it, or waits and is woken, and then takes it.
#[test]
fn a_turn_given_back_racing_a_waiter() {
    model(3, || {
        let admission = Arc::new(Admission::new());
        assert_eq!(admission.enter(), 1);
        let leaver = {
            let admission = admission.clone();
            loom::thread::spawn(move || admission.leave())
        };
        let (flag, waker) = waker();
        let turn = admission.poll_turn(1, &waker, None);
        leaver.join().unwrap();
        if let Turn::Waiting(ticket) = turn {
            assert!(woken(&flag), "a waiter is left asleep with its turn free");
            assert_eq!(admission.poll_turn(1, &waker, Some(ticket)), Turn::Taken(1));
        }
    });
}

/// Two tasks wait for the one turn; it is given back while the first waiter is dropped: the
/// second is woken, whichever of the two the wake-up went to first.
#[test]
fn a_woken_waiter_dropped_racing_the_wake_up() {
    model(3, || {
        let admission = Arc::new(Admission::new());
        assert_eq!(admission.enter(), 1);
        let (_, first_waker) = waker();
        let (second, second_waker) = waker();
        let Turn::Waiting(first) = admission.poll_turn(1, &first_waker, None) else {
            panic!("the turn is held");
        };
        let Turn::Waiting(ticket) = admission.poll_turn(1, &second_waker, None) else {
            panic!("the turn is held");
        };
        let leaver = {
            let admission = admission.clone();
            loom::thread::spawn(move || admission.leave())
        };
        admission.cancel(first);
        leaver.join().unwrap();
        assert!(
            woken(&second),
            "the second waiter is left asleep with the turn free"
        );
        assert_eq!(
            admission.poll_turn(1, &second_waker, Some(ticket)),
            Turn::Taken(1)
        );
    });
}

/// Two tasks ask for the one free turn at once: exactly one takes it.
#[test]
fn two_waiters_racing_for_one_turn() {
    model(3, || {
        let admission = Arc::new(Admission::new());
        let other = {
            let admission = admission.clone();
            loom::thread::spawn(move || {
                let (_, waker) = waker();
                matches!(admission.poll_turn(1, &waker, None), Turn::Taken(_))
            })
        };
        let (_, waker) = waker();
        let mine = matches!(admission.poll_turn(1, &waker, None), Turn::Taken(_));
        let theirs = other.join().unwrap();
        assert!(
            mine != theirs,
            "exactly one takes the turn: {mine} {theirs}"
        );
    });
}
