//! Threads turned away by a taken seat, waiting to be told that it was vacated (the *stand by*
//! and *never strand the reactor* steps of the protocol in the [module docs](super)).
//!
//! An entry is a `Waker` and who registered it. Registering re-checks the seat after a
//! `SeqCst` fence, and leaving the seat checks the list's length after one, so either the
//! registering thread sees the seat free (and retries at once) or the leaving thread sees the
//! entry (and wakes it): a vacancy is never missed.

use std::task::Waker;

use super::seat::Sitter;
use crate::sync::{lock, AtomicUsize, Mutex, Ordering};

/// Whether two wakers wake the same parker: the same data pointer (each parker is its own
/// allocation). `Waker::will_wake` also compares the vtables, and those can differ for one
/// waker type instantiated in two codegen units, which would leave a stale entry behind.
fn same_task(a: &Waker, b: &Waker) -> bool {
    std::ptr::eq(a.data(), b.data())
}

/// The standby list.
#[derive(Debug, Default)]
pub(super) struct Standby {
    /// `entries.len()`, readable without the lock (only written under it).
    len: AtomicUsize,
    /// Waiting threads, oldest first.
    entries: Mutex<Vec<(Sitter, Waker)>>,
}

impl Standby {
    /// Registers `waker`, to be woken when the seat is vacated.
    pub(super) fn push(&self, sitter: Sitter, waker: &Waker) {
        let mut entries = lock(&self.entries);
        entries.push((sitter, waker.clone()));
        // Relaxed: read after a fence by `is_empty`'s callers; see the module docs.
        self.len.store(entries.len(), Ordering::Relaxed);
    }

    /// Removes the entries whose waker wakes the same task as `waker`; false if there were
    /// none (a [`kick`](Standby::kick) took it).
    pub(super) fn remove(&self, waker: &Waker) -> bool {
        let mut entries = lock(&self.entries);
        let before = entries.len();
        entries.retain(|(_, w)| !same_task(w, waker));
        self.len.store(entries.len(), Ordering::Relaxed);
        entries.len() < before
    }

    /// Whether an entry wakes the same task as `waker`.
    #[cfg(all(test, not(loom)))]
    pub(super) fn contains(&self, waker: &Waker) -> bool {
        lock(&self.entries).iter().any(|(_, w)| same_task(w, waker))
    }

    /// Whether the list is empty; the caller issues the `SeqCst` fence that orders this load
    /// after its seat release.
    pub(super) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }

    /// Wakes the oldest worker entry, or, if `any`, the oldest entry of either kind.
    pub(super) fn kick(&self, any: bool) {
        let waker = {
            let mut entries = lock(&self.entries);
            let index = entries
                .iter()
                .position(|(sitter, _)| *sitter == Sitter::Worker)
                .or(if any && !entries.is_empty() {
                    Some(0)
                } else {
                    None
                });
            let waker = index.map(|i| entries.remove(i).1);
            self.len.store(entries.len(), Ordering::Relaxed);
            waker
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as Count;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(Count);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn workers_are_kicked_first_and_block_on_threads_only_when_asked() {
        let standby = Standby::default();
        let worker = Arc::new(Flag(Count::new(0)));
        let block_on = Arc::new(Flag(Count::new(0)));
        standby.push(Sitter::BlockOn, &Waker::from(block_on.clone()));
        standby.push(Sitter::Worker, &Waker::from(worker.clone()));
        standby.kick(false);
        assert_eq!(worker.0.load(Ordering::SeqCst), 1);
        standby.kick(false);
        assert_eq!(
            block_on.0.load(Ordering::SeqCst),
            0,
            "only workers without `any`"
        );
        assert!(!standby.is_empty());
        standby.kick(true);
        assert_eq!(block_on.0.load(Ordering::SeqCst), 1);
        assert!(standby.is_empty());
    }

    #[test]
    fn removed_entries_are_not_kicked() {
        let standby = Standby::default();
        let worker = Arc::new(Flag(Count::new(0)));
        let waker = Waker::from(worker.clone());
        standby.push(Sitter::Worker, &waker);
        standby.remove(&waker);
        assert!(standby.is_empty());
        standby.kick(true);
        assert_eq!(worker.0.load(Ordering::SeqCst), 0);
    }
}
