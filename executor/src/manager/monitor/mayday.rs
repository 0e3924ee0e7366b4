//! The monitor's calls to the work queues' rescuers for starved cores (the kernel's mayday
//! timer; the rescuer's side is in `workqueue/rescuer.rs`), and which starved cores are due a
//! worker beyond their per-core cap (the *cap rescue*; [`spares`](super::spares) starts it).

use std::time::{Duration, Instant};

use crate::scheduler::Shared;

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
/// ending (sections contending for one lock, say), and more threads would only contend more;
/// long enough that sections slowed by a loaded machine (a lock's holder in a slow `fsync`)
/// are not taken for a deadlock.
pub const CAP_RESCUE_DELAY: Duration = Duration::from_millis(200);

/// Per core, while it is starved: since when, and when the rescuers were last called.
pub(super) struct Mayday {
    starved: Vec<Option<(Instant, Option<Instant>)>>,
    /// The cores' turns at the last look, and since when none has changed: while one does,
    /// polls start somewhere and sections end, so no cap rescue is due.
    turns: (Vec<u32>, Instant),
}

impl Mayday {
    pub(super) fn new(cores: usize) -> Mayday {
        Mayday {
            starved: vec![None; cores],
            turns: (vec![0; cores], Instant::now()),
        }
    }

    /// Calls the rescuers for the cores starved ([`Shared::is_starved`]) for [`MAYDAY_DELAY`],
    /// and again every [`MAYDAY_INTERVAL`] while they stay starved. Returns the cores due a cap
    /// rescue: starved, while no poll started on any core, for [`CAP_RESCUE_DELAY`].
    pub(super) fn call(&mut self, shared: &Shared, now: Instant) -> Vec<usize> {
        let mut due = Vec::new();
        let mut over_cap = Vec::new();
        // Compared in place: the monitor may tick every few microseconds.
        let (turns, since) = &mut self.turns;
        for (seen, core) in turns.iter_mut().zip(shared.cores.iter()) {
            let turn = core.turn();
            if *seen != turn {
                *seen = turn;
                *since = now;
            }
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
        over_cap
    }

    /// Core `index` got a worker beyond its cap: its next cap rescue waits for a new episode.
    pub(super) fn rescued(&mut self, index: usize) {
        self.starved[index] = None;
    }
}
