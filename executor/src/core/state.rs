//! The packed per-core worker counts: one atomic word per core.
//!
//! The word holds four 16-bit counts. Every transition of the core protocol (see the parent
//! module) is a single `fetch_add` of a signed combination of the unit constants below, so the
//! counts always move together and a reader sees a consistent snapshot.

use std::fmt;

use crate::sync::{AtomicU64, Ordering};

/// Width of one count in the packed word.
const FIELD_BITS: u32 = 16;
/// Mask of one count once shifted down.
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;

/// Shift of the count of workers holding the baton and not in a section.
const RUNNING_SHIFT: u32 = 0;
/// Shift of the count of workers parked on the core's spare stack (spares, or the last active
/// worker once the core ran out of work).
const SPARES_SHIFT: u32 = FIELD_BITS;
/// Shift of the count of workers running blocking code whose baton was passed on.
const SECTION_SHIFT: u32 = 2 * FIELD_BITS;
/// Shift of the count of all worker threads that belong to the core, including those being
/// started (reserved, and not yet parked on the spare stack).
const WORKERS_SHIFT: u32 = 3 * FIELD_BITS;

/// One running worker.
pub(crate) const ONE_RUNNING: u64 = 1 << RUNNING_SHIFT;
/// One idle (parked) worker.
pub(crate) const ONE_IDLE: u64 = 1 << SPARES_SHIFT;
/// One worker in a section whose baton was passed on.
pub(crate) const ONE_IN_SECTION: u64 = 1 << SECTION_SHIFT;
/// One worker thread.
pub(crate) const ONE_WORKER: u64 = 1 << WORKERS_SHIFT;

/// The largest count a field can hold: the cap on worker threads per core.
pub(crate) const MAX_FIELD: u64 = FIELD_MASK;

/// A snapshot of a core's worker counts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct State(u64);

impl State {
    /// Builds a snapshot from its four counts.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn new(running: u64, idle: u64, in_section: u64, workers: u64) -> State {
        assert!(
            running.max(idle).max(in_section).max(workers) <= MAX_FIELD,
            "core state count out of range"
        );
        State(
            (running << RUNNING_SHIFT)
                | (idle << SPARES_SHIFT)
                | (in_section << SECTION_SHIFT)
                | (workers << WORKERS_SHIFT),
        )
    }

    /// Workers holding the baton and not in a section.
    pub(crate) fn running(self) -> u64 {
        (self.0 >> RUNNING_SHIFT) & FIELD_MASK
    }

    /// Spares: workers parked on the core's spare stack.
    pub(crate) fn spares(self) -> u64 {
        (self.0 >> SPARES_SHIFT) & FIELD_MASK
    }

    /// Workers in a section whose baton was passed on.
    pub(crate) fn in_section(self) -> u64 {
        (self.0 >> SECTION_SHIFT) & FIELD_MASK
    }

    /// All worker threads of the core, including those being started.
    pub(crate) fn workers(self) -> u64 {
        (self.0 >> WORKERS_SHIFT) & FIELD_MASK
    }

    /// Worker threads reserved for the core whose thread has not joined the spare stack yet: it
    /// is being started, or the OS is about to refuse it.
    pub(crate) fn starting(self) -> u64 {
        self.workers() - self.running() - self.spares() - self.in_section()
    }

    /// `need_more_worker` (the core protocol in [`crate::core`]): the core has queued work and
    /// nobody runs it.
    pub(crate) fn need_more_worker(self, has_work: bool) -> bool {
        has_work && self.running() == 0
    }

    /// `keep_working` (the core protocol in [`crate::core`]): a worker at a poll boundary keeps the
    /// baton while it is the only running worker. With more than one, it retires (a worker came
    /// back from a section while its replacement runs).
    pub(crate) fn keep_working(self) -> bool {
        self.running() <= 1
    }

    /// Panics with the value seen unless the counts add up.
    fn check(self) {
        if self.running() + self.spares() + self.in_section() > self.workers() {
            panic!("inconsistent core state: {self:?}");
        }
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("running", &self.running())
            .field("spares", &self.spares())
            .field("in_section", &self.in_section())
            .field("workers", &self.workers())
            .finish()
    }
}

/// The atomic word holding a core's [`State`].
#[derive(Debug)]
pub(crate) struct AtomicState(AtomicU64);

/// The transitions of the core protocol, as deltas applied to the packed word.
///
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// A worker thread is about to be started for the core: it counts towards the core's
    /// threads (and so the caps) from now on, but not as idle, so nobody can wake it yet.
    Reserve,
    /// A reserved worker thread has started and parks on the spare stack.
    Start,
    /// A reserved worker thread will never join: the OS refused it, or the runtime shut down
    /// before it started.
    Unreserve,
    /// A parked worker exits (surplus spare past its keep-alive, or shutdown).
    Exit,
    /// A running worker parks: it ran out of work, or retires (*keep working*).
    Park,
    /// A parked worker is woken to run the core's work (*need more worker*).
    Wake,
    /// The baton of a worker in a section passes on: it stops counting as running.
    HandOff,
    /// A worker whose baton was passed on leaves its section and counts as running again.
    Return,
}

impl Transition {
    /// The delta this transition adds to the packed word (wrapping: negative deltas borrow).
    fn delta(self) -> u64 {
        match self {
            Transition::Reserve => ONE_WORKER,
            Transition::Start => ONE_IDLE,
            Transition::Unreserve => 0u64.wrapping_sub(ONE_WORKER),
            Transition::Exit => 0u64.wrapping_sub(ONE_WORKER + ONE_IDLE),
            Transition::Park => ONE_IDLE.wrapping_sub(ONE_RUNNING),
            Transition::Wake => ONE_RUNNING.wrapping_sub(ONE_IDLE),
            Transition::HandOff => ONE_IN_SECTION.wrapping_sub(ONE_RUNNING),
            Transition::Return => ONE_RUNNING.wrapping_sub(ONE_IN_SECTION),
        }
    }

    /// Whether `state` allows this transition (no count would go below zero).
    fn allowed_from(self, state: State) -> bool {
        match self {
            Transition::Reserve => state.workers() < MAX_FIELD,
            Transition::Start | Transition::Unreserve => state.starting() > 0,
            Transition::Exit | Transition::Wake => state.spares() > 0,
            Transition::Park | Transition::HandOff => state.running() > 0,
            Transition::Return => state.in_section() > 0,
        }
    }
}

impl AtomicState {
    /// A core with no workers yet.
    pub(crate) fn new() -> AtomicState {
        AtomicState(AtomicU64::new(0))
    }

    /// The current counts.
    ///
    /// Relaxed: callers that act on the snapshot either hold the core's idle lock (which orders
    /// it) or follow a `fence(SeqCst)` that pairs with the one in the parking path.
    pub(crate) fn load(&self) -> State {
        State(self.0.load(Ordering::Relaxed))
    }

    /// `keep_working` at a poll boundary: parks the calling worker's count (running to idle) only
    /// if another worker also runs. Returns whether it did. A compare-exchange, so that of two
    /// workers deciding at once exactly one retires.
    pub(crate) fn retire_if_surplus(&self) -> bool {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            if State(current).keep_working() {
                return false;
            }
            let next = current.wrapping_add(Transition::Park.delta());
            // SeqCst: as in `apply`.
            match self
                .0
                .compare_exchange(current, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// `need_more_worker`, under the core's idle lock with a parked worker in hand: counts that
    /// worker running (idle to running) only if no worker runs, checked and applied in one
    /// compare-exchange. Returns whether it did.
    ///
    /// A worker coming back from a section counts itself running without the idle lock: a
    /// check of `running == 0` followed by a separate increment could let the returning worker
    /// see itself alone at its poll boundary and start its next poll while the woken spare
    /// starts one too (two workers running the core outside any section).
    pub(crate) fn wake_if_none_running(&self) -> bool {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            if State(current).running() != 0 {
                return false;
            }
            if !Transition::Wake.allowed_from(State(current)) {
                panic!("inconsistent core state: Wake from {:?}", State(current));
            }
            let next = current.wrapping_add(Transition::Wake.delta());
            // SeqCst: as in `apply`.
            match self
                .0
                .compare_exchange(current, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Applies `transition` and returns the state before it.
    ///
    /// SeqCst: the parking worker's decrement of `running` and a spawner's later read of it form
    /// a store-then-load handshake (see the fences in the parent module); SeqCst on the RMW keeps
    /// it in the single total order with those fences.
    ///
    /// # Panics
    ///
    /// Panics with the state seen if the transition is impossible from it: that is a bug in the
    /// protocol, never a user error.
    pub(crate) fn apply(&self, transition: Transition) -> State {
        let before = State(self.0.fetch_add(transition.delta(), Ordering::SeqCst));
        if !transition.allowed_from(before) {
            panic!("inconsistent core state: {transition:?} from {before:?}");
        }
        State(before.0.wrapping_add(transition.delta())).check();
        before
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let s = State::new(1, 2, 3, 6);
        assert_eq!(
            (s.running(), s.spares(), s.in_section(), s.workers()),
            (1, 2, 3, 6)
        );
        let max = State::new(MAX_FIELD, 0, 0, MAX_FIELD);
        assert_eq!(max.running(), MAX_FIELD);
        assert_eq!(max.spares(), 0);
        assert_eq!(max.workers(), MAX_FIELD);
        assert_eq!(
            format!("{s:?}"),
            "State { running: 1, spares: 2, in_section: 3, workers: 6 }"
        );
    }

    /// Reserves and starts a worker thread.
    fn spawn(a: &AtomicState) {
        a.apply(Transition::Reserve);
        a.apply(Transition::Start);
    }

    #[test]
    fn transitions_move_the_right_counts() {
        let a = AtomicState::new();
        a.apply(Transition::Reserve);
        assert_eq!(a.load(), State::new(0, 0, 0, 1));
        assert_eq!(a.load().starting(), 1);
        a.apply(Transition::Start);
        assert_eq!(a.load().starting(), 0);
        a.apply(Transition::Reserve);
        a.apply(Transition::Unreserve);
        spawn(&a);
        assert_eq!(a.load(), State::new(0, 2, 0, 2));
        a.apply(Transition::Wake);
        assert_eq!(a.load(), State::new(1, 1, 0, 2));
        a.apply(Transition::HandOff);
        assert_eq!(a.load(), State::new(0, 1, 1, 2));
        a.apply(Transition::Wake);
        a.apply(Transition::Return);
        assert_eq!(a.load(), State::new(2, 0, 0, 2));
        assert!(!a.load().keep_working());
        a.apply(Transition::Park);
        assert!(a.load().keep_working());
        assert_eq!(a.load(), State::new(1, 1, 0, 2));
        a.apply(Transition::Park);
        a.apply(Transition::Exit);
        assert_eq!(a.load(), State::new(0, 1, 0, 1));
    }

    #[test]
    fn only_a_surplus_worker_retires() {
        let a = AtomicState::new();
        spawn(&a);
        spawn(&a);
        a.apply(Transition::Wake);
        assert!(
            !a.retire_if_surplus(),
            "the only running worker keeps the baton"
        );
        a.apply(Transition::HandOff);
        a.apply(Transition::Wake);
        a.apply(Transition::Return);
        assert!(a.retire_if_surplus());
        assert_eq!(a.load(), State::new(1, 1, 0, 2));
        assert!(!a.retire_if_surplus());
    }

    #[test]
    fn predicates() {
        assert!(State::new(0, 1, 0, 1).need_more_worker(true));
        assert!(!State::new(0, 1, 0, 1).need_more_worker(false));
        assert!(!State::new(1, 0, 0, 1).need_more_worker(true));
        assert!(State::new(1, 0, 0, 1).keep_working());
        assert!(!State::new(2, 0, 0, 2).keep_working());
    }

    #[test]
    #[should_panic(expected = "inconsistent core state")]
    fn impossible_transition_panics_with_the_state() {
        let a = AtomicState::new();
        spawn(&a);
        a.apply(Transition::Park);
    }

    #[test]
    #[should_panic(expected = "inconsistent core state")]
    fn a_thread_cannot_start_without_a_reservation() {
        let a = AtomicState::new();
        spawn(&a);
        a.apply(Transition::Start);
    }
}
