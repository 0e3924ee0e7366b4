//! Pending timers, in one shard per core.
//!
//! Each shard is a hierarchical timer [`wheel`](super::wheel) behind its own mutex: arming,
//! disarming and firing a timer are `O(1)`, and an entry costs a `Waker` and 24 bytes in a
//! slab. A timer fires once the wheel's tick (about 66 µs) in which its deadline falls has
//! passed: never early, at most a tick late.
//!
//! A thread arms its timers in the shard of the core it works for (other threads share the
//! shards round robin), so busy workers arming timers do not contend for one lock. Each shard
//! publishes a lower bound of its earliest deadline in an atomic *hint*: a poll that finds no
//! shard due takes no lock at all, and the seated thread reads the earliest deadline of a shard
//! it does not need to lock from its hint.
//!
//! # Waking the seated thread (*arm an earlier timer*)
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
use std::task::Waker;
use std::time::{Duration, Instant};

use super::wheel::{Wheel, TICK_SHIFT};
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

/// One shard: a timer wheel and the hint of its earliest deadline.
#[derive(Debug)]
#[repr(align(128))] // its own cache lines: shards are locked by different cores
struct Shard {
    /// A lower bound of the earliest time a pending timer fires, in nanoseconds after the
    /// epoch ([`NEVER`] if none): after every batch of due timers and every disarm, the start of
    /// the earliest non-empty slot (for a slot of a higher level, the time it is cascaded).
    hint: AtomicU64,
    /// Pending timers.
    wheel: Mutex<Wheel>,
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
                wheel: Mutex::new(Wheel::new()),
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
        self.shards.iter().map(|s| lock(&s.wheel).len()).sum()
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

    /// The tick in which `deadline` falls: its timer fires once that tick has passed.
    fn tick(&self, deadline: Instant) -> u64 {
        self.nanos(deadline) >> TICK_SHIFT
    }

    /// The time, in nanoseconds after the epoch, at which a timer of `tick` fires.
    fn fires_at(tick: u64) -> u64 {
        tick.saturating_add(1).saturating_mul(1 << TICK_SHIFT)
    }

    /// Arms a timer; returns its id and whether the seated thread must be notified because it
    /// sleeps past `deadline`.
    pub(super) fn insert(&self, deadline: Instant, waker: &Waker) -> (u64, bool) {
        let index = self.home();
        let shard = &self.shards[index];
        let tick = self.tick(deadline);
        let waker = waker.clone();
        let id = {
            let mut wheel = lock(&shard.wheel);
            let id = wheel.insert(tick, waker, SHARD_BITS) | index as u64;
            self.lower_hint(shard, tick);
            id
        };
        (id, self.wakes_sleeper(tick))
    }

    /// Replaces a pending timer's waker, or arms it again if it fired; returns its id (a new
    /// one if armed again) and whether the seated thread must be notified.
    pub(super) fn update(&self, deadline: Instant, id: u64, waker: &Waker) -> (u64, bool) {
        {
            let mut wheel = lock(&self.shard_of(id).wheel);
            if let Some(old) = wheel.waker_mut(id >> SHARD_BITS) {
                if !old.will_wake(waker) {
                    old.clone_from(waker);
                }
                return (id, false);
            }
        }
        self.insert(deadline, waker)
    }

    /// Moves a pending timer to `deadline`, keeping its waker; returns its new id and whether
    /// the seated thread must be notified. `None` if it fired already: its waker was woken,
    /// and the next poll of its `Sleep` arms it again.
    pub(super) fn reset(&self, id: u64, deadline: Instant) -> Option<(u64, bool)> {
        let shard = self.shard_of(id);
        let tick = self.tick(deadline);
        let id = {
            let mut wheel = lock(&shard.wheel);
            let waker = wheel.take(id >> SHARD_BITS)?;
            let id = wheel.insert(tick, waker, SHARD_BITS) | (id % MAX_SHARDS as u64);
            // SeqCst: as in `remove`, under the lock, so no arming is lost: the first half
            // of the handshake with `sleep` when the timer moved earlier (then the hint
            // is lowered), and a refresh when it moved later (so an idle seated thread does
            // not wake at the old deadline).
            shard.hint.store(
                wheel.next_tick().map_or(NEVER, Self::fires_at),
                Ordering::SeqCst,
            );
            id
        };
        Some((id, self.wakes_sleeper(tick)))
    }

    /// Lowers `shard`'s hint to when a timer of `tick` fires (under the shard's lock).
    fn lower_hint(&self, shard: &Shard, tick: u64) {
        // SeqCst: the first half of the handshake with `sleep` (see the module docs); an RMW,
        // so it reads the latest hint even if a batch raised it meanwhile.
        shard.hint.fetch_min(Self::fires_at(tick), Ordering::SeqCst);
    }

    /// Clones the waker of every pending timer into `wakers`.
    pub(super) fn clone_all_wakers(&self, wakers: &mut Vec<Waker>) {
        for shard in self.shards.iter() {
            lock(&shard.wheel).clone_all_wakers(wakers);
        }
    }

    /// Whether a timer is armed.
    #[cfg(all(test, not(loom)))]
    pub(super) fn contains(&self, id: u64) -> bool {
        lock(&self.shard_of(id).wheel).contains(id >> SHARD_BITS)
    }

    /// Disarms a timer; a no-op if it already fired.
    pub(super) fn remove(&self, id: u64) {
        let shard = self.shard_of(id);
        let mut wheel = lock(&shard.wheel);
        wheel.remove(id >> SHARD_BITS);
        // SeqCst: as in `take_due`, under the lock, so no arming is lost. Refreshed so that a
        // cancelled timeout does not wake an idle seated thread at its old deadline.
        shard.hint.store(
            wheel.next_tick().map_or(NEVER, Self::fires_at),
            Ordering::SeqCst,
        );
    }

    /// Moves the wakers of timers due at `now` into `wakers`; returns (a lower bound of) the
    /// time the next one fires. Locks only the shards whose hint says a timer may be due.
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
            let mut wheel = lock(&shard.wheel);
            wheel.advance(now_nanos >> TICK_SHIFT, wakers);
            let first = wheel.next_tick().map_or(NEVER, Self::fires_at);
            // SeqCst: like `lower_hint`; under the lock, so no arming is lost.
            shard.hint.store(first, Ordering::SeqCst);
            drop(wheel);
            next = next.min(first);
        }
        if wakers.len() > before {
            // Relaxed: the value is a past clock reading, so whoever reads it knows that much
            // time has passed, whatever else it sees; it pairs with nothing.
            self.fired_through.fetch_max(now_nanos, Ordering::Relaxed);
        }
        (next != NEVER).then(|| self.instant(next))
    }

    /// Whether `deadline` has passed for sure, as far as fired timers tell (no clock read).
    pub(super) fn has_fired(&self, deadline: Instant) -> bool {
        // Relaxed: see `take_due`. Strictly before: a deadline in the same nanosecond as the
        // batch's `now` may be later than `now` by less than that.
        self.nanos(deadline) < self.fired_through.load(Ordering::Relaxed)
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
            // SeqCst: pairs with `lower_hint`'s RMW: either this load sees a timer armed
            // meanwhile, or that thread's `wakes_sleeper` sees the deadline stored above.
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

    /// Whether a timer of `tick` must interrupt the seated thread's wait; if so, the wait
    /// counts as ending when that timer fires from now on, so later timers do not notify
    /// again.
    fn wakes_sleeper(&self, tick: u64) -> bool {
        let deadline = Self::fires_at(tick);
        // SeqCst: see `sleep`. The load spares the RMW when the timer is later than the wait.
        deadline < self.sleep_until.load(Ordering::SeqCst)
            && self.sleep_until.fetch_min(deadline, Ordering::SeqCst) > deadline
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn due_timers_fire_in_one_batch_and_the_rest_wait() {
        let timers = Timers::new();
        let t0 = timers.epoch;
        let waker = futures::task::noop_waker_ref();
        timers.insert(t0 + MS, waker);
        timers.insert(t0 + 2 * MS, waker);
        let (late, _) = timers.insert(t0 + 1000 * MS, waker);
        let mut wakers = Vec::new();
        let next = timers.take_due(t0 + 3 * MS, &mut wakers).expect("one left");
        assert_eq!(wakers.len(), 2);
        // A lower bound: the wheel's next slot, which may be a cascade before the deadline.
        assert!(next > t0 + 3 * MS && next <= t0 + 1001 * MS, "{next:?}");
        assert!(timers.has_fired(t0 + MS));
        assert!(!timers.has_fired(t0 + 1000 * MS));
        timers.remove(late);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn a_timer_never_fires_before_its_deadline() {
        let timers = Timers::new();
        let t0 = timers.epoch;
        let waker = futures::task::noop_waker_ref();
        let deadline = t0 + Duration::from_micros(1234);
        timers.insert(deadline, waker);
        let mut wakers = Vec::new();
        let mut at = t0;
        while wakers.is_empty() {
            let next = timers.take_due(at, &mut wakers);
            if wakers.is_empty() {
                assert!(at < deadline + MS, "fires within a tick of its deadline");
                assert!(next.expect("armed") > at);
            } else {
                assert!(at >= deadline, "fired at {at:?}, before {deadline:?}");
            }
            at += Duration::from_micros(7);
        }
    }

    #[test]
    fn timers_of_every_shard_fire() {
        let timers = Timers::with_shards(4);
        let t0 = timers.epoch;
        let waker = futures::task::noop_waker_ref();
        let armed: Vec<_> = (0..8)
            .map(|i| {
                let at = t0 + i * MS;
                std::thread::scope(|s| s.spawn(|| timers.insert(at, waker)).join().unwrap())
            })
            .collect();
        let shards: std::collections::HashSet<_> =
            armed.iter().map(|(id, _)| id % MAX_SHARDS as u64).collect();
        assert_eq!(shards.len(), 4, "threads spread over the shards");
        let mut wakers = Vec::new();
        let next = timers.take_due(t0 + 3 * MS + MS / 2, &mut wakers);
        assert_eq!(wakers.len(), 4);
        assert!(next.expect("four left") >= t0 + 4 * MS);
        assert_eq!(timers.len(), 4);
    }

    #[test]
    fn a_reset_timer_keeps_its_waker_and_fires_at_its_new_deadline() {
        let timers = Timers::new();
        let t0 = timers.epoch;
        let waker = futures::task::noop_waker_ref();
        let (id, _) = timers.insert(t0 + 10 * MS, waker);
        // Later: it does not fire at the old deadline, only at the new one.
        let (later, _) = timers.reset(id, t0 + 30 * MS).expect("armed");
        assert!(!timers.contains(id) && timers.contains(later));
        let mut wakers = Vec::new();
        timers.take_due(t0 + 20 * MS, &mut wakers);
        assert!(wakers.is_empty(), "fired at the old deadline");
        // Earlier again, while the seated thread waits until the later deadline: notified.
        // (The wait may be shortened to the hint, a lower bound; the deadline it publishes is
        // what arming compares with.)
        let _ = timers.sleep(Some(t0 + 30 * MS));
        let (earlier, notify) = timers.reset(later, t0 + 25 * MS).expect("armed");
        assert!(notify, "an earlier deadline interrupts the wait");
        timers.set_awake();
        timers.take_due(t0 + 26 * MS, &mut wakers);
        assert_eq!(wakers.len(), 1);
        assert!(wakers[0].will_wake(waker), "the waker moved with the timer");
        // Fired: a reset finds nothing to move.
        assert_eq!(timers.reset(earlier, t0 + 40 * MS), None);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn only_an_earlier_timer_notifies_the_sleeper() {
        let timers = Timers::new();
        let t0 = timers.epoch;
        let waker = futures::task::noop_waker_ref();
        let (_, notify) = timers.insert(t0, waker);
        assert!(!notify, "nobody sleeps");
        let mut wakers = Vec::new();
        timers.take_due(t0 + MS, &mut wakers);
        assert_eq!(timers.sleep(Some(t0 + 1000 * MS)), None);
        let (_, notify) = timers.insert(t0 + 2000 * MS, waker);
        assert!(!notify, "later than the wait");
        let (_, notify) = timers.insert(t0 + 500 * MS, waker);
        assert!(notify, "earlier than the wait");
        let (_, notify) = timers.insert(t0 + 600 * MS, waker);
        assert!(!notify, "the sleeper was already told to wake earlier");
        let shortened = timers
            .sleep(None)
            .expect("a timer armed before the wait shortens it");
        assert!(shortened <= t0 + 501 * MS);
        let (id, notify) = timers.insert(t0 + 400 * MS, waker);
        assert!(notify, "earlier than the shortened wait");
        timers.set_awake();
        timers.remove(id);
        let (again, notify) = timers.update(t0 + 400 * MS, id, waker);
        assert!(!notify, "awake");
        assert_ne!(again, id, "armed again under a new id");
        assert!(timers.contains(again) && !timers.contains(id));
        assert_eq!(timers.len(), 4);
    }
}
