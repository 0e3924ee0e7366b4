//! The monitor's calls to the work queues' rescuers for starved cores (the kernel's mayday
//! timer; the rescuer's side is in `workqueue/rescuer.rs`).

use std::time::{Duration, Instant};

use crate::scheduler::Shared;

/// How long a core must stay starved (its workers all in sections, and no spare to be had)
/// before the monitor calls the work queues' rescuers: the kernel's `MAYDAY_INITIAL_TIMEOUT`.
pub const MAYDAY_DELAY: Duration = Duration::from_millis(10);

/// How often the monitor calls the rescuers again while a core stays starved: the kernel's
/// `MAYDAY_INTERVAL`.
pub const MAYDAY_INTERVAL: Duration = Duration::from_millis(100);

/// Per core, while it is starved: since when, and when the rescuers were last called.
pub(super) struct Mayday {
    starved: Vec<Option<(Instant, Option<Instant>)>>,
}

impl Mayday {
    pub(super) fn new(cores: usize) -> Mayday {
        Mayday {
            starved: vec![None; cores],
        }
    }

    /// Calls the rescuers for the cores starved ([`Shared::is_starved`]) for [`MAYDAY_DELAY`],
    /// and again every [`MAYDAY_INTERVAL`] while they stay starved.
    pub(super) fn call(&mut self, shared: &Shared, now: Instant) {
        let mut due = Vec::new();
        for (index, starved) in self.starved.iter_mut().enumerate() {
            if !shared.is_starved(index) {
                *starved = None;
                continue;
            }
            let (since, called) = starved.get_or_insert((now, None));
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
    }
}
