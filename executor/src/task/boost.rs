//! Priority inheritance, the tasks' half: who awaits as `High`, and the raise of what it awaits.
//!
//! A task's class is read from its metadata word each time a worker takes it to run, once
//! classes are in use (the worker counts it for the `High` burst anyway), and the worker marks
//! its thread as polling a `High` task, or not, before the poll ([`mark_polling`]). Before any
//! class other than `Normal` is used, nothing marks anything. A
//! [`JoinHandle`](super::JoinHandle) whose task has not finished, polled while the mark is set,
//! raises its task ([`raise`]); so does a work queue's flush for the tasks it waits for (the
//! queue's live tasks, or an ordered queue's runner: see `workqueue::live`). A
//! raised task is run as `High` from then on, so what it awaits is raised in turn; so are the
//! tasks an ordered queue's runner runs inline in its poll, and those of a `LocalSet` a `High`
//! task drives.
//!
//! Queued tasks move to the `High` queues by the cores' sweep (`core::boost`).

use crate::context;
use crate::queue::{Priority, TaskMeta};

/// Marks this thread as running a task of class `priority` (a worker, once classes are used).
pub(crate) fn mark_polling(priority: Priority) {
    context::with(|cx| cx.polling_high.set(priority == Priority::High));
}

/// Whether the task being polled on this thread is `High` (its waits raise what they await).
pub(crate) fn awaiter_is_high() -> bool {
    context::with(|cx| cx.polling_high.get())
}

/// Raises the task of `meta` to `High` for the rest of its life, and has the cores move it out
/// of a lower queue it may be waiting in.
#[cold]
#[inline(never)]
pub(crate) fn raise(meta: &TaskMeta) {
    if meta.raise() {
        crate::core::boost::request_sweep();
    }
}
