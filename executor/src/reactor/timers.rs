//! Pending timers, ordered by deadline.
//!
//! A `BTreeMap` keyed by `(deadline, id)`, as in async-io: arming, disarming and firing are
//! `O(log n)`, firing `k` due timers at once is one `split_off`, and an entry costs its key and
//! a `Waker` (40 bytes) plus the tree's node overhead. With 100,000 timers pending the tree
//! holds about 6 MB and arms a timer in well under a microsecond (see `benches/compare/io.rs`).
//! A timer wheel would make arming `O(1)`, but needs intrusive lists (unsafe) or slab
//! indirection to disarm, for little gain at this scale.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::{Duration, Instant};

/// What the seated thread is doing, as far as arming a timer is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sleep {
    /// Not in a wait that may block: it will look at the timers before it waits.
    Awake,
    /// In a wait that ends at this deadline (`None`: no deadline).
    Until(Option<Instant>),
}

/// The timer set, behind the reactor's `timers` mutex.
#[derive(Debug)]
pub(super) struct Timers {
    /// Pending timers; the value is the waker to wake once the deadline passes.
    map: BTreeMap<(Instant, u64), Waker>,
    /// The next timer id (ids keep equal deadlines apart).
    next_id: u64,
    /// The seated thread's wait, so arming an earlier timer knows to notify it.
    sleep: Sleep,
}

impl Timers {
    /// No timers.
    pub(super) fn new() -> Timers {
        Timers {
            map: BTreeMap::new(),
            next_id: 0,
            sleep: Sleep::Awake,
        }
    }

    /// The number of pending timers.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Arms a timer; returns its id and whether the seated thread must be notified because it
    /// sleeps past `deadline`.
    pub(super) fn insert(&mut self, deadline: Instant, waker: &Waker) -> (u64, bool) {
        let id = self.next_id;
        self.next_id += 1;
        self.map.insert((deadline, id), waker.clone());
        (id, self.wakes_sleeper(deadline))
    }

    /// Replaces a pending timer's waker, or re-arms it under the same id if it fired; returns
    /// whether the seated thread must be notified.
    pub(super) fn update(&mut self, deadline: Instant, id: u64, waker: &Waker) -> bool {
        match self.map.get_mut(&(deadline, id)) {
            Some(old) => {
                if !old.will_wake(waker) {
                    old.clone_from(waker);
                }
                false
            }
            None => {
                self.map.insert((deadline, id), waker.clone());
                self.wakes_sleeper(deadline)
            }
        }
    }

    /// Whether a timer is armed.
    #[cfg(test)]
    #[cfg_attr(loom, allow(dead_code))] // loom models park without the reactor
    pub(super) fn contains(&self, deadline: Instant, id: u64) -> bool {
        self.map.contains_key(&(deadline, id))
    }

    /// Disarms a timer; a no-op if it already fired.
    pub(super) fn remove(&mut self, deadline: Instant, id: u64) {
        self.map.remove(&(deadline, id));
    }

    /// Moves the wakers of timers due at `now` into `wakers`; returns the next deadline.
    pub(super) fn take_due(&mut self, now: Instant, wakers: &mut Vec<Waker>) -> Option<Instant> {
        let due_first = self
            .map
            .first_key_value()
            .is_some_and(|(&(d, _), _)| d <= now);
        if due_first {
            // Everything strictly before `now + 1ns` is due.
            let pending = self.map.split_off(&(now + Duration::from_nanos(1), 0));
            let due = std::mem::replace(&mut self.map, pending);
            wakers.extend(due.into_values());
        }
        self.map.first_key_value().map(|(&(d, _), _)| d)
    }

    /// Records that the seated thread waits until `until` (`None`: no deadline).
    pub(super) fn set_sleeping(&mut self, until: Option<Instant>) {
        self.sleep = Sleep::Until(until);
    }

    /// Records that the seated thread's wait is over.
    pub(super) fn set_awake(&mut self) {
        self.sleep = Sleep::Awake;
    }

    /// Whether a timer at `deadline` must interrupt the seated thread's wait; if so, the wait
    /// counts as ending at `deadline` from now on, so later timers do not notify again.
    fn wakes_sleeper(&mut self, deadline: Instant) -> bool {
        match self.sleep {
            Sleep::Until(Some(until)) if until <= deadline => false,
            Sleep::Until(_) => {
                self.sleep = Sleep::Until(Some(deadline));
                true
            }
            Sleep::Awake => false,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    #[test]
    fn due_timers_fire_in_one_batch_and_the_rest_wait() {
        let mut timers = Timers::new();
        let now = Instant::now();
        let waker = futures::task::noop_waker_ref();
        timers.insert(now - Duration::from_millis(1), waker);
        timers.insert(now, waker);
        let (late, _) = timers.insert(now + Duration::from_secs(1), waker);
        let mut wakers = Vec::new();
        let next = timers.take_due(now, &mut wakers);
        assert_eq!(wakers.len(), 2);
        assert_eq!(next, Some(now + Duration::from_secs(1)));
        timers.remove(now + Duration::from_secs(1), late);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn only_an_earlier_timer_notifies_the_sleeper() {
        let mut timers = Timers::new();
        let now = Instant::now();
        let waker = futures::task::noop_waker_ref();
        let (_, notify) = timers.insert(now, waker);
        assert!(!notify, "nobody sleeps");
        timers.set_sleeping(Some(now + Duration::from_secs(1)));
        let (_, notify) = timers.insert(now + Duration::from_secs(2), waker);
        assert!(!notify, "later than the wait");
        let (_, notify) = timers.insert(now + Duration::from_millis(500), waker);
        assert!(notify, "earlier than the wait");
        let (_, notify) = timers.insert(now + Duration::from_millis(600), waker);
        assert!(!notify, "the sleeper was already told to wake earlier");
        timers.set_sleeping(None);
        let (id, notify) = timers.insert(now + Duration::from_secs(9), waker);
        assert!(notify, "a wait without deadline");
        timers.set_awake();
        timers.remove(now + Duration::from_secs(9), id);
        assert!(
            !timers.update(now + Duration::from_secs(9), id, waker),
            "awake"
        );
        assert_eq!(timers.len(), 5);
    }
}
