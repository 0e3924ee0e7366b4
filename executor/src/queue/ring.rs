//! A core's local queue: a bounded ring of task pointers, first in first out, that any thread
//! may push onto and pop from.
//!
//! Every yield and every task a busy core queues goes through it twice (a push, then a pop),
//! so it is written for that path alone: no dispatch between queue kinds and nothing that keeps
//! it from being inlined, where `ConcurrentQueue::bounded` spends about as many instructions
//! reaching its bounded queue as running it.
//!
//! # How it works
//!
//! Each slot holds a task's pointer ([`Runnable::into_raw`]) and a stamp that says which lap
//! of the ring the slot is ready for. `tail` counts pushes and `head` pops, both growing
//! forever; position `p` lives in slot `p % capacity`. Slot `i` starts stamped `i`: free for
//! the push at position `i`.
//!
//! - A push at position `p` finds its slot stamped `p` (free), claims the position by moving
//!   `tail` from `p` to `p + 1`, writes the pointer, and stamps the slot `p + 1`: full, for
//!   the pop at `p`. A slot still stamped from the previous lap means the ring is full.
//! - A pop at position `p` finds its slot stamped `p + 1`, claims the position by moving `head`,
//!   takes the pointer, and stamps the slot `p + capacity`: free for the push one lap later.
//!
//! The stamp's Release store and Acquire load hand the pointer (and the task behind it) from
//! pusher to popper and the free slot back. The claims, the looks at the positions and the
//! fences on the full and empty paths are `SeqCst`, as in the `ConcurrentQueue` this
//! replaced: free on x86 but for those two rare fences, and the protocols that look at a
//! queue after a fence of their own (parking's last look) see it as before. A push whose
//! position is claimed but not yet
//! stamped already counts in `len` and `is_empty`, as a task that is there: a pop meeting one
//! waits the few instructions until it is stamped instead of reporting the ring empty, so a
//! worker that saw work after its parking fence finds it.

use std::ptr::{self, NonNull};

use concurrent_queue::{PopError, PushError};

use super::Runnable;
use crate::sync::{fence, AtomicPtr, AtomicUsize, Ordering};

/// The ring.
#[derive(Debug)]
pub(crate) struct Ring {
    /// The position of the next pop.
    head: Line<AtomicUsize>,
    /// The position of the next push.
    tail: Line<AtomicUsize>,
    /// `capacity` slots (a power of two).
    slots: Box<[Slot]>,
}

/// A value on cache lines of its own (two: adjacent-line prefetch), so that pushers and poppers
/// do not take the line of the other's position at each operation.
#[derive(Debug)]
#[repr(align(128))]
struct Line<T>(T);

/// One place in the ring.
#[derive(Debug)]
struct Slot {
    /// The position this slot is ready for: `p` when free for the push at `p`, `p + 1` when
    /// holding the task pushed at `p`.
    stamp: AtomicUsize,
    /// The task's pointer while full (null while free).
    task: AtomicPtr<()>,
}

impl Ring {
    /// An empty ring of `capacity` slots, a power of two.
    pub(crate) fn new(capacity: usize) -> Ring {
        assert!(capacity.is_power_of_two(), "ring capacity {capacity}");
        Ring {
            head: Line(AtomicUsize::new(0)),
            tail: Line(AtomicUsize::new(0)),
            slots: (0..capacity)
                .map(|i| Slot {
                    stamp: AtomicUsize::new(i),
                    task: AtomicPtr::new(ptr::null_mut()),
                })
                .collect(),
        }
    }

    /// How many tasks the ring holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slot of position `position`.
    #[inline]
    fn slot(&self, position: usize) -> &Slot {
        &self.slots[position & (self.slots.len() - 1)]
    }

    /// Pushes at the back; hands the task back if the ring is full.
    #[inline]
    pub(crate) fn push(&self, runnable: Runnable) -> Result<(), PushError<Runnable>> {
        let capacity = self.slots.len();
        // Relaxed, for every look at a position inside the loops: a guess, checked against the
        // slot's stamp and by the claim's compare-exchange.
        let mut tail = self.tail.0.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(tail);
            // Acquire: pairs with the Release stamp of the pop that freed the slot, so our
            // write of the pointer comes after its take.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // SeqCst: the claim takes part in the single order that parking's fence and
                // its last look at the queues rely on (see the module docs).
                match self.tail.0.compare_exchange_weak(
                    tail,
                    tail.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.task
                            .store(runnable.into_raw().as_ptr(), Ordering::Relaxed);
                        // Release: publishes the pointer (and the task) to the pop at `tail`.
                        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => tail = current,
                }
            } else if stamp.wrapping_add(capacity) == tail.wrapping_add(1) {
                // The slot holds the task of the previous lap: full, unless its pop is under
                // way (claimed, not yet stamped free). SeqCst: the look at `head` comes after
                // the stamp's, whatever the pops did meanwhile.
                fence(Ordering::SeqCst);
                if self.head.0.load(Ordering::Relaxed).wrapping_add(capacity) == tail {
                    return Err(PushError::Full(runnable));
                }
                crate::sync::spin();
                tail = self.tail.0.load(Ordering::Relaxed);
            } else {
                // Another push took this position, or a pop of the previous lap is freeing it.
                crate::sync::spin();
                tail = self.tail.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops from the front.
    #[inline]
    pub(crate) fn pop(&self) -> Result<Runnable, PopError> {
        let capacity = self.slots.len();
        let mut head = self.head.0.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(head);
            // Acquire: pairs with the Release stamp of the push at `head`.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head.wrapping_add(1) {
                // SeqCst: as the push's claim (see the module docs).
                match self.head.0.compare_exchange_weak(
                    head,
                    head.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let raw = slot.task.swap(ptr::null_mut(), Ordering::Relaxed);
                        // Release: the slot is free for the push one lap later.
                        slot.stamp
                            .store(head.wrapping_add(capacity), Ordering::Release);
                        let raw = NonNull::new(raw).expect("a stamped slot holds a task");
                        // SAFETY: `raw` came from `into_raw` in the push at `head`, and the
                        // claim of `head` made this pop the only one to take it.
                        return Ok(unsafe { Runnable::from_raw(raw) });
                    }
                    Err(current) => head = current,
                }
            } else if stamp == head {
                // Not pushed yet: empty, unless the push is under way (claimed, not yet
                // stamped), which counts as a task already there. SeqCst: the look at `tail`
                // comes after the stamp's, whatever the pushes did meanwhile.
                fence(Ordering::SeqCst);
                if self.tail.0.load(Ordering::Relaxed) == head {
                    return Err(PopError::Empty);
                }
                crate::sync::spin();
                head = self.head.0.load(Ordering::Relaxed);
            } else {
                // Another pop took this position, or a push of the previous lap is filling it.
                crate::sync::spin();
                head = self.head.0.load(Ordering::Relaxed);
            }
        }
    }

    /// How many tasks the ring holds (pushes under way included).
    pub(crate) fn len(&self) -> usize {
        // SeqCst, here and in `is_empty`: looks in the single total order, as the replaced
        // `ConcurrentQueue`'s were (plain loads on x86).
        loop {
            let tail = self.tail.0.load(Ordering::SeqCst);
            let head = self.head.0.load(Ordering::SeqCst);
            // A consistent pair: `tail` did not move while `head` was read.
            if self.tail.0.load(Ordering::SeqCst) == tail {
                return tail.wrapping_sub(head).min(self.slots.len());
            }
        }
    }

    /// Whether the ring holds no task (a push under way counts as one).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.0.load(Ordering::SeqCst) == self.tail.0.load(Ordering::SeqCst)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        while self.pop().is_ok() {}
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::queue::{Priority, TaskMeta};

    /// A task marked `n` (in its queue id) that does nothing.
    fn task(n: u32) -> Runnable {
        let meta = TaskMeta::new(
            None,
            Priority::Normal,
            std::panic::Location::caller(),
            None,
            n,
        );
        let (runnable, task) = async_task::Builder::new()
            .metadata(meta)
            .spawn(|_| async {}, drop);
        task.detach();
        runnable
    }

    #[test]
    fn a_ring_is_first_in_first_out_across_laps_and_refuses_when_full() {
        let ring = Ring::new(4);
        let mut next = 0;
        let mut expected = 0;
        for lap in 0..5 {
            while ring.len() < ring.capacity() {
                ring.push(task(next)).expect("room left");
                next += 1;
            }
            let Err(PushError::Full(refused)) = ring.push(task(99)) else {
                panic!("a full ring took a task on lap {lap}");
            };
            assert_eq!(refused.metadata().queue_id(), 99);
            // Take some, not all, so the positions drift across the slots.
            for _ in 0..3 {
                let r = ring.pop().expect("tasks left");
                assert_eq!(r.metadata().queue_id(), expected, "out of order");
                expected += 1;
            }
        }
        while let Ok(r) = ring.pop() {
            assert_eq!(r.metadata().queue_id(), expected);
            expected += 1;
        }
        assert_eq!(expected, next);
        assert!(ring.is_empty());
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn pushers_and_poppers_on_many_threads_move_every_task_once() {
        const PER_THREAD: u32 = 20_000;
        let ring = Ring::new(8);
        let taken: Vec<Vec<u32>> = std::thread::scope(|s| {
            for t in 0..2 {
                let ring = &ring;
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        let mut r = task(t * PER_THREAD + i);
                        while let Err(PushError::Full(back)) = ring.push(r) {
                            r = back;
                            std::thread::yield_now();
                        }
                    }
                });
            }
            let poppers: Vec<_> = (0..2)
                .map(|_| {
                    let ring = &ring;
                    s.spawn(move || {
                        let mut got = Vec::new();
                        while got.len() < PER_THREAD as usize {
                            match ring.pop() {
                                Ok(r) => got.push(r.metadata().queue_id()),
                                Err(_) => std::thread::yield_now(),
                            }
                        }
                        got
                    })
                })
                .collect();
            poppers.into_iter().map(|p| p.join().unwrap()).collect()
        });
        let mut all: Vec<u32> = taken.concat();
        // Each popper sees each pusher's tasks in the order they were pushed.
        for got in &taken {
            for t in 0..2 {
                let mine: Vec<u32> = got
                    .iter()
                    .copied()
                    .filter(|&n| n / PER_THREAD == t)
                    .collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "out of order");
            }
        }
        all.sort_unstable();
        assert_eq!(all, (0..2 * PER_THREAD).collect::<Vec<_>>());
        assert!(ring.is_empty());
    }
}
