//! The spares the monitor keeps: starting one on every core that has none, at a bounded rate
//! and with a growing wait while the OS refuses threads, and letting surplus spares go after
//! their keep-alive (the *keep a spare on every core* and *let surplus spares go* steps of the
//! [monitor's tick](super)).

use std::time::{Duration, Instant};

use crate::scheduler::worker;
use crate::scheduler::Shared;
use crate::stats::Counters;
use crate::sync::Arc;

/// At most this many threads are started in a burst; afterwards one per [`SPAWN_INTERVAL`].
const SPAWN_BURST: u32 = 4;
/// The rate at which the spawn budget refills.
const SPAWN_INTERVAL: Duration = Duration::from_micros(100);
/// How long the monitor waits before it starts threads again after the OS refused one; the
/// wait doubles with each refusal in a row, up to [`SPAWN_RETRY_MAX`].
const SPAWN_RETRY_MIN: Duration = Duration::from_millis(1);
/// The longest wait before starting threads again after the OS refused them.
const SPAWN_RETRY_MAX: Duration = Duration::from_millis(100);

/// The monitor's budget for starting spares.
pub(super) struct Spawner {
    /// Threads it may start at once.
    budget: u32,
    /// When the budget was last refilled.
    refilled: Instant,
    /// After the OS refused a thread: how long the monitor waits before trying again, and
    /// until when.
    retry: Option<(Duration, Instant)>,
}

impl Spawner {
    pub(super) fn new() -> Spawner {
        Spawner {
            budget: SPAWN_BURST,
            refilled: Instant::now(),
            retry: None,
        }
    }

    /// Starts a spare on every online core that has none (and none starting), within the
    /// thread caps and the budget.
    pub(super) fn ensure_spares(&mut self, shared: &Arc<Shared>, now: Instant) {
        let refill =
            now.duration_since(self.refilled).as_micros() / SPAWN_INTERVAL.as_micros().max(1);
        if refill > 0 {
            self.budget = (self.budget + refill as u32).min(SPAWN_BURST);
            self.refilled = now;
        }
        if self.retry.is_some_and(|(_, at)| now < at) {
            return;
        }
        // An offline core keeps the spares it has, and gets one once it is online again.
        for core in shared.cores[..shared.online()].iter() {
            let state = core.state();
            // A spare being started counts: it parks itself, and wakes itself if the core
            // waits for a worker.
            if state.spares() > 0
                || state.starting() > 0
                || self.budget == 0
                || shared.at_thread_cap(core)
            {
                continue;
            }
            self.budget -= 1;
            match worker::spawn(shared, core.index(), None) {
                Ok(thread) => {
                    self.retry = None;
                    shared.add_thread(thread);
                }
                // The OS refused a thread (EAGAIN and friends; counted by `spawn`): the core
                // goes on without a spare, its sections run without replacement, and the
                // monitor tries again after a wait that grows while refusals continue.
                Err(_) => {
                    self.refused(now);
                    return;
                }
            }
        }
    }

    /// The cap rescue: core `index` stayed starved, with no poll starting anywhere, for
    /// [`CAP_RESCUE_DELAY`](super::mayday::CAP_RESCUE_DELAY). If its per-core cap is what
    /// keeps it from a spare, starts one beyond that cap (never beyond the runtime's cap, nor
    /// while the OS refuses threads) and returns whether it did. The new worker counts as
    /// starting, so the core is no longer starved; if it blocks in a section too, the next
    /// rescue waits for another delay.
    pub(super) fn rescue_at_cap(
        &mut self,
        shared: &Arc<Shared>,
        index: usize,
        now: Instant,
    ) -> bool {
        let core = &shared.cores[index];
        // An offline core's queued tasks move to the online cores: no rescue is due there.
        if index >= shared.online()
            || !shared.at_thread_cap(core)
            || shared.at_runtime_cap()
            || self.retry.is_some_and(|(_, at)| now < at)
        {
            return false;
        }
        match worker::spawn(shared, index, None) {
            Ok(thread) => {
                self.retry = None;
                shared.add_thread(thread);
                Counters::add(&core.counters.cap_rescues, 1);
                true
            }
            Err(_) => {
                self.refused(now);
                false
            }
        }
    }

    /// The OS refused a thread: wait before the next, longer while refusals continue.
    fn refused(&mut self, now: Instant) {
        let wait = self
            .retry
            .map_or(SPAWN_RETRY_MIN, |(wait, _)| wait.saturating_mul(2))
            .min(SPAWN_RETRY_MAX);
        self.retry = Some((wait, now + wait));
    }
}

/// Tells the surplus spares parked longer than the keep-alive to exit, and joins the threads
/// that have.
pub(super) fn reap(shared: &Shared, now: Instant) {
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
pub(super) fn next_reap(shared: &Shared) -> Option<Instant> {
    let config = &shared.config;
    shared
        .cores
        .iter()
        .filter_map(|core| core.next_reap(config.keep_alive, config.workers_per_core as u64))
        .min()
}
