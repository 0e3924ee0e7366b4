//! Placement: where a task goes when it is spawned, woken or submitted.
//!
//! # Where a task goes when it is scheduled
//!
//! 1. A task pinned to a core (`spawn_on`) goes to that core's pinned queue, and that core is
//!    notified.
//! 2. A task spawned or woken on one of this runtime's workers by the task that worker is
//!    polling (not by itself: a task that yields goes to the back of the queue) goes to the
//!    core's next-task slot; a task it displaces moves to the back of the core queue. Idle
//!    cores steal from the slot too, once the queue is empty, so a task there is not stranded
//!    behind one long poll. Otherwise it goes to that worker's core queue (spilling
//!    into the injector when full). Its own core is notified only if nobody runs it (the waker
//!    may be an idle worker serving I/O, or a task in a blocking section whose baton passed
//!    on); an idle core is woken to steal if no core is searching. Only a task scheduled from
//!    a poll outside any blocking section skips that notify for the slot: its worker takes the
//!    slot at its next poll boundary.
//! 3. Any other wake (another thread, another runtime) goes to the injector, and an idle core
//!    is woken.
//! 4. Tasks of the `High` and `Idle` classes follow the same rules in their classes' own
//!    queues (a core queue, a pinned queue and an injector per class), and never take the
//!    next-task slot. Workers look at those queues only once such a task was ever scheduled.

use concurrent_queue::PushError;

use super::{push, Shared};
use crate::context::{self, Polling};
use crate::core::Core;
use crate::queue::{self, Priority, Queue, Runnable};
use crate::sync::{fence, Ordering};

/// Where a task scheduled from inside a poll on one of the runtime's workers goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// The back of the core queue (a task that woke itself: a yield).
    Back,
    /// The next-task slot, moving a task already there to the back of the queue (a wake).
    Next,
    /// The next-task slot if it is free, else the back of the queue (a new task).
    NextIfFree,
    /// The injector of its class (or its core, if pinned), wherever it is scheduled from.
    Anywhere,
}

impl Shared {
    /// Schedules a task for its first run, as if the current task woke it: spawned from a
    /// task, it runs next on this core (from the next-task slot, where idle cores may steal
    /// it); otherwise it goes where its pin or class sends it.
    pub(crate) fn submit(&self, runnable: Runnable) {
        self.schedule(runnable, Place::NextIfFree);
    }

    /// Schedules a task for its first run as if woken by the task this worker is polling: to
    /// the core's next-task slot. A work queue's task admitted because the one being polled
    /// finished (ordered queues) runs next, cache-hot, like a chained wake.
    pub(crate) fn submit_next(&self, runnable: Runnable) {
        self.schedule(runnable, Place::Next);
    }

    /// Schedules a task for its first run through the injector, so whichever core looks first
    /// runs it (a work queue with no core affinity). Pinned tasks still go to their core.
    pub(crate) fn submit_anywhere(&self, runnable: Runnable) {
        self.schedule(runnable, Place::Anywhere);
    }

    /// Queues a woken task (see the module docs for where it goes).
    ///
    /// `place` says whether a task scheduled from inside a poll may take the next-task slot.
    pub(super) fn schedule(&self, runnable: Runnable, place: Place) {
        if self.is_shutdown() {
            self.cancel_later(runnable);
            return;
        }
        let priority = runnable.metadata().priority();
        self.note_class(priority);
        let here = match place {
            Place::Anywhere => None,
            _ => context::worker_core(self.id),
        };
        match (runnable.metadata().pin(), here) {
            (Some(pin), _) => {
                let target = self.stand_in(pin);
                let core = &self.cores[target];
                push(&core.classes[priority].pinned, runnable);
                // `notify` issues the fence the resize check needs.
                core.notify(&self.siblings);
                self.move_if_offline(target);
            }
            (None, Some(here)) => self.schedule_here(here, runnable, priority, place),
            (None, None) => self.inject(self.injector_for(priority), runnable),
        }
        // Shutdown racing this push: a task queued once shutdown began is cancelled by the
        // shutdown thread's last pass, or here if shutdown is already done (see
        // `queued_for_shutdown`).
        if self.is_shutdown() {
            self.queued_for_shutdown();
        }
    }

    /// `schedule` for an unpinned task on a worker of core `here`: the next-task slot for a
    /// `Normal` task scheduled from inside a poll (unless `place` is `Back`), else the back of
    /// the core's queue of its class.
    ///
    /// Only a poll outside any blocking section may skip the notify protocol: inside a
    /// section the baton may have passed on (or pass on at any moment), so the task is queued
    /// like any other and the core notified.
    fn schedule_here(&self, here: usize, runnable: Runnable, priority: Priority, place: Place) {
        if !self.is_online(here) {
            // The last poll of an offline core, or a section on it.
            self.inject(self.injector_for(priority), runnable);
            return;
        }
        let core = &self.cores[here];
        let polling = context::polling();
        if polling == Polling::Section {
            // For the learning of held sections (see `Managed::hold_failed`).
            context::note_woke_in_section();
        }
        let runnable =
            if priority == Priority::Normal && place != Place::Back && polling != Polling::No {
                match place_next(core, self.injector_for(Priority::Normal), runnable, place) {
                    // Outside a section, no fence and no notify for the slot: this worker holds
                    // the baton and looks at the slot at its next poll boundary, before it could
                    // park (and if it retires there instead, the worker that keeps the baton runs
                    // the core).
                    Ok(false) if polling == Polling::Baton && !context::poll_taken_over() => return,
                    Ok(true) if polling == Polling::Baton && !context::poll_taken_over() => {
                        // A task moved to the back of the queue, which other cores may want.
                        fence(Ordering::SeqCst);
                        if self.siblings.should_wake_sibling() {
                            self.wake_sibling(here);
                        }
                        self.move_if_offline(here);
                        return;
                    }
                    // Inside a section, or in a poll the monitor took over: the notify protocol.
                    Ok(_) => {
                        self.notify_here(here);
                        return;
                    }
                    // The slot was taken (a new task): to the back of the queue, below.
                    Err(runnable) => runnable,
                }
            } else {
                runnable
            };
        // Only `Normal`'s local queue is bounded: the other classes' never spill.
        let local = &core.classes[priority].queue;
        queue::push_or_spill(local, self.injector_for(Priority::Normal), runnable);
        self.notify_here(here);
    }

    /// After queueing a task on core `here` (its own worker's core): wakes a worker of the
    /// core if none runs, otherwise an idle core to steal it if nobody searches.
    ///
    /// The fence in `Core::notify` pairs with the one a worker issues as it parks and with the
    /// one in `Core::hand_off`: either the core's count shows no running worker here, or the
    /// parking worker (or the handoff) sees the task.
    ///
    /// The same fence orders the look at the online count (see the [`online`](super::online)
    /// module docs): a core taken offline meanwhile has its tasks moved on here.
    pub(super) fn notify_here(&self, here: usize) {
        // `notify` issues the fence that also orders the sibling check below.
        if !self.cores[here].notify(&self.siblings) && self.siblings.should_wake_sibling() {
            self.wake_sibling(here);
        }
        self.move_if_offline(here);
    }

    /// Called before a task of class `priority` is queued: from the first one not `Normal`
    /// on, workers look at the class queues.
    fn note_class(&self, priority: Priority) {
        // Acquire: pairs with the Release store below (only a shortcut: a stale `false` just
        // stores again).
        if priority != Priority::Normal && !self.classes_used.load(Ordering::Acquire) {
            // Release, before the push: a worker that sees the task (acquiring the queue's
            // push) sees the flag too, and so looks at the class queues.
            self.classes_used.store(true, Ordering::Release);
        }
    }

    /// The injector for tasks of class `priority`.
    pub(crate) fn injector_for(&self, priority: Priority) -> &Queue {
        &self.injectors[priority]
    }

    /// Pushes onto one of the injectors and wakes an idle core if nobody searches.
    fn inject(&self, injector: &Queue, runnable: Runnable) {
        push(injector, runnable);
        // SeqCst: pairs with the fence in `Siblings::stop_searching` and `Core::park`.
        fence(Ordering::SeqCst);
        if self.siblings.should_wake_sibling() {
            self.wake_sibling(self.cores.len());
        }
    }

    /// Whether a task of a class other than `Normal` was ever scheduled.
    pub(crate) fn classes_used(&self) -> bool {
        // Acquire: pairs with the Release store in `note_class`.
        self.classes_used.load(Ordering::Acquire)
    }
}

/// Puts a task scheduled from inside a poll in `core`'s next-task slot: a new task
/// (`NextIfFree`) only if the slot is free (else it is handed back, `Err`, for the back of the
/// queue, so tasks spawned in a row keep their order); a woken one (`Next`) always, moving a
/// task already there to the back of the queue (spilling into `overflow`). Returns whether a
/// task was moved.
fn place_next(
    core: &Core,
    overflow: &Queue,
    runnable: Runnable,
    place: Place,
) -> Result<bool, Runnable> {
    if place == Place::NextIfFree {
        match core.lifo.push(runnable) {
            Ok(()) => Ok(false),
            Err(PushError::Full(r) | PushError::Closed(r)) => Err(r),
        }
    } else {
        Ok(queue::put_in_slot(
            &core.lifo,
            &core.classes[Priority::Normal].queue,
            overflow,
            runnable,
        ))
    }
}
