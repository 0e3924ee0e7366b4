//! The runtime-wide counts of idle cores and searching workers, which tell a busy core
//! whether to wake another (stealing, on top of the core protocol: see the [module
//! docs](super)).

use super::Bell;
use crate::sync::{fence, AtomicUsize, Ordering};

/// Runtime-wide counts that let busy cores find idle ones cheaply.
#[derive(Debug)]
pub(crate) struct Siblings {
    /// Cores with no running worker.
    pub(super) idle_cores: AtomicUsize,
    /// Workers looking for work in other cores' queues or the injector.
    searching: AtomicUsize,
    /// Wakes the monitor when a core starts running while it sleeps.
    pub(crate) bell: Bell,
}

impl Siblings {
    /// Counts for a runtime whose cores all start idle.
    pub(crate) fn new(cores: usize) -> Siblings {
        Siblings {
            idle_cores: AtomicUsize::new(cores),
            searching: AtomicUsize::new(0),
            bell: Bell::new(),
        }
    }

    /// Whether a task queued now should wake an idle core to steal it: some core is idle and
    /// nobody is already searching (a searcher will find the task).
    ///
    /// The caller has issued `fence(SeqCst)` after queueing; it pairs with the fence a searcher
    /// issues in [`Siblings::stop_searching`] before its last look.
    pub(crate) fn should_wake_sibling(&self) -> bool {
        self.searching.load(Ordering::Relaxed) == 0 && self.idle_cores.load(Ordering::Relaxed) > 0
    }

    /// A worker starts looking for work beyond its core (or a waker counts the worker it wakes
    /// with [`WakeFor::Search`](crate::park::WakeFor::Search)).
    pub(crate) fn start_searching(&self) {
        self.searching.fetch_add(1, Ordering::Relaxed);
    }

    /// A worker stops looking for work beyond its core; returns whether it was the last one.
    ///
    /// The decrement is followed by `fence(SeqCst)`: it pairs with the fence of a thread that
    /// queued a task and then read `searching`. Either that thread sees no searcher and wakes a
    /// core, or the last searcher, looking once more after this call, sees the task.
    pub(crate) fn stop_searching(&self) -> bool {
        let last = self.searching.fetch_sub(1, Ordering::SeqCst) == 1;
        fence(Ordering::SeqCst);
        last
    }
}
