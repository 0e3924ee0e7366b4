//! A hierarchical timer wheel: the timers of one shard (see [`timers`](super::timers)).
//!
//! Time is counted in *ticks* of 2^16 ns (about 66 µs) after the shard's epoch. Six levels of 64
//! slots each cover 64, 64², ... 64⁶ ticks (about 50 days; a later timer waits in the last slot of
//! the last level and is placed again when that slot comes up). A timer is placed by the highest
//! group of six bits in which its tick differs from the wheel's current tick, as in tokio and the
//! Linux kernel; a slot of a higher level is *cascaded* (its timers placed again, lower) when its
//! start comes up. Arming, disarming and firing a timer are `O(1)`; finding the next non-empty slot
//! is a bit scan per level.
//!
//! The entries live in a `Slab`, and each slot is a doubly-linked list threaded through the
//! entries by slab key, so a timer is disarmed in `O(1)` without unsafe code. A timer's id
//! carries its slab key and a generation, so disarming a timer that fired already cannot hit
//! the timer that took its key since.
//!
//! A timer fires once its whole tick has passed, so never before its deadline and at most a
//! tick after it.

use std::task::Waker;

use slab::Slab;

/// Bits of a nanosecond count below a tick: a tick is 2^16 ns, about 66 µs.
pub(super) const TICK_SHIFT: u32 = 16;
/// Bits of a tick count per level: 64 slots.
const LEVEL_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << LEVEL_BITS;
/// Levels.
const LEVELS: usize = 6;
/// Bits of a tick count below the last level's slots.
const TOP_SHIFT: u32 = LEVEL_BITS * (LEVELS as u32 - 1);
/// No entry (the end of a slot's list).
const NIL: u32 = u32::MAX;
/// Bits of a timer id for the slab key (above the shard bits the caller keeps free).
const KEY_BITS: u32 = 26;

/// One armed timer.
#[derive(Debug)]
struct Entry {
    /// The tick in which its deadline falls; it fires once that tick has passed.
    tick: u64,
    /// Woken when it fires.
    waker: Waker,
    /// The previous entry in its slot's list, or [`NIL`].
    prev: u32,
    /// The next entry in its slot's list, or [`NIL`].
    next: u32,
    /// Tells this timer apart from earlier ones with the same slab key.
    generation: u32,
    /// Its slot: `level * SLOTS + slot`.
    slot: u16,
}

/// The timers of one shard.
#[derive(Debug)]
pub(super) struct Wheel {
    /// The entries, by slab key.
    entries: Slab<Entry>,
    /// The first tick not processed yet: every timer of an earlier tick has fired.
    elapsed: u64,
    /// The head of each slot's list, by `level * SLOTS + slot`.
    heads: Box<[u32; SLOTS * LEVELS]>,
    /// Per level, a bit per non-empty slot.
    occupied: [u64; LEVELS],
    /// The generation of the next timer.
    generation: u32,
}

impl Wheel {
    /// No timers.
    pub(super) fn new() -> Wheel {
        Wheel {
            entries: Slab::new(),
            elapsed: 0,
            heads: Box::new([NIL; SLOTS * LEVELS]),
            occupied: [0; LEVELS],
            generation: 0,
        }
    }

    /// The number of armed timers.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Arms a timer that fires once `tick` has passed; returns its id, shifted left by
    /// `low_bits` (which the caller uses for itself).
    ///
    /// # Panics
    ///
    /// With 2^26 timers armed in this wheel.
    pub(super) fn insert(&mut self, tick: u64, waker: Waker, low_bits: u32) -> u64 {
        let generation = self.generation;
        self.generation = self.generation.wrapping_add(1);
        let key = self.entries.insert(Entry {
            tick: tick.max(self.elapsed),
            waker,
            prev: NIL,
            next: NIL,
            generation,
            slot: 0,
        });
        assert!(key < 1 << KEY_BITS, "baton: too many timers armed");
        let key = u32::try_from(key).expect("below 2^26");
        self.place(key);
        (u64::from(generation) << KEY_BITS | u64::from(key)) << low_bits
    }

    /// The entry of timer `id` (shifted right already), if still armed.
    fn find(&self, id: u64) -> Option<(u32, &Entry)> {
        let key = u32::try_from(id & ((1 << KEY_BITS) - 1)).expect("below 2^26");
        let generation = id >> KEY_BITS;
        self.entries
            .get(key as usize)
            .filter(|e| u64::from(e.generation) == generation)
            .map(|e| (key, e))
    }

    /// The waker of timer `id` (shifted right already), if still armed.
    pub(super) fn waker_mut(&mut self, id: u64) -> Option<&mut Waker> {
        let (key, _) = self.find(id)?;
        Some(&mut self.entries[key as usize].waker)
    }

    /// Clones the waker of every armed timer into `wakers`.
    pub(super) fn clone_all_wakers(&self, wakers: &mut Vec<Waker>) {
        wakers.extend(self.entries.iter().map(|(_, entry)| entry.waker.clone()));
    }

    /// Whether timer `id` (shifted right already) is armed.
    #[cfg(all(test, not(loom)))]
    pub(super) fn contains(&self, id: u64) -> bool {
        self.find(id).is_some()
    }

    /// Disarms timer `id` (shifted right already); a no-op if it fired.
    pub(super) fn remove(&mut self, id: u64) {
        drop(self.take(id));
    }

    /// Disarms timer `id` (shifted right already) and returns its waker; `None` if it fired.
    pub(super) fn take(&mut self, id: u64) -> Option<Waker> {
        let (key, _) = self.find(id)?;
        self.unlink(key);
        Some(self.entries.remove(key as usize).waker)
    }

    /// Fires every timer whose tick is before `now_tick` into `wakers`.
    pub(super) fn advance(&mut self, now_tick: u64, wakers: &mut Vec<Waker>) {
        while let Some((level, slot, start)) = self.next_slot() {
            if start >= now_tick {
                break;
            }
            debug_assert!(start >= self.elapsed, "a slot was skipped");
            self.elapsed = start;
            let index = level * SLOTS + slot;
            let mut key = std::mem::replace(&mut self.heads[index], NIL);
            self.occupied[level] &= !(1 << slot);
            while key != NIL {
                let entry = &mut self.entries[key as usize];
                let next = entry.next;
                if level == 0 {
                    wakers.push(self.entries.remove(key as usize).waker);
                } else {
                    // A cascade: its tick is `start` or later, so it lands lower.
                    self.place(key);
                }
                key = next;
            }
        }
        self.elapsed = self.elapsed.max(now_tick);
        if self.entries.is_empty() && self.entries.capacity() > 1024 {
            // Give back the memory of a burst of timers.
            self.entries = Slab::new();
        }
    }

    /// The first tick by whose end a timer may fire (a slot's start): a lower bound of the
    /// next deadline; `None` without timers.
    pub(super) fn next_tick(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, start)| start)
    }

    /// The earliest non-empty slot as `(level, slot, first tick it covers)`.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let mut best: Option<(usize, usize, u64)> = None;
        for (level, &occupied) in self.occupied.iter().enumerate() {
            if occupied == 0 {
                continue;
            }
            let shift = LEVEL_BITS * level as u32;
            let pos = (self.elapsed >> shift) & (SLOTS as u64 - 1);
            // Slots are scanned from the current one on, round the level: only the last level
            // holds timers past the end of its window (see `place`).
            let ahead = u64::from(occupied.rotate_right(pos as u32).trailing_zeros());
            let window = (self.elapsed >> (shift + LEVEL_BITS)) << (shift + LEVEL_BITS);
            let start = window + ((pos + ahead) << shift);
            let slot = usize::try_from((pos + ahead) % SLOTS as u64).expect("below 64");
            if best.is_none_or(|(_, _, s)| start < s) {
                best = Some((level, slot, start));
            }
        }
        best
    }

    /// Puts entry `key` in the slot its tick calls for.
    fn place(&mut self, key: u32) {
        let tick = self.entries[key as usize].tick;
        // At most the last slot of the last level, 63 slots ahead: a slot is never behind the
        // current one, so the scan in `next_slot` finds it ahead.
        let limit = ((self.elapsed >> TOP_SHIFT) + SLOTS as u64 - 1) << TOP_SHIFT;
        let target = tick.max(self.elapsed).min(limit);
        // The highest six-bit group in which the target differs from the current tick.
        let differ = (target ^ self.elapsed) | (SLOTS as u64 - 1);
        let significant = 63 - differ.leading_zeros();
        let level = (significant / LEVEL_BITS).min(LEVELS as u32 - 1);
        let slot = (target >> (LEVEL_BITS * level)) & (SLOTS as u64 - 1);
        let level = level as usize;
        let slot = slot as usize;
        let index = level * SLOTS + slot;
        let head = self.heads[index];
        {
            let entry = &mut self.entries[key as usize];
            entry.prev = NIL;
            entry.next = head;
            entry.slot = u16::try_from(index).expect("384 slots");
        }
        if head != NIL {
            self.entries[head as usize].prev = key;
        }
        self.heads[index] = key;
        self.occupied[level] |= 1 << slot;
    }

    /// Takes entry `key` out of its slot's list.
    fn unlink(&mut self, key: u32) {
        let Entry {
            prev, next, slot, ..
        } = self.entries[key as usize];
        let index = usize::from(slot);
        if prev == NIL {
            self.heads[index] = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        if self.heads[index] == NIL {
            self.occupied[index / SLOTS] &= !(1 << (index % SLOTS));
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Fires everything before `tick`; returns how many fired.
    fn fire(wheel: &mut Wheel, tick: u64) -> usize {
        let mut wakers = Vec::new();
        wheel.advance(tick, &mut wakers);
        wakers.len()
    }

    #[test]
    fn timers_fire_once_their_tick_passed_never_before() {
        let waker = futures::task::noop_waker();
        let mut wheel = Wheel::new();
        let far = 70u64 << TOP_SHIFT; // past the last level's window
        let mut left = vec![
            0u64,
            1,
            5,
            63,
            64,
            65,
            100,
            4095,
            4096,
            70_000,
            1 << 30,
            1 << 40,
        ];
        left.push(far);
        for &t in &left {
            wheel.insert(t, waker.clone(), 0);
        }
        while let Some(next) = wheel.next_tick() {
            assert!(
                left.iter().all(|&t| t >= next),
                "next_tick is a lower bound"
            );
            let due = left.iter().filter(|&&t| t <= next).count();
            assert_eq!(fire(&mut wheel, next + 1), due, "at tick {next}");
            left.retain(|&t| t > next);
        }
        assert!(left.is_empty());
        assert_eq!(wheel.len(), 0);
    }

    #[test]
    fn every_timer_fires_in_its_tick_over_a_random_walk() {
        let waker = futures::task::noop_waker();
        let mut wheel = Wheel::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut armed: Vec<(u64, u64)> = Vec::new();
        let mut now = 0u64;
        for _ in 0..20_000 {
            match rand() % 4 {
                0 | 1 => {
                    let tick = now + rand() % (1 << (rand() % 30));
                    armed.push((tick, wheel.insert(tick, waker.clone(), 0)));
                }
                2 if !armed.is_empty() => {
                    let (_, id) = armed.swap_remove(rand() as usize % armed.len());
                    wheel.remove(id);
                }
                _ => {
                    now += rand() % 5000;
                    let due = armed.iter().filter(|(t, _)| *t < now).count();
                    armed.retain(|(t, _)| *t >= now);
                    assert_eq!(fire(&mut wheel, now), due);
                    assert!(armed.iter().all(|&(_, id)| wheel.contains(id)));
                    if let Some(next) = wheel.next_tick() {
                        assert!(armed.iter().all(|(t, _)| *t >= next));
                    }
                }
            }
        }
        assert_eq!(wheel.len(), armed.len());
    }

    #[test]
    fn a_removed_timer_does_not_fire_and_stale_ids_miss() {
        let waker = futures::task::noop_waker();
        let mut wheel = Wheel::new();
        let a = wheel.insert(10, waker.clone(), 0);
        let b = wheel.insert(10, waker.clone(), 0);
        wheel.remove(a);
        assert_eq!(fire(&mut wheel, 11), 1);
        assert!(!wheel.contains(b));
        // The key of `b` is reused; its old id must not reach the new timer.
        let c = wheel.insert(20, waker.clone(), 0);
        wheel.remove(b);
        assert!(wheel.contains(c));
        assert!(wheel.waker_mut(c).is_some());
        assert_eq!(fire(&mut wheel, 21), 1);
    }
}
