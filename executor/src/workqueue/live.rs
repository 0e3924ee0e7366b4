//! The metadata of a work queue's live tasks, so that a flush awaited by a `High` task can
//! raise every task it waits for: those the queue holds back, and those it already admitted,
//! wherever they are (queued on a core, running, or waiting for a wake-up).
//!
//! A slab under the queue's state lock: each task of a queue that is not ordered gets an entry
//! at its spawn (the entry's index is known before the task is allocated, so its wrapper keeps
//! it) and frees it when its future is dropped. Both happen under the lock the spawn and the
//! finish take anyway: no atomic, no allocation but the slab's own growth, a few tens of
//! instructions per task. An ordered queue's tasks are not kept here: they run inside its
//! runner, which a flush raises instead (see [`super::runner`]).

use std::ptr::NonNull;

use crate::queue::TaskMeta;

/// The generation of a delayed task whose delay has not expired: no flush waits for it.
const PENDING: u64 = u64::MAX;

/// A task's index in its queue's [`LiveTasks`], which its wrapper keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LiveId(u32);

impl LiveId {
    /// The id of a task not kept in a slab (an ordered queue's).
    pub(super) const NONE: LiveId = LiveId(u32::MAX);
}

/// A live task: where its metadata lies, and the generation it counts in.
struct Live {
    /// Points into the header of the task's allocation (see [`LiveTasks::raise_until`]).
    meta: NonNull<TaskMeta>,
    generation: u64,
}

impl Live {
    /// Raises the task to `High`; returns whether it was lower. Called under the state lock.
    fn raise(&self) -> bool {
        // SAFETY: an entry is filled from the task's allocation to the drop of its future,
        // which frees it under the state lock the caller holds, before async-task can free the
        // allocation (it drops a task's future first); the metadata lies in the allocation's
        // header, which does not move.
        unsafe { self.meta.as_ref() }.raise()
    }
}

/// The live tasks of a queue that is not ordered.
#[derive(Default)]
pub(super) struct LiveTasks {
    entries: Vec<Option<Live>>,
    /// Indices of the free entries.
    free: Vec<u32>,
}

// SAFETY: `TaskMeta` is `Sync` (atomics, and fields never written after the spawn); the
// pointers are only dereferenced under the queue's state lock, while their tasks' futures are
// alive (see `LiveTasks::raise_until`), from whichever thread holds the lock.
unsafe impl Send for LiveTasks {}

impl LiveTasks {
    /// A id for a task about to be allocated, filled by [`LiveTasks::fill`] once it is.
    pub(super) fn reserve(&mut self) -> LiveId {
        if let Some(index) = self.free.pop() {
            return LiveId(index);
        }
        let index = u32::try_from(self.entries.len())
            .ok()
            .filter(|&i| i != LiveId::NONE.0)
            .expect("fewer than 2^32 - 1 live tasks in one work queue");
        self.entries.push(None);
        LiveId(index)
    }

    /// Fills entry `id` with the task of `meta`, counted in `generation` (`None`: a delayed task
    /// whose delay has not expired, see [`LiveTasks::count`]).
    ///
    /// The task's future must free the id ([`LiveTasks::free`]) under the same lock as it
    /// is dropped, before its allocation can be freed.
    pub(super) fn fill(&mut self, id: LiveId, meta: &TaskMeta, generation: Option<u64>) {
        self.entries[id.0 as usize] = Some(Live {
            meta: NonNull::from(meta),
            generation: generation.unwrap_or(PENDING),
        });
    }

    /// A delayed task's delay expired: it counts in `generation`.
    pub(super) fn count(&mut self, id: LiveId, generation: u64) {
        if let Some(Some(live)) = self.entries.get_mut(id.0 as usize) {
            live.generation = generation;
        }
    }

    /// The task of entry `id` is gone (its future is being dropped).
    pub(super) fn free(&mut self, id: LiveId) {
        if id == LiveId::NONE {
            return;
        }
        self.entries[id.0 as usize] = None;
        self.free.push(id.0);
    }

    /// Raises to `High` every task that counts in generation `target` or earlier; returns
    /// whether any was lower.
    pub(super) fn raise_until(&self, target: u64) -> bool {
        let mut raised = false;
        for live in self.entries.iter().flatten() {
            if live.generation <= target {
                raised |= live.raise();
            }
        }
        raised
    }

    /// Raises the task of entry `id` to `High`; returns whether it was lower.
    pub(super) fn raise(&self, id: LiveId) -> bool {
        self.entries
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .is_some_and(Live::raise)
    }

    /// Entries in use (for tests).
    #[cfg(all(test, not(loom)))]
    fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::queue::Priority;
    use std::panic::Location;

    fn meta() -> TaskMeta {
        TaskMeta::new(None, Priority::Normal, Location::caller(), None, 0)
    }

    #[test]
    fn a_flush_raises_the_tasks_of_its_generations_only() {
        let (old, current, delayed) = (meta(), meta(), meta());
        let mut live = LiveTasks::default();
        let ids: Vec<_> = (0..3).map(|_| live.reserve()).collect();
        live.fill(ids[0], &old, Some(0));
        live.fill(ids[1], &current, Some(1));
        live.fill(ids[2], &delayed, None);
        assert!(live.raise_until(0));
        assert_eq!(old.priority(), Priority::High);
        assert_eq!(current.priority(), Priority::Normal);
        assert_eq!(delayed.priority(), Priority::Normal, "a pending delay");
        assert!(!live.raise_until(0), "raised once");
        // The delayed task becomes due in generation 0: a flush of 0 waits for it now.
        live.count(ids[2], 0);
        assert!(live.raise_until(0));
        assert_eq!(delayed.priority(), Priority::High);
        assert_eq!(current.priority(), Priority::Normal);
    }

    #[test]
    fn freed_entries_are_reused() {
        let (a, b) = (meta(), meta());
        let mut live = LiveTasks::default();
        let first = live.reserve();
        live.fill(first, &a, Some(0));
        live.free(first);
        let second = live.reserve();
        assert_eq!(first, second);
        live.fill(second, &b, Some(0));
        assert_eq!(live.len(), 1);
        assert!(live.raise_until(0));
        assert_eq!(a.priority(), Priority::Normal, "a freed id raises nothing");
        assert_eq!(b.priority(), Priority::High);
        live.free(LiveId::NONE);
        assert_eq!(live.len(), 1);
    }
}
