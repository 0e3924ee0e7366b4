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
//! A site that blocked also gets its [`Managed`] concurrency (the *managed concurrency* rule of
//! docs/architecture.md): its sections in flight and those waiting for a turn ([`admission`]), and
//! the level past which more sections at once stopped raising its throughput ([`level`]). A section
//! beyond that level gets no replacement worker, and the async form of a section waits for its turn
//! instead. A task that entered the site's sections lately waits for a turn before its next poll
//! ([`defer`]), so tasks beyond the level do not each hold a core.
pub(crate) mod admission;
pub(crate) mod defer;
pub(crate) mod level;
mod managed;
pub(crate) mod spawn;

pub(crate) use managed::{Entered, Managed};

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use spawn::{PollMode, PollRate};

use crate::queue::Runnable;
use crate::stats::SiteStats;

/// Number of records; sites beyond it are never learnt (their sections stay lazy).
const CAPACITY: usize = 1024;
/// Slots probed before giving up on a lookup or insert.
const MAX_PROBES: usize = 8;
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

    /// A worker took `runnable`, whose site hint it read as `hint`, to poll it: returns the task
    /// to poll now, or `None` if it waits for its site's turn (see [`defer`]). Nothing more
    /// than a test for a task without a hint.
    #[inline]
    pub(crate) fn admit(&self, hint: u32, runnable: Runnable) -> Option<Runnable> {
        if hint == 0 {
            return Some(runnable);
        }
        self.admit_hinted(hint, runnable)
    }

    #[inline(never)]
    fn admit_hinted(&self, hint: u32, runnable: Runnable) -> Option<Runnable> {
        let managed = self
            .records
            .get(hint as usize - 1)
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
mod tests;
