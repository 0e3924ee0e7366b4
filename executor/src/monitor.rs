//! The monitor thread, like Go's sysmon: it hands off sections that outlive the grace period,
//! keeps a spare parked on every core, and lets surplus spares go after their keep-alive.
//!
//! # One tick
//!
//! 1. Look at every worker's section word. A lazy section seen with the same epoch for at least
//!    the grace period is handed off: the monitor claims it in the word (so the worker cannot
//!    leave the section meanwhile), takes the worker out of its core's running count (waking a
//!    spare if the core has work), then publishes the handoff.
//! 2. Start a spare on every core that has none, within the thread caps and the spawn rate.
//! 3. Tell surplus spares parked longer than the keep-alive to exit.
//! 4. Sleep: one tick (half the grace period) while sections are about, backing off to
//!    [`MAX_INTERVAL`] while none are; with no worker running and none in a section, sleep
//!    until rung (see [`Bell`](crate::core::Bell)) or until the next keep-alive expires.

use std::io;
use std::time::{Duration, Instant};

use crate::core::Seen;
use crate::shared::Shared;
use crate::stats::Counters;
use crate::sync::Arc;
use crate::{sys, worker};

/// The longest the monitor waits between looks while the runtime is busy but no section has
/// been seen.
const MAX_INTERVAL: Duration = Duration::from_millis(10);
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

/// A section seen by the monitor, and since when.
struct Look {
    slot: usize,
    seen: Seen,
    since: Instant,
}

struct Monitor {
    shared: Arc<Shared>,
    looks: Vec<Look>,
    spawn_budget: u32,
    budget_refilled: Instant,
}

impl Monitor {
    fn new(shared: Arc<Shared>) -> Monitor {
        Monitor {
            shared,
            looks: Vec::new(),
            spawn_budget: SPAWN_BURST,
            budget_refilled: Instant::now(),
        }
    }

    fn run(mut self) {
        sys::tighten_timer_slack();
        let tick = self.shared.config.grace / 2;
        let mut interval = tick;
        while !self.shared.is_shutdown() {
            let now = Instant::now();
            let sections = self.hand_off_overdue(now);
            self.ensure_spares(now);
            self.reap(now);
            interval = if sections > 0 {
                tick
            } else {
                (interval * 2).min(MAX_INTERVAL)
            };
            let bell = &self.shared.idle.bell;
            if self.is_active() {
                bell.tick(interval, interval > tick);
            } else {
                let timeout = self.next_reap().map(|at| at.saturating_duration_since(now));
                bell.sleep(timeout, || self.is_active() || self.shared.is_shutdown());
                interval = tick;
            }
        }
    }

    /// Whether any core runs, has a worker in a section, or has work waiting.
    fn is_active(&self) -> bool {
        self.shared.cores.iter().any(|core| {
            let state = core.state();
            state.running() > 0 || state.in_section() > 0 || core.has_work()
        })
    }

    /// Step 1; returns how many lazy sections are running.
    fn hand_off_overdue(&mut self, now: Instant) -> usize {
        let shared = &*self.shared;
        let grace = shared.config.grace;
        let mut looks = Vec::with_capacity(self.looks.len());
        for core in shared.cores.iter() {
            core.for_each_slot(|slot| {
                let seen = slot.look();
                if !seen.is_in_lazy_section() {
                    return;
                }
                let key = Arc::as_ptr(slot) as usize;
                let since = self
                    .looks
                    .iter()
                    .find(|l| l.slot == key && l.seen == seen)
                    .map_or(now, |l| l.since);
                if now.duration_since(since) < grace {
                    looks.push(Look {
                        slot: key,
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
                    if outcome == crate::core::HandOff::NoSpare {
                        shared.no_spare(core.index());
                    }
                }
            });
        }
        let running = looks.len();
        self.looks = looks;
        running
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
