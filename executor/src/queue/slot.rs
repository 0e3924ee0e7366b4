//! A core's next-task slot ([`TaskSlot`]), and what code that visits every place a core's tasks
//! may wait needs of each ([`TaskQueue`]).

use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering;

use concurrent_queue::{PopError, PushError};

use super::{push_or_spill, Queue, Runnable};
use crate::sync::AtomicPtr;

/// A core's next-task slot: at most one task, put in and taken out with one atomic operation
/// each. Every wake and every spawn from a running task passes through it, and a
/// `ConcurrentQueue` of capacity one would cost a compare-exchange and a store each way.
///
/// The slot owns the task whose pointer ([`Runnable::into_raw`]) it holds: whoever swaps the
/// pointer out owns the task from then on, so each task put in is taken out once.
#[derive(Debug)]
pub(crate) struct TaskSlot {
    /// The task's pointer, or null.
    task: AtomicPtr<()>,
}

impl TaskSlot {
    /// An empty slot.
    pub(crate) fn new() -> TaskSlot {
        TaskSlot {
            task: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Whether the slot holds no task. A task put in as this looks may be missed, as by a take
    /// racing the put: the callers' fences order it where it matters.
    pub(crate) fn is_empty(&self) -> bool {
        // Relaxed: a look; the task itself is acquired by whoever swaps it out.
        self.task.load(Ordering::Relaxed).is_null()
    }

    /// Puts `runnable` in the slot if it is empty; hands it back if not.
    pub(crate) fn push(&self, runnable: Runnable) -> Result<(), PushError<Runnable>> {
        let raw = runnable.into_raw().as_ptr();
        // Release: publishes the task to whoever swaps it out (Acquire).
        match self
            .task
            .compare_exchange(ptr::null_mut(), raw, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            // SAFETY: `raw` came from `into_raw` above and was never published: it is still
            // ours alone.
            Err(_) => Err(PushError::Full(
                unsafe { Self::owned(raw) }.expect("not null"),
            )),
        }
    }

    /// Puts `runnable` in the slot; returns the task it displaced, if any.
    pub(crate) fn replace(&self, runnable: Runnable) -> Option<Runnable> {
        let raw = runnable.into_raw().as_ptr();
        // AcqRel: Release publishes our task, Acquire takes the displaced one.
        let displaced = self.task.swap(raw, Ordering::AcqRel);
        // SAFETY: the swap took `displaced` out of the slot, so nobody else can take it.
        unsafe { Self::owned(displaced) }
    }

    /// Takes the task out of the slot.
    pub(crate) fn pop(&self) -> Result<Runnable, PopError> {
        // Acquire: pairs with the Release of the put.
        let raw = self.task.swap(ptr::null_mut(), Ordering::Acquire);
        // SAFETY: the swap took `raw` out of the slot, so nobody else can take it.
        unsafe { Self::owned(raw) }.ok_or(PopError::Empty)
    }

    /// Takes the task out of the slot if it looks full: a look costs a load, a take on an
    /// empty slot an atomic swap.
    #[inline]
    pub(crate) fn take(&self) -> Option<Runnable> {
        if self.is_empty() {
            None
        } else {
            self.pop().ok()
        }
    }

    /// The task `raw` points to, or `None` for null.
    ///
    /// # Safety
    ///
    /// A non-null `raw` came from [`Runnable::into_raw`] and the caller owns it: it took it out
    /// of the slot (or never put it in), so nobody else turns it back into a task.
    unsafe fn owned(raw: *mut ()) -> Option<Runnable> {
        // SAFETY: the caller's promise: `raw` is a task's pointer that nobody else holds.
        NonNull::new(raw).map(|raw| unsafe { Runnable::from_raw(raw) })
    }
}

impl Drop for TaskSlot {
    fn drop(&mut self) {
        drop(self.pop());
    }
}

/// Puts `runnable` in a core's next-task `slot`. A task already there moves to the back of
/// `queue` (spilling into `overflow`); returns whether that happened, so the caller can tell
/// other cores that the queue has work.
pub(crate) fn put_in_slot(
    slot: &TaskSlot,
    queue: &Queue,
    overflow: &Queue,
    runnable: Runnable,
) -> bool {
    match slot.replace(runnable) {
        None => false,
        Some(displaced) => {
            push_or_spill(queue, overflow, displaced);
            true
        }
    }
}

/// What code that visits every place a core's tasks may wait needs of each: its run queues and
/// its next-task slot alike (see `scheduler::core_queues`).
pub(crate) trait TaskQueue {
    /// Takes the first task.
    fn pop(&self) -> Result<Runnable, PopError>;
    /// How many tasks it holds.
    fn len(&self) -> usize;
    /// Puts back a task taken from it, into `overflow` if it no longer fits.
    fn put_back(&self, runnable: Runnable, overflow: &Queue);
}

impl TaskQueue for Queue {
    fn pop(&self) -> Result<Runnable, PopError> {
        Queue::pop(self)
    }

    fn len(&self) -> usize {
        Queue::len(self)
    }

    fn put_back(&self, runnable: Runnable, overflow: &Queue) {
        push_or_spill(self, overflow, runnable);
    }
}

impl TaskQueue for TaskSlot {
    fn pop(&self) -> Result<Runnable, PopError> {
        TaskSlot::pop(self)
    }

    fn len(&self) -> usize {
        usize::from(!TaskSlot::is_empty(self))
    }

    fn put_back(&self, runnable: Runnable, overflow: &Queue) {
        if let Err(PushError::Full(r) | PushError::Closed(r)) = self.push(runnable) {
            overflow
                .push(r)
                .unwrap_or_else(|_| panic!("baton's injector queue was closed"));
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::queue::{Priority, TaskMeta};
    use std::panic::Location;
    use std::sync::atomic::AtomicU32;

    /// A runnable task numbered `n`, and a flag its future sets when polled (or dropped).
    fn numbered(n: u32) -> (Runnable, std::sync::Arc<std::sync::atomic::AtomicU32>) {
        let seen = std::sync::Arc::new(AtomicU32::new(0));
        let mark = std::sync::Arc::clone(&seen);
        let meta = TaskMeta::new(None, Priority::Normal, Location::caller(), None, n);
        let (runnable, task) = async_task::Builder::new().metadata(meta).spawn(
            move |_| async move { mark.store(1, Ordering::Relaxed) },
            drop,
        );
        task.detach();
        (runnable, seen)
    }

    #[test]
    fn the_next_task_slot_holds_one_task_and_hands_back_the_displaced_one() {
        let slot = TaskSlot::new();
        assert!(slot.is_empty() && slot.take().is_none() && slot.pop().is_err());
        let (first, _) = numbered(1);
        slot.push(first).expect("the slot was empty");
        assert!(!slot.is_empty());
        let (second, _) = numbered(2);
        let Err(PushError::Full(second)) = slot.push(second) else {
            panic!("a full slot took a second task");
        };
        assert_eq!(second.metadata().queue_id(), 2, "handed back intact");
        let displaced = slot.replace(second).expect("the first task was there");
        assert_eq!(displaced.metadata().queue_id(), 1);
        assert_eq!(slot.take().map(|r| r.metadata().queue_id()), Some(2));
        assert!(slot.is_empty() && slot.replace(displaced).is_none());
        assert_eq!(TaskQueue::len(&slot), 1);
    }

    #[test]
    fn a_slot_dropped_full_drops_its_task_unpolled() {
        let (runnable, polled) = numbered(1);
        let slot = TaskSlot::new();
        slot.push(runnable).expect("the slot was empty");
        drop(slot);
        assert_eq!(polled.load(Ordering::Relaxed), 0, "dropped, not polled");
        // The future, which held the other count of the flag, is gone with the task.
        assert_eq!(std::sync::Arc::strong_count(&polled), 1, "the task leaked");
    }
}
