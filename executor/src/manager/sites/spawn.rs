//! How the polls of a watched spawn site are run: watched, or handed off at their start.
//!
//! A watched poll (its spawn site was taken over before, see [`crate::detect`]) can be taken
//! over only once its worker thread has gone to sleep and the monitor (or the switch thread)
//! has noticed it: until then its core runs nothing, and the spare is woken only afterwards.
//! A site enough of whose polls block is better served as an eager section is: its worker
//! hands the core off as the poll *starts*, so the queue goes on at once, and the poll's end
//! retires one of the two workers as a section's end does. That costs a spare's wake-up and a
//! retirement at every poll of the site, blocking or not, so it pays only where enough of its
//! polls block.
//!
//! So each spawn site keeps the rate at which its polls block, a moving average over its last
//! hundred polls or so ([`RATE_WEIGHT`]). Every poll of a watched site is measured the same
//! way, whichever way it runs ([`PollMeasure`]): it blocked if it lasted at least the grace
//! period and its thread left its CPU of its own accord meanwhile (two `getrusage` calls a
//! poll, only for watched sites). A takeover is not the measure: a short block (a few tens of
//! microseconds) ends before anything notices it, which would make a site whose polls block
//! often look as if they seldom do. At [`EAGER_RATE`] the site's polls are handed off at their
//! start, until the rate falls below half of it.
//!
//! Measured on the blocking mix (2 cores, under load, × the ideal, watched → handed off):
//! one poll in two blocking 50 µs, 3.6-3.9 → 2.2-2.5 with context-switch events and
//! 5.4-5.8 → 2.4-2.5 with the monitor's looks alone; one in ten blocking 1 ms, about the same
//! with events and 3.2-5.0 → 2.3-2.4 without. With every watched site handed off, one poll in
//! a hundred blocking 10 ms ran a little slower; at this threshold it stays watched.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys;

/// The fixed-point unit of the rate: a rate of `RATE_ONE` is every poll.
const RATE_ONE: u32 = 1 << 16;
/// The weight of one poll in the rate, as a shift: 1/64, so that a site whose polls block at a
/// steady rate does not cross [`EAGER_RATE`] back and forth by chance.
const RATE_WEIGHT: u32 = 6;
/// The rate of blocking polls at or above which a site's polls are handed off at their start.
pub(crate) const EAGER_RATE: u32 = RATE_ONE / 20;
/// The rate below which an eager site's polls are watched again (half of [`EAGER_RATE`]).
const WATCHED_RATE: u32 = EAGER_RATE / 2;

/// How the polls of a task are run, from what its spawn site taught the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PollMode {
    /// Nothing learnt: polled as any task.
    Plain,
    /// The site blocked before: its polls are watched (judged after the grace period).
    Watched,
    /// Enough of the site's polls block: its polls hand the core off at their start.
    Eager,
}

/// What a spawn site's record keeps on how often its polls block.
#[derive(Debug, Default)]
pub(crate) struct PollRate {
    /// The rate of blocking polls, in `1 / RATE_ONE`. A statistic: relaxed, and a lost update
    /// only delays learning by one poll.
    rate: AtomicU32,
    /// Whether the site's polls are handed off at their start: set once the rate reaches
    /// [`EAGER_RATE`], cleared once it falls below [`WATCHED_RATE`]. Relaxed, as the rate.
    eager: AtomicBool,
}

impl PollRate {
    /// The mode of a watched site's polls.
    pub(crate) fn mode(&self) -> PollMode {
        if self.eager.load(Ordering::Relaxed) {
            PollMode::Eager
        } else {
            PollMode::Watched
        }
    }

    /// A poll of the site ended: it `blocked`, or not.
    pub(crate) fn record(&self, blocked: bool) {
        let rate = self.rate.load(Ordering::Relaxed);
        let target = if blocked { RATE_ONE } else { 0 };
        // rate + (target - rate) / 64, without going negative.
        let next = rate - (rate >> RATE_WEIGHT) + (target >> RATE_WEIGHT);
        self.rate.store(next, Ordering::Relaxed);
        let eager = self.eager.load(Ordering::Relaxed);
        if !eager && next >= EAGER_RATE {
            self.eager.store(true, Ordering::Relaxed);
        } else if eager && next < WATCHED_RATE {
            self.eager.store(false, Ordering::Relaxed);
        }
    }
}

/// A poll of a watched site being measured: whether it blocks, as the worker tells at its end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PollMeasure {
    start: Instant,
    switches: Option<u64>,
}

impl PollMeasure {
    /// Starts measuring the calling worker's poll.
    pub(crate) fn start() -> PollMeasure {
        PollMeasure {
            switches: sys::voluntary_switches(),
            start: Instant::now(),
        }
    }

    /// Whether the poll blocked: it ran for at least `grace` and its thread left its CPU of
    /// its own accord meanwhile (a poll preempted by other threads did not block). Where the
    /// system does not tell, no poll blocked.
    pub(crate) fn blocked(self, grace: Duration) -> bool {
        let wall = self.start.elapsed();
        let switched = sys::voluntary_switches()
            .zip(self.switches)
            .is_some_and(|(after, before)| after > before);
        wall >= grace && switched
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_site_whose_polls_mostly_block_is_eager_and_goes_back_once_they_stop() {
        let rate = PollRate::default();
        assert_eq!(rate.mode(), PollMode::Watched);
        rate.record(true);
        assert_eq!(rate.mode(), PollMode::Watched, "one block is not a rate");
        let mut blocked = 1;
        while rate.mode() == PollMode::Watched {
            rate.record(true);
            blocked += 1;
            assert!(blocked < 64, "a site whose polls all block stays watched");
        }
        let mut quick = 0;
        while rate.mode() == PollMode::Eager {
            rate.record(false);
            quick += 1;
            assert!(quick < 1000, "a site that stopped blocking stays eager");
        }
        assert!(quick > 8, "eager dropped after {quick} quick polls");
    }

    #[test]
    fn a_rate_between_the_two_thresholds_keeps_the_mode() {
        let rate = PollRate::default();
        // One poll in thirty blocks: below the eager rate, above the watched one.
        for i in 0..5000 {
            rate.record(i % 30 == 0);
        }
        assert_eq!(rate.mode(), PollMode::Watched);
        for _ in 0..200 {
            rate.record(true);
        }
        assert_eq!(rate.mode(), PollMode::Eager);
        for i in 0..5000 {
            rate.record(i % 30 == 0);
        }
        assert_eq!(rate.mode(), PollMode::Eager);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_poll_that_sleeps_blocked_and_one_that_spins_did_not() {
        let grace = Duration::from_micros(40);
        let sleeping = PollMeasure::start();
        std::thread::sleep(Duration::from_millis(1));
        assert!(sleeping.blocked(grace));
        let spinning = PollMeasure::start();
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1) {
            std::hint::spin_loop();
        }
        // Preempted, perhaps, on a loaded machine: that is not leaving the CPU of its own
        // accord.
        assert!(!spinning.blocked(grace));
        let quick = PollMeasure::start();
        assert!(
            !quick.blocked(Duration::from_secs(60)),
            "shorter than the grace period"
        );
    }
}
