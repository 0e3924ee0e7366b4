//! The learner driven by a deterministic simulation of a site's sections on a fake clock:
//! calls that do not contend, and calls behind one lock, with and without sections beyond the
//! level.

use super::*;

/// How a site's sections behave: their duration at a level.
#[derive(Clone, Copy)]
enum Site {
    /// Calls that do not wait for each other: the same duration at every level.
    Independent,
    /// Calls serialised behind one lock: `level` times as long.
    OneLock,
}

/// A deterministic simulation: `demand` sections want to run at once; those beyond the
/// admitted level either still run without a replacement (up to `overflow` of them, a
/// different number each round, as sync sections do, since they hold their core) or wait
/// (the async form, `overflow == 0`).
struct Sim {
    learner: Learner,
    now: Instant,
    /// A small linear congruential generator for the noise.
    seed: u64,
    /// Relative noise on each duration, in +/- this fraction.
    noise: f64,
    /// Rounds run so far.
    round: u32,
}

const UNIT: Duration = Duration::from_micros(500);

impl Sim {
    fn new(noise: f64) -> Sim {
        let now = Instant::now();
        Sim {
            learner: Learner::new(now),
            now,
            seed: 0x2545_F491_4F6C_DD1D,
            noise,
            round: 0,
        }
    }

    fn jitter(&mut self) -> f64 {
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let unit = (self.seed >> 11) as f64 / (1u64 << 53) as f64;
        1.0 + self.noise * (2.0 * unit - 1.0)
    }

    /// Runs for `time`: rounds in which the site runs as many sections as the admitted
    /// level allows (plus `overflow`, within `demand`), each recorded as it ends. The
    /// simulation's first rounds are a burst's start: one more section at once each round.
    fn run(&mut self, site: Site, demand: u32, overflow: u32, time: Duration) {
        let end = self.now + time;
        while self.now < end {
            self.round += 1;
            let extra = self.round % (overflow + 1);
            let level = (self.learner.admitted() + extra)
                .min(demand)
                .min(self.round)
                .max(1);
            let base = match site {
                Site::Independent => UNIT,
                Site::OneLock => UNIT * level,
            };
            // The round's sections end together; the round lasts as long as they do.
            let mut longest = Duration::ZERO;
            for _ in 0..level {
                let took = base.mul_f64(self.jitter());
                longest = longest.max(took);
                self.learner.record(self.now + took, level, took);
            }
            self.now += longest;
        }
    }

    /// Runs for `time`; returns the lowest and the highest level in force in its second half.
    fn settle(&mut self, site: Site, demand: u32, overflow: u32, time: Duration) -> (u32, u32) {
        self.run(site, demand, overflow, time / 2);
        let (mut lowest, mut highest) = (u32::MAX, 0);
        let end = self.now + time / 2;
        while self.now < end {
            self.run(site, demand, overflow, Duration::from_millis(1));
            lowest = lowest.min(self.learner.level());
            highest = highest.max(self.learner.level());
        }
        (lowest, highest)
    }
}

#[test]
fn a_site_behind_one_lock_settles_at_a_low_level() {
    for overflow in [0, 2] {
        let mut sim = Sim::new(0.2);
        let (lowest, highest) = sim.settle(Site::OneLock, 24, overflow, Duration::from_secs(2));
        assert!(
            highest <= 2,
            "overflow {overflow}: the level went up to {highest} (down to {lowest})"
        );
    }
}

#[test]
fn a_site_whose_calls_do_not_contend_keeps_replacing() {
    for overflow in [0, 2] {
        let mut sim = Sim::new(0.2);
        let (lowest, _) = sim.settle(Site::Independent, 24, overflow, Duration::from_secs(2));
        assert!(
            lowest >= 24,
            "overflow {overflow}: the level dropped to {lowest}"
        );
    }
}

#[test]
fn a_site_whose_contention_ends_recovers() {
    for overflow in [0, 2] {
        let mut sim = Sim::new(0.2);
        let (_, contended) = sim.settle(Site::OneLock, 24, overflow, Duration::from_secs(1));
        assert!(
            contended <= 2,
            "overflow {overflow}: contended at {contended}"
        );
        let (lowest, _) = sim.settle(Site::Independent, 24, overflow, Duration::from_secs(2));
        assert!(
            lowest >= 24,
            "overflow {overflow}: recovered only to {lowest}"
        );
    }
}

#[test]
fn a_site_whose_contention_starts_comes_down() {
    let mut sim = Sim::new(0.2);
    let (lowest, _) = sim.settle(Site::Independent, 24, 2, Duration::from_secs(1));
    assert!(lowest >= 24);
    let (_, highest) = sim.settle(Site::OneLock, 24, 2, Duration::from_secs(2));
    assert!(highest <= 2, "contended at up to {highest}");
}

#[test]
fn without_figures_a_fresh_site_stays_at_its_start_level() {
    let now = Instant::now();
    let mut learner = Learner::new(now);
    assert_eq!(learner.admitted(), START_LEVEL);
    // Figures for few sections at once only: nothing to compare, nothing changes.
    for i in 0..4 * MIN_SAMPLES {
        learner.record(now + RAMP_STEP * (i + 1), 1, UNIT);
    }
    assert_eq!(learner.level(), START_LEVEL);
    assert!(learner.ramping());
}

/// The highest level a fresh site took over its first `time`, and the time it took to
/// reach `MAX_LEVEL`, if it did.
fn first_burst(site: Site, overflow: u32, time: Duration) -> (u32, Option<Duration>) {
    let mut sim = Sim::new(0.2);
    let start = sim.now;
    let (mut highest, mut unlimited) = (0, None);
    while sim.now < start + time {
        sim.run(site, 24, overflow, Duration::from_micros(100));
        highest = highest.max(sim.learner.admitted());
        if sim.learner.admitted() == MAX_LEVEL && unlimited.is_none() {
            unlimited = Some(sim.now - start);
        }
    }
    (highest, unlimited)
}

#[test]
fn a_fresh_site_behind_one_lock_never_climbs_past_its_start_level() {
    for overflow in [0, 2] {
        let (highest, _) = first_burst(Site::OneLock, overflow, Duration::from_millis(200));
        assert!(
            highest <= START_LEVEL,
            "overflow {overflow}: a burst behind one lock was let up to {highest}"
        );
    }
}

#[test]
fn a_fresh_site_whose_calls_do_not_contend_climbs_to_no_limit_within_a_few_steps() {
    for overflow in [0, 2] {
        let (_, unlimited) = first_burst(Site::Independent, overflow, Duration::from_millis(200));
        // Three doublings from `START_LEVEL`, a few sections' worth of figures each.
        let within = RAMP_STEP * 3 + UNIT * 40;
        assert!(
            unlimited.is_some_and(|took| took <= within),
            "overflow {overflow}: no limit after {unlimited:?} (expected within {within:?})"
        );
    }
}

#[test]
fn efficiency_is_one_for_linear_scaling_and_zero_for_none() {
    assert!((efficiency((2, 4.0), (4, 8.0)) - 1.0).abs() < 1e-9);
    assert!(efficiency((2, 4.0), (4, 4.0)).abs() < 1e-9);
}
