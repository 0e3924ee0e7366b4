//! How often the monitor looks: its tick, and the slower pace it takes while the sections it
//! sees keep ending before its next look (the *sleep* step of the [monitor's tick](super)).

use std::time::{Duration, Instant};

use super::overdue::Sections;

/// The longest the monitor waits between looks while the runtime is busy but no section has
/// been seen.
pub(super) const MAX_INTERVAL: Duration = Duration::from_millis(10);
/// The longest the monitor waits between looks while the sections it sees keep ending before
/// its next look (see [`Pace`]).
const SHORT_SECTIONS_MAX_INTERVAL: Duration = Duration::from_millis(4);
/// How long after it last saw a section the monitor keeps the pace it took for short sections;
/// after that, the next section it sees starts a new episode at the tick.
const SHORT_SECTIONS_MEMORY: Duration = Duration::from_millis(10);
/// The shortest tick, whatever the grace period: a tick of zero would make the monitor spin.
const MIN_TICK: Duration = Duration::from_micros(10);

/// How often the monitor looks while sections run: half the grace period, at least
/// [`MIN_TICK`] and at most [`MAX_INTERVAL`] (so that with a very long grace period it still
/// starts spares and lets surplus ones go while sections run).
pub(super) fn tick(grace: Duration) -> Duration {
    (grace / 2).clamp(MIN_TICK, MAX_INTERVAL)
}

/// How often the monitor looks while sections run, learnt from how long they last.
///
/// Looking every tick costs a wake-up each time; under a flood of short sections that never
/// block (a section around a lock that is rarely contended, say) that is tens of thousands of
/// wake-ups a second for nothing, since every section the monitor sees has ended by its next
/// look. So while the sections seen keep ending before the next look, the interval doubles, up
/// to [`SHORT_SECTIONS_MAX_INTERVAL`]; the first section seen still running at a second look
/// brings it back to the tick. Meanwhile the monitor stays in the bell's fast mode, so section
/// entries do not ring it.
///
/// The trade-off: amid such a flood, a section at a call site not yet known to block is seen up
/// to an interval late and handed off at the look after, so its handoff takes up to two
/// intervals instead of the grace period. Sites that blocked before are handed off eagerly by
/// the worker itself, without the monitor, and an isolated section finds the monitor at its
/// tick again ([`SHORT_SECTIONS_MEMORY`]).
#[derive(Debug)]
pub(super) struct Pace {
    /// The tick: the interval while sections may outlive it.
    tick: Duration,
    /// The interval in force.
    interval: Duration,
    /// When the monitor last saw a section running, in this episode of sections.
    last_seen: Option<Instant>,
}

impl Pace {
    pub(super) fn new(tick: Duration) -> Pace {
        Pace {
            tick,
            interval: tick,
            last_seen: None,
        }
    }

    /// Learns from a look at `now` that saw `sections`.
    pub(super) fn learn(&mut self, now: Instant, sections: &Sections) {
        if sections.running == 0 && !sections.outlived {
            // Nothing seen: an episode ends once no section was seen for a while.
            if self
                .last_seen
                .is_some_and(|seen| now.duration_since(seen) >= SHORT_SECTIONS_MEMORY)
            {
                *self = Pace::new(self.tick);
            }
            return;
        }
        self.interval = if sections.outlived || self.last_seen.is_none() {
            self.tick
        } else {
            // Every section seen before had ended by this look, and others run now.
            self.interval
                .saturating_mul(2)
                .min(SHORT_SECTIONS_MAX_INTERVAL.max(self.tick))
        };
        self.last_seen = Some(now);
    }

    /// The interval to wait while the sections seen are short, if they are.
    pub(super) fn short_sections(&self) -> Option<Duration> {
        (self.interval > self.tick).then_some(self.interval)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn seen(running: usize, outlived: bool) -> Sections {
        Sections {
            running,
            outlived,
            next: None,
        }
    }

    #[test]
    fn the_pace_slows_while_sections_end_before_the_next_look() {
        let tick = tick(crate::runtime::DEFAULT_GRACE);
        let mut pace = Pace::new(tick);
        let mut now = Instant::now();
        pace.learn(now, &seen(2, false));
        assert_eq!(
            pace.short_sections(),
            None,
            "a new episode starts at the tick"
        );
        let mut intervals = Vec::new();
        for _ in 0..20 {
            now += pace.interval;
            pace.learn(now, &seen(2, false));
            intervals.push(pace.interval);
        }
        assert!(intervals.windows(2).all(|w| w[0] <= w[1]), "{intervals:?}");
        assert_eq!(pace.short_sections(), Some(SHORT_SECTIONS_MAX_INTERVAL));
        // Looks that see no section keep the pace for a while, then the episode ends.
        now += SHORT_SECTIONS_MAX_INTERVAL;
        pace.learn(now, &seen(0, false));
        assert_eq!(pace.short_sections(), Some(SHORT_SECTIONS_MAX_INTERVAL));
        now += SHORT_SECTIONS_MEMORY;
        pace.learn(now, &seen(0, false));
        assert_eq!(pace.short_sections(), None);
        pace.learn(now, &seen(1, false));
        assert_eq!(pace.short_sections(), None);
    }

    #[test]
    fn a_section_that_outlives_a_look_brings_the_tick_back() {
        let tick = tick(crate::runtime::DEFAULT_GRACE);
        let mut pace = Pace::new(tick);
        let mut now = Instant::now();
        for _ in 0..10 {
            pace.learn(now, &seen(1, false));
            now += pace.interval;
        }
        assert!(pace.short_sections().is_some());
        pace.learn(now, &seen(1, true));
        assert_eq!(pace.short_sections(), None);
        // Handed off at this look, so no longer running: it outlived the look all the same.
        pace.learn(now, &seen(3, false));
        now += pace.interval;
        pace.learn(now, &seen(0, true));
        assert_eq!(pace.short_sections(), None);
    }

    #[test]
    fn the_tick_stays_within_bounds() {
        assert_eq!(tick(Duration::from_nanos(1)), MIN_TICK);
        assert_eq!(tick(Duration::MAX), MAX_INTERVAL);
        assert_eq!(tick(Duration::from_micros(40)), Duration::from_micros(20));
    }
}
