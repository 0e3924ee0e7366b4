//! The monitor thread, like Go's sysmon: it hands off sections that outlive the grace period,
//! keeps a spare parked on every core, and lets surplus spares go after their keep-alive.
//!
//! # One tick
//!
//! 1. Look at every worker's section word. A lazy section seen for the first time is dated
//!    from the ring of the bell that woke the monitor since its previous look, if any (a
//!    section entry rings the bell unless the monitor is in fast mode anyway; a core that
//!    starts running rings it if the monitor sleeps), otherwise from this look. So a section
//!    that woke the monitor is not charged the monitor's wake-up latency, and one seen while
//!    the monitor looks every tick is charged at most a tick. A section seen with the same
//!    epoch for the grace period since that date is handed off: the monitor claims it in the
//!    word (so the worker cannot leave the section meanwhile), takes the worker out of its
//!    core's running count (waking a spare if the core has work), then publishes the handoff.
//!    A held section (its call site at its learnt level) is handed off the same way, but only
//!    after [`HELD_GRACE`].
//! 2. Start a spare on every core that has none (and none starting), within the thread caps
//!    and the spawn rate. If the OS refuses a thread, try again after a wait that doubles while
//!    refusals continue, from [`SPAWN_RETRY_MIN`] to [`SPAWN_RETRY_MAX`].
//! 3. Tell surplus spares parked longer than the keep-alive to exit.
//! 4. Look at polls that run outside sections ([`crate::detect`]), and for stalls
//!    ([`crate::stall`]). Call the work queues' rescuers for the cores starved
//!    ([`Shared::is_starved`]) for [`MAYDAY_DELAY`], and again every [`MAYDAY_INTERVAL`] while
//!    they stay starved (the rescuer protocol is in `workqueue/rescuer.rs`). Start a worker
//!    beyond the per-core cap on a core starved at that cap while no poll started on any core
//!    for [`CAP_RESCUE_DELAY`], within the runtime's cap and the spawn retry (the *cap
//!    rescue*). Wake a spare on a
//!    core that has work and no running worker: the
//!    notify protocol makes that impossible for tasks queued from outside the core's polls,
//!    but a poll the monitor took over (it blocks outside any section) does not know it, and
//!    queues the tasks it wakes for its own next poll boundary, which may be far off. Let the
//!    tasks deferred at a call site go if none of its sections ended for long
//!    ([`crate::sites::defer`]).
//! 5. Sleep: while lazy sections run, until the first of them reaches its grace period (at most
//!    a tick: half the grace period, kept within [`MIN_TICK`] and [`MAX_INTERVAL`]); the wait
//!    ends early by the average lateness of the monitor's recent wake-ups, and the monitor spins
//!    the rest of the way. While the sections seen keep ending before the next look, look less
//!    and less often instead (see [`Pace`]). Back off to [`MAX_INTERVAL`] while no section
//!    runs; with no worker running and none in a section, sleep until rung (see
//!    [`Bell`](crate::core::Bell)) or until the next keep-alive expires. A grace period or
//!    keep-alive too long for the clock never runs out.

use std::io;
use std::time::{Duration, Instant};

use crate::core::{SectionWord, Seen};
use crate::detect::{Detector, SwitchThread};
use crate::scheduler::worker;
use crate::scheduler::Shared;
use crate::stall::Stalls;
use crate::stats::Counters;
use crate::sync::Arc;
use crate::sys;

/// How long a held section (its call site at its learnt level, see [`crate::sites`]) runs
/// before the monitor hands it off all the same: a held section that waits for another task of
/// the runtime (a synchronous client of an async service) must not keep every core from
/// running that task. The kernel's CPU-hog threshold.
const HELD_GRACE: Duration = Duration::from_millis(10);
/// The longest the monitor waits between looks while the runtime is busy but no section has
/// been seen.
const MAX_INTERVAL: Duration = Duration::from_millis(10);
/// The longest the monitor waits between looks while the sections it sees keep ending before
/// its next look (see [`Pace`]).
const SHORT_SECTIONS_MAX_INTERVAL: Duration = Duration::from_millis(4);
/// How long after it last saw a section the monitor keeps the pace it took for short sections;
/// after that, the next section it sees starts a new episode at the tick.
const SHORT_SECTIONS_MEMORY: Duration = Duration::from_millis(10);
/// The shortest tick, whatever the grace period: a tick of zero would make the monitor spin.
const MIN_TICK: Duration = Duration::from_micros(10);
/// Spin-loop hints between two looks at the clock while spinning to a deadline.
const SPINS_PER_LOOK: u32 = 16;
/// At most this many threads are started in a burst; afterwards one per [`SPAWN_INTERVAL`].
const SPAWN_BURST: u32 = 4;
/// The rate at which the spawn budget refills.
const SPAWN_INTERVAL: Duration = Duration::from_micros(100);
/// How long the monitor waits before it starts threads again after the OS refused one; the
/// wait doubles with each refusal in a row, up to [`SPAWN_RETRY_MAX`].
const SPAWN_RETRY_MIN: Duration = Duration::from_millis(1);
/// The longest wait before starting threads again after the OS refused them.
const SPAWN_RETRY_MAX: Duration = Duration::from_millis(100);

/// How long a core must stay starved (its workers all in sections, and no spare to be had)
/// before the monitor calls the work queues' rescuers: the kernel's `MAYDAY_INITIAL_TIMEOUT`.
pub const MAYDAY_DELAY: Duration = Duration::from_millis(10);

/// How often the monitor calls the rescuers again while a core stays starved: the kernel's
/// `MAYDAY_INTERVAL`.
pub const MAYDAY_INTERVAL: Duration = Duration::from_millis(100);

/// How long a core must stay starved at its per-core thread cap, with no poll starting on any
/// core, before the monitor starts a worker beyond that cap (within the runtime's): the cap
/// bounds replacement while sections end, but sections that wait for tasks queued behind them
/// (a barrier, a reply) would otherwise never end. While polls start somewhere, sections are
/// ending (sections contending for one lock, say), and more threads would only contend more.
pub const CAP_RESCUE_DELAY: Duration = Duration::from_millis(200);

/// Starts the monitor thread.
pub(crate) fn spawn(shared: &Arc<Shared>) -> io::Result<std::thread::JoinHandle<()>> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name(format!("{}-monitor", shared.config.thread_name))
        .spawn(move || Monitor::new(shared).run())
}

/// Spins until `deadline`, or until the section word `slot` no longer shows `seen`.
fn spin_until(deadline: Instant, slot: &SectionWord, seen: Seen) {
    while Instant::now() < deadline && slot.look() == seen {
        for _ in 0..SPINS_PER_LOOK {
            std::hint::spin_loop();
        }
    }
}

/// A section seen by the monitor, and since when.
struct Look {
    slot: Arc<SectionWord>,
    seen: Seen,
    since: Instant,
    /// How long it may run before it is handed off.
    grace: Duration,
}

struct Monitor {
    shared: Arc<Shared>,
    looks: Vec<Look>,
    spawn_budget: u32,
    budget_refilled: Instant,
    /// After the OS refused a thread: how long the monitor waits before trying again, and
    /// until when.
    spawn_retry: Option<(Duration, Instant)>,
    /// If the bell rang since the previous look: when, or when that look was if later. A
    /// section seen for the first time at the next look is dated from it.
    rung: Option<Instant>,
    /// How late a timed wait of the monitor wakes up, on average (at most a tick).
    overshoot: Duration,
    /// How often to look while sections run.
    pace: Pace,
    /// The watch over polls that block outside sections.
    detector: Detector,
    /// The stall watchdog.
    stalls: Stalls,
    /// The thread that takes over watched polls when their worker goes to sleep, if the
    /// kernel grants context-switch events (see `crate::detect`).
    switches: Option<SwitchThread>,
    /// Per core, while it is starved: since when, and when the rescuers were last called.
    starved: Vec<Option<(Instant, Option<Instant>)>>,
    /// The cores' turns at the last look, and since when none has changed: while one does,
    /// polls start somewhere and sections end, so no cap rescue is due.
    turns: (Vec<u32>, Instant),
}

/// What the lazy sections looked like at one look.
struct Sections {
    /// How many are running.
    running: usize,
    /// Whether a section seen at the previous look was still running at this one (whether or
    /// not it was handed off now).
    outlived: bool,
    /// The first of them to reach its grace period, and when it does.
    next: Option<Deadline>,
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
struct Pace {
    /// The tick: the interval while sections may outlive it.
    tick: Duration,
    /// The interval now.
    interval: Duration,
    /// When the monitor last saw a section running, in this episode of sections.
    last_seen: Option<Instant>,
}

impl Pace {
    fn new(tick: Duration) -> Pace {
        Pace {
            tick,
            interval: tick,
            last_seen: None,
        }
    }

    /// Learns from a look at `now` that saw `sections`.
    fn learn(&mut self, now: Instant, sections: &Sections) {
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
    fn short_sections(&self) -> Option<Duration> {
        (self.interval > self.tick).then_some(self.interval)
    }
}

/// When the grace period of the section `seen` in the word `slot` runs out.
struct Deadline {
    at: Instant,
    slot: Arc<SectionWord>,
    seen: Seen,
}

/// How often the monitor looks while sections run: half the grace period, at least
/// [`MIN_TICK`] and at most [`MAX_INTERVAL`] (so that with a very long grace period it still
/// starts spares and lets surplus ones go while sections run).
fn tick(grace: Duration) -> Duration {
    (grace / 2).clamp(MIN_TICK, MAX_INTERVAL)
}

impl Monitor {
    fn new(shared: Arc<Shared>) -> Monitor {
        let tick = tick(shared.config.grace);
        Monitor {
            detector: Detector::new(&shared),
            switches: None,
            stalls: Stalls::new(&shared),
            starved: vec![None; shared.cores.len()],
            turns: (Vec::new(), Instant::now()),
            shared,
            looks: Vec::new(),
            spawn_budget: SPAWN_BURST,
            budget_refilled: Instant::now(),
            spawn_retry: None,
            rung: None,
            overshoot: tick,
            pace: Pace::new(tick),
        }
    }

    fn run(mut self) {
        sys::tighten_timer_slack();
        let tick = tick(self.shared.config.grace);
        let mut interval = tick;
        while !self.shared.is_shutdown() {
            let now = Instant::now();
            let sections = self.hand_off_overdue(now);
            let watching = self
                .detector
                .look(&self.shared, now, self.rung.unwrap_or(now));
            if watching && self.shared.switches.get().is_none() {
                // The first watched poll: only now are context-switch events worth their
                // thread and descriptors.
                self.switches = SwitchThread::start(&self.shared);
            }
            self.stalls.check(&self.shared, now);
            self.mayday(now);
            self.shared.sites.release_overdue(now);
            self.wake_stranded();
            self.ensure_spares(now);
            self.reap(now);
            self.pace.learn(now, &sections);
            let bell = &self.shared.siblings.bell;
            // Watched polls are judged after the grace period: they keep the monitor ticking.
            let short = if watching {
                None
            } else {
                self.pace.short_sections()
            };
            let rung = if let Some(short) = short {
                // Fast mode, so that section entries do not ring (see `Pace`).
                interval = tick;
                bell.tick(short, false)
            } else if sections.running > 0 || watching {
                interval = tick;
                match sections.next {
                    // A timed wait overshoots (the kernel's wake-up latency, more on a virtual
                    // CPU): wait until that much before the deadline, then spin to it.
                    Some(next) => {
                        let remaining = next.at.saturating_duration_since(Instant::now());
                        if remaining <= self.overshoot {
                            spin_until(next.at, &next.slot, next.seen);
                            None
                        } else {
                            // At most a tick, so sections that start meanwhile are seen soon.
                            let asked = (remaining - self.overshoot).min(tick);
                            let start = Instant::now();
                            let rung = bell.tick(asked, false);
                            if rung.is_none() {
                                let late = start.elapsed().saturating_sub(asked).min(tick);
                                self.overshoot = (self.overshoot * 3 + late) / 4;
                            }
                            rung
                        }
                    }
                    None => bell.tick(tick, false),
                }
            } else if self.is_active() {
                // While the runtime is busy, detection needs a look every threshold, unless
                // every core runs: then the cores watch one another (see `crate::detect`).
                let longest = if self.peers_watch() {
                    MAX_INTERVAL
                } else {
                    self.detector
                        .interval()
                        .map_or(MAX_INTERVAL, |d| d.min(MAX_INTERVAL))
                };
                interval = interval.saturating_mul(2).min(longest);
                bell.tick(interval, interval > tick)
            } else {
                interval = tick;
                let timeout = self.next_reap().map(|at| at.saturating_duration_since(now));
                bell.sleep(timeout, || self.is_active() || self.shared.is_shutdown())
            };
            self.rung = rung.map(|rung| rung.max(now));
        }
        if let Some(switches) = self.switches.take() {
            switches.stop();
        }
    }

    /// Whether the runtime has more than one online core and every online core has a running
    /// worker, whose looks at the injector also watch the other cores' polls (see
    /// `crate::detect`).
    fn peers_watch(&self) -> bool {
        let cores = &self.shared.cores[..self.shared.online()];
        cores.len() > 1 && cores.iter().all(|core| core.state().running() > 0)
    }

    /// Whether any core runs, has a worker in a section, or has work waiting (queued, or
    /// deferred for its call site's turn).
    fn is_active(&self) -> bool {
        self.shared.cores.iter().any(|core| {
            let state = core.state();
            state.running() > 0 || state.in_section() > 0 || core.has_work()
        }) || self.shared.sites.has_deferred()
    }

    /// Step 1.
    fn hand_off_overdue(&mut self, now: Instant) -> Sections {
        let shared = &*self.shared;
        let grace = shared.config.grace;
        // Without a ring, a section seen for the first time is dated from this look: the
        // monitor looks at least every tick while sections run, so it is at most a tick late.
        let first_seen = self.rung.unwrap_or(now);
        let mut looks = Vec::with_capacity(self.looks.len());
        let mut outlived = false;
        // An offline core's sections need no replacement: the core takes no work.
        for core in shared.cores[..shared.online()].iter() {
            core.for_each_slot(|slot| {
                let seen = slot.look();
                let grace = if seen.is_in_lazy_section() {
                    grace
                } else if seen.is_in_held_section() {
                    grace.max(HELD_GRACE)
                } else {
                    return;
                };
                let before = self
                    .looks
                    .iter()
                    .find(|l| Arc::ptr_eq(&l.slot, slot) && l.seen == seen);
                outlived |= before.is_some();
                let since = before.map_or(first_seen, |l| l.since);
                if now.duration_since(since) < grace {
                    looks.push(Look {
                        slot: Arc::clone(slot),
                        seen,
                        since,
                        grace,
                    });
                    return;
                }
                // Claim, uncount, publish: the worker cannot leave its section in between, so
                // it never acts on counts that do not yet show the handoff. Counted before the
                // spare is woken, so the tasks it runs see the handoff in a stats snapshot.
                if slot.claim(seen) {
                    core.count_handoff(false);
                    let outcome = core.hand_off(&shared.siblings, || shared.recheck(core.index()));
                    slot.publish(seen);
                    shared.after_hand_off(core.index(), outcome);
                }
            });
        }
        let sections = Sections {
            running: looks.len(),
            outlived,
            // A grace period too long for the clock never runs out.
            next: looks
                .iter()
                .filter_map(|l| Some((l.since.checked_add(l.grace)?, l)))
                .min_by_key(|(at, _)| *at)
                .map(|(at, l)| Deadline {
                    at,
                    slot: Arc::clone(&l.slot),
                    seen: l.seen,
                }),
        };
        self.looks = looks;
        sections
    }

    /// Step 4: calls the rescuers for the cores starved for [`MAYDAY_DELAY`], and again every
    /// [`MAYDAY_INTERVAL`] while they stay starved.
    fn mayday(&mut self, now: Instant) {
        let shared = &*self.shared;
        let mut due = Vec::new();
        let mut over_cap = Vec::new();
        let turns: Vec<u32> = shared.cores.iter().map(|core| core.turn()).collect();
        if turns != self.turns.0 {
            self.turns = (turns, now);
        }
        let still = now.duration_since(self.turns.1) >= CAP_RESCUE_DELAY;
        for (index, starved) in self.starved.iter_mut().enumerate() {
            if !shared.is_starved(index) {
                *starved = None;
                continue;
            }
            let (since, called) = starved.get_or_insert((now, None));
            if still && now.duration_since(*since) >= CAP_RESCUE_DELAY {
                over_cap.push(index);
            }
            let waited = now.duration_since(*since) >= MAYDAY_DELAY;
            if waited && called.is_none_or(|at| now.duration_since(at) >= MAYDAY_INTERVAL) {
                *called = Some(now);
                due.push(index);
            }
        }
        if !due.is_empty() {
            for frontend in shared.frontends() {
                frontend.mayday(&due);
            }
        }
        for index in over_cap {
            self.rescue_at_cap(index, now);
        }
    }

    /// Step 4, the cap rescue: core `index` stayed starved for [`CAP_RESCUE_DELAY`]; if its
    /// per-core cap is what keeps it from a spare, starts one beyond that cap. The new worker
    /// counts as starting, so the core is no longer starved; if that worker blocks in a section
    /// too, the next rescue comes after another delay.
    fn rescue_at_cap(&mut self, index: usize, now: Instant) {
        let shared = &self.shared;
        let core = &shared.cores[index];
        if !shared.at_thread_cap(core)
            || shared.at_runtime_cap()
            || self.spawn_retry.is_some_and(|(_, at)| now < at)
        {
            // Below the cap the spares step starts one; at the runtime's cap nothing may.
            return;
        }
        match worker::spawn(shared, index, None) {
            Ok(thread) => {
                self.spawn_retry = None;
                shared.add_thread(thread);
                Counters::add(&core.counters.cap_rescues, 1);
                self.starved[index] = None;
            }
            Err(_) => {
                let wait = self
                    .spawn_retry
                    .map_or(SPAWN_RETRY_MIN, |(wait, _)| wait.saturating_mul(2))
                    .min(SPAWN_RETRY_MAX);
                self.spawn_retry = Some((wait, now + wait));
            }
        }
    }

    /// Step 4, the end: wakes a spare on each core that has work queued and no running worker.
    fn wake_stranded(&self) {
        let shared = &*self.shared;
        for core in shared.cores.iter() {
            let state = core.state();
            if state.running() == 0 && state.spares() > 0 && core.has_work() {
                core.notify(&shared.siblings);
            }
        }
    }

    /// Step 2.
    fn ensure_spares(&mut self, now: Instant) {
        let refill = now.duration_since(self.budget_refilled).as_micros()
            / SPAWN_INTERVAL.as_micros().max(1);
        if refill > 0 {
            self.spawn_budget = (self.spawn_budget + refill as u32).min(SPAWN_BURST);
            self.budget_refilled = now;
        }
        if self.spawn_retry.is_some_and(|(_, at)| now < at) {
            return;
        }
        let shared = &self.shared;
        // An offline core keeps the spares it has, and gets one once it is online again.
        for core in shared.cores[..shared.online()].iter() {
            let state = core.state();
            // A spare being started counts: it parks itself, and wakes itself if the core
            // waits for a worker.
            if state.spares() > 0
                || state.starting() > 0
                || self.spawn_budget == 0
                || shared.at_thread_cap(core)
            {
                continue;
            }
            self.spawn_budget -= 1;
            match worker::spawn(shared, core.index(), None) {
                Ok(thread) => {
                    self.spawn_retry = None;
                    shared.add_thread(thread);
                }
                // The OS refused a thread (EAGAIN and friends; counted by `spawn`): the core
                // goes on without a spare, its sections run without replacement, and the
                // monitor tries again after a wait that grows while refusals continue.
                Err(_) => {
                    let wait = self
                        .spawn_retry
                        .map_or(SPAWN_RETRY_MIN, |(wait, _)| wait.saturating_mul(2))
                        .min(SPAWN_RETRY_MAX);
                    self.spawn_retry = Some((wait, now + wait));
                    return;
                }
            }
        }
    }

    /// Step 3.
    fn reap(&mut self, now: Instant) {
        let shared = &self.shared;
        let min = shared.config.workers_per_core as u64;
        let mut reaped = 0;
        for core in shared.cores.iter() {
            reaped += core.reap(shared.config.keep_alive, min, now);
        }
        if reaped > 0 {
            shared.join_finished_threads();
        }
    }

    /// When the next surplus spare's keep-alive runs out, if any core has one.
    fn next_reap(&self) -> Option<Instant> {
        let config = &self.shared.config;
        self.shared
            .cores
            .iter()
            .filter_map(|core| core.next_reap(config.keep_alive, config.workers_per_core as u64))
            .min()
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
