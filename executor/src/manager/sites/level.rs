//! How many sections of one call site may run at once with a replacement worker: the level learnt
//! by hill climbing (the *managed concurrency* rule of docs/architecture.md, the kernel's
//! `max_active` learnt instead of configured).
//!
//! Replacing a blocked worker helps only while the blocked calls do not wait for each other.
//! The learner keeps, per *level* (how many of the site's sections were in flight when one
//! started), an average of how long the site's sections take. By Little's law a level's
//! throughput is `level / duration`, whatever the rate at which sections arrive: calls that
//! do not contend keep their duration as the level rises (throughput grows with the level),
//! calls serialised behind one lock take `level` times as long (throughput stays flat).
//!
//! # A fresh site's ramp
//!
//! A site starts at [`START_LEVEL`], not unlimited: its first burst of simultaneous sections
//! comes before the learner has any figures, and if those sections wait for each other, an
//! unlimited start would give each of them a replacement thread, up to the thread caps. From
//! there the level doubles, at most once per [`RAMP_STEP`], as long as throughput rises with
//! it (TCP's slow start): the sections that started with more than half the level in flight
//! (the sync form's held sections beyond the level among them) are compared with those that
//! started with fewer, their throughput pooled by Little's law (see [`Learner::ramp`]). The
//! first comparison that finds an efficiency below [`DOWN_BELOW`] ends the ramp at half the
//! level; reaching [`MAX_LEVEL`] ends it too (the next probe then waits [`PROBE_EVERY`]), and
//! so does [`PROBE_EVERY`] without enough figures to compare (a site whose sections never run
//! few at once). The hill climb below goes on from there.
//!
//! # One step
//!
//! After the ramp, at most once per [`STEP`], on a section's end:
//!
//! 1. **Down.** With figures for the level in force `l` and for a level `a <= 3l/4`: if going
//!    from `a` to `l` raised throughput by less than [`DOWN_BELOW`] of what linear scaling
//!    would give (the *efficiency*, 1 for calls that do not contend, 0 for a lock), the level
//!    drops to `a` (not below [`MIN_LEVEL`]).
//! 2. **Up.** With figures for a level `h` above the level in force (sections beyond it still
//!    run, without a replacement, so their figures come in by themselves; or a probe's): if the
//!    efficiency from `l` to `h` is at least [`UP_ABOVE`], the level rises to `h`.
//! 3. **Probe.** Every [`PROBE_EVERY`] (or right after a step that moved the level, so a climb
//!    or a descent goes on, and at the first step), a level without figures to compare with
//!    gets some: until one of the probed levels has figures that count, the admitted
//!    level is half the level in force (to find out whether fewer would do as well) or twice
//!    it (to find out whether the contention went away). A probe forgets the figures it
//!    measures anew.
//!
//! Figures count only with [`MIN_SAMPLES`] samples, the newest at most [`MEMORY`] old, and the
//! two efficiency thresholds leave a band between them where the level stays put: together
//! with the averages over many samples, that keeps the level steady against noise.
//!
//! Every method takes the time from its caller, so the unit tests drive the learner with a
//! fake clock.

use std::time::{Duration, Instant};

/// The levels the learner keeps figures for; a level of `MAX_LEVEL` means no limit.
pub(crate) const MAX_LEVEL: u32 = 32;
/// The lowest level the learner settles at. Durations leave out the gap between one section's
/// end and the next one's start (waking the next task, a handoff), which at level 1 comes
/// between every two calls behind a lock; from level 2 the next call already waits on the lock
/// itself, which hands over directly. So level 1 looks as good as level 2 in the figures while
/// it is slower: the floor is 2.
const MIN_LEVEL: u32 = 2;
/// Samples a level needs before its figures count.
const MIN_SAMPLES: u32 = 8;
/// A level's figures count only while its newest sample is at most this old.
const MEMORY: Duration = Duration::from_millis(500);
/// The shortest time between two changes of the level.
const STEP: Duration = Duration::from_millis(5);
/// The level a fresh site starts its ramp at (see the module docs).
pub(crate) const START_LEVEL: u32 = 2 * MIN_LEVEL;
/// The shortest time between two doublings of a fresh site's level.
const RAMP_STEP: Duration = Duration::from_millis(2);
/// Samples each side of a ramp's comparison needs: the lower side's come from the few
/// sections that ran with little company (the burst's first ones), so it needs fewer.
const RAMP_SAMPLES_ABOVE: f64 = 8.0;
const RAMP_SAMPLES_BELOW: f64 = 2.0;
/// How often the learner probes for missing figures.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// A probe ends once sections that started at the levels it probes have ended, enough for one
/// of those levels to have figures that count (sections take longer at some levels than at
/// others), or after this long, or after [`PROBE_SECTIONS`] times as long as a section takes at
/// the level in force if that is longer (at most [`MEMORY`]): a probe down has to wait for the
/// sections in flight beyond its level to end before any section starts at it, and behind a
/// slow lock (a loaded disk) a section may take far longer than this.
const PROBE_FOR: Duration = Duration::from_millis(50);
const PROBE_SECTIONS: f64 = 3.0;
/// The level drops when the efficiency of the levels above the lower one is below this.
const DOWN_BELOW: f64 = 0.5;
/// The level rises when the efficiency of the levels above it is at least this.
const UP_ABOVE: f64 = 0.8;
/// A level's average covers about this many of its latest samples (older ones weigh half as
/// much each time that many more came in). Section durations behind a lock are heavy-tailed
/// (an unfair lock lets some calls in at once while others wait for many turns), so the
/// average must cover many.
const WINDOW: f64 = 64.0;

/// What the learner knows of one level.
#[derive(Clone, Copy, Debug, Default)]
struct Figures {
    /// Sum of the sections' durations, in seconds, and their count, both decayed (see
    /// [`WINDOW`]).
    total: f64,
    weight: f64,
    samples: u32,
    newest: Option<Instant>,
}

impl Figures {
    fn counts(&self, now: Instant) -> bool {
        self.samples >= MIN_SAMPLES
            && self
                .newest
                .is_some_and(|newest| now.saturating_duration_since(newest) <= MEMORY)
    }
}

/// A probe in progress: the level admitted instead of the one in force, until when.
#[derive(Clone, Debug)]
struct Probe {
    level: u32,
    until: Instant,
    /// The levels whose samples the probe waits for: those it allows that the level in force
    /// does not (above it), or that it keeps to (at or below it).
    wanted: std::ops::RangeInclusive<u32>,
    /// Samples of those levels so far.
    samples: u32,
}

/// The learning state of one call site.
#[derive(Debug)]
pub(crate) struct Learner {
    /// Figures per level; index 0 is level 1.
    levels: [Figures; MAX_LEVEL as usize],
    /// The level in force.
    level: u32,
    probe: Option<Probe>,
    last_step: Instant,
    last_probe: Instant,
    /// Whether the last step changed the level: the next probe need not wait for
    /// [`PROBE_EVERY`], so a descent or a climb goes on at the pace of [`STEP`].
    moved: bool,
    /// While a fresh site ramps up: when the ramp started or last doubled the level.
    ramp: Option<Instant>,
}

impl Learner {
    /// A learner that knows nothing yet: it starts its ramp at [`START_LEVEL`].
    pub(crate) fn new(now: Instant) -> Learner {
        Learner {
            levels: [Figures::default(); MAX_LEVEL as usize],
            level: START_LEVEL,
            probe: None,
            last_step: now,
            last_probe: now,
            // The first step after the ramp may probe at once.
            moved: true,
            ramp: Some(now),
        }
    }

    /// Whether the learner still ramps up (a fresh site).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn ramping(&self) -> bool {
        self.ramp.is_some()
    }

    /// The level in force (without a probe).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn level(&self) -> u32 {
        self.level
    }

    /// How many sections may run at once with a replacement now: the level in force, or the
    /// probe's while one runs.
    pub(crate) fn admitted(&self) -> u32 {
        self.probe.as_ref().map_or(self.level, |probe| probe.level)
    }

    /// A section that started with `level` sections of the site in flight (itself included)
    /// ended at `now` after `took`. Returns the admitted level from now on.
    pub(crate) fn record(&mut self, now: Instant, level: u32, took: Duration) -> u32 {
        let figures = &mut self.levels[(level.clamp(1, MAX_LEVEL) - 1) as usize];
        let took = took.as_secs_f64();
        if figures.weight >= WINDOW {
            figures.total /= 2.0;
            figures.weight /= 2.0;
        }
        figures.total += took;
        figures.weight += 1.0;
        figures.samples = figures.samples.saturating_add(1);
        figures.newest = Some(now);
        if let Some(probe) = &mut self.probe {
            if probe.wanted.contains(&level) {
                probe.samples += 1;
            }
        }
        self.step(now);
        self.admitted()
    }

    /// The throughput of `level`, if its figures count.
    fn throughput(&self, now: Instant, level: u32) -> Option<f64> {
        let figures = &self.levels[(level - 1) as usize];
        (figures.counts(now) && figures.total > 0.0)
            .then(|| level as f64 * figures.weight / figures.total)
    }

    /// The highest level in `range` whose figures count, with its throughput.
    fn highest(&self, now: Instant, range: std::ops::RangeInclusive<u32>) -> Option<(u32, f64)> {
        range
            .rev()
            .find_map(|level| Some((level, self.throughput(now, level)?)))
    }

    /// The throughput of the sections that started with a level in `range`, pooled (a level's
    /// throughput is its level over its average duration, Little's law): the mean level, the
    /// throughput and the samples behind them, if any that count by age.
    fn pooled(
        &self,
        now: Instant,
        range: std::ops::RangeInclusive<u32>,
    ) -> Option<(f64, f64, f64)> {
        let (mut levels, mut weight, mut total) = (0.0, 0.0, 0.0);
        for level in range {
            let figures = &self.levels[(level - 1) as usize];
            let fresh = figures
                .newest
                .is_some_and(|newest| now.saturating_duration_since(newest) <= MEMORY);
            if fresh {
                levels += level as f64 * figures.weight;
                weight += figures.weight;
                total += figures.total;
            }
        }
        (weight > 0.0 && total > 0.0).then(|| (levels / weight, levels / total, weight))
    }

    /// The time one turn of the site's sections takes lately: their durations divided by the
    /// level each started at, pooled over the levels with recent figures. Sections behind one
    /// lock take about `level` turns each; sections that do not wait for each other take about
    /// one turn at any level, which this understates by up to the level. `None` without
    /// recent figures.
    pub(crate) fn turn_time(&self, now: Instant) -> Option<Duration> {
        let (_, throughput, _) = self.pooled(now, 1..=MAX_LEVEL)?;
        Some(Duration::from_secs_f64(1.0 / throughput))
    }

    /// One step of a fresh site's ramp (see the module docs): whether the ramp goes on.
    fn ramp(&mut self, now: Instant, since: Instant) -> bool {
        let elapsed = now.saturating_duration_since(since);
        if elapsed < RAMP_STEP {
            return true;
        }
        let half = self.level / 2;
        let below = self.pooled(now, 1..=half);
        let above = self.pooled(now, half + 1..=MAX_LEVEL);
        let (Some((at, below, n_below)), Some((ah, above, n_above))) = (below, above) else {
            return elapsed < PROBE_EVERY;
        };
        // Mean levels too close together say nothing about scaling.
        if n_below < RAMP_SAMPLES_BELOW || n_above < RAMP_SAMPLES_ABOVE || ah < at * 1.25 {
            return elapsed < PROBE_EVERY;
        }
        if efficiency_of((at, below), (ah, above)) < DOWN_BELOW {
            // More at once did not raise throughput: half the level did as well.
            self.level = half.max(MIN_LEVEL);
            return false;
        }
        self.level = (self.level * 2).min(MAX_LEVEL);
        self.ramp = Some(now);
        self.level < MAX_LEVEL
    }

    /// One step of the hill climb (see the module docs).
    fn step(&mut self, now: Instant) {
        if let Some(since) = self.ramp {
            if self.ramp(now, since) {
                return;
            }
            self.ramp = None;
            self.last_step = now;
            self.last_probe = now;
            // A ramp that went all the way found the site scaling at every level it tried:
            // the next probe can wait its turn (a probe down holds sections back). One that
            // stopped for contention goes on down at the pace of the steps.
            self.moved = self.level < MAX_LEVEL;
            return;
        }
        if now.saturating_duration_since(self.last_step) < STEP {
            return;
        }
        if let Some(probe) = &self.probe {
            let enough =
                probe.samples >= MIN_SAMPLES && self.highest(now, probe.wanted.clone()).is_some();
            if now < probe.until && !enough {
                return;
            }
            self.probe = None;
        }
        self.last_step = now;
        // The level in force, or the highest below it seen lately (with no limit, sections
        // rarely reach `MAX_LEVEL`).
        let current = self.highest(now, 1..=self.level);
        if let Some((l, at_l)) = current {
            // Down.
            if let Some((a, at_a)) = self.highest(now, 1..=l * 3 / 4) {
                if l > MIN_LEVEL && efficiency((a, at_a), (l, at_l)) < DOWN_BELOW {
                    self.level = a.max(MIN_LEVEL);
                    self.moved = true;
                    return;
                }
            }
            // Up.
            if let Some((h, at_h)) = self.highest(now, self.level + 1..=MAX_LEVEL) {
                if efficiency((l, at_l), (h, at_h)) >= UP_ABOVE {
                    self.level = h;
                    self.moved = true;
                    return;
                }
            }
        }
        let moved = std::mem::take(&mut self.moved);
        if !moved && now.saturating_duration_since(self.last_probe) < PROBE_EVERY {
            return;
        }
        self.last_probe = now;
        let (level, wanted) = match current {
            // Nothing to compare with below: try half.
            Some((l, _)) if l > MIN_LEVEL && self.highest(now, 1..=l * 3 / 4).is_none() => {
                let half = (l / 2).max(MIN_LEVEL);
                (half, 1..=half)
            }
            // Nothing to compare with above: try twice.
            _ if self.level < MAX_LEVEL
                && self.highest(now, self.level + 1..=MAX_LEVEL).is_none() =>
            {
                let twice = (self.level * 2).min(MAX_LEVEL);
                (twice, self.level + 1..=twice)
            }
            _ => return,
        };
        // The probe measures afresh: figures from before (another phase of the site's life)
        // would blur what it finds.
        for figures in &mut self.levels[(*wanted.start() - 1) as usize..*wanted.end() as usize] {
            *figures = Figures::default();
        }
        let section = current.map_or(0.0, |(l, at_l)| l as f64 / at_l);
        let probe_for =
            Duration::from_secs_f64((PROBE_SECTIONS * section).min(MEMORY.as_secs_f64()));
        self.probe = Some(Probe {
            level,
            until: now + PROBE_FOR.max(probe_for),
            wanted,
            samples: 0,
        });
    }
}

/// How much of linear scaling going from level `a` to a higher level `b` achieved: 1 when
/// throughput grew in proportion, 0 when it did not grow.
fn efficiency((a, at_a): (u32, f64), (b, at_b): (u32, f64)) -> f64 {
    efficiency_of((a as f64, at_a), (b as f64, at_b))
}

/// [`efficiency`] between two mean levels `a < b`.
fn efficiency_of((a, at_a): (f64, f64), (b, at_b): (f64, f64)) -> f64 {
    let ideal = b / a - 1.0;
    (at_b / at_a - 1.0) / ideal
}

#[cfg(all(test, not(loom)))]
mod tests;
