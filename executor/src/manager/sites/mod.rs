//! What the runtime has learnt about each blocking call site.
//!
//! A fixed-size, open-addressed table keyed by the address of the section's
//! `#[track_caller]` location. Reads are a hash and a couple of relaxed loads, cheap enough for
//! every section entry; a site is inserted the first time one of its sections blocks.
//!
//! Each record holds the site's *score*: a section that outlived the grace period sets it to
//! [`EAGER_SCORE`], so the site's next sections hand their core off at once; a section of the
//! site that finishes within the grace period lowers it by one, so a site that stops blocking
//! goes back to lazy handoff after a few quick sections.
//!
//! The same table learns about *spawn sites*: a task whose poll the monitor had to take over
//! (it blocked outside any section, [`crate::detect`]) marks the place it was spawned from,
//! and the polls of tasks spawned there are watched closely from then on (taken over after the
//! grace period rather than the detection threshold). Such a site stays watched for
//! [`SPAWN_EAGER_SCORE`] quick polls in a row, since a task blocks in few of its polls.
//!
//! A site that blocked also gets its [`Managed`] concurrency (the *managed concurrency* rule of docs/architecture.md): its sections
//! in flight and those waiting for a turn ([`admission`]), and the level past which more
//! sections at once stopped raising its throughput ([`level`]). A section beyond that level
//! gets no replacement worker, and the async form of a section waits for its turn instead.
//! A task that entered the site's sections lately waits for a turn before its next poll
//! ([`defer`]), so tasks beyond the level do not each hold a core.

pub(crate) mod admission;
pub(crate) mod defer;
pub(crate) mod level;
pub(crate) mod spawn;

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use admission::{Admission, Ticket, Turn};
use defer::Deferred;
use level::{Learner, MAX_LEVEL};
use spawn::{PollMode, PollRate};

use crate::queue::{Runnable, MAX_SITE_HINT};
use crate::stats::SiteStats;
use crate::sync::{fence, Ordering as SyncOrdering};

/// Number of records; sites beyond it are never learnt (their sections stay lazy).
const CAPACITY: usize = 1024;
/// Slots probed before giving up on a lookup or insert.
const MAX_PROBES: usize = 8;
/// How many times longer than the site's sections could explain a held section that had to be
/// handed off may take before holding is judged to stall what it waits for (see
/// [`Managed::hold_failed`]): well above the noise of durations behind a lock.
const HOLD_SLACK: f64 = 4.0;
/// How long a site's sync sections are not held after a held one had to be handed off and
/// nothing explained its wait (see [`Managed::hold_failed`]).
const UNHELD_FOR: Duration = Duration::from_secs(1);
/// The score a site gets when one of its sections blocks: it stays eager for this many quick
/// sections in a row.
pub(crate) const EAGER_SCORE: u32 = 3;
/// The score a spawn site gets when a poll of one of its tasks is taken over: its tasks' polls
/// stay watched for this many quick polls in a row.
pub(crate) const SPAWN_EAGER_SCORE: u32 = 64;

/// One call site's record. These are statistics read and written with relaxed atomics: a lost
/// update only delays learning by one section.
#[derive(Debug, Default)]
struct Record {
    /// The location's address; 0 while the record is free.
    key: AtomicUsize,
    /// Eager while above zero.
    score: AtomicU32,
    /// The spawn site, once a poll of one of its tasks was taken over (for stats).
    spawned_at: std::sync::OnceLock<&'static Location<'static>>,
    /// Polls of tasks spawned here that the monitor found blocked, and took over.
    detected_blocks: AtomicU64,
    /// How often the watched polls of tasks spawned here block (see [`spawn`]).
    poll_rate: PollRate,
    /// Polls of tasks spawned here that the monitor found hogging the CPU, and took over.
    cpu_hogs: AtomicU64,
    /// The site's managed concurrency, from the first time one of its sections blocked.
    managed: OnceLock<Box<Managed>>,
}

/// The managed concurrency of one call site whose sections block.
#[derive(Debug)]
pub(crate) struct Managed {
    admission: Admission,
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
    unheld_until: AtomicU64,
    /// The hint the site's tasks carry (see [`defer`]): its record's number, from 1.
    hint: u32,
    /// The tasks waiting for a turn before their next poll.
    deferred: Deferred,
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
    fn new(now: Instant, hint: u32) -> Managed {
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
    /// may be deferred: while its level is limited (see [`defer`]).
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
    /// [`defer`]).
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

    /// The monitor's look (see [`defer`]): if a task waited [`defer::DEFER_GRACE`] while no
    /// section of the site ended, lets every deferred task go and stops holding the site's
    /// sections for [`UNHELD_FOR`]; if it waited that long while a turn was free, lets it go.
    fn release_overdue(&self, now: Instant) {
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

    fn since_created(&self, now: Instant) -> u64 {
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

/// The table of call sites.
#[derive(Debug)]
pub(crate) struct Sites {
    records: Box<[Record]>,
    /// Set once a spawn site is learnt: until then no poll looks the table up.
    spawn_sites: AtomicBool,
    /// Set once a task was deferred (see [`defer`]): until then the monitor does not look at
    /// the sites' lists.
    deferring: AtomicBool,
}

/// A learnt site, returned by [`Sites::find`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Site<'a> {
    record: &'a Record,
}

fn key_of(site: &'static Location<'static>) -> usize {
    std::ptr::from_ref(site) as usize
}

fn slot_of(key: usize, probe: usize) -> usize {
    // Fibonacci hashing of the address; locations are at least 8-byte aligned.
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> 20).wrapping_add(probe) % CAPACITY
}

impl Sites {
    /// An empty table.
    pub(crate) fn new() -> Sites {
        Sites {
            records: (0..CAPACITY).map(|_| Record::default()).collect(),
            spawn_sites: AtomicBool::new(false),
            deferring: AtomicBool::new(false),
        }
    }

    /// The record of `site`, if it was learnt.
    pub(crate) fn find(&self, site: &'static Location<'static>) -> Option<Site<'_>> {
        let key = key_of(site);
        (0..MAX_PROBES).find_map(|probe| {
            let record = &self.records[slot_of(key, probe)];
            (record.key.load(Ordering::Relaxed) == key).then_some(Site { record })
        })
    }

    /// The record of `site`, inserted if needed, and its number (from 1); `None` if the table
    /// is full around it.
    fn find_or_insert(&self, site: &'static Location<'static>) -> Option<(Site<'_>, u32)> {
        let key = key_of(site);
        for probe in 0..MAX_PROBES {
            let index = slot_of(key, probe);
            let record = &self.records[index];
            match record
                .key
                .compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some((Site { record }, index as u32 + 1)),
                Err(existing) if existing == key => {
                    return Some((Site { record }, index as u32 + 1))
                }
                Err(_) => {}
            }
        }
        None
    }

    /// A worker took `runnable` to poll it: returns the task to poll now, or `None` if it
    /// waits for its site's turn (see [`defer`]). One relaxed load for a task without a hint.
    #[inline]
    pub(crate) fn admit(&self, runnable: Runnable) -> Option<Runnable> {
        if runnable.metadata().site_hint() == 0 {
            return Some(runnable);
        }
        self.admit_hinted(runnable)
    }

    #[inline(never)]
    fn admit_hinted(&self, runnable: Runnable) -> Option<Runnable> {
        let hint = runnable.metadata().site_hint() as usize;
        let managed = self
            .records
            .get(hint - 1)
            .filter(|record| record.score.load(Ordering::Relaxed) > 0)
            .and_then(|record| record.managed.get());
        let runnable = match managed {
            Some(managed) => {
                self.deferring.store(true, Ordering::Relaxed);
                managed.defer(runnable)?
            }
            None => runnable,
        };
        // Polled now: it keeps the hint only if this poll enters the site's sections again.
        runnable.metadata().set_site_hint(0);
        Some(runnable)
    }

    /// A task with the site hint `hint` was polled, and its poll entered the sections of the
    /// site with the hint `entered` last (0: none). If it was let in for a turn at its site
    /// and did not take it, the turn goes to the next task deferred there.
    #[inline(never)]
    pub(crate) fn polled(&self, hint: u32, entered: u32) {
        if entered == hint {
            return;
        }
        if let Some(managed) = self
            .records
            .get(hint as usize - 1)
            .and_then(|record| record.managed.get())
        {
            managed.release(1);
        }
    }

    /// Whether any task waits for its site's turn: the monitor keeps looking meanwhile (see
    /// [`defer`]).
    pub(crate) fn has_deferred(&self) -> bool {
        self.deferring.load(Ordering::Relaxed)
            && self
                .records
                .iter()
                .filter_map(|record| record.managed.get())
                .any(|managed| managed.deferred.len() > 0)
    }

    /// The monitor's look at the deferred tasks (see [`defer`]).
    pub(crate) fn release_overdue(&self, now: Instant) {
        if !self.deferring.load(Ordering::Relaxed) {
            return;
        }
        for record in self.records.iter() {
            if let Some(managed) = record.managed.get() {
                managed.release_overdue(now);
            }
        }
    }

    /// Takes every deferred task off the sites' lists (shutdown cancels them).
    pub(crate) fn take_deferred(&self) -> Vec<Runnable> {
        if !self.deferring.load(Ordering::Relaxed) {
            return Vec::new();
        }
        self.records
            .iter()
            .filter_map(|record| record.managed.get())
            .flat_map(|managed| managed.deferred.drain())
            .collect()
    }

    /// Whether sections at `site` should hand off at once.
    pub(crate) fn is_eager(&self, site: &'static Location<'static>) -> bool {
        self.find(site).is_some_and(|s| s.is_eager())
    }

    /// A section at `site` outlived the grace period. Returns the site's managed record.
    pub(crate) fn record_blocked(&self, site: &'static Location<'static>) -> Option<&Managed> {
        let (s, hint) = self.find_or_insert(site)?;
        s.record.score.store(EAGER_SCORE, Ordering::Relaxed);
        Some(
            s.record
                .managed
                .get_or_init(|| Box::new(Managed::new(Instant::now(), hint))),
        )
    }

    /// The managed concurrency of `site`, if it is eager (its sections are known to block).
    pub(crate) fn managed(&self, site: &'static Location<'static>) -> Option<&Managed> {
        self.find(site)
            .filter(|s| s.is_eager())
            .and_then(|s| s.record.managed.get().map(|m| &**m))
    }

    /// The managed concurrency of `site`, eager or not (a section counted in it ends).
    pub(crate) fn managed_any(&self, site: &'static Location<'static>) -> Option<&Managed> {
        self.find(site)
            .and_then(|s| s.record.managed.get().map(|m| &**m))
    }

    /// Whether any spawn site was learnt (see [`Sites::record_taken_over`]): until one is, no
    /// poll is watched, and a worker need not look its task's spawn site up. One relaxed load.
    pub(crate) fn watches_spawn_sites(&self) -> bool {
        self.spawn_sites.load(Ordering::Relaxed)
    }

    /// How the polls of tasks spawned at `site` are run (see [`spawn`]): one relaxed load
    /// while no spawn site has been learnt.
    pub(crate) fn poll_mode(&self, site: &'static Location<'static>) -> PollMode {
        if !self.watches_spawn_sites() {
            return PollMode::Plain;
        }
        match self.find(site) {
            Some(s) if s.is_eager() => s.record.poll_rate.mode(),
            _ => PollMode::Plain,
        }
    }

    /// A poll of a task spawned at `site`, handed off at its start, ended: it `blocked` (its
    /// site stays watched, as after a takeover), or not (a quick poll).
    pub(crate) fn record_handed_off_poll(&self, site: &'static Location<'static>, blocked: bool) {
        if let Some(s) = self.find(site) {
            s.record.poll_rate.record(blocked);
            if blocked {
                s.record.score.store(SPAWN_EAGER_SCORE, Ordering::Relaxed);
            } else {
                s.lower_score();
            }
        }
    }

    /// A watched poll of a task spawned at `site` ended: it `blocked` or not, and it was
    /// `taken_over` (see [`Sites::record_taken_over`]) or not (a quick poll).
    pub(crate) fn record_watched_poll(
        &self,
        site: &'static Location<'static>,
        blocked: bool,
        taken_over: bool,
    ) {
        if let Some(s) = self.find(site) {
            s.record.poll_rate.record(blocked);
            if !taken_over {
                s.lower_score();
            }
        }
    }

    /// The monitor took over a poll of a task spawned at `site`.
    pub(crate) fn record_taken_over(&self, site: &'static Location<'static>) {
        if let Some((s, _)) = self.find_or_insert(site) {
            s.record.score.store(SPAWN_EAGER_SCORE, Ordering::Relaxed);
            self.spawn_sites.store(true, Ordering::Relaxed);
        }
    }

    /// The monitor took over a poll of a task spawned at `site`: it was `blocked`, or a CPU hog.
    pub(crate) fn record_detection(&self, site: &'static Location<'static>, blocked: bool) {
        if let Some((s, _)) = self.find_or_insert(site) {
            let _ = s.record.spawned_at.set(site);
            let counter = if blocked {
                &s.record.detected_blocks
            } else {
                &s.record.cpu_hogs
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The spawn sites whose tasks' polls were taken over, most often taken over first.
    pub(crate) fn detections(&self) -> Vec<SiteStats> {
        let mut sites: Vec<SiteStats> = self
            .records
            .iter()
            .filter_map(|r| {
                Some(SiteStats {
                    site: r.spawned_at.get()?.to_string(),
                    detected_blocks: r.detected_blocks.load(Ordering::Relaxed),
                    cpu_hogs: r.cpu_hogs.load(Ordering::Relaxed),
                })
            })
            .collect();
        sites.sort_by(|a, b| {
            (b.detected_blocks + b.cpu_hogs)
                .cmp(&(a.detected_blocks + a.cpu_hogs))
                .then_with(|| a.site.cmp(&b.site))
        });
        sites
    }

    /// A section at `site` finished within the grace period (or a watched poll of a task
    /// spawned at `site` ended without being taken over).
    pub(crate) fn record_quick(&self, site: &'static Location<'static>) {
        if let Some(s) = self.find(site) {
            s.lower_score();
        }
    }
}

impl Site<'_> {
    /// Lowers the site's score by one, if it is eager.
    fn lower_score(self) {
        let score = self.record.score.load(Ordering::Relaxed);
        if score > 0 {
            self.record.score.store(score - 1, Ordering::Relaxed);
        }
    }

    /// Whether this site's sections hand off at once.
    pub(crate) fn is_eager(self) -> bool {
        self.record.score.load(Ordering::Relaxed) > 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[track_caller]
    fn here() -> &'static Location<'static> {
        Location::caller()
    }

    #[test]
    fn a_site_that_blocked_is_eager_until_it_stops_blocking() {
        let sites = Sites::new();
        let a = here();
        let b = here();
        assert!(!sites.is_eager(a));
        sites.record_blocked(a);
        assert!(sites.is_eager(a));
        assert!(!sites.is_eager(b), "learning is per call site");
        for _ in 0..EAGER_SCORE - 1 {
            sites.record_quick(a);
            assert!(sites.is_eager(a));
        }
        sites.record_quick(a);
        assert!(!sites.is_eager(a), "back to lazy after quick sections");
        sites.record_quick(a);
        assert!(!sites.is_eager(a));
    }

    #[test]
    fn a_spawn_site_whose_task_blocked_is_watched_until_its_polls_stay_quick() {
        let sites = Sites::new();
        let a = here();
        assert_eq!(sites.poll_mode(a), PollMode::Plain);
        sites.record_taken_over(a);
        assert_eq!(sites.poll_mode(a), PollMode::Watched);
        assert_eq!(
            sites.poll_mode(here()),
            PollMode::Plain,
            "learning is per spawn site"
        );
        for _ in 0..SPAWN_EAGER_SCORE {
            assert_ne!(sites.poll_mode(a), PollMode::Plain);
            sites.record_watched_poll(a, false, false);
        }
        assert_eq!(
            sites.poll_mode(a),
            PollMode::Plain,
            "back to normal after quick polls"
        );
    }

    /// A managed record taught that its sections with a replacement took `turn` per section in
    /// flight (a lock's turn), at levels 1 and 2.
    fn taught(turn: Duration) -> (Managed, Instant) {
        let start = Instant::now();
        let managed = Managed::new(start, 1);
        let mut now = start;
        for _ in 0..8 {
            for level in 1..=2 {
                now += turn * level as u32;
                managed.learn(now, level, turn * level as u32);
            }
        }
        (managed, now)
    }

    /// Whether a section entering now would be held.
    fn is_held(managed: &Managed) -> bool {
        let within = managed.enter().within;
        managed.admission.leave();
        !within
    }

    /// The eighth section in flight at `managed`, which is beyond its level.
    fn eighth(managed: &Managed) -> Entered {
        for _ in 0..7 {
            managed.enter();
        }
        let entered = managed.enter();
        assert_eq!(entered.level, 8);
        assert!(!entered.within, "the eighth section is beyond the level");
        entered
    }

    #[test]
    fn a_held_section_that_waited_for_its_sites_turns_keeps_the_site_held() {
        let (managed, now) = taught(Duration::from_millis(1));
        // It waited for about as many turns as sections were in flight, none of which ended
        // meanwhile (a disk stalled, say).
        let entered = eighth(&managed);
        managed.hold_failed(now, entered, Duration::from_millis(12), false);
        assert!(
            is_held(&managed),
            "a wait the site's turns explain unheld it"
        );
    }

    #[test]
    fn a_held_section_whose_site_went_on_keeps_the_site_held() {
        let (managed, now) = taught(Duration::from_micros(20));
        let entered = eighth(&managed);
        // Far longer than its turns explain, but the site's other sections went on ending:
        // an unfair lock let them in first.
        managed.uncounted_ended();
        managed.hold_failed(now, entered, Duration::from_millis(10), false);
        assert!(is_held(&managed), "a site that made progress was unheld");
    }

    #[test]
    fn a_held_section_that_stalled_its_site_unholds_it_for_a_while() {
        let (managed, now) = taught(Duration::from_micros(20));
        let entered = eighth(&managed);
        // Waited for another task the hold kept from running, until the held grace period,
        // and no section of the site ended meanwhile.
        managed.hold_failed(now, entered, Duration::from_millis(10), false);
        assert!(
            !is_held(&managed),
            "holding stalls what the site's sections wait for"
        );
        managed
            .unheld_until
            .store(managed.since_created(Instant::now()), Ordering::Relaxed);
        assert!(is_held(&managed), "held again once the while is over");
    }

    #[test]
    fn a_held_section_that_woke_a_task_unholds_its_site_whatever_the_figures() {
        let (managed, now) = taught(Duration::from_millis(1));
        let entered = eighth(&managed);
        // The figures explain the wait and the site went on (the case above keeps the site
        // held), but the section woke a task of its core before it waited.
        managed.uncounted_ended();
        managed.hold_failed(now, entered, Duration::from_millis(12), true);
        assert!(
            !is_held(&managed),
            "a section that woke a task kept its site held"
        );
    }

    #[test]
    fn a_held_section_handed_off_before_any_figures_unholds_the_site() {
        let managed = Managed::new(Instant::now(), 1);
        let entered = eighth(&managed);
        managed.hold_failed(Instant::now(), entered, Duration::from_millis(10), false);
        assert!(!is_held(&managed));
    }

    #[test]
    fn detections_are_counted_per_spawn_site() {
        let sites = Sites::new();
        let (a, b) = (here(), here());
        assert!(sites.detections().is_empty());
        sites.record_blocked(a);
        assert!(
            sites.detections().is_empty(),
            "a section's site is no spawn site"
        );
        sites.record_detection(a, true);
        sites.record_detection(b, false);
        sites.record_detection(b, true);
        let found = sites.detections();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].site, b.to_string(), "the most taken over first");
        assert_eq!((found[0].detected_blocks, found[0].cpu_hogs), (1, 1));
        assert_eq!((found[1].detected_blocks, found[1].cpu_hogs), (1, 0));
    }
}
