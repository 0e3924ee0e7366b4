//! Task ids: unique within the process, handed out without a shared counter on the spawn path.

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// Ids a thread takes from the process-wide counter at a time, so that spawning threads do not
/// bounce one counter's cache line between them.
const BLOCK: u64 = 1024;

/// An opaque id of a task, unique among all the tasks of the process (of every runtime).
///
/// Ids are not ordered by spawn time across threads. The id appears in a [`JoinError`]'s
/// message.
///
/// [`JoinError`]: crate::JoinError
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let a = rt.spawn(async {});
/// let b = rt.spawn(async {});
/// assert_ne!(a.id(), b.id());
/// println!("spawned task {}", a.id());
/// # Ok::<(), baton::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    /// A fresh id.
    pub(crate) fn next() -> TaskId {
        /// The first id of the next block to hand out. Relaxed: ids only need to be unique.
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            /// This thread's next id and the end of its block.
            static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        RANGE.with(|range| {
            let (mut next, mut end) = range.get();
            if next == end {
                next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
                end = next + BLOCK;
            }
            range.set((next + 1, end));
            TaskId(NonZeroU64::new(next).expect("task ids start at 1 and never wrap"))
        })
    }

    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let task = rt.spawn(async {});
    /// assert!(task.id().as_u64() > 0);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
