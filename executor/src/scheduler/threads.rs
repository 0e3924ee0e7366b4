//! The runtime's worker threads: the caps on starting more, what follows a handoff that found
//! no spare, and the handles shutdown joins.

use super::Shared;
use crate::core::{Core, HandOff};
use crate::stats::Counters;

impl Shared {
    /// After a section's handoff on `core` (eager or by the monitor): if no spare was there,
    /// see [`Shared::no_spare`]; and the reactor's duty passes on, since the blocked worker
    /// may be the one that drives it
    /// ([`Reactor::hand_over_duty`](crate::reactor::Reactor::hand_over_duty)).
    pub(crate) fn after_hand_off(&self, core: usize, outcome: HandOff) {
        if outcome == HandOff::NoSpare {
            self.no_spare(core);
        }
        #[cfg(not(loom))]
        crate::reactor::Reactor::get().hand_over_duty();
    }

    /// A handoff found no spare on `core`: count a cap hit if the caps forbid another thread,
    /// otherwise ring the monitor so it starts one.
    fn no_spare(&self, core: usize) {
        let core = &self.cores[core];
        if self.at_thread_cap(core) {
            Counters::add(&core.counters.cap_hits, 1);
            crate::trace::event(core.index(), crate::trace::Event::CapHit);
        } else {
            self.siblings.bell.ring();
        }
    }

    /// Whether `core` may not have another worker thread.
    pub(crate) fn at_thread_cap(&self, core: &Core) -> bool {
        core.state().workers() >= self.config.max_threads_per_core as u64 || self.at_runtime_cap()
    }

    /// Whether the runtime may not have another worker thread, on any core (the hard cap: a
    /// core starved at its own cap may exceed that one, see the monitor's cap rescue).
    pub(crate) fn at_runtime_cap(&self) -> bool {
        let total: u64 = self.cores.iter().map(|c| c.state().workers()).sum();
        total >= self.config.max_threads as u64
    }

    /// Keeps a worker thread's handle to join at shutdown.
    pub(crate) fn add_thread(&self, thread: std::thread::JoinHandle<()>) {
        self.threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(thread);
    }

    /// Joins the worker threads that have exited (reaped spares).
    pub(crate) fn join_finished_threads(&self) {
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        let (finished, running): (Vec<_>, Vec<_>) =
            threads.drain(..).partition(|t| t.is_finished());
        *threads = running;
        drop(threads);
        for thread in finished {
            let _ = thread.join();
        }
    }

    /// Takes every worker thread handle, for shutdown to join.
    pub(crate) fn take_threads(&self) -> Vec<std::thread::JoinHandle<()>> {
        std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
