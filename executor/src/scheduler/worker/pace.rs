//! The pace of *look outside* (see the [`worker`](super) module docs): after how many polls a
//! worker looks at the injector next.

use std::time::Instant;

use super::{INJECTOR_INTERVAL, INJECTOR_TARGET, MIN_INJECTOR_INTERVAL};

/// The pace of *look outside*: after how many polls a worker looks at the injector next. The count
/// is retuned at each look so that, at the average length of the polls since the previous look, the
/// next look comes after about [`INJECTOR_TARGET`] (within [`MIN_INJECTOR_INTERVAL`] and
/// [`INJECTOR_INTERVAL`] polls); the clock is read only then.
#[derive(Debug)]
pub(super) struct InjectorPace {
    /// Polls between two looks, as last tuned.
    pub(super) interval: u32,
    /// Polls left until the next look.
    left: u32,
    /// When the worker last looked (or was handed the baton).
    since: Instant,
}

impl InjectorPace {
    pub(super) fn new() -> InjectorPace {
        InjectorPace {
            interval: INJECTOR_INTERVAL,
            left: INJECTOR_INTERVAL,
            since: Instant::now(),
        }
    }

    /// The worker was handed the baton: time parked is not polling time, so the next look is
    /// timed from now, after the interval its core's workers last tuned (`core_interval`, if
    /// any): a spare that takes over a core of long polls must not start from the interval
    /// for short ones.
    pub(super) fn restart(&mut self, core_interval: Option<u32>) {
        if let Some(interval) = core_interval {
            self.interval = interval.clamp(MIN_INJECTOR_INTERVAL, INJECTOR_INTERVAL);
        }
        self.since = Instant::now();
        self.left = self.interval;
    }

    /// Counts one turn of the loop; returns the time if the worker looks at the injector now
    /// (and then retunes the interval).
    pub(super) fn turn(&mut self) -> Option<Instant> {
        self.left -= 1;
        if self.left > 0 {
            return None;
        }
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.since).as_nanos();
        self.since = now;
        let interval = u128::from(self.interval) * INJECTOR_TARGET.as_nanos() / elapsed.max(1);
        // Clamped, so it fits a `u32`.
        self.interval =
            interval.clamp(MIN_INJECTOR_INTERVAL.into(), INJECTOR_INTERVAL.into()) as u32;
        self.left = self.interval;
        Some(now)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Turns `pace` until it says to look; returns how many turns that took.
    fn turns_to_look(pace: &mut InjectorPace) -> u32 {
        let mut turns = 1;
        while pace.turn().is_none() {
            turns += 1;
        }
        turns
    }

    #[test]
    fn short_polls_keep_the_longest_interval() {
        let mut pace = InjectorPace::new();
        assert_eq!(turns_to_look(&mut pace), INJECTOR_INTERVAL);
        // No time passes between looks (a `since` in the future reads as zero elapsed).
        pace.since = Instant::now() + Duration::from_secs(60);
        assert_eq!(turns_to_look(&mut pace), INJECTOR_INTERVAL);
        assert_eq!(pace.interval, INJECTOR_INTERVAL);
    }

    #[test]
    fn long_polls_shorten_the_interval_to_the_minimum() {
        let mut pace = InjectorPace::new();
        // The polls since the last look took far longer than the target.
        pace.since = Instant::now() - Duration::from_secs(1);
        assert_eq!(turns_to_look(&mut pace), INJECTOR_INTERVAL);
        assert_eq!(pace.interval, MIN_INJECTOR_INTERVAL);
        pace.since = Instant::now() - Duration::from_secs(1);
        assert_eq!(turns_to_look(&mut pace), MIN_INJECTOR_INTERVAL);
        // Once parked and handed the baton again, the count restarts from the tuned interval.
        pace.restart(None);
        pace.since = Instant::now() + Duration::from_secs(60);
        assert_eq!(turns_to_look(&mut pace), MIN_INJECTOR_INTERVAL);
        assert_eq!(pace.interval, INJECTOR_INTERVAL, "short polls again");
    }

    #[test]
    fn a_worker_handed_a_core_starts_from_the_interval_its_workers_tuned() {
        // A fresh spare taking over a core whose polls are long.
        let mut pace = InjectorPace::new();
        pace.restart(Some(MIN_INJECTOR_INTERVAL));
        assert_eq!(turns_to_look(&mut pace), MIN_INJECTOR_INTERVAL);
        let mut pace = InjectorPace::new();
        pace.restart(Some(0));
        assert_eq!(pace.interval, MIN_INJECTOR_INTERVAL, "clamped");
    }
}
