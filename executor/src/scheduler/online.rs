//! Resizing: cores that go offline and come back ([`Handle::set_cores`](crate::Handle::set_cores)).
//!
//! # Cores that go offline and come back
//!
//! [`Handle::set_cores`](crate::Handle::set_cores) keeps a prefix of the cores online: cores
//! `0..n` take work, the others are offline. Nothing is lost or run twice:
//!
//! 1. **Pinned tasks.** A task pinned to core `k` goes to core `k % n` (`k` itself while it is
//!    online). After pushing it the scheduler issues `fence(SeqCst)` (the one in
//!    `Core::notify`) and reads `n` again; if its core went offline meanwhile it moves the
//!    core's tasks on itself ([`Shared::evacuate`]). The resizer stores the new `n`, issues
//!    the same fence and then evacuates the cores it took offline, so one of the two sees the
//!    task.
//! 2. **Tasks scheduled on a worker of an offline core** (its last poll, or a section) go to the
//!    injector; a race with the resize is closed as for *pinned tasks* (`notify_here`). A task the
//!    polling worker put in its own next-task slot is that worker's to move.
//! 3. **The offline core's workers** finish their polls and sections; at the next poll boundary the
//!    worker holding the baton evacuates the core's queues (the next-task slot, the local, pinned
//!    and class queues: unpinned tasks to the injectors, pinned ones as *pinned tasks* say) and
//!    parks. It stays a parked spare of its core, which no sibling wake, spare refill or detection
//!    visits until the core is online again. Its workers never search other cores, but online cores
//!    still steal from its stealable queues, so a task a straggler left there is never stranded.
//! 4. **A core coming online** gets one of its spares woken to search at once; from then on it
//!    takes pinned tasks and wakes like any core.

use super::placement::Place;
use super::{core_queues, Shared};
use crate::park::WakeFor;
use crate::sync::{fence, lock, Ordering};

impl Shared {
    /// How many cores are online: cores `0..online()` take work.
    pub(crate) fn online(&self) -> usize {
        // Acquire: pairs with the SeqCst store in `set_online`. A stale count is corrected by
        // the fence handshake of the module docs, not by this load.
        self.online.load(Ordering::Acquire)
    }

    /// Whether core `core` is online.
    pub(crate) fn is_online(&self, core: usize) -> bool {
        core < self.online()
    }

    /// The core that runs tasks pinned to `core` now: `core` itself while it is online, else
    /// `core % online` (see the module docs on cores that go offline).
    pub(super) fn stand_in(&self, core: usize) -> usize {
        let online = self.online();
        // No division on the common path.
        if core < online {
            core
        } else {
            core % online
        }
    }

    /// After a `fence(SeqCst)` that follows a push onto one of `core`'s queues: if the core is
    /// offline, moves its tasks on, since its evacuation may have missed that push.
    pub(super) fn move_if_offline(&self, core: usize) {
        if !self.is_online(core) {
            self.evacuate(core);
        }
    }

    /// Sets how many cores are online (`1..=cores.len()`, checked by the caller): stores the
    /// count, evacuates the cores taken offline and wakes a worker of each core brought
    /// online to search (see the module docs on cores that go offline).
    pub(crate) fn set_online(&self, n: usize) {
        assert!(
            (1..=self.cores.len()).contains(&n),
            "set_online({n}) with {} cores",
            self.cores.len()
        );
        let _resizing = lock(&self.resizing);
        // SeqCst: pairs with the Acquire load in `online`, and takes part in the fence below.
        let before = self.online.swap(n, Ordering::SeqCst);
        // SeqCst: pairs with the fence a scheduler issues after pushing onto a core's queue
        // (`move_if_offline`): either it sees the new count, or the evacuation below sees its
        // task.
        fence(Ordering::SeqCst);
        for core in n..before {
            self.evacuate(core);
            // A worker holding the baton there evacuates what it queues itself, at its next
            // poll boundary; a parked one has nothing to do.
        }
        for core in before..n {
            let core = &self.cores[core];
            self.siblings.start_searching();
            if !core.wake_one(&self.siblings, WakeFor::Search) {
                self.siblings.stop_searching();
                // No spare parked (all in sections, or reaped): it gets one from the monitor.
                self.siblings.bell.ring();
            }
        }
    }

    /// Moves every task queued on core `core` elsewhere, if the core is offline: unpinned ones
    /// to their class's injector, pinned ones to the core that stands in for theirs. Called by
    /// the resizer, by a worker of the core at its poll boundary, and by a scheduler that
    /// raced a resize; concurrent calls share the tasks out, each task being popped once.
    pub(crate) fn evacuate(&self, core: usize) {
        for queue in core_queues(&self.cores[core]) {
            // At most what is there now: a core brought online again meanwhile gets its own
            // pinned tasks back, and popping them again would not end.
            for _ in 0..queue.len() {
                if self.is_online(core) {
                    return;
                }
                let Ok(runnable) = queue.pop() else {
                    break;
                };
                self.schedule(runnable, Place::Anywhere);
            }
        }
    }
}
