//! The managed concurrency of one call site whose sections block: its admission, the level the
//! learner admits, whether its sections are held, and the tasks deferred until its turn.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::admission::{Admission, Ticket, Turn};
use super::defer::Deferred;
use super::level::{Learner, MAX_LEVEL};
use crate::queue::{Runnable, MAX_SITE_HINT};
use crate::sync::{fence, Ordering as SyncOrdering};

/// How many times longer than the site's sections could explain a held section that had to be
/// handed off may take before holding is judged to stall what it waits for (see
/// [`Managed::hold_failed`]): well above the noise of durations behind a lock.
const HOLD_SLACK: f64 = 4.0;
/// How long a site's sync sections are not held after a held one had to be handed off and
/// nothing explained its wait (see [`Managed::hold_failed`]).
const UNHELD_FOR: Duration = Duration::from_secs(1);
/// The managed concurrency of one call site whose sections block.
#[derive(Debug)]
pub(crate) struct Managed {
    pub(super) admission: Admission,
    /// How many sections may run at once with a replacement: the learner's admitted level,
    /// read at every section entry (a statistic: relaxed).
    admitted: AtomicUsize,
    /// The learner, updated at each section's end. std's lock even under loom: statistics,
    /// not synchronisation.
    learner: Mutex<Learner>,
    /// Sections of the site that ended since the record was made, counted or not (a
    /// statistic: relaxed).
    completed: AtomicU64,
    /// When the record was made: the origin of `unheld_until`.
    created: Instant,
    /// Until when, in nanoseconds from `created`, the site's sync sections are not held, since
    /// a held one had to be handed off after all (see [`Managed::hold_failed`]); 0 while they
    /// are. A statistic-like hint: relaxed.
    pub(super) unheld_until: AtomicU64,
    /// The hint the site's tasks carry (see [`defer`](super::defer)): its record's number, from 1.
    hint: u32,
    /// The tasks waiting for a turn before their next poll.
    pub(super) deferred: Deferred,
}

/// What a section of the sync form learns from [`Managed::enter`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entered {
    /// Sections of the site in flight, itself included.
    pub(crate) level: usize,
    /// Whether it is within the admitted level (it may have a replacement).
    pub(crate) within: bool,
    /// The site's completed sections when it started (see [`Managed::hold_failed`]).
    pub(crate) completed: u64,
}

impl Managed {
    pub(super) fn new(now: Instant, hint: u32) -> Managed {
        let learner = Learner::new(now);
        Managed {
            admission: Admission::new(),
            admitted: AtomicUsize::new(learner.admitted() as usize),
            learner: Mutex::new(learner),
            completed: AtomicU64::new(0),
            created: now,
            unheld_until: AtomicU64::new(0),
            hint,
            deferred: Deferred::new(),
        }
    }

    /// The hint a task whose poll entered one of the site's sections carries, if its tasks
    /// may be deferred: while its level is limited (see [`defer`](super::defer)).
    pub(crate) fn task_hint(&self) -> Option<u32> {
        let limited = self.admitted.load(Ordering::Relaxed) < MAX_LEVEL as usize;
        (limited && self.hint <= MAX_SITE_HINT).then_some(self.hint)
    }

    /// Whether the site has as many sections in flight as its level admits, and a section
    /// beyond it would be held: a task of the site waits for a turn before its poll.
    fn is_saturated(&self) -> bool {
        let admitted = self.admitted.load(Ordering::Relaxed);
        admitted < MAX_LEVEL as usize && self.admission.in_flight() >= admitted && !self.is_unheld()
    }

    /// A worker took `runnable`, a task of this site, to poll it: returns the task to poll now
    /// (it, or one deferred before it), or `None` if it waits on the site's list (see
    /// [`defer`](super::defer)).
    pub(crate) fn defer(&self, runnable: Runnable) -> Option<Runnable> {
        if !self.is_saturated() {
            return Some(runnable);
        }
        self.deferred.push(
            runnable,
            Instant::now(),
            self.completed.load(Ordering::Relaxed),
        );
        // Pairs with the fence in `Admission::leave`: either the look below sees the turn a
        // section gave back, or that section's leaver sees this task queued.
        fence(SyncOrdering::SeqCst);
        if self.is_saturated() {
            None
        } else {
            self.deferred.pop()
        }
    }

    /// Sends up to `n` deferred tasks back to the run queues while turns are free (a section
    /// ended, or the level rose). Called after the fence of [`Admission::leave`].
    pub(crate) fn release(&self, n: usize) {
        for _ in 0..n {
            if self.deferred.len() == 0 || self.is_saturated() {
                return;
            }
            match self.deferred.pop() {
                Some(runnable) => runnable.schedule(),
                None => return,
            }
        }
    }

    /// The monitor's look (see [`defer`](super::defer)): if a task waited
    /// [`DEFER_GRACE`](super::defer::DEFER_GRACE) while no section of the site ended, lets every
    /// deferred task go and stops holding the site's sections for [`UNHELD_FOR`]; if it waited
    /// that long while a turn was free, lets it go.
    pub(super) fn release_overdue(&self, now: Instant) {
        let Some(completed) = self.deferred.overdue(now) else {
            return;
        };
        if !self.is_saturated() {
            // A turn is free that no section's end passed on (a task let in for one took
            // another path to its poll): it goes to the first task.
            self.release(1);
            return;
        }
        if self.completed.load(Ordering::Relaxed) != completed {
            // The site goes on: its sections' ends let its tasks go.
            return;
        }
        let until = self.since_created(now + UNHELD_FOR).max(1);
        self.unheld_until.store(until, Ordering::Relaxed);
        self.deferred
            .drain()
            .into_iter()
            .for_each(Runnable::schedule);
    }

    /// A section of the sync form starts: counts it in flight.
    pub(crate) fn enter(&self) -> Entered {
        let level = self.admission.enter();
        let within = level <= self.admitted.load(Ordering::Relaxed) || self.is_unheld();
        Entered {
            level,
            within,
            completed: self.completed.load(Ordering::Relaxed),
        }
    }

    /// Whether the site's sync sections are not held for now (see [`Managed::hold_failed`]).
    fn is_unheld(&self) -> bool {
        let until = self.unheld_until.load(Ordering::Relaxed);
        until != 0 && self.since_created(Instant::now()) < until
    }

    pub(super) fn since_created(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.created).as_nanos()).unwrap_or(u64::MAX)
    }

    /// A section at the site that was not counted in flight ended (it started before the
    /// record was made).
    pub(crate) fn uncounted_ended(&self) {
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// A section of the sync form, held, had to be handed off after all (it outlived the held
    /// grace period), and ends at `now` after `took`; `entered` is what it learnt at its start.
    ///
    /// If the site's other sections went on ending meanwhile, or it took about as long as
    /// `level` turns of the site's sections (see [`Learner::turn_time`]; behind a lock, a
    /// section waits about that long), it waited on the site's other sections, which the hold
    /// does not stall. Otherwise it waited on something that needs a worker of its own, such as
    /// a reply from another task (a synchronous client in front of an async service): holding
    /// the site's sections stalls that work, so for [`UNHELD_FOR`] the site's sync sections
    /// are not held (its level still paces the async form). The same holds if a disk stalled
    /// every section of a lock-bound site at once: hence for a while, not for good.
    ///
    /// `woke_a_task` says the section woke a task of its core before it ended: the figures
    /// cannot tell a section waiting on that task from one waiting its turn (the other
    /// sections in flight may end meanwhile, their replies sent before this one held the
    /// core), so that alone unholds the site for a while.
    pub(crate) fn hold_failed(
        &self,
        now: Instant,
        entered: Entered,
        took: Duration,
        woke_a_task: bool,
    ) {
        let progress = self
            .completed
            .load(Ordering::Relaxed)
            .saturating_sub(entered.completed);
        let turn = {
            let learner = self.learner.lock().unwrap_or_else(PoisonError::into_inner);
            learner.turn_time(now)
        };
        let explained = turn.is_some_and(|turn| {
            took.as_secs_f64() <= HOLD_SLACK * turn.as_secs_f64() * entered.level as f64
        });
        if woke_a_task || (progress == 0 && !explained) {
            let until = self.since_created(now + UNHELD_FOR).max(1);
            self.unheld_until.store(until, Ordering::Relaxed);
        }
    }

    /// What a section of the async form that took its turn as the `level`th in flight learns.
    pub(crate) fn took_turn(&self, level: usize) -> Entered {
        Entered {
            level,
            within: true,
            completed: self.completed.load(Ordering::Relaxed),
        }
    }

    /// The async form asks for a turn (see [`Admission::poll_turn`]).
    pub(crate) fn poll_turn(&self, waker: &std::task::Waker, ticket: Option<Ticket>) -> Turn {
        self.admission
            .poll_turn(self.admitted.load(Ordering::Relaxed), waker, ticket)
    }

    /// A waiter holding `ticket` gives up (see [`Admission::cancel`]).
    pub(crate) fn cancel(&self, ticket: Ticket) {
        self.admission.cancel(ticket);
    }

    /// Teaches the learner that a section which started with `level` in flight ended at `now`
    /// after `took`, without counting anything in flight: tests drive the learning with a
    /// fake clock, then watch how the runtime treats the site's sections.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn learn(&self, now: Instant, level: usize, took: Duration) {
        let mut learner = self.learner.lock().unwrap_or_else(PoisonError::into_inner);
        let admitted = learner.record(now, u32::try_from(level).unwrap_or(u32::MAX), took);
        self.admitted.store(admitted as usize, Ordering::Relaxed);
    }

    /// How many of the site's sections may run at once with a replacement now.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Relaxed)
    }

    /// A held section that had to be handed off ([`Managed::hold_failed`]) ends: counted, but
    /// not learnt from. Its duration is the hold's doing as much as the site's (a section
    /// waiting on a task the hold kept from running takes the whole held grace period), and
    /// learning it would make the next such wait look explained by the site's own turns.
    pub(crate) fn leave_unlearnt(&self) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        self.admission.leave();
        self.release(1);
    }

    /// A section counted by [`Managed::enter`] or a turn ends at `now`: it started with
    /// `level` in flight and took `took`. Learns from it and wakes the waiters it may let in.
    pub(crate) fn leave(&self, now: Instant, level: usize, took: Duration) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        let admitted = {
            let mut learner = self.learner.lock().unwrap_or_else(PoisonError::into_inner);
            learner.record(now, u32::try_from(level).unwrap_or(u32::MAX), took) as usize
        };
        let before = self.admitted.swap(admitted, Ordering::Relaxed);
        self.admission.leave();
        let risen = admitted.saturating_sub(before);
        if risen > 0 {
            self.admission.wake(risen);
        }
        self.release(1 + risen);
    }
}
