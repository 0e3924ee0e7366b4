//! The monitor thread, like Go's sysmon: it hands off sections that outlive the grace period,
//! keeps a spare parked on every core, and lets surplus spares go after their keep-alive.
//!
//! - [`overdue`]: the look at the sections, and their handoff;
//! - [`mayday`]: the calls to the work queues' rescuers for starved cores;
//! - [`spares`]: starting spares and letting surplus ones go;
//! - [`pace`]: how often the monitor looks;
//! - this file: the thread and its tick, in this order:
//!
//! # One tick
//!
//! 1. **Hand off overdue sections.** Look at every worker's section word. A lazy section seen
//!    for the first time is dated from the ring of the bell that woke the monitor since its
//!    previous look, if any (a section entry rings the bell unless the monitor is in fast mode
//!    anyway; a core that starts running rings it if the monitor sleeps), otherwise from this
//!    look. So a section that woke the monitor is not charged the monitor's wake-up latency,
//!    and one seen while the monitor looks every tick is charged at most a tick. A section
//!    seen with the same epoch for the grace period since that date is handed off: the monitor
//!    claims it in the word (so the worker cannot leave the section meanwhile), takes the
//!    worker out of its core's running count (waking a spare if the core has work), then
//!    publishes the handoff. A held section (its call site at its learnt level) is handed off
//!    the same way, but only after [`HELD_GRACE`](overdue::HELD_GRACE).
//! 2. **Look at polls, stalls and starved cores.** Look at polls that run outside sections
//!    ([`crate::detect`]), and for stalls ([`crate::stall`]). Call the work queues' rescuers
//!    for the cores starved ([`Shared::is_starved`]) for [`MAYDAY_DELAY`], and again every
//!    [`MAYDAY_INTERVAL`] while they stay starved (the rescuer protocol is in
//!    `workqueue/rescuer.rs`). Start a worker beyond the per-core cap on a core starved at
//!    that cap while no poll started on any core for [`CAP_RESCUE_DELAY`], within the
//!    runtime's cap and the spawn retry (the *cap rescue*). Let the tasks deferred at a call site
//!    go if none of its sections ended for long ([`crate::sites::defer`]). Wake a spare on a core
//!    that has work and no running worker: the notify protocol makes that impossible for tasks
//!    queued from outside the core's polls, but a poll the monitor took over (it blocks outside any
//!    section) does not know it, and queues the tasks it wakes for its own next poll boundary,
//!    which may be far off.
//! 3. **Keep a spare on every core.** Start a spare on every core that has none (and none
//!    starting), within the thread caps and the spawn rate. If the OS refuses a thread, try
//!    again after a wait that doubles while refusals continue.
//! 4. **Let surplus spares go.** Tell surplus spares parked longer than the keep-alive to
//!    exit.
//! 5. **Sleep.** While lazy sections run, until the first of them reaches its grace period (at
//!    most a [`tick`]: half the grace period, within bounds); the wait ends early by the
//!    average lateness of the monitor's recent wake-ups, and the monitor spins the rest of the
//!    way. While the sections seen keep ending before the next look, look less and less often
//!    instead (see [`Pace`]). Back off to [`MAX_INTERVAL`] while no section runs; with no
//!    worker running and none in a section, sleep until rung (see
//!    [`Bell`](crate::core::Bell)) or until the next keep-alive expires. A grace period or
//!    keep-alive too long for the clock never runs out.

use std::io;
use std::time::{Duration, Instant};

use crate::detect::{Detector, SwitchThread};
use crate::scheduler::Shared;
use crate::stall::Stalls;
use crate::sync::Arc;
use crate::sys;

mod mayday;
mod overdue;
mod pace;
mod spares;

pub use mayday::{CAP_RESCUE_DELAY, MAYDAY_DELAY, MAYDAY_INTERVAL};

use mayday::Mayday;
use overdue::{Overdue, Sections};
use pace::{tick, Pace, MAX_INTERVAL};
use spares::Spawner;

/// Starts the monitor thread.
pub(crate) fn spawn(shared: &Arc<Shared>) -> io::Result<std::thread::JoinHandle<()>> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name(format!("{}-monitor", shared.config.thread_name))
        .spawn(move || Monitor::new(shared).run())
}

/// The monitor thread's state from one tick to the next.
struct Monitor {
    shared: Arc<Shared>,
    /// The sections seen at the previous look.
    overdue: Overdue,
    /// The budget for starting spares.
    spawner: Spawner,
    /// If the bell rang since the previous look: when, or when that look was if later. A
    /// section seen for the first time at the next look is dated from it.
    rung: Option<Instant>,
    /// How often the monitor looks while sections run (see [`tick`]).
    tick: Duration,
    /// How long the monitor waits between looks while the runtime is busy and no section
    /// runs: it doubles from the tick at each such look, up to [`MAX_INTERVAL`].
    interval: Duration,
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
    /// The cores starved, for the rescuers.
    mayday: Mayday,
}

impl Monitor {
    fn new(shared: Arc<Shared>) -> Monitor {
        let tick = tick(shared.config.grace);
        Monitor {
            detector: Detector::new(&shared),
            switches: None,
            stalls: Stalls::new(&shared),
            mayday: Mayday::new(shared.cores.len()),
            shared,
            overdue: Overdue::default(),
            spawner: Spawner::new(),
            rung: None,
            tick,
            interval: tick,
            overshoot: tick,
            pace: Pace::new(tick),
        }
    }

    fn run(mut self) {
        sys::tighten_timer_slack();
        while !self.shared.is_shutdown() {
            let now = Instant::now();
            // Without a ring, a section seen for the first time is dated from this look: the
            // monitor looks at least every tick while sections run, so it is at most a tick late.
            let first_seen = self.rung.unwrap_or(now);
            let sections = self.overdue.hand_off(&self.shared, now, first_seen);
            let watching = self.look_at_polls(now, first_seen);
            self.spawner.ensure_spares(&self.shared, now);
            spares::reap(&self.shared, now);
            self.pace.learn(now, &sections);
            let rung = self.sleep(now, sections, watching);
            self.rung = rung.map(|rung| rung.max(now));
        }
        if let Some(switches) = self.switches.take() {
            switches.stop();
        }
    }

    /// The *look at polls, stalls and starved cores* step: returns whether detection watches
    /// a poll (see [`Detector::look`]).
    fn look_at_polls(&mut self, now: Instant, first_seen: Instant) -> bool {
        let watching = self.detector.look(&self.shared, now, first_seen);
        if watching && self.shared.switches.get().is_none() {
            // The first watched poll: only now are context-switch events worth their
            // thread and descriptors.
            self.switches = SwitchThread::start(&self.shared);
        }
        self.stalls.check(&self.shared, now);
        for index in self.mayday.call(&self.shared, now) {
            if self.spawner.rescue_at_cap(&self.shared, index, now) {
                self.mayday.rescued(index);
            }
        }
        self.shared.sites.release_overdue(now);
        self.wake_stranded();
        watching
    }

    /// The *sleep* step, after a look at `now` that saw `sections` (and a watched poll if
    /// `watching`): returns when the bell rang, if it woke the monitor.
    fn sleep(&mut self, now: Instant, sections: Sections, watching: bool) -> Option<Instant> {
        let tick = self.tick;
        let bell = &self.shared.siblings.bell;
        // Watched polls are judged after the grace period: they keep the monitor ticking.
        let short = if watching {
            None
        } else {
            self.pace.short_sections()
        };
        if let Some(short) = short {
            // Fast mode, so that section entries do not ring (see `Pace`).
            self.interval = tick;
            bell.tick(short, false)
        } else if sections.running > 0 || watching {
            self.interval = tick;
            match sections.next {
                // A timed wait overshoots (the kernel's wake-up latency, more on a virtual
                // CPU): wait until that much before the deadline, then spin to it.
                Some(next) => {
                    let remaining = next.at.saturating_duration_since(Instant::now());
                    if remaining <= self.overshoot {
                        next.spin_until();
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
            self.interval = self.interval.saturating_mul(2).min(longest);
            bell.tick(self.interval, self.interval > tick)
        } else {
            self.interval = tick;
            let timeout =
                spares::next_reap(&self.shared).map(|at| at.saturating_duration_since(now));
            bell.sleep(timeout, || self.is_active() || self.shared.is_shutdown())
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

    /// Wakes a spare on each core that has work queued and no running worker.
    fn wake_stranded(&self) {
        let shared = &*self.shared;
        for core in shared.cores.iter() {
            let state = core.state();
            if state.running() == 0 && state.spares() > 0 && core.has_work() {
                core.notify(&shared.siblings);
            }
        }
    }
}
