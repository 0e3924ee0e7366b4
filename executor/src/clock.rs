//! Each runtime's clock: the real one, or one that tests pause and move by hand.
//!
//! A runtime's clock starts real. [`Clock::pause`] freezes it at its current reading; from then
//! on it moves only when [`Clock::advance`] (or an auto-advance, see [`crate::time::pause`])
//! moves it, and the runtime's timers wait in this clock's own list, ordered by deadline, instead
//! of the reactor's wheel. [`Clock::resume`] lets it run again from where it stood, so its
//! readings never go back: it then keeps a fixed *skew* from the real clock, and timers armed
//! in the reactor are armed at the real instant their deadline corresponds to.
//!
//! Clocks that are not real are counted process-wide, so that reading the time and arming a
//! timer on runtimes whose clock was never paused costs one relaxed load more than reading the
//! real clock.
//!
//! Readings are `std::time::Instant`s: a paused clock's reading is the real instant it stood at
//! when paused plus the time it was advanced by.
//!
//! (std's synchronisation, not loom's: no loom model pauses a clock.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Clocks in the process that are paused or skewed (their runtime still alive).
static VIRTUAL: AtomicUsize = AtomicUsize::new(0);

/// Whether any clock in the process is paused or skewed: if not, every runtime reads the real
/// clock.
pub(crate) fn any_virtual() -> bool {
    // Relaxed: gates a lookup only. A clock paused by another thread at this very moment has
    // no ordering with this reading anyway; the thread that paused it (and whatever it
    // synchronises with afterwards) sees the count.
    VIRTUAL.load(Ordering::Relaxed) != 0
}

/// A runtime's clock.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// Whether the clock is paused (the fast check; the state under the lock is the truth).
    paused: AtomicBool,
    /// Whether the clock is paused or skewed (once set, it stays set).
    is_virtual: AtomicBool,
    /// `block_on` calls of the runtime polling their future, or woken and not yet polled
    /// again, while the clock is paused: the runtime is not idle meanwhile.
    busy: AtomicUsize,
    state: Mutex<ClockState>,
}

/// A clock's state.
#[derive(Debug, Default)]
struct ClockState {
    /// The reading while paused.
    frozen: Option<Instant>,
    /// Nanoseconds the clock is ahead of the real one (negative: behind) while running.
    skew: i128,
    /// Timers armed while paused, by deadline and id, with the waker to wake when due.
    timers: BTreeMap<(Instant, u64), Waker>,
    /// The id of the next timer.
    next_id: u64,
    /// Whether the auto-advance check is armed (see [`Clock::arm_check`]).
    check_armed: bool,
}

/// Why a clock could not be paused or moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Misuse {
    /// `pause` on a paused clock.
    AlreadyPaused,
    /// `advance` or `resume` on a running clock.
    NotPaused,
}

impl Clock {
    fn lock(&self) -> MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the clock is paused.
    pub(crate) fn is_paused(&self) -> bool {
        // Relaxed: a hint for the caller's fast path; decisions are made under the lock.
        self.paused.load(Ordering::Relaxed)
    }

    /// Whether the clock is paused or skewed: its readings are not the real clock's.
    pub(crate) fn is_virtual(&self) -> bool {
        // Relaxed: set under the lock by `pause`, before it returns.
        self.is_virtual.load(Ordering::Relaxed)
    }

    /// The clock's reading.
    pub(crate) fn now(&self) -> Instant {
        if !self.is_virtual() {
            return Instant::now();
        }
        let state = self.lock();
        match state.frozen {
            Some(frozen) => frozen,
            None => shift(Instant::now(), state.skew),
        }
    }

    /// The real instant at which this clock, running, reads `deadline`.
    pub(crate) fn to_real(&self, deadline: Instant) -> Instant {
        if !self.is_virtual() {
            return deadline;
        }
        shift(deadline, -self.lock().skew)
    }

    /// Counts a `block_on` call as busy (see `busy`).
    pub(crate) fn enter_busy(&self) {
        // SeqCst: read by the idle check before the runtime's queues, so a `block_on` future
        // that spawned a task and stopped being busy is seen busy, or its task queued.
        self.busy.fetch_add(1, Ordering::SeqCst);
    }

    /// Ends a count of [`enter_busy`](Clock::enter_busy).
    pub(crate) fn leave_busy(&self) {
        // SeqCst: see `enter_busy`.
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether a `block_on` call of the runtime is busy.
    pub(crate) fn is_busy(&self) -> bool {
        // SeqCst: see `enter_busy`.
        self.busy.load(Ordering::SeqCst) != 0
    }

    /// Freezes the clock at its current reading.
    pub(crate) fn pause(&self) -> Result<(), Misuse> {
        let mut state = self.lock();
        if state.frozen.is_some() {
            return Err(Misuse::AlreadyPaused);
        }
        state.frozen = Some(shift(Instant::now(), state.skew));
        if !self.is_virtual.swap(true, Ordering::Relaxed) {
            // Relaxed: see `any_virtual`.
            VIRTUAL.fetch_add(1, Ordering::Relaxed);
        }
        self.paused.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Lets the clock run again from its reading; returns the wakers of the timers armed while
    /// it was paused, for the caller to wake: polled again, they arm in the reactor.
    pub(crate) fn resume(&self) -> Result<Vec<Waker>, Misuse> {
        let mut state = self.lock();
        let frozen = state.frozen.take().ok_or(Misuse::NotPaused)?;
        let now = Instant::now();
        state.skew = match frozen.checked_duration_since(now) {
            Some(ahead) => ahead.as_nanos() as i128,
            None => -(now.duration_since(frozen).as_nanos() as i128),
        };
        self.paused.store(false, Ordering::Relaxed);
        Ok(std::mem::take(&mut state.timers).into_values().collect())
    }

    /// Moves the paused clock forward by `by`; returns the wakers of the timers now due, in
    /// deadline order.
    pub(crate) fn advance(&self, by: Duration) -> Result<Vec<Waker>, Misuse> {
        let mut state = self.lock();
        let frozen = state.frozen.ok_or(Misuse::NotPaused)?;
        let now = frozen.checked_add(by).unwrap_or(frozen);
        state.frozen = Some(now);
        Ok(take_due(&mut state, now))
    }

    /// Moves the paused clock to its earliest timer's deadline (if later than its reading);
    /// returns the wakers of the timers then due, or `None` if it is not paused or has no
    /// timer.
    pub(crate) fn advance_to_next(&self) -> Option<Vec<Waker>> {
        let mut state = self.lock();
        let frozen = state.frozen?;
        let (&(first, _), _) = state.timers.first_key_value()?;
        let now = frozen.max(first);
        state.frozen = Some(now);
        Some(take_due(&mut state, now))
    }

    /// Arms a timer of the paused clock, or replaces its waker; returns its id (a new one if it
    /// was gone). `None` if the clock is running.
    pub(crate) fn arm(&self, id: Option<u64>, deadline: Instant, waker: &Waker) -> Option<u64> {
        let mut state = self.lock();
        state.frozen?;
        if let Some(old) = id.and_then(|id| state.timers.get_mut(&(deadline, id))) {
            if !old.will_wake(waker) {
                old.clone_from(waker);
            }
            return id;
        }
        let id = state.next_id;
        state.next_id += 1;
        state.timers.insert((deadline, id), waker.clone());
        Some(id)
    }

    /// Moves a timer to `deadline`, keeping its waker; returns its new id, or `None` if it is
    /// gone (fired, or the clock resumed).
    pub(crate) fn reset(&self, id: u64, old: Instant, deadline: Instant) -> Option<u64> {
        let mut state = self.lock();
        let waker = state.timers.remove(&(old, id))?;
        state.timers.insert((deadline, id), waker);
        Some(id)
    }

    /// Disarms a timer; a no-op if it is gone.
    pub(crate) fn disarm(&self, id: u64, deadline: Instant) {
        self.lock().timers.remove(&(deadline, id));
    }

    /// Whether the caller should arm a check for auto-advancing: the clock is paused, has
    /// timers, and no check is armed. Records the check as armed if so.
    pub(crate) fn arm_check(&self) -> bool {
        let mut state = self.lock();
        let arm = state.frozen.is_some() && !state.timers.is_empty() && !state.check_armed;
        state.check_armed |= arm;
        arm
    }

    /// Records that the armed check ran.
    pub(crate) fn check_ran(&self) {
        self.lock().check_armed = false;
    }

    /// The number of timers armed while paused.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn timers(&self) -> usize {
        self.lock().timers.len()
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        if *self.is_virtual.get_mut() {
            // Relaxed: see `any_virtual`.
            VIRTUAL.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Removes the timers due at `now` and returns their wakers, earliest first.
fn take_due(state: &mut ClockState, now: Instant) -> Vec<Waker> {
    let mut wakers = Vec::new();
    while let Some(entry) = state.timers.first_entry() {
        if entry.key().0 > now {
            break;
        }
        wakers.push(entry.remove());
    }
    wakers
}

/// `at` shifted by `nanos` (saturating at what `Instant` can hold).
fn shift(at: Instant, nanos: i128) -> Instant {
    let by = Duration::from_nanos(u64::try_from(nanos.unsigned_abs()).unwrap_or(u64::MAX));
    if nanos >= 0 {
        at.checked_add(by).unwrap_or(at)
    } else {
        at.checked_sub(by).unwrap_or(at)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_paused_clock_moves_only_when_advanced_and_fires_in_deadline_order() {
        let clock = Clock::default();
        clock.pause().unwrap();
        let t0 = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), t0, "frozen");
        let waker = futures::task::noop_waker_ref();
        let late = clock.arm(None, t0 + Duration::from_secs(3), waker).unwrap();
        let early = clock.arm(None, t0 + Duration::from_secs(1), waker).unwrap();
        assert_ne!(late, early);
        assert_eq!(clock.advance(Duration::from_millis(500)).unwrap().len(), 0);
        assert_eq!(clock.now(), t0 + Duration::from_millis(500));
        assert_eq!(clock.advance_to_next().unwrap().len(), 1);
        assert_eq!(clock.now(), t0 + Duration::from_secs(1));
        assert_eq!(clock.timers(), 1);
        assert_eq!(clock.pause(), Err(Misuse::AlreadyPaused));
    }

    #[test]
    fn a_resumed_clock_runs_on_from_its_reading() {
        let clock = Clock::default();
        assert_eq!(
            clock.advance(Duration::from_secs(1)).err(),
            Some(Misuse::NotPaused)
        );
        clock.pause().unwrap();
        let t0 = clock.now();
        clock.advance(Duration::from_secs(3600)).unwrap();
        let waker = futures::task::noop_waker_ref();
        clock.arm(None, t0 + Duration::from_secs(7200), waker);
        assert_eq!(
            clock.resume().unwrap().len(),
            1,
            "armed timers are handed back"
        );
        let now = clock.now();
        assert!(now >= t0 + Duration::from_secs(3600), "never goes back");
        assert!(
            now < t0 + Duration::from_secs(3700),
            "runs on from its reading"
        );
        // An hour ahead of the real clock: a deadline maps to the real instant an hour earlier.
        let real = clock.to_real(now + Duration::from_secs(10));
        let ahead = (now + Duration::from_secs(10)).duration_since(real);
        assert!(ahead >= Duration::from_secs(3599) && ahead <= Duration::from_secs(3600));
        assert!(clock.is_virtual() && !clock.is_paused());
    }
}
