//! An ordered queue's line, kept under the queue's state lock: the tasks waiting for the
//! runner, the runner as the line knows it (to wake it, and to raise it for a flush), and the
//! task in flight when it is woken from elsewhere. The runner that works through the line is in
//! [`super::runner`].

use std::collections::VecDeque;
use std::task::Waker;

use super::held::Held;
use crate::queue::{Priority, Runnable, TaskMeta};

/// An ordered queue's tasks: those waiting for the runner, and the runner's state.
#[derive(Default)]
pub(super) struct Line {
    /// Tasks accepted and not yet taken by the runner, oldest first.
    waiting: VecDeque<Held>,
    /// The runner while one is active (it runs until the line is empty).
    runner: Option<LineRunner>,
    /// The task in flight, woken from elsewhere while the runner waits for it.
    resumed: Option<Runnable>,
}

/// An active runner, as its line knows it.
struct LineRunner {
    /// Wakes it (and keeps its allocation alive).
    waker: Waker,
    /// Its metadata, in the header of the allocation `waker` keeps alive.
    meta: std::ptr::NonNull<TaskMeta>,
}

// SAFETY: `Waker` is `Send`; `TaskMeta` is `Sync` (atomics, and fields never written after the
// spawn) and the pointer is only read while `waker` keeps its allocation alive.
unsafe impl Send for LineRunner {}

impl LineRunner {
    /// The line's record of the runner `runnable`.
    fn new(runnable: &Runnable) -> LineRunner {
        LineRunner {
            waker: runnable.waker(),
            meta: std::ptr::NonNull::from(runnable.metadata()),
        }
    }

    /// The runner's metadata.
    fn meta(&self) -> &TaskMeta {
        // SAFETY: the metadata lies in the header of the runner's allocation, which does not
        // move, and `self.waker` holds a reference to that allocation.
        unsafe { self.meta.as_ref() }
    }
}

impl Line {
    /// Queues an accepted task at the back; returns whether the line has no runner, so that a
    /// new one must take it.
    #[inline]
    pub(super) fn push(&mut self, held: Held) -> bool {
        self.waiting.push_back(held);
        self.runner.is_none()
    }

    /// `runnable` is the line's new runner.
    #[inline]
    pub(super) fn set_runner(&mut self, runnable: &Runnable) {
        self.runner = Some(LineRunner::new(runnable));
    }

    /// The runner is gone (cancelled before its line was done).
    pub(super) fn clear_runner(&mut self) {
        self.runner = None;
    }

    /// The runner takes the whole line into its empty `batch` (swapped, so both deques keep
    /// their buffers). If no task waits, the runner is done: the line forgets it, and this
    /// returns false.
    #[inline]
    pub(super) fn take_waiting(&mut self, batch: &mut VecDeque<Held>) -> bool {
        if self.waiting.is_empty() {
            self.runner = None;
            return false;
        }
        std::mem::swap(batch, &mut self.waiting);
        true
    }

    /// A runner hands its `batch` back, ahead of the tasks that joined the line since it took
    /// it.
    pub(super) fn give_back(&mut self, mut batch: VecDeque<Held>) {
        batch.append(&mut self.waiting);
        self.waiting = batch;
    }

    /// Every waiting task (shutdown drops them).
    pub(super) fn take_all(&mut self) -> VecDeque<Held> {
        std::mem::take(&mut self.waiting)
    }

    /// The task in flight was woken from elsewhere: the line keeps it for the runner, and this
    /// returns the runner's waker; with no runner (shutdown cancelled it), the task comes back.
    #[inline]
    pub(super) fn resume(&mut self, runnable: Runnable) -> Result<Waker, Runnable> {
        let Some(runner) = self.runner.as_ref().map(|r| r.waker.clone()) else {
            return Err(runnable);
        };
        self.resumed = Some(runnable);
        Ok(runner)
    }

    /// The task in flight, if it was woken from elsewhere since the runner last looked.
    #[inline]
    pub(super) fn take_resumed(&mut self) -> Option<Runnable> {
        self.resumed.take()
    }

    /// Raises the runner, if one is active; returns whether it was lower.
    pub(super) fn raise_runner(&self) -> bool {
        self.runner.as_ref().is_some_and(|r| r.meta().raise())
    }

    /// Whether the active runner's class is `High`.
    pub(super) fn runner_is_high(&self) -> bool {
        self.runner
            .as_ref()
            .is_some_and(|r| r.meta().priority() == Priority::High)
    }
}
