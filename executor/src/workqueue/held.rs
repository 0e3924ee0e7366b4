//! A task a work queue holds back until admission lets it start, and how it is submitted then.
//!
//! Dropping a [`Held`] cancels its task, which never started: a thread-local flag tells the
//! task's wrapper (`super::task::QueueTask`) so, as it is dropped, through [`take_dropping`].

use std::cell::Cell;

use super::live::LiveId;
use crate::queue::{Priority, Runnable};

thread_local! {
    /// Set while a `Held` drops its runnable: the wrapper being dropped never started.
    static DROPPING_HELD: Cell<Dropping> = const { Cell::new(Dropping::Started) };
}

/// What a queue task's wrapper learns, when it is dropped, about how far its task got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dropping {
    /// It was submitted: it had a place (the default, read when no `Held` is dropping).
    Started,
    /// It was held back, counted in its generation.
    Held,
    /// It was a delayed task whose delay had not expired: not counted in a generation.
    Delayed,
}

/// A task held back by its queue.
pub(super) struct Held {
    /// `None` only once submitted (or taken by the runner).
    runnable: Option<Runnable>,
    /// The generation it counts in (once due, for a delayed task).
    generation: u64,
    /// A delayed task whose delay has not expired.
    delayed: bool,
    /// Its entry among the queue's live tasks.
    live: LiveId,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").finish_non_exhaustive()
    }
}

impl Held {
    pub(super) fn new(runnable: Runnable, generation: u64, live: LiveId) -> Held {
        Held {
            runnable: Some(runnable),
            generation,
            delayed: false,
            live,
        }
    }

    /// Marks a delayed task, which counts in its generation once due.
    pub(super) fn delayed(mut self) -> Held {
        self.delayed = true;
        self
    }

    /// A delayed task became due: returns the generation it now counts in.
    pub(super) fn count(&mut self) -> u64 {
        debug_assert!(self.delayed, "only a delayed task is counted late");
        self.delayed = false;
        self.generation
    }

    /// The generation the task counts in.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Its entry among the queue's live tasks.
    pub(super) fn live(&self) -> LiveId {
        self.live
    }

    /// Whether the task was raised to `High` (priority inheritance) while its queue's class is
    /// lower.
    pub(super) fn is_raised(&self, queue: Priority) -> bool {
        queue != Priority::High
            && self
                .runnable
                .as_ref()
                .is_some_and(|r| r.metadata().priority() == Priority::High)
    }

    /// Takes the runnable to run or submit it: the task now has a place.
    pub(super) fn take(mut self) -> Runnable {
        self.runnable.take().expect("a held task is submitted once")
    }
}

impl Drop for Held {
    /// Cancels the task, which never started, on this thread.
    fn drop(&mut self) {
        if let Some(runnable) = self.runnable.take() {
            let how = if self.delayed {
                Dropping::Delayed
            } else {
                Dropping::Held
            };
            DROPPING_HELD.with(|d| d.set(how));
            crate::task::cancel(runnable);
            // Normally the wrapper has reset it already; a task whose future had already been
            // dropped (it cannot have been: it never ran) would leave it set.
            DROPPING_HELD.with(|d| d.set(Dropping::Started));
        }
    }
}

/// How an admitted task is submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Submit {
    /// Admitted at its spawn: placed like any new task (`Shared::submit`: the next-task slot
    /// if it is free and the spawner is a task on a worker, else the back of the queue).
    Spawned,
    /// Admitted because the task this worker is polling finished: runs next on this core.
    Next,
}

/// How far the task whose wrapper is being dropped on this thread got (see [`Dropping`]); resets
/// the flag.
pub(super) fn take_dropping() -> Dropping {
    DROPPING_HELD.with(|d| d.replace(Dropping::Started))
}
