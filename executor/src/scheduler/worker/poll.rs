//! One poll of one task on a worker: its admission at its call site, the publishing of the
//! poll for detection (see [`crate::detect`]), and the two ways a poll of a task whose spawn
//! site blocked before is run, watched or handed off at its start (see
//! [`crate::sites::spawn`]).

use super::Worker;
use crate::context;
use crate::core::Core;
use crate::detect::WorkerEvent;
use crate::queue::Runnable;
use crate::section::WorkerHook;
use crate::sites::spawn::{PollMeasure, PollMode};
use crate::stats::{Counters, FLUSH_INTERVAL};

/// How a poll is run, from its spawn site's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Watch {
    /// Published for detection only.
    Plain,
    /// Watched like a section: the monitor looks at it within the grace period, unless the
    /// kernel tells when this thread goes to sleep.
    Watched,
    /// The core is handed off as the poll starts, as for an eager section.
    HandedOff,
}

impl Worker {
    /// Polls one task of `core` (this worker's), unless it was aborted, in which case it is
    /// dropped (its future's destructor running as a poll does).
    pub(super) fn run_task(&mut self, runnable: Runnable, core: &Core, hook: &WorkerHook) {
        // A task of a call site that has all the sections in flight it can use waits for a
        // turn instead (see `crate::sites::defer`).
        let hint = runnable.metadata().site_hint();
        let Some(runnable) = self.shared.sites.admit(hint, runnable) else {
            Counters::add(&core.counters.deferred_tasks, 1);
            return;
        };
        // An aborted task is polled like any other: its poll sees the abort and drops the
        // future there, on a worker holding the baton, so a blocking section in a destructor
        // hands the core off like one in a poll (see `task::TaskFuture::cancel_requested`).
        self.unflushed_polls += 1;
        if self.unflushed_polls >= FLUSH_INTERVAL {
            self.flush();
        }
        let meta = runnable.metadata();
        if self.named || meta.name().is_some() {
            // For reports; only while named tasks come (a load and a test otherwise).
            self.named = self.word.set_name(meta.name());
        }
        if self.shared.sites.watches_spawn_sites() {
            self.poll_watchable(runnable, core, hook);
        } else {
            // No spawn site is learnt, so no poll is watched: one relaxed load decides, and
            // this copy of the poll is compiled without any of the watching.
            self.poll(runnable, Watch::Plain, core, hook);
        }
        if hint != 0 {
            self.shared.sites.polled(hint, hook.entered());
        }
    }

    /// [`Worker::poll`] once a spawn site is learnt: looks the task's spawn site up first,
    /// and polls it as its site's record says (see [`crate::sites::spawn`]).
    #[inline(never)]
    fn poll_watchable(&mut self, runnable: Runnable, core: &Core, hook: &WorkerHook) {
        match self.shared.sites.poll_mode(runnable.metadata().site()) {
            PollMode::Plain => self.poll(runnable, Watch::Plain, core, hook),
            // A section kept open across an `.await` owns the section word.
            PollMode::Eager if !hook.has_open_section() => {
                self.poll(runnable, Watch::HandedOff, core, hook);
            }
            PollMode::Watched | PollMode::Eager => {
                self.poll(runnable, Watch::Watched, core, hook);
            }
        }
    }

    /// Polls one task, publishing the poll for detection (see [`crate::detect`]): the core's
    /// turn for its peers and stealers, the worker's poll word and the task's spawn site for
    /// the monitor.
    ///
    /// A [`Watch::Watched`] poll (its spawn site blocked before) is watched like a section.
    /// A [`Watch::HandedOff`] one (its site's polls mostly block) hands the core off as it
    /// starts, as an eager section does, so a spare runs the queue while it blocks, and at its
    /// end the worker counts itself running again (`keep_working` then retires one of the
    /// two). The worker stays in [`Polling::Baton`](crate::context::Polling) (a `block_on` in
    /// the poll panics as in any poll); the section word shows the handoff, so tasks the poll
    /// wakes take the notify path, and a section in the poll starts with its baton passed on.
    /// Either learns whether the poll blocked.
    ///
    /// Inlined into each caller with `watch` known, so the common one, [`Watch::Plain`],
    /// carries none of the watching.
    #[inline(always)]
    fn poll(&mut self, runnable: Runnable, watch: Watch, core: &Core, hook: &WorkerHook) {
        let site = runnable.metadata().site();
        core.start_poll(self.tick);
        self.word
            .start_poll(self.tick, watch == Watch::Watched, site);
        let mut measure = None;
        if watch == Watch::Watched {
            if let Some(switches) = self.switch_event() {
                switches.set_enabled(true);
            } else {
                self.shared.siblings.bell.section_started();
            }
            measure = Some(PollMeasure::start());
        }
        context::start_poll();
        let mut handed_off = None;
        if watch == Watch::HandedOff {
            handed_off = Some(self.hand_off_poll(core));
            measure = Some(PollMeasure::start());
        }
        hook.set_task(runnable.metadata());
        crate::coop::budget(|| runnable.run());
        hook.clear_task();
        context::end_poll();
        if let Some(epoch) = handed_off {
            // A section of the poll that ended counted the worker back already.
            let siblings = &self.shared.siblings;
            self.word
                .leave(epoch, || core.return_from_section(siblings));
        }
        // After a handoff, the monitor may still take the poll over in the few instructions
        // between the two, as a CPU hog if this thread was preempted there long enough.
        let taken_over = self
            .word
            .end_poll(|| handed_off.is_none() && hook.has_open_section());
        if taken_over {
            self.taken_over(core);
        }
        if let Some(measure) = measure {
            if handed_off.is_some() {
                let blocked = measure.blocked(self.shared.config.grace);
                self.shared.sites.record_handed_off_poll(site, blocked);
            } else {
                if let Some(switches) = &self.switches {
                    switches.set_enabled(false);
                }
                let blocked = measure.blocked(self.shared.config.grace);
                self.shared
                    .sites
                    .record_watched_poll(site, blocked, taken_over);
            }
        }
    }

    /// The start of a [`Watch::HandedOff`] poll: enters an eager section around it, which
    /// hands the core off; returns the section's epoch for its end.
    #[cold]
    fn hand_off_poll(&self, core: &Core) -> u32 {
        let shared = &*self.shared;
        let here = self.core;
        let mut outcome = None;
        let epoch = self.word.enter(true, || {
            outcome = Some(core.hand_off(&shared.siblings, || shared.recheck(here)));
        });
        // `None`: the monitor took the poll over first (its baton had passed on already).
        if let Some(outcome) = outcome {
            Counters::add(&core.counters.eager_polls, 1);
            shared.after_hand_off(here, outcome);
        }
        epoch
    }

    /// The monitor took the poll that just ended over because it blocked: counts this worker
    /// running again, as at the end of a handed-off section; `keep_working` retires one of the
    /// two running workers of `core` at this poll boundary. Tasks spawned where this one was
    /// (the slot keeps its spawn site, so the poll need not) are watched from now on.
    #[cold]
    fn taken_over(&self, core: &Core) {
        core.return_from_section(&self.shared.siblings);
        if let Some(site) = self.word.site() {
            self.shared.sites.record_taken_over(site);
        }
    }

    /// This thread's context-switch event, if it is on the runtime's watch, opening it the
    /// first time the monitor has set the watch up.
    fn switch_event(&mut self) -> Option<&WorkerEvent> {
        if self.switches.is_none() && !self.switches_refused {
            match self.shared.switches.get() {
                // The monitor has not tried yet: ask again at the next watched poll.
                None => return None,
                Some(None) => self.switches_refused = true,
                Some(Some(_)) => {
                    self.switches = WorkerEvent::open(&self.shared, &self.word);
                    self.switches_refused = self.switches.is_none();
                }
            }
        }
        self.switches.as_ref()
    }
}
