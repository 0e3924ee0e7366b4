//! The monitor thread, like Go's sysmon: it hands off sections that outlive the grace period,
//! keeps a spare parked on every core, and lets surplus spares go after their keep-alive.
//!
//! # One tick
//!
//! 1. Look at every worker's section word. A lazy section seen for the first time is dated
//!    from the ring of the bell that woke the monitor since its previous look, if any (a
//!    section entry rings the bell unless the monitor looks every tick anyway; a core that
//!    starts running rings it if the monitor sleeps), otherwise from this look. So a section
//!    that woke the monitor is not charged the monitor's wake-up latency, and one seen while
//!    the monitor looks every tick is charged at most a tick. A section seen with the same
//!    epoch for the grace period since that date is handed off: the monitor claims it in the
//!    word (so the worker cannot leave the section meanwhile), takes the worker out of its
//!    core's running count (waking a spare if the core has work), then publishes the handoff.
//! 2. Start a spare on every core that has none, within the thread caps and the spawn rate.
//! 3. Tell surplus spares parked longer than the keep-alive to exit.
//! 4. Sleep: while lazy sections run, until the first of them reaches its grace period (at most
//!    a tick: half the grace period, kept within [`MIN_TICK`] and [`MAX_INTERVAL`]); the wait
//!    ends early by the average lateness of the monitor's recent wake-ups, and the monitor spins
//!    the rest of the way. Back off to [`MAX_INTERVAL`] while no section runs; with no worker
//!    running and none in a section, sleep until rung (see [`Bell`](crate::core::Bell)) or until
//!    the next keep-alive expires. A grace period or keep-alive too long for the clock never
//!    runs out.

use std::io;
use std::time::{Duration, Instant};

use crate::core::{SectionSlot, Seen};
use crate::shared::Shared;
use crate::stats::Counters;
use crate::sync::Arc;
use crate::{sys, worker};

/// The longest the monitor waits between looks while the runtime is busy but no section has
/// been seen.
const MAX_INTERVAL: Duration = Duration::from_millis(10);
/// The shortest tick, whatever the grace period: a tick of zero would make the monitor spin.
const MIN_TICK: Duration = Duration::from_micros(10);
/// Spin-loop hints between two looks at the clock while spinning to a deadline.
const SPINS_PER_LOOK: u32 = 16;
/// At most this many threads are started in a burst; afterwards one per [`SPAWN_INTERVAL`].
const SPAWN_BURST: u32 = 4;
/// The rate at which the spawn budget refills.
const SPAWN_INTERVAL: Duration = Duration::from_micros(100);

/// Starts the monitor thread.
pub(crate) fn spawn(shared: &Arc<Shared>) -> io::Result<std::thread::JoinHandle<()>> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name(format!("{}-monitor", shared.config.thread_name))
        .spawn(move || Monitor::new(shared).run())
}

/// Spins until `deadline`, or until the section word `slot` no longer shows `seen`.
fn spin_until(deadline: Instant, slot: &SectionSlot, seen: Seen) {
    while Instant::now() < deadline && slot.look() == seen {
        for _ in 0..SPINS_PER_LOOK {
            std::hint::spin_loop();
        }
    }
}

/// A section seen by the monitor, and since when.
struct Look {
    slot: Arc<SectionSlot>,
    seen: Seen,
    since: Instant,
}

struct Monitor {
    shared: Arc<Shared>,
    looks: Vec<Look>,
    spawn_budget: u32,
    budget_refilled: Instant,
    /// If the bell rang since the previous look: when, or when that look was if later. A
    /// section seen for the first time at the next look is dated from it.
    rung: Option<Instant>,
    /// How late a timed wait of the monitor wakes up, on average (at most a tick).
    overshoot: Duration,
}

/// What the lazy sections looked like at one look.
struct Sections {
    /// How many are running.
    running: usize,
    /// The first of them to reach its grace period, and when it does.
    next: Option<Deadline>,
}

/// When the grace period of the section `seen` in the word `slot` runs out.
struct Deadline {
    at: Instant,
    slot: Arc<SectionSlot>,
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
            shared,
            looks: Vec::new(),
            spawn_budget: SPAWN_BURST,
            budget_refilled: Instant::now(),
            rung: None,
            overshoot: tick,
        }
    }

    fn run(mut self) {
        sys::tighten_timer_slack();
        let tick = tick(self.shared.config.grace);
        let mut interval = tick;
        while !self.shared.is_shutdown() {
            let now = Instant::now();
            let sections = self.hand_off_overdue(now);
            self.ensure_spares(now);
            self.reap(now);
            let bell = &self.shared.idle.bell;
            let rung = if sections.running > 0 {
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
                interval = interval.saturating_mul(2).min(MAX_INTERVAL);
                bell.tick(interval, interval > tick)
            } else {
                interval = tick;
                let timeout = self.next_reap().map(|at| at.saturating_duration_since(now));
                bell.sleep(timeout, || self.is_active() || self.shared.is_shutdown())
            };
            self.rung = rung.map(|rung| rung.max(now));
        }
    }

    /// Whether any core runs, has a worker in a section, or has work waiting.
    fn is_active(&self) -> bool {
        self.shared.cores.iter().any(|core| {
            let state = core.state();
            state.running() > 0 || state.in_section() > 0 || core.has_work()
        })
    }

    /// Step 1.
    fn hand_off_overdue(&mut self, now: Instant) -> Sections {
        let shared = &*self.shared;
        let grace = shared.config.grace;
        // Without a ring, a section seen for the first time is dated from this look: the
        // monitor looks at least every tick while sections run, so it is at most a tick late.
        let first_seen = self.rung.unwrap_or(now);
        let mut looks = Vec::with_capacity(self.looks.len());
        for core in shared.cores.iter() {
            core.for_each_slot(|slot| {
                let seen = slot.look();
                if !seen.is_in_lazy_section() {
                    return;
                }
                let since = self
                    .looks
                    .iter()
                    .find(|l| Arc::ptr_eq(&l.slot, slot) && l.seen == seen)
                    .map_or(first_seen, |l| l.since);
                if now.duration_since(since) < grace {
                    looks.push(Look {
                        slot: Arc::clone(slot),
                        seen,
                        since,
                    });
                    return;
                }
                // Claim, uncount, publish: the worker cannot leave its section in between, so
                // it never acts on counts that do not yet show the handoff.
                if slot.claim(seen) {
                    let outcome = core.hand_off(&shared.idle, || shared.recheck(core.index()));
                    slot.publish(seen);
                    Counters::add(&core.counters.handoffs, 1);
                    shared.after_hand_off(core.index(), outcome);
                }
            });
        }
        let sections = Sections {
            running: looks.len(),
            // A grace period too long for the clock never runs out.
            next: looks.iter().min_by_key(|l| l.since).and_then(|l| {
                Some(Deadline {
                    at: l.since.checked_add(grace)?,
                    slot: Arc::clone(&l.slot),
                    seen: l.seen,
                })
            }),
        };
        self.looks = looks;
        sections
    }

    /// Step 2.
    fn ensure_spares(&mut self, now: Instant) {
        let refill = now.duration_since(self.budget_refilled).as_micros()
            / SPAWN_INTERVAL.as_micros().max(1);
        if refill > 0 {
            self.spawn_budget = (self.spawn_budget + refill as u32).min(SPAWN_BURST);
            self.budget_refilled = now;
        }
        let shared = &self.shared;
        for core in shared.cores.iter() {
            if core.state().idle() > 0 || self.spawn_budget == 0 || shared.at_thread_cap(core) {
                continue;
            }
            match worker::spawn(shared, core.index()) {
                Ok(thread) => {
                    self.spawn_budget -= 1;
                    shared.add_thread(thread);
                    // The new spare is parked; if the core waits for a worker, wake it.
                    core.notify(&shared.idle);
                }
                // The OS refused a thread (EAGAIN and friends): the core goes on without a
                // spare; sections there run without replacement until a thread can be had.
                Err(_) => Counters::add(&core.counters.cap_hits, 1),
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
