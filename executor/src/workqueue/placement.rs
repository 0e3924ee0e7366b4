//! Where a work queue's tasks (and an ordered queue's runner) are placed: the queue's
//! [`Affinity`](super::Affinity) as the scheduler needs it, the core a new task is pinned to,
//! and how an admitted task is submitted.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::held::Submit;
use crate::context;
use crate::queue::Runnable;
use crate::scheduler::Shared;

/// Where each task (or an ordered queue's runner) is placed.
pub(super) enum Placement {
    /// Like any spawned task: the submitting core ([`Affinity::Local`](super::Affinity::Local)).
    Local,
    /// Through the injector: whichever core looks first ([`Affinity::Any`](super::Affinity::Any)).
    Any,
    Core(usize),
    Cores {
        set: Box<[usize]>,
        next: AtomicUsize,
    },
}

impl Placement {
    /// Submits a task (or a runner) to `shared`'s runtime, placed as the queue's affinity says.
    pub(super) fn submit(&self, shared: &Shared, runnable: Runnable, how: Submit) {
        match (self, how) {
            (Placement::Any, _) => shared.submit_anywhere(runnable),
            (_, Submit::Next) => shared.submit_next(runnable),
            (_, Submit::Spawned) => shared.submit(runnable),
        }
    }

    /// The core of `shared`'s runtime a new task is pinned to, if any.
    pub(super) fn pin(&self, shared: &Shared) -> Option<usize> {
        match self {
            Placement::Local | Placement::Any => None,
            Placement::Core(core) => Some(*core),
            Placement::Cores { set, next } => {
                // Only the set's online cores, while it has any (`Handle::set_cores`).
                let online = shared.online();
                let here = context::worker_core(shared.id)
                    .filter(|here| *here < online && set.contains(here));
                here.or_else(|| {
                    let start = next.fetch_add(1, Relaxed);
                    let turn = (0..set.len()).map(|i| set[(start + i) % set.len()]);
                    // Every core of the set offline: the first in turn, which the scheduler
                    // maps to an online core as for any task pinned to an offline core.
                    turn.clone()
                        .find(|&core| core < online)
                        .or(turn.take(1).next())
                })
            }
        }
    }
}
