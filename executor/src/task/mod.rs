//! Tasks: allocation and wakers (async-task), panic capture, the live-task registry, join
//! handles and cooperative yielding.

mod id;
mod join;
mod registry;
mod yield_now;

pub use id::TaskId;
pub use join::{JoinError, JoinHandle};
pub(crate) use registry::Registry;
pub use yield_now::{yield_now, YieldNow};

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_task::{Builder, ScheduleInfo, WithInfo};

use crate::queue::{Priority, Runnable, TaskMeta};
use crate::sync::Arc;
use registry::Slot;

/// A panic payload caught from a task.
pub(crate) type Panic = Box<dyn Any + Send + 'static>;

/// What a task's future resolves to inside the task: its value, or the panic it raised.
pub(crate) type TaskOutput<T> = Result<T, Panic>;

/// Wraps a task's future: catches panics so a worker survives them, and leaves the registry
/// (if it is in it) when the future is dropped.
struct TaskFuture<F> {
    future: F,
    registered: Option<(Arc<Registry>, Slot)>,
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = TaskOutput<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self`, and
        // `TaskFuture` has no `Unpin` impl that would allow moving it while pinned.
        let future = unsafe { self.map_unchecked_mut(|this| &mut this.future) };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

impl<F> Drop for TaskFuture<F> {
    fn drop(&mut self) {
        if let Some((registry, slot)) = &self.registered {
            registry.remove(*slot);
        }
    }
}

/// Allocates a task for `future` and returns its first `Runnable` (not yet scheduled) with its
/// handle. With `registry` (the registry and a spawner's shard), the task is registered there
/// until its future is dropped; without, shutdown does not reach it, so its owner must (a work
/// queue's ordered runner cancels the tasks it holds and runs).
///
/// `schedule` is called each time the task is woken; `pin` records the core it must run on,
/// `priority` its class, and `queue` the name of the work queue it belongs to, if any (its
/// handle's errors name it).
pub(crate) fn spawn<F, S>(
    future: F,
    pin: Option<usize>,
    priority: Priority,
    registry: Option<(&Arc<Registry>, usize)>,
    queue: Option<&std::sync::Arc<str>>,
    schedule: S,
) -> (Runnable, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Fn(Runnable, ScheduleInfo) + Send + Sync + 'static,
{
    let allocate = move |registered| {
        let wrapped = TaskFuture { future, registered };
        let (runnable, task) = Builder::new()
            .metadata(TaskMeta::new(pin, priority))
            .spawn(move |_| wrapped, WithInfo(schedule));
        let handle = JoinHandle::new(task, runnable.waker(), TaskId::next(), queue.cloned());
        (runnable, handle)
    };
    match registry {
        None => allocate(None),
        Some((registry, shard)) => registry.insert(shard, |slot| {
            let (runnable, handle) = allocate(Some((Arc::clone(registry), slot)));
            let waker = runnable.waker();
            ((runnable, handle), waker)
        }),
    }
}
