//! Pending timers, ordered by deadline, in one shard per core.
//!
//! Each shard is a `BTreeMap` keyed by `(deadline, id)` behind its own mutex, as in async-io:
//! arming, disarming and firing are `O(log n)`, firing `k` due timers at once is one
//! `split_off`, and an entry costs its key and a `Waker` (40 bytes) plus the tree's node
//! overhead. With 100,000 timers pending the trees hold about 6 MB and arm a timer in well
//! under a microsecond (see `benches/compare/io.rs`). A timer wheel would make arming `O(1)`,
//! but needs intrusive lists (unsafe) or slab indirection to disarm, for little gain at this
//! scale.
//!
//! A thread arms its timers in the shard of the core it works for (other threads share the
//! shards round robin), so busy workers arming timers do not contend for one lock. Each shard
//! publishes a lower bound of its earliest deadline in an atomic *hint*: a poll that finds no
//! shard due takes no lock at all, and the seated thread reads the earliest deadline of a shard
//! it does not need to lock from its hint.
//!
//! # Waking the seated thread (protocol step 6)
//!
//! The seated thread publishes the deadline its wait ends at in one atomic word, *after* it
//! collected the due timers, then re-reads every shard's hint and shortens its wait to the
//! earliest. Arming a timer lowers its shard's hint, then reads the published deadline, and
//! notifies if its own deadline is earlier. All four accesses are `SeqCst`, so of a timer armed
//! while the seated thread computes its wait, either the seated thread sees the lowered hint,
//! or the arming thread sees the published deadline and notifies: no timer is slept past. A
//! `fetch_min` on the published deadline makes only the first earlier timer notify.
//!
//! # Completing without the lock
//!
//! Every batch of due timers advances [`Timers::fired_through`] before their wakers are woken,
//! so a woken `Sleep` learns that its deadline passed from one atomic load, without reading the
//! clock. A `Sleep` that completes does not lock its shard to disarm: its timer is due, so
//! either it fired already, or the next batch fires it (a spurious wake-up at most).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::context;
use crate::sync::{lock, AtomicU64, AtomicUsize, Mutex, Ordering};

/// The published deadline while the seated thread is not in a wait that may block: no timer
/// notifies (every nanosecond deadline is at least this).
const AWAKE: u64 = 0;
/// The hint of an empty shard, and the published deadline of a wait without a deadline.
const NEVER: u64 = u64::MAX;
/// Low bits of a timer id that name its shard; the rest count the shard's timers.
const SHARD_BITS: u32 = 6;
/// The most shards.
const MAX_SHARDS: usize = 1 << SHARD_BITS;

std::thread_local! {
    /// The shard of a thread that is no runtime worker, assigned on its first timer.
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// One shard: a timer tree and the hint of its earliest deadline.
#[derive(Debug)]
#[repr(align(128))] // its own cache lines: shards are locked by different cores
struct Shard {
    /// A lower bound of the earliest pending deadline, in nanoseconds after the epoch
    /// ([`NEVER`] if none); exact after every batch of due timers.
    hint: AtomicU64,
    /// Pending timers; the value is the waker to wake once the deadline passes.
    tree: Mutex<Tree>,
}

/// A shard's timers, behind its lock.
#[derive(Debug, Default)]
struct Tree {
    /// Pending timers by `(deadline, id)` (ids keep equal deadlines apart).
    map: BTreeMap<(Instant, u64), Waker>,
    /// The next id, shifted past [`SHARD_BITS`].
    next_id: u64,
}

/// The timer shards, and the seated thread's wait as far as arming a timer is concerned.
#[derive(Debug)]
pub(super) struct Timers {
    /// Reference point of the nanosecond deadlines in the atomics.
    epoch: Instant,
    /// The shards; a thread arms in the one of its core.
    shards: Box<[Shard]>,
    /// Round robin for threads that are no runtime worker.
    next_shard: AtomicUsize,
    /// The deadline at which the seated thread's wait ends: [`AWAKE`] when it is not in a
    /// wait that may block, [`NEVER`] for a wait without deadline.
    sleep_until: AtomicU64,
    /// Nanoseconds after the epoch before which every deadline has fired (see the module
    /// docs).
    fired_through: AtomicU64,
}

impl Timers {
    /// No timers, with one shard per CPU (at most [`MAX_SHARDS`]).
    pub(super) fn new() -> Timers {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Timers::with_shards(cpus)
    }

    /// No timers, in `shards` shards (clamped to `1..=MAX_SHARDS`).
    fn with_shards(shards: usize) -> Timers {
        let shards = (0..shards.clamp(1, MAX_SHARDS))
            .map(|_| Shard {
                hint: AtomicU64::new(NEVER),
                tree: Mutex::new(Tree::default()),
            })
            .collect();
        Timers {
            epoch: Instant::now(),
            shards,
            next_shard: AtomicUsize::new(0),
            sleep_until: AtomicU64::new(AWAKE),
            fired_through: AtomicU64::new(0),
        }
    }

    /// `at` in nanoseconds after the epoch (0 before it, saturating far ahead).
    fn nanos(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        u64::try_from(since.as_nanos()).unwrap_or(NEVER)
    }

    /// The instant `nanos` after the epoch.
    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    /// The number of pending timers.
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.tree).map.len()).sum()
    }

    /// The shard the current thread arms its timers in.
    fn home(&self) -> usize {
        let n = self.shards.len();
        if let Some((_, core)) = context::current_worker() {
            return core % n;
        }
        SHARD.with(|shard| {
            let index = shard.get().unwrap_or_else(|| {
                // Relaxed: only spreads threads over the shards.
                let next = self.next_shard.fetch_add(1, Ordering::Relaxed);
                shard.set(Some(next));
                next
            });
            index % n
        })
    }

    /// The shard a timer id was armed in.
    fn shard_of(&self, id: u64) -> &Shard {
        let index = usize::try_from(id % MAX_SHARDS as u64).expect("below MAX_SHARDS");
        &self.shards[index]
    }

    /// Arms a timer; returns its id and whether the seated thread must be notified because it
    /// sleeps past `deadline`.
    pub(super) fn insert(&self, deadline: Instant, waker: &Waker) -> (u64, bool) {
        let index = self.home();
        let shard = &self.shards[index];
        let waker = waker.clone();
        let id = {
            let mut tree = lock(&shard.tree);
            let id = tree.next_id | index as u64;
            tree.next_id += MAX_SHARDS as u64;
            tree.map.insert((deadline, id), waker);
            self.lower_hint(shard, deadline);
            id
        };
        (id, self.wakes_sleeper(deadline))
    }

    /// Replaces a pending timer's waker, or re-arms it under the same id if it fired; returns
    /// whether the seated thread must be notified.
    pub(super) fn update(&self, deadline: Instant, id: u64, waker: &Waker) -> bool {
        let shard = self.shard_of(id);
        {
            let mut tree = lock(&shard.tree);
            if let Some(old) = tree.map.get_mut(&(deadline, id)) {
                if !old.will_wake(waker) {
                    old.clone_from(waker);
                }
                return false;
            }
            tree.map.insert((deadline, id), waker.clone());
            self.lower_hint(shard, deadline);
        }
        self.wakes_sleeper(deadline)
    }

    /// Lowers `shard`'s hint to `deadline` (under the shard's lock).
    fn lower_hint(&self, shard: &Shard, deadline: Instant) {
        // SeqCst: the first half of the handshake with `sleep` (see the module docs); an RMW,
        // so it reads the latest hint even if a batch raised it meanwhile.
        shard.hint.fetch_min(self.nanos(deadline), Ordering::SeqCst);
    }

    /// Whether a timer is armed.
    #[cfg(test)]
    #[cfg_attr(loom, allow(dead_code))] // loom models park without the reactor
    pub(super) fn contains(&self, deadline: Instant, id: u64) -> bool {
        lock(&self.shard_of(id).tree)
            .map
            .contains_key(&(deadline, id))
    }

    /// Disarms a timer; a no-op if it already fired.
    pub(super) fn remove(&self, deadline: Instant, id: u64) {
        // The hint stays: a lower bound that is too low costs one needless lock at most.
        lock(&self.shard_of(id).tree).map.remove(&(deadline, id));
    }

    /// Moves the wakers of timers due at `now` into `wakers`; returns (a lower bound of) the
    /// next deadline. Locks only the shards whose hint says a timer may be due.
    pub(super) fn take_due(&self, now: Instant, wakers: &mut Vec<Waker>) -> Option<Instant> {
        let now_nanos = self.nanos(now);
        let before = wakers.len();
        let mut next = NEVER;
        for shard in self.shards.iter() {
            // SeqCst: pairs with `lower_hint`; a stale (higher) hint only delays a timer armed
            // right now to the next poll, and the seated thread re-reads hints in `sleep`.
            let hint = shard.hint.load(Ordering::SeqCst);
            if hint > now_nanos {
                next = next.min(hint);
                continue;
            }
            let mut tree = lock(&shard.tree);
            let due_first = tree
                .map
                .first_key_value()
                .is_some_and(|(&(d, _), _)| d <= now);
            let due = due_first.then(|| {
                // Everything strictly before `now + 1ns` is due.
                let pending = tree.map.split_off(&(now + Duration::from_nanos(1), 0));
                std::mem::replace(&mut tree.map, pending)
            });
            let first = tree
                .map
                .first_key_value()
                .map_or(NEVER, |(&(d, _), _)| self.nanos(d));
            // SeqCst: like `lower_hint`; under the lock, so no arming is lost.
            shard.hint.store(first, Ordering::SeqCst);
            drop(tree);
            // Outside the lock: walking and freeing the due entries takes a while.
            if let Some(due) = due {
                wakers.extend(due.into_values());
            }
            next = next.min(first);
        }
        if wakers.len() > before {
            // Release: a `Sleep` woken by one of these wakers that reads this value knows its
            // deadline passed. Every shard was searched with `now` before this store.
            self.fired_through.fetch_max(now_nanos, Ordering::Release);
        }
        (next != NEVER).then(|| self.instant(next))
    }

    /// Whether `deadline` has passed for sure, as far as fired timers tell (no clock read).
    pub(super) fn has_fired(&self, deadline: Instant) -> bool {
        // Acquire: pairs with the Release in `take_due`. Strictly before: a deadline in the
        // same nanosecond as the batch's `now` may be later than `now` by less than that.
        self.nanos(deadline) < self.fired_through.load(Ordering::Acquire)
    }

    /// Publishes that the seated thread waits until `until` (`None`: no deadline), after it
    /// computed `until` from [`take_due`](Timers::take_due). Returns an earlier deadline to
    /// wait until instead, if a timer was armed meanwhile (see the module docs).
    pub(super) fn sleep(&self, until: Option<Instant>) -> Option<Instant> {
        let until = until.map_or(NEVER, |u| self.nanos(u).max(AWAKE + 1));
        // SeqCst: the second half of the handshake with `lower_hint` and `wakes_sleeper`.
        self.sleep_until.store(until, Ordering::SeqCst);
        let earliest = self
            .shards
            .iter()
            .map(|s| s.hint.load(Ordering::SeqCst))
            .min()
            .unwrap_or(NEVER);
        (earliest < until).then(|| self.instant(earliest))
    }

    /// Records that the seated thread's wait is over.
    pub(super) fn set_awake(&self) {
        // Relaxed: a stale deadline only makes an arming thread notify needlessly.
        self.sleep_until.store(AWAKE, Ordering::Relaxed);
    }

    /// Whether a timer at `deadline` must interrupt the seated thread's wait; if so, the wait
    /// counts as ending at `deadline` from now on, so later timers do not notify again.
    fn wakes_sleeper(&self, deadline: Instant) -> bool {
        let deadline = self.nanos(deadline).max(AWAKE + 1);
        // SeqCst: see `sleep`. The load spares the RMW when the timer is later than the wait.
        deadline < self.sleep_until.load(Ordering::SeqCst)
            && self.sleep_until.fetch_min(deadline, Ordering::SeqCst) > deadline
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    #[test]
    fn due_timers_fire_in_one_batch_and_the_rest_wait() {
        let timers = Timers::new();
        let now = Instant::now();
        let waker = futures::task::noop_waker_ref();
        timers.insert(now - Duration::from_millis(1), waker);
        timers.insert(now, waker);
        let (late, _) = timers.insert(now + Duration::from_secs(1), waker);
        let mut wakers = Vec::new();
        let next = timers.take_due(now, &mut wakers);
        assert_eq!(wakers.len(), 2);
        assert_eq!(next, Some(now + Duration::from_secs(1)));
        assert!(timers.has_fired(now - Duration::from_millis(1)));
        assert!(!timers.has_fired(now + Duration::from_secs(1)));
        timers.remove(now + Duration::from_secs(1), late);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn timers_of_every_shard_fire() {
        let timers = Timers::with_shards(4);
        let now = Instant::now();
        let waker = futures::task::noop_waker_ref();
        let armed: Vec<_> = (0..8)
            .map(|i| {
                let at = now + Duration::from_millis(i);
                std::thread::scope(|s| s.spawn(|| timers.insert(at, waker)).join().unwrap())
            })
            .collect();
        let shards: std::collections::HashSet<_> =
            armed.iter().map(|(id, _)| id % MAX_SHARDS as u64).collect();
        assert_eq!(shards.len(), 4, "threads spread over the shards");
        let mut wakers = Vec::new();
        let next = timers.take_due(now + Duration::from_millis(3), &mut wakers);
        assert_eq!(wakers.len(), 4);
        assert_eq!(next, Some(now + Duration::from_millis(4)));
        assert_eq!(timers.len(), 4);
    }

    #[test]
    fn only_an_earlier_timer_notifies_the_sleeper() {
        let timers = Timers::new();
        let now = Instant::now();
        let waker = futures::task::noop_waker_ref();
        let (_, notify) = timers.insert(now, waker);
        assert!(!notify, "nobody sleeps");
        let mut wakers = Vec::new();
        timers.take_due(now, &mut wakers);
        assert_eq!(timers.sleep(Some(now + Duration::from_secs(1))), None);
        let (_, notify) = timers.insert(now + Duration::from_secs(2), waker);
        assert!(!notify, "later than the wait");
        let (_, notify) = timers.insert(now + Duration::from_millis(500), waker);
        assert!(notify, "earlier than the wait");
        let (_, notify) = timers.insert(now + Duration::from_millis(600), waker);
        assert!(!notify, "the sleeper was already told to wake earlier");
        assert_eq!(
            timers.sleep(None),
            Some(now + Duration::from_millis(500)),
            "a timer armed before the wait shortens it"
        );
        let (id, notify) = timers.insert(now + Duration::from_millis(400), waker);
        assert!(notify, "earlier than the shortened wait");
        timers.set_awake();
        timers.remove(now + Duration::from_millis(400), id);
        assert!(
            !timers.update(now + Duration::from_millis(400), id, waker),
            "awake"
        );
        assert_eq!(timers.len(), 4);
    }
}
