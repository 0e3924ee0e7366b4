//! Blocking sections on worker threads: the hook baton installs for `baton-blocking`.
//!
//! # A section's life
//!
//! 1. **Entry** (only the outermost section of a thread reaches the hook). A lazy section bumps
//!    the worker's section word ([`SectionSlot`]) and rings the monitor's bell if the monitor
//!    has backed off: a few stores and loads, no syscall. A section annotated as long, or at a
//!    call site that blocked before ([`Sites`](crate::sites::Sites)), hands the core off at once: the worker leaves
//!    the core's running count and wakes a spare if the core has work.
//! 2. **Grace period.** The monitor looks at section words every tick. A lazy section still
//!    running after the grace period is handed off by the monitor the same way.
//! 3. **Exit.** A section whose baton did not pass on costs one swap. Otherwise the worker
//!    counts itself running again, and at the end of the current poll the core protocol's rule
//!    2 retires one of the two running workers.
//! 4. **Learning.** A section the monitor had to hand off marks its call site eager; a quick
//!    section at an eager site lowers its score, so sites that stop blocking go back to lazy.
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

use std::cell::Cell;
use std::panic::Location;
use std::time::Instant;

use baton_blocking::hook::{Hook, Job};

use crate::context::{self, Polling};
use crate::core::SectionSlot;
use crate::shared::Shared;
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
    slot: Arc<SectionSlot>,
    current: Cell<Option<Open>>,
}

impl WorkerHook {
    /// The hook of a worker of `core`, whose section word is `slot`.
    pub(crate) fn new(shared: Arc<Shared>, core: usize, slot: Arc<SectionSlot>) -> WorkerHook {
        WorkerHook {
            shared,
            core,
            slot,
            current: Cell::new(None),
        }
    }

    /// Whether a section is open on this worker (a guard kept across an `.await` leaves one
    /// open past the end of its poll).
    pub(crate) fn has_open_section(&self) -> bool {
        self.current.get().is_some()
    }
}

impl Hook for WorkerHook {
    fn enter(&self, site: &'static Location<'static>, long: bool) {
        if context::polling() != Polling::Baton {
            // No baton to pass on: the core's counts and the section word do not include this
            // worker's section, so the monitor never claims it.
            self.current.set(Some(Open::Untracked));
            return;
        }
        // Before the baton can pass on (below, or by the monitor once the section word shows
        // the section): from here a wake on this thread takes the notify path.
        context::enter_section();
        // Counted before the section word shows it, so before any handoff of it.
        self.slot.count_section();
        let shared = &*self.shared;
        let learnt = !long && shared.sites.is_eager(site);
        let current = if long || learnt {
            let core = &shared.cores[self.core];
            let mut outcome = None;
            let epoch = self.slot.enter(true, || {
                outcome = Some(core.hand_off(&shared.idle, || shared.recheck(self.core)));
            });
            // `None`: the monitor had taken this poll over, so the baton had passed on already.
            if let Some(outcome) = outcome {
                core.count_handoff(learnt);
                shared.after_hand_off(self.core, outcome);
            }
            Current {
                epoch,
                site,
                eager_since: learnt.then(Instant::now),
                long,
            }
        } else {
            let epoch = self
                .slot
                .enter(false, || unreachable!("a lazy section hands off later"));
            shared.idle.bell.section_started();
            Current {
                epoch,
                site,
                eager_since: None,
                long,
            }
        };
        self.current.set(Some(Open::Tracked(current)));
    }

    fn leave(&self) {
        let Some(Open::Tracked(current)) = self.current.take() else {
            return;
        };
        let shared = &*self.shared;
        let handed = self.slot.leave(current.epoch);
        if handed {
            context::count_handoff();
            context::note_handed_off();
            shared.cores[self.core].return_from_section(&shared.idle);
        }
        // Counted running again (if it had stopped): back to the no-notify fast path.
        context::leave_section();
        if current.long {
            return;
        }
        match (handed, current.eager_since) {
            // The monitor handed it off: it outlived the grace period.
            (true, None) => shared.sites.record_blocked(current.site),
            // Eager: learn whether the site still blocks.
            (_, Some(since)) => {
                if since.elapsed() < shared.config.grace {
                    shared.sites.record_quick(current.site);
                }
            }
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
