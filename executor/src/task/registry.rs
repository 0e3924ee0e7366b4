//! The registry of live tasks, so shutdown can reach tasks that nothing will wake again.
//!
//! Every spawned task keeps one waker here from spawn until its future is dropped (it completed,
//! was cancelled, or the runtime shut down). Shutdown closes the registry, then wakes every
//! registered waker: each task is then scheduled, and the scheduler, seeing the runtime shut
//! down, hands it to shutdown to cancel. A task of a closed registry is cancelled at its next
//! turn whoever runs it (even a worker that took it from a queue just before shutdown began),
//! so no task's future is polled once the registry is closed.
//!
//! The registry is sharded, [`SPREAD`] shards per core plus [`SPREAD`] for spawns from outside
//! the runtime. A spawning thread rotates through its shards, so a core that completes tasks
//! another core spawned rarely takes the lock the spawner holds.

use std::task::Waker;

use slab::Slab;

use crate::sync::{lock, AtomicBool, Mutex, Ordering};

/// Shards per spawning core.
const SPREAD: usize = 4;

// Every shard index fits in a `Slot`.
const _: () = assert!((crate::runtime::MAX_CORES + 1) * SPREAD <= u16::MAX as usize + 1);

/// Live tasks' wakers, sharded.
#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[Mutex<Slab<Waker>>]>,
    /// Set once shutdown begins: the tasks in the registry are cancelled instead of polled.
    closed: AtomicBool,
}

/// Where a task's waker sits in the registry: six bytes, aligned to 2, so that a task's
/// future wrapper packs a small future (or its niche) into the word the slot shares.
#[derive(Clone, Copy, Debug, Default)]
#[repr(Rust, packed(2))]
pub(crate) struct Slot {
    key: u32,
    shard: u16,
}

impl Registry {
    /// A registry for `spawners` spawning places (the cores, and the outside).
    pub(crate) fn new(spawners: usize) -> Registry {
        Registry {
            shards: (0..spawners.max(1) * SPREAD)
                .map(|_| Mutex::new(Slab::new()))
                .collect(),
            closed: AtomicBool::new(false),
        }
    }

    /// Closes the registry: from now on its tasks are cancelled instead of polled. The caller
    /// then wakes every registered task, so each one takes a last turn.
    pub(crate) fn close(&self) {
        // SeqCst: a waker's wake that finds the task already scheduled publishes the state
        // (async-task's state word, AcqRel) with this store before it, so the run it leaves
        // to the worker that holds the task sees the flag in `is_closed`.
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown closed the registry.
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the SeqCst store in `close` (through the task's state word when
        // the closing thread's wake found the task already scheduled).
        self.closed.load(Ordering::Acquire)
    }

    /// Reserves a slot in one of spawning place `spawner`'s shards, lets `make` build the task
    /// that will own it, and stores the waker `make` returns there.
    pub(crate) fn insert<R>(&self, spawner: usize, make: impl FnOnce(Slot) -> (R, Waker)) -> R {
        let shard_index = (spawner * SPREAD + next_turn()) % self.shards.len();
        let mut slab = lock(&self.shards[shard_index]);
        let entry = slab.vacant_entry();
        let slot = Slot {
            key: u32::try_from(entry.key()).expect("fewer than 2^32 live tasks per shard"),
            // At most `SPREAD` shards per core plus `SPREAD`, and `MAX_CORES` cores.
            shard: u16::try_from(shard_index).expect("shard index fits in u16"),
        };
        let (out, waker) = make(slot);
        entry.insert(waker);
        out
    }

    /// Removes a task's waker (its future is being dropped).
    pub(crate) fn remove(&self, slot: Slot) {
        let Slot { key, shard } = slot;
        let waker = lock(&self.shards[usize::from(shard)]).try_remove(key as usize);
        // Dropped after the lock is released: dropping a waker may free the task.
        drop(waker);
    }

    /// Clones every registered waker. Entries stay until their tasks' futures are dropped, so
    /// a slot is never reused while its task is alive.
    pub(crate) fn wakers(&self) -> Vec<Waker> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(lock(shard).iter().map(|(_, waker)| waker.clone()));
        }
        all
    }

    /// The number of live tasks (loom models check that shutdown leaves none).
    #[cfg(all(test, loom))]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }
}

/// This thread's next turn through its spawning place's shards.
///
/// Loom models always use the first shard: std thread-locals outlive a model's iterations,
/// which must all make the same choices.
#[cfg(loom)]
fn next_turn() -> usize {
    0
}

/// This thread's next turn through its spawning place's shards.
#[cfg(not(loom))]
fn next_turn() -> usize {
    use std::cell::Cell;
    thread_local! {
        static TURN: Cell<usize> = const { Cell::new(0) };
    }
    TURN.with(|turn| {
        let t = turn.get();
        turn.set(t.wrapping_add(1));
        t % SPREAD
    })
}
