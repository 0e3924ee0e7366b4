//! Admission: which of a work queue's tasks may start now. A pure state machine, generic over
//! what it holds, so unit tests and the loom model drive it without a runtime.
//!
//! # Rules
//!
//! 1. A task may start when fewer than `max_active` of the queue's tasks are in flight and, if
//!    it has a key, no other task of its key is in flight or waiting ahead of it.
//! 2. A task that may not start yet waits: in its key's lane if an earlier task of that key is
//!    waiting or running, otherwise in the queue's ready FIFO.
//! 3. When a task finishes, its place is free: the next task of its lane (if any) joins the back
//!    of the ready FIFO, and the front of the ready FIFO starts. One task finishing frees one
//!    place, so at most one task starts.
//!
//! Invariants (checked by the unit tests and the loom model): `in_flight <= max_active`;
//! the ready FIFO is empty unless `in_flight == max_active`; a key has a lane exactly while one
//! of its tasks is in flight or in the ready FIFO. An ordered queue is `max_active == 1` with
//! no keys, so its tasks start one at a time in submission order.
//!
//! # Generations (for `flush`)
//!
//! [`Generations`] counts unfinished tasks per generation. A flush opens a new generation and
//! waits until no task of an earlier one is left: O(1) per task and per flush in the usual
//! case, instead of a set of task ids. Only generations with unfinished tasks are kept, so the
//! bookkeeping never outgrows the live tasks, however many flushes pass an old task.

use std::collections::{HashMap, VecDeque};

/// Who may start, for one queue.
#[derive(Debug)]
pub(crate) struct Admission<E> {
    /// The most tasks in flight at once.
    max_active: usize,
    /// Tasks started and not finished.
    in_flight: usize,
    /// Tasks free of lane constraints, waiting only for a place, oldest first.
    ready: VecDeque<(E, Option<u64>)>,
    /// Per key: the tasks waiting behind the key's running or ready task. A key is present
    /// while one of its tasks is in flight or in `ready`.
    lanes: HashMap<u64, VecDeque<E>>,
}

impl<E> Admission<E> {
    /// Admission for a queue with `max_active` places (at least one).
    pub(crate) fn new(max_active: usize) -> Admission<E> {
        assert!(max_active >= 1, "max_active must be at least 1");
        Admission {
            max_active,
            in_flight: 0,
            ready: VecDeque::new(),
            lanes: HashMap::new(),
        }
    }

    /// Offers a new task with an optional `key`. Returns it back if it may start now (it then
    /// counts as in flight); otherwise keeps it.
    pub(crate) fn push(&mut self, entry: E, key: Option<u64>) -> Option<E> {
        if let Some(key) = key {
            if let Some(lane) = self.lanes.get_mut(&key) {
                lane.push_back(entry);
                return None;
            }
            self.lanes.insert(key, VecDeque::new());
        }
        if self.in_flight < self.max_active {
            debug_assert!(self.ready.is_empty(), "free place with tasks ready");
            self.in_flight += 1;
            Some(entry)
        } else {
            self.ready.push_back((entry, key));
            None
        }
    }

    /// Records that an in-flight task with `key` finished. Returns the task that starts in its
    /// place, if any (it counts as in flight): the front of the ready FIFO.
    pub(crate) fn finish(&mut self, key: Option<u64>) -> Option<E> {
        if !self.release(key) {
            return None;
        }
        let (next, _) = self.ready.pop_front()?;
        self.in_flight += 1;
        Some(next)
    }

    /// Records that an in-flight task with `key` finished, and returns the task that starts in
    /// its place, if any (it counts as in flight): the oldest ready task for which `raised`
    /// holds, or else the one plain admission starts (priority inheritance: a task a `High`
    /// task awaits passes the others waiting only for a place; a lane's tasks keep their order).
    ///
    /// `clean` says that no ready task was raised when the FIFO was last looked through: then
    /// only the task that joins it now from `key`'s lane is looked at, not the whole FIFO.
    /// Also returns whether the FIFO is clean afterwards (it was looked through, or was clean,
    /// and holds no raised task). [`Admission::finish`] is for when none can be raised.
    pub(crate) fn finish_preferring(
        &mut self,
        key: Option<u64>,
        raised: impl Fn(&E) -> bool,
        clean: bool,
    ) -> (Option<E>, bool) {
        let Some(moved) = self.release_lane(key) else {
            return (None, clean);
        };
        let moved_raised = moved && self.ready.back().is_some_and(|(e, _)| raised(e));
        let at = if clean && !moved_raised {
            None
        } else {
            self.ready.iter().position(|(e, _)| raised(e))
        };
        let next = match at {
            Some(at) => self.ready.remove(at),
            None => self.ready.pop_front(),
        };
        let Some((next, _)) = next else {
            return (None, true);
        };
        self.in_flight += 1;
        (Some(next), at.is_none())
    }

    /// Records that an in-flight task with `key` finished, without starting another (the next
    /// of its lane joins the ready FIFO): once the runtime shuts down, nothing starts, and the
    /// tasks left waiting are taken by [`Admission::take_waiting`]. Returns whether a task was
    /// in flight.
    ///
    /// Called from a task's drop, where a panic could abort the process: a finish with
    /// nothing in flight (a bug) panics in debug builds and is ignored in release builds.
    pub(crate) fn release(&mut self, key: Option<u64>) -> bool {
        self.release_lane(key).is_some()
    }

    /// [`Admission::release`], returning `None` if no task was in flight, else whether the
    /// next task of `key`'s lane joined the back of the ready FIFO.
    fn release_lane(&mut self, key: Option<u64>) -> Option<bool> {
        debug_assert!(
            self.in_flight > 0,
            "finish with nothing in flight ({} waiting)",
            self.waiting()
        );
        if self.in_flight == 0 {
            return None;
        }
        self.in_flight -= 1;
        let Some(key) = key else {
            return Some(false);
        };
        let lane = self.lanes.get_mut(&key);
        match lane.and_then(VecDeque::pop_front) {
            Some(next) => {
                self.ready.push_back((next, Some(key)));
                Some(true)
            }
            None => {
                self.lanes.remove(&key);
                Some(false)
            }
        }
    }

    /// Takes every waiting task (for cancellation), leaving the in-flight count as it is.
    /// Keys of waiting tasks lose their lanes; keys of in-flight tasks keep theirs.
    pub(crate) fn take_waiting(&mut self) -> Vec<E> {
        let mut all = Vec::new();
        for (entry, key) in self.ready.drain(..) {
            all.push(entry);
            if let Some(key) = key {
                // Its lane existed only for this task (and those behind it, taken below).
                if let Some(lane) = self.lanes.remove(&key) {
                    all.extend(lane);
                }
            }
        }
        for lane in self.lanes.values_mut() {
            all.extend(lane.drain(..));
        }
        all
    }

    /// Tasks in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Tasks waiting now (in the ready FIFO or a lane).
    pub(crate) fn waiting(&self) -> usize {
        self.ready.len() + self.lanes.values().map(VecDeque::len).sum::<usize>()
    }
}

/// Unfinished tasks per generation, for `flush`.
///
/// Only generations with unfinished tasks are tracked, oldest first, so the bookkeeping is
/// bounded by the queue's live tasks however many flushes pass while an old task runs on: a
/// generation whose last task finishes is dropped wherever it sits. A flush waiting for
/// generation `t` is done once the oldest tracked generation is later than `t`. Tasks join the
/// current generation (the back) and usually finish oldest first (the front): both ends are
/// `O(1)`; a task finishing in a middle generation costs a binary search and a shift.
#[derive(Debug, Default)]
pub(crate) struct Generations {
    /// The generation a task joining now belongs to.
    current: u64,
    /// `(generation, unfinished tasks)` for every generation with a task left, by generation;
    /// no count is zero.
    counts: VecDeque<(u64, usize)>,
}

impl Generations {
    /// The generation a task joining now belongs to.
    pub(crate) fn current(&self) -> u64 {
        self.current
    }

    /// Counts a task of generation `generation`: the current one, or an older one for a
    /// delayed task that became due (its generation is tracked again if it had emptied).
    pub(crate) fn add(&mut self, generation: u64) {
        match self.counts.back_mut() {
            Some((last, n)) if *last == generation => *n += 1,
            Some((last, _)) if *last > generation => {
                match self.counts.binary_search_by_key(&generation, |&(g, _)| g) {
                    Ok(index) => self.counts[index].1 += 1,
                    Err(index) => self.counts.insert(index, (generation, 1)),
                }
            }
            _ => self.counts.push_back((generation, 1)),
        }
    }

    /// A task of `generation` finished. Returns whether the oldest generation emptied (a flush
    /// may be done).
    ///
    /// Called from a task's drop: a generation with no task left (a bug) panics in debug
    /// builds and is ignored in release builds, where a panic could abort the process.
    pub(crate) fn remove(&mut self, generation: u64) -> bool {
        self.remove_many(generation, 1)
    }

    /// `n` tasks of `generation` finished (see [`Generations::remove`]).
    pub(crate) fn remove_many(&mut self, generation: u64, n: usize) -> bool {
        let index = match self.counts.front() {
            Some(&(oldest, _)) if oldest == generation => Some(0),
            _ => self
                .counts
                .binary_search_by_key(&generation, |&(g, _)| g)
                .ok(),
        };
        let index = index.filter(|&i| self.counts[i].1 >= n);
        debug_assert!(
            index.is_some(),
            "fewer than {n} tasks left in generation {generation}: {self:?}"
        );
        let Some(index) = index else { return false };
        self.counts[index].1 -= n;
        if self.counts[index].1 > 0 {
            return false;
        }
        self.counts.remove(index);
        index == 0
    }

    /// Starts a flush: later tasks join a new generation. Returns the generation the flush
    /// waits for, to pass to [`Generations::done`].
    pub(crate) fn open(&mut self) -> Option<u64> {
        if self
            .counts
            .back()
            .is_some_and(|&(last, _)| last == self.current)
        {
            self.current += 1;
        }
        self.current.checked_sub(1)
    }

    /// Whether every task of generation `target` (from [`Generations::open`]) and earlier
    /// finished.
    pub(crate) fn done(&self, target: Option<u64>) -> bool {
        target.is_none_or(|target| {
            self.counts
                .front()
                .is_none_or(|&(oldest, _)| oldest > target)
        })
    }

    /// How many generations are tracked (for tests: the bookkeeping's size).
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_admits_one_at_a_time_in_order() {
        let mut a = Admission::new(1);
        assert_eq!(a.push(1, None), Some(1));
        assert_eq!(a.push(2, None), None);
        assert_eq!(a.push(3, None), None);
        assert_eq!((a.in_flight(), a.waiting()), (1, 2));
        assert_eq!(a.finish(None), Some(2));
        assert_eq!(a.finish(None), Some(3));
        assert_eq!(a.finish(None), None);
        assert_eq!((a.in_flight(), a.waiting()), (0, 0));
    }

    #[test]
    fn max_active_limits_in_flight() {
        let mut a = Admission::new(2);
        assert_eq!(a.push(1, None), Some(1));
        assert_eq!(a.push(2, None), Some(2));
        assert_eq!(a.push(3, None), None);
        assert_eq!(a.in_flight(), 2);
        assert_eq!(a.finish(None), Some(3));
        assert_eq!(a.in_flight(), 2);
        assert_eq!(a.finish(None), None);
        assert_eq!(a.finish(None), None);
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn lanes_serialise_a_key_and_let_others_pass() {
        let mut a = Admission::new(8);
        assert_eq!(a.push("a1", Some(1)), Some("a1"));
        assert_eq!(a.push("a2", Some(1)), None);
        assert_eq!(a.push("b1", Some(2)), Some("b1"));
        assert_eq!(a.push("u", None), Some("u"));
        assert_eq!(a.in_flight(), 3);
        // a1 done: a2 goes through the ready FIFO and starts at once (places are free).
        assert_eq!(a.finish(Some(1)), Some("a2"));
        assert_eq!(a.finish(Some(1)), None);
        assert_eq!(a.finish(Some(2)), None);
        assert_eq!(a.finish(None), None);
        assert!(a.lanes.is_empty());
    }

    #[test]
    fn lanes_and_max_active_together() {
        let mut a = Admission::new(1);
        assert_eq!(a.push("a1", Some(1)), Some("a1"));
        assert_eq!(a.push("b1", Some(2)), None);
        assert_eq!(a.push("a2", Some(1)), None);
        // a1 done: a2 joins the FIFO behind b1.
        assert_eq!(a.finish(Some(1)), Some("b1"));
        assert_eq!(a.finish(Some(2)), Some("a2"));
        assert_eq!(a.finish(Some(1)), None);
        assert!(a.lanes.is_empty());
    }

    #[test]
    fn take_waiting_keeps_in_flight_lanes() {
        let mut a = Admission::new(1);
        assert_eq!(a.push(1, Some(7)), Some(1));
        assert_eq!(a.push(2, Some(7)), None);
        assert_eq!(a.push(3, Some(8)), None);
        assert_eq!(a.push(4, Some(8)), None);
        let mut taken = a.take_waiting();
        taken.sort_unstable();
        assert_eq!(taken, [2, 3, 4]);
        assert_eq!(a.waiting(), 0);
        assert_eq!(a.finish(Some(7)), None);
        assert!(a.lanes.is_empty());
    }

    #[test]
    fn a_raised_task_starts_before_older_ones_but_not_before_its_lane() {
        let mut a = Admission::new(1);
        assert_eq!(a.push(0, None), Some(0));
        for (task, key) in [(1, None), (2, Some(7)), (3, Some(7)), (4, None)] {
            assert_eq!(a.push(task, key), None);
        }
        assert_eq!(a.waiting(), 4);
        // 4 and 3 are raised: 4 passes 1 and 2 in the ready FIFO; 3 waits behind 2, its lane.
        let raised = |t: &i32| *t == 4 || *t == 3;
        assert_eq!(a.finish_preferring(None, raised, false), (Some(4), false));
        assert_eq!(a.finish_preferring(None, raised, false), (Some(1), true));
        // Clean: the FIFO is not looked through again.
        assert_eq!(a.finish_preferring(None, raised, true), (Some(2), true));
        assert_eq!(a.finish_preferring(Some(7), raised, true), (Some(3), false));
        assert_eq!(a.finish_preferring(Some(7), raised, false), (None, true));
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn a_task_joining_a_clean_fifo_from_its_lane_is_looked_at() {
        let raised = |t: &i32| *t == 3;
        let mut a = Admission::new(1);
        assert_eq!(a.push(0, Some(7)), Some(0));
        assert_eq!(a.push(1, None), None);
        assert_eq!(a.push(3, Some(7)), None);
        // 0 finishes: 3 joins the clean FIFO from its lane, raised, and starts before 1.
        assert_eq!(a.finish_preferring(Some(7), raised, true), (Some(3), false));
        // Not known clean any more: looked through, the FIFO is (1 is not raised).
        assert_eq!(a.finish_preferring(Some(7), raised, false), (Some(1), true));
        assert_eq!(a.finish_preferring(None, raised, true), (None, true));
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn generations_track_flushes() {
        let mut g = Generations::default();
        // Nothing queued: a flush is done at once.
        let t = g.open();
        assert!(g.done(t));
        g.add(g.current());
        g.add(g.current());
        let t1 = g.open();
        assert!(!g.done(t1));
        g.add(g.current());
        assert!(!g.remove(0));
        assert!(!g.done(t1));
        assert!(g.remove(0));
        assert!(g.done(t1));
        // The later task is still out.
        let t2 = g.open();
        assert!(!g.done(t2));
        assert!(g.remove(1));
        assert!(g.done(t2));
    }

    #[test]
    fn generations_take_back_a_late_delayed_task() {
        let mut g = Generations::default();
        g.add(0);
        let t = g.open();
        g.add(g.current());
        g.remove(0);
        assert!(g.done(t));
        // A task delayed since generation 0 becomes due: a flush opened now waits for it.
        g.add(0);
        let t2 = g.open();
        assert!(!g.done(t2));
        g.remove(1);
        assert!(!g.done(t2));
        g.remove(0);
        assert!(g.done(t2));
        assert_eq!(g.current(), 2);
    }

    #[test]
    fn generations_stay_bounded_while_an_old_task_never_finishes() {
        let mut g = Generations::default();
        // A task of the first generation that never finishes.
        g.add(g.current());
        let old = g.current();
        for _ in 0..10_000 {
            // A task is spawned, a flush waits for it (and for the old task), the task
            // finishes.
            let generation = g.current();
            g.add(generation);
            let target = g.open();
            assert!(!g.done(target), "the old task is still out");
            g.remove(generation);
            assert!(!g.done(target), "the old task is still out");
            assert!(g.tracked() <= 2, "{} generations tracked", g.tracked());
        }
        // A flush opened now waits for the old task only, and is done when it finishes.
        let target = g.open();
        assert!(!g.done(target));
        assert!(g.remove(old), "the oldest generation emptied");
        assert!(g.done(target));
        assert_eq!(g.tracked(), 0);
    }

    #[test]
    fn generations_drop_a_middle_generation_that_empties() {
        let mut g = Generations::default();
        let mut targets = Vec::new();
        for generation in 0..4 {
            assert_eq!(g.current(), generation);
            g.add(generation);
            targets.push(g.open());
        }
        // Generations 1 and 2 finish first: flushes of 1 and 2 still wait for 0.
        assert!(!g.remove(2));
        assert!(!g.remove(1));
        assert_eq!(g.tracked(), 2);
        assert!(targets.iter().all(|&t| !g.done(t)));
        // 0 finishes: every flush up to generation 2 is done, the one of 3 waits.
        assert!(g.remove(0));
        assert!(targets[..3].iter().all(|&t| g.done(t)));
        assert!(!g.done(targets[3]));
        // A delayed task of generation 1 becomes due: a new flush waits for it.
        g.add(1);
        let late = g.open();
        assert!(!g.done(late));
        assert!(!g.remove(3));
        assert!(g.remove(1));
        assert!(g.done(late));
    }
}
