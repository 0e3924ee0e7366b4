//! The work queues built on a runtime, as the runtime sees them: what shutdown and stats need
//! from each, and the counters of those already dropped.

use super::Shared;
use crate::stats::QueueStats;

/// What the runtime needs from a work queue that holds tasks back (`max_active`, ordering,
/// delays): their cancellation at shutdown, and the queue's counters.
pub(crate) trait Frontend: Send + Sync {
    /// Cancels every task the queue holds back (not yet submitted), so their handles report
    /// cancellation, and refuses spawns from then on; tells its rescuer, if any, to exit.
    /// Called by shutdown on its own thread, before it joins the workers.
    fn cancel_held(&self);
    /// A mayday call: `cores` are starved ([`Shared::is_starved`]). A queue with a rescuer
    /// sends it to run the queue's tasks queued there.
    fn mayday(&self, cores: &[usize]);
    /// A snapshot of the queue's counters.
    fn stats(&self) -> QueueStats;
}

/// The work queues of a runtime, live and retired.
#[derive(Default)]
pub(super) struct Frontends {
    /// Every queue built and not yet retired. An entry that no longer upgrades is a queue
    /// being dropped: its `Drop` retires it (see [`Shared::retire_frontend`]) in a moment.
    live: Vec<std::sync::Weak<dyn Frontend>>,
    /// The counters of the retired queues, added up.
    retired: QueueStats,
}

impl Shared {
    /// Registers a work queue's front end, for stats and for shutdown to cancel the tasks it
    /// holds back, until the queue retires it as it is dropped ([`Shared::retire_frontend`]).
    pub(crate) fn add_frontend(&self, frontend: std::sync::Weak<dyn Frontend>) {
        self.lock_frontends().live.push(frontend);
    }

    /// A work queue (the front end at `frontend`) is being dropped: its last counters `last`
    /// join the retired queues' total, in the same step as it leaves the live ones, so a
    /// snapshot counts it once (see [`Shared::stats`]).
    pub(crate) fn retire_frontend(&self, frontend: *const (), last: &QueueStats) {
        let mut frontends = self.lock_frontends();
        frontends
            .live
            .retain(|f| !std::ptr::eq(f.as_ptr().cast::<()>(), frontend));
        frontends.retired.absorb(last);
    }

    fn lock_frontends(&self) -> std::sync::MutexGuard<'_, Frontends> {
        self.frontends.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live work queue front ends.
    pub(crate) fn frontends(&self) -> Vec<std::sync::Arc<dyn Frontend>> {
        self.lock_frontends()
            .live
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect()
    }

    /// Snapshots of the live work queues, and the retired queues' total. A queue caught
    /// between its last handle and its retirement is waited for (its `Drop` is running), so
    /// that it is counted exactly once.
    pub(super) fn queue_stats(&self) -> (Vec<QueueStats>, QueueStats) {
        loop {
            let (live, retired, dying) = {
                let frontends = self.lock_frontends();
                let live: Vec<_> = frontends
                    .live
                    .iter()
                    .filter_map(std::sync::Weak::upgrade)
                    .collect();
                let dying = frontends.live.len() - live.len();
                (live, frontends.retired.clone(), dying)
            };
            if dying == 0 {
                let mut retired = retired;
                retired.name = QueueStats::RETIRED.to_owned();
                return (live.iter().map(|f| f.stats()).collect(), retired);
            }
            // Dropped after the lock is released: a last handle here retires its queue.
            drop(live);
            std::thread::yield_now();
        }
    }
}
