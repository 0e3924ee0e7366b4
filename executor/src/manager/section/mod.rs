//! Blocking sections on worker threads: the hook baton installs for `baton-blocking`.
//!
//! # A section's life
//!
//! 1. **Entry** (only the outermost section of a thread reaches the hook). A lazy section bumps the
//!    worker's section word ([`SectionWord`]) and rings the monitor's bell if the monitor has
//!    backed off: a few stores and loads, no syscall. A section annotated as long, or at a call
//!    site that blocked before ([`Sites`](crate::sites::Sites)), hands the core off at once: the
//!    worker leaves the core's running count and wakes a spare if the core has work.
//! 2. **Grace period.** The monitor looks at section words every tick. A lazy section still
//!    running after the grace period is handed off by the monitor the same way.
//! 3. **Exit.** A section whose baton did not pass on costs one swap. Otherwise the worker
//!    counts itself running again, and at the end of the current poll the core protocol's *keep
//!    working* rule retires one of the two running workers.
//! 4. **Learning.** A section the monitor had to hand off marks its call site eager; a quick
//!    section at an eager site lowers its score, so sites that stop blocking go back to lazy.
//! 5. **Managed concurrency** (the *managed concurrency* rule of docs/architecture.md). The
//!    sections of an eager site count themselves in the site's [`Managed`] record, which learns
//!    from their durations how many of them can usefully run at once. A section beyond that level
//!    is *held*: it keeps its worker's baton (no eager handoff, and the monitor neither hands it
//!    off nor takes its poll over), so calls that only wait for each other do not each cost a
//!    replacement thread. The async form (`baton_blocking::section_async`) waits for a turn
//!    instead, as a pending task, so it holds no core either: see [`WorkerHook::poll_enter`]. While
//!    the site's level is limited, the task whose poll entered the section carries the site's hint,
//!    and waits for a turn before its next poll instead of holding a core then (see
//!    [`crate::sites::defer`]).
//!    The durations learnt leave out the time the section's thread waited for a CPU ([`delay`]):
//!    that wait grows with the sections in flight whether or not they contend, and read as
//!    contention it held sections that do not wait for each other, leaving their cores idle.
//!
//! A core at its thread cap has no spare to wake: the section runs without replacement and
//! the core's `cap_hits` counts it.
//!
//! Only a section inside a poll, while the worker holds its core's baton, takes part in this.
//! A section anywhere else on a worker thread (in `on_thread_start` or `on_thread_stop`, in a
//! destructor or a waker run outside a poll) has no baton to pass on: it runs as a plain call,
//! as off a worker, and is counted nowhere.
//!
//! While a tracked section runs, the thread's [`Polling`] mark says so, so that a task the
//! section wakes is queued with the full notify protocol rather than left for this worker's
//! next poll boundary (see `Shared::schedule_here`).

use std::any::Any;
use std::cell::Cell;
use std::panic::Location;
use std::task::{Context, Poll};
use std::time::Instant;

use baton_blocking::hook::{Hook, Job, Place};

use crate::context::{self, Polling};
use crate::core::SectionWord;
use crate::queue::TaskMeta;
use crate::scheduler::Shared;
use crate::sites::admission::{Ticket, Turn};
use crate::sites::{Entered, Managed};
use crate::stats::Counters;
use crate::sync::Arc;

/// The outermost section running on this worker.
#[derive(Clone, Copy, Debug)]
struct Current {
    /// The epoch to hand back to the section word.
    epoch: u32,
    site: &'static Location<'static>,
    /// When an eager section started (to learn whether it still blocks); `None` otherwise.
    eager_since: Option<Instant>,
    /// Whether this section was annotated as long (never used to learn).
    long: bool,
    /// If the section is counted in its site's [`Managed`] record: what it learnt at its
    /// start (how many of the site's sections were in flight, itself included, and more).
    entered: Option<Entered>,
    /// Whether it was held (beyond its site's level: no replacement unless it outlives the
    /// held grace period).
    held: bool,
    /// If it is counted in its site's record: how long the thread had waited for a CPU when
    /// it started (see [`delay`]), if the system tells.
    run_delay: Option<std::time::Duration>,
}

/// How a section at an eager site starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// Not counted in a managed record (long, or a site not known to block).
    Unmanaged,
    /// Counted in flight; within the site's level (it hands off) or not.
    Counted(Entered),
}

/// A [`section_async`](baton_blocking::section_async) waiting for its site's turn: its ticket
/// in the site's queue, given up if the future is dropped first.
#[derive(Debug)]
struct Waiting {
    shared: Arc<Shared>,
    site: &'static Location<'static>,
    ticket: Ticket,
    /// Cleared once the turn is taken: nothing left to give up.
    armed: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.armed {
            if let Some(managed) = self.shared.sites.managed_any(self.site) {
                managed.cancel(self.ticket);
            }
        }
    }
}

/// The outermost section open on this worker, as the hook saw it enter.
#[derive(Clone, Copy, Debug)]
enum Open {
    /// Entered outside a poll: a plain call, outside the core protocol.
    Untracked,
    /// Entered in a poll: part of the core protocol.
    Tracked(Current),
}

/// The section hook of one worker thread.
#[derive(Debug)]
pub(crate) struct WorkerHook {
    shared: Arc<Shared>,
    core: usize,
    word: Arc<SectionWord>,
    current: Cell<Option<Open>>,
    /// The metadata of the task this worker polls, or null between polls (see
    /// [`WorkerHook::set_task`]).
    task: Cell<*const TaskMeta>,
    /// The hint of the last site whose sections the task polled last entered, or 0 (see
    /// [`WorkerHook::entered`]).
    entered: Cell<u32>,
}

impl WorkerHook {
    /// The hook of a worker of `core`, whose section word is `word`.
    pub(crate) fn new(shared: Arc<Shared>, core: usize, word: Arc<SectionWord>) -> WorkerHook {
        WorkerHook {
            shared,
            core,
            word,
            current: Cell::new(None),
            task: Cell::new(std::ptr::null()),
            entered: Cell::new(0),
        }
    }

    /// The worker is about to poll the task whose metadata is `task` (until
    /// [`WorkerHook::clear_task`]): its sections give it their site's hint.
    pub(crate) fn set_task(&self, task: &TaskMeta) {
        self.task.set(task);
        self.entered.set(0);
    }

    /// The hint of the last site with a limited level whose sections the task polled last
    /// entered, or 0: a task let in for its site's turn that did not take it passes it on.
    pub(crate) fn entered(&self) -> u32 {
        self.entered.get()
    }

    /// The poll [`WorkerHook::set_task`] announced is over.
    pub(crate) fn clear_task(&self) {
        self.task.set(std::ptr::null());
    }

    /// A section of the task being polled entered `managed`'s site: the task carries the
    /// site's hint, if its tasks may wait for a turn (see [`crate::sites::defer`]).
    fn hint(&self, managed: &Managed) {
        let Some(hint) = managed.task_hint() else {
            return;
        };
        self.entered.set(hint);
        // SAFETY: a non-null pointer was set by the worker from the `Runnable` it is running,
        // and is reset once `run` returns; async-task keeps the task's header, where the
        // metadata lies, alive while the task runs. Tracked sections start only within that
        // poll, on this thread.
        if let Some(task) = unsafe { self.task.get().as_ref() } {
            if task.site_hint() != hint {
                task.set_site_hint(hint);
            }
        }
    }

    /// Whether a section is open on this worker (a guard kept across an `.await` leaves one
    /// open past the end of its poll).
    pub(crate) fn has_open_section(&self) -> bool {
        self.current.get().is_some()
    }
}

impl WorkerHook {
    /// Starts a tracked section at `site` (the worker holds its baton and is in a poll).
    fn start(&self, site: &'static Location<'static>, long: bool, start: Start) {
        // Before the baton can pass on (below, or by the monitor once the section word shows
        // the section): from here a wake on this thread takes the notify path.
        context::enter_section();
        // Counted before the section word shows it, so before any handoff of it.
        self.word.count_section();
        let shared = &*self.shared;
        let core = &shared.cores[self.core];
        let (learnt, held, entered) = match start {
            Start::Unmanaged => (!long && shared.sites.is_eager(site), false, None),
            Start::Counted(entered) => (true, !entered.within, Some(entered)),
        };
        let epoch = if held {
            Counters::add(&core.counters.held_sections, 1);
            self.word.enter_held()
        } else if long || learnt {
            let mut outcome = None;
            let epoch = self.word.enter(true, || {
                outcome = Some(core.hand_off(&shared.siblings, || shared.recheck(self.core)));
            });
            // `None`: the monitor had taken this poll over, so the baton had passed on already.
            if let Some(outcome) = outcome {
                core.count_handoff(learnt);
                shared.after_hand_off(self.core, outcome);
            }
            epoch
        } else {
            let epoch = self
                .word
                .enter(false, || unreachable!("a lazy section hands off later"));
            shared.siblings.bell.section_started();
            epoch
        };
        self.current.set(Some(Open::Tracked(Current {
            epoch,
            site,
            eager_since: learnt.then(Instant::now),
            long,
            entered,
            held,
            run_delay: entered.and_then(|_| delay::run_delay()),
        })));
    }

    /// Whether this thread's section would be tracked (the worker holds its baton in a poll).
    fn tracks(&self) -> bool {
        if context::polling() == Polling::Baton {
            return true;
        }
        // No baton to pass on: the core's counts and the section word do not include this
        // worker's section, so the monitor never claims it.
        self.current.set(Some(Open::Untracked));
        false
    }

    /// The managed record of `site` if its sections are counted (it is known to block).
    fn managed(&self, site: &'static Location<'static>, long: bool) -> Option<&Managed> {
        if long {
            None
        } else {
            self.shared.sites.managed(site)
        }
    }
}

impl Hook for WorkerHook {
    fn enter(&self, site: &'static Location<'static>, long: bool) {
        if !self.tracks() {
            return;
        }
        let start = match self.managed(site, long) {
            Some(managed) => {
                self.hint(managed);
                Start::Counted(managed.enter())
            }
            None => Start::Unmanaged,
        };
        self.start(site, long, start);
    }

    /// The async form: at a site whose sections are counted, takes a turn within the site's
    /// level or waits for one as a pending task (see [`crate::sites::admission`]).
    fn poll_enter(
        &self,
        site: &'static Location<'static>,
        cx: &mut Context<'_>,
        place: &mut Place,
    ) -> Poll<()> {
        if !self.tracks() {
            return Poll::Ready(());
        }
        let Some(managed) = self.managed(site, false) else {
            self.start(site, false, Start::Unmanaged);
            return Poll::Ready(());
        };
        let waiting = place
            .as_mut()
            .and_then(|place| <dyn Any>::downcast_mut::<Waiting>(&mut **place));
        let ticket = waiting.as_ref().map(|w| w.ticket);
        match managed.poll_turn(cx.waker(), ticket) {
            Turn::Taken(level) => {
                if let Some(waiting) = waiting {
                    waiting.armed = false;
                }
                self.hint(managed);
                self.start(site, false, Start::Counted(managed.took_turn(level)));
                Poll::Ready(())
            }
            Turn::Waiting(ticket) => {
                if waiting.is_none() {
                    *place = Some(Box::new(Waiting {
                        shared: Arc::clone(&self.shared),
                        site,
                        ticket,
                        armed: true,
                    }));
                }
                Poll::Pending
            }
        }
    }

    fn leave(&self) {
        let Some(Open::Tracked(current)) = self.current.take() else {
            return;
        };
        let shared = &*self.shared;
        let handed = self.word.leave(current.epoch, || {
            shared.cores[self.core].return_from_section(&shared.siblings);
        });
        if handed {
            context::count_handoff();
            context::note_handed_off();
        }
        // Counted running again (if it had stopped): back to the no-notify fast path.
        context::leave_section();
        if current.long {
            return;
        }
        match (handed, current.eager_since) {
            // The monitor handed it off: it outlived the grace period, blocked unless its
            // thread mostly waited for a CPU meanwhile (then its site learns nothing).
            (true, None) => {
                let managed = if self.word.take_waited_for_cpu(current.epoch) {
                    shared.sites.managed_any(current.site)
                } else {
                    shared.sites.record_blocked(current.site)
                };
                if let Some(managed) = managed {
                    managed.uncounted_ended();
                }
            }
            // Eager: learn whether the site still blocks, and from its duration at its level.
            (_, Some(since)) => {
                let now = Instant::now();
                // What the site took: not the wait for a CPU once the blocking call returned.
                let took = delay::own_time(
                    now.saturating_duration_since(since),
                    current.run_delay,
                    current.run_delay.and_then(|_| delay::run_delay()),
                );
                let managed = shared.sites.managed_any(current.site);
                if let (Some(entered), Some(managed)) = (current.entered, managed) {
                    if handed && current.held {
                        // Held, and handed off all the same: unless the site's own sections
                        // explain the wait, holding them stalls what they wait for. A section
                        // that woke a task of this core before it waited stalled that task for
                        // sure, whatever the figures say.
                        managed.hold_failed(now, entered, took, context::woke_in_section());
                        managed.leave_unlearnt();
                    } else {
                        managed.leave(now, entered.level, took);
                    }
                } else if let Some(managed) = managed {
                    managed.uncounted_ended();
                }
                if took < shared.config.grace {
                    shared.sites.record_quick(current.site);
                }
            }
            // Quick and lazy: its site is not eager, so none of its sections is held (nor
            // waits for this one's end to count).
            (false, None) => shared.sites.record_quick(current.site),
        }
    }

    fn unblock(&self, job: Job) -> Result<(), Job> {
        if self.shared.is_shutdown() {
            return Err(job);
        }
        // The unbound pool: the job never takes a core's turn.
        let Err(job) = self.shared.unbound.submit(job) else {
            return Ok(());
        };
        // The pool has no thread and the OS refuses one: a task runs the job in a section
        // known to be long, so the worker running it hands its core to a spare at once.
        drop(Shared::spawn(
            &self.shared,
            async move { baton_blocking::section_long(job) },
            None,
            std::panic::Location::caller(),
        ));
        Ok(())
    }
}

mod delay;

#[cfg(all(test, not(loom)))]
mod tests;
