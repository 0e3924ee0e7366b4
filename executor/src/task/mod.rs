//! Tasks: spawning with a name ([`Builder`]), join handles, sets of tasks ([`JoinSet`]), tasks
//! that are not `Send` ([`LocalSet`], [`spawn_local`]), task ids and cooperative yielding.
//!
//! Inside the crate, this module also allocates tasks and their wakers (async-task), catches
//! their panics, cancels them, and keeps the registry of live tasks.
//!
//! # How a task's future is dropped
//!
//! A task's future is always dropped in place, inside `catch_unwind`, by `TaskFuture`: a
//! destructor that panics never unwinds into async-task (which aborts the process on a panic
//! while it drops a future) nor into a worker.
//!
//! - **Completed**: right after the poll that returned `Ready`. If the drop panics, the handle
//!   reports that panic instead of the value (which is dropped).
//! - **Panicked**: right after the poll's panic was caught, on the same thread: the runtime
//!   does not drop the future while the thread unwinds, so `std::thread::panicking()` is false
//!   in its destructors, and a destructor that panics too cannot abort the process. The handle
//!   reports the poll's panic; a second panic from the drop is discarded. (The language itself
//!   drops, while the panic unwinds, the values an `async` block keeps across an `.await`: a
//!   destructor of one of those that panics aborts the process before any runtime can step in.
//!   A hand-written future's fields are dropped by the runtime, as above.)
//! - **Cancelled** (aborted, or reached by the runtime's shutdown): by `cancel`, which runs
//!   the task one last time so that its poll drops the future instead of polling it. The
//!   handle reports cancellation, or the drop's panic.
//! - Anything else that drops a task's `Runnable` unpolled drops the future through async-task,
//!   still inside `catch_unwind` (the handle reports cancellation, the drop's panic is
//!   discarded).

pub(crate) mod boost;
mod builder;
mod id;
mod join;
mod join_set;
pub(crate) mod large;
mod local;
mod quiet;
mod registry;
mod yield_now;

pub(crate) use builder::spawn_current;
pub use builder::Builder;
pub use id::TaskId;
pub use join::{JoinError, JoinHandle};
pub use join_set::JoinSet;
pub use local::{spawn_local, LocalSet, RunUntil};
use quiet::drop_quietly;
pub(crate) use quiet::{wake_quietly, QuietWaker};
pub(crate) use registry::Registry;
pub use yield_now::{yield_now, YieldNow};

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_task::{ScheduleInfo, WithInfo};

use crate::queue::{Name, Priority, Runnable, TaskMeta};
use crate::sync::Arc;
use crate::trace::TaskSpan;
use registry::Slot;

/// A panic payload caught from a task.
pub(crate) type Panic = Box<dyn Any + Send + 'static>;

/// Why a task produced no value.
pub(crate) enum Failure {
    /// Its poll panicked (or its future panicked while dropped after it completed).
    Panicked(Panic),
    /// It was cancelled, and its future panicked while dropped.
    PanickedWhileCancelled(Panic),
    /// It was cancelled.
    Cancelled,
}

/// What a task's future resolves to inside the task: its value, or why there is none.
///
/// async-task drops a task's outcome itself when nobody takes it (the task was detached, or
/// its handle dropped unawaited), and aborts the process if that drop panics; so dropping an
/// outcome here catches a panic of the value's destructor (or of a panic payload's) instead.
pub(crate) struct TaskOutput<T>(Option<Result<T, Failure>>);

impl<T> TaskOutput<T> {
    fn new(outcome: Result<T, Failure>) -> TaskOutput<T> {
        TaskOutput(Some(outcome))
    }

    /// The outcome, for the task's handle.
    pub(crate) fn into_inner(mut self) -> Result<T, Failure> {
        self.0
            .take()
            .expect("a task's outcome is taken once, by its handle")
    }
}

impl<T> Drop for TaskOutput<T> {
    fn drop(&mut self) {
        match self.0.take() {
            // A value with no destructor: nothing can panic (a detached task's usual outcome).
            Some(Ok(value)) if !std::mem::needs_drop::<T>() => std::mem::forget(value),
            Some(outcome) => drop_quietly(outcome),
            None => {}
        }
    }
}

thread_local! {
    /// Set by [`cancel`] around the run of the task it cancels; taken by that task's poll.
    static CANCELLING: Cell<bool> = const { Cell::new(false) };
}

/// Cancels a task on this thread: runs it one last time, and its poll drops its future (in
/// place, catching a panic) instead of polling it. Its handle reports cancellation, or the
/// drop's panic. A task whose future is already gone is just released.
pub(crate) fn cancel(runnable: Runnable) {
    CANCELLING.with(|c| c.set(true));
    runnable.run();
    // A task already completed or closed is not polled: the flag is still set.
    CANCELLING.with(|c| c.set(false));
}

pin_project_lite::pin_project! {
    /// Wraps a task's future: catches the panics of its poll and of its drop (see the module
    /// docs), cancels it when asked, and leaves the registry (if it is in it) once the future is
    /// dropped.
    struct TaskFuture<F> {
        // `None` once dropped, in place, by `drop_future`. (An `Option` rather than a flag: it
        // usually fits in a niche of the future's own state, so it costs no memory.)
        #[pin]
        future: Option<F>,
        // The registry the task is in, if any, until the future is dropped.
        registered: Option<Arc<Registry>>,
        // Where in `registered` (meaningless when that is `None`). Apart from the registry so
        // that a small future packs into the same word (six bytes, aligned to 2; see `Slot`).
        slot: Slot,
        // The task's metadata, in the header of the allocation this future lives in: each poll
        // reads its abort flag (see `cancel_requested`). Null until the task is allocated.
        meta: MetaRef,
    }

    impl<F> PinnedDrop for TaskFuture<F> {
        /// Dropped unpolled (its `Runnable` was dropped), or after it completed (then there is
        /// nothing left to drop but the registry entry).
        fn drop(this: Pin<&mut Self>) {
            if let Err(panic) = this.drop_future() {
                drop_quietly(panic);
            }
        }
    }
}

/// A pointer to a task's [`TaskMeta`], kept by the task's own future.
struct MetaRef(*const TaskMeta);

// SAFETY: `TaskMeta` is `Sync` (atomics and fields never written after the spawn), so sharing a
// pointer to it between threads is sound; the pointer is only dereferenced while the future
// that holds it is alive (see `MetaRef::get`).
unsafe impl Send for MetaRef {}
// SAFETY: as for `Send`.
unsafe impl Sync for MetaRef {}

impl MetaRef {
    /// The metadata, if the task was allocated.
    fn get(&self) -> Option<&TaskMeta> {
        // SAFETY: the pointer is null or was taken from the `&TaskMeta` that async-task passes
        // when it allocates the task, which points into the task's header, pinned there for
        // the allocation's whole life. This future lives in the same allocation and async-task
        // drops it before it drops the header, so the metadata outlives every use here.
        unsafe { self.0.as_ref() }
    }
}

pin_project_lite::pin_project! {
    /// A task's future with its span, entered for each poll and closed after the future is
    /// gone (zero-sized without the `tracing` feature).
    struct Traced<F> {
        #[pin]
        task: TaskFuture<F>,
        span: TaskSpan,
    }
}

impl<F> Traced<F> {
    /// The future, told where its task's metadata lies (async-task's header, see [`MetaRef`]).
    fn with_meta(mut self, meta: &TaskMeta) -> Traced<F> {
        self.task.meta = MetaRef(meta);
        self
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = TaskOutput<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let task = this.task;
        this.span.in_span(|| task.poll(cx))
    }
}

impl<F> TaskFuture<F> {
    /// Drops the future in place (once), catching a panic of its destructor, then leaves the
    /// registry: shutdown finds every task whose future is still alive there.
    fn drop_future(self: Pin<&mut Self>) -> Result<(), Panic> {
        let mut this = self.project();
        let result = if this.future.is_some() {
            // `Pin::set` drops the future where it lies, then writes `None` there. Should the
            // future's destructor panic, `None` is written all the same as the panic unwinds
            // (an assignment's new value reaches its place on both paths: safe code may read
            // the place once the panic is caught), so the future is never dropped twice.
            catch_unwind(AssertUnwindSafe(|| this.future.set(None)))
        } else {
            Ok(())
        };
        if let Some(registry) = this.registered.take() {
            registry.remove(*this.slot);
        }
        result
    }

    /// Whether this task must be cancelled instead of polled: [`cancel`] runs it, its handle
    /// asked for it, or it is registered with a runtime that is shutting down.
    ///
    /// The abort is looked for here, inside the poll, and nowhere before it: a look before
    /// `Runnable::run` could miss an abort landing between the look and the poll, whose
    /// wake-up finds the task still scheduled and changes nothing. Here, async-task's state
    /// word orders the two: the abort's flag is set before its wake-up's update of that word,
    /// which the run's own update acquires, or the wake-up comes after the run began and
    /// schedules the task again.
    fn cancel_requested(&self) -> bool {
        CANCELLING.with(|c| c.replace(false))
            || self.meta.get().is_some_and(TaskMeta::is_aborted)
            || self
                .registered
                .as_ref()
                .is_some_and(|registry| registry.is_closed())
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = TaskOutput<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.cancel_requested() {
            return Poll::Ready(TaskOutput::new(Err(match self.drop_future() {
                Ok(()) => Failure::Cancelled,
                Err(panic) => Failure::PanickedWhileCancelled(panic),
            })));
        }
        let future = self
            .as_mut()
            .project()
            .future
            .as_pin_mut()
            .expect("async-task polls a task's future only while it is alive");
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(TaskOutput::new(match self.drop_future() {
                Ok(()) => Ok(value),
                Err(panic) => {
                    drop_quietly(value);
                    Err(Failure::Panicked(panic))
                }
            })),
            Err(panic) => {
                if let Err(second) = self.drop_future() {
                    drop_quietly(second);
                }
                Poll::Ready(TaskOutput::new(Err(Failure::Panicked(panic))))
            }
        }
    }
}

/// What a task is spawned with, besides its future.
#[derive(Debug)]
pub(crate) struct Spawn<'a> {
    /// The core it must run on, if any.
    pub(crate) pin: Option<usize>,
    /// Its priority class.
    pub(crate) priority: Priority,
    /// The name of the work queue it belongs to, if any (its handle's errors name it).
    pub(crate) queue: Option<&'a std::sync::Arc<str>>,
    /// The id its work queue marks it with ([`TaskMeta::queue_id`]), or 0.
    pub(crate) queue_id: u32,
    /// Where it was spawned.
    pub(crate) site: &'static std::panic::Location<'static>,
    /// Its name, if it was given one.
    pub(crate) name: Option<Name>,
}

impl Spawn<'_> {
    /// A `Normal` task with no pin, queue, mark or name, spawned at `site`.
    pub(crate) fn at(site: &'static std::panic::Location<'static>) -> Spawn<'static> {
        Spawn {
            pin: None,
            priority: Priority::Normal,
            queue: None,
            queue_id: 0,
            site,
            name: None,
        }
    }
}

/// Allocates a task for `future` and returns its first `Runnable` (not yet scheduled) with its
/// handle. With `registry` (the registry and a spawner's shard), the task is registered there
/// until its future is dropped; without, shutdown does not reach it, so its owner must (a work
/// queue's ordered runner cancels the tasks it holds and runs).
///
/// `schedule` is called each time the task is woken; `how` says where it may run, its class,
/// queue and mark, spawn site and name.
pub(crate) fn spawn<F, S>(
    future: F,
    how: Spawn<'_>,
    registry: Option<(&Arc<Registry>, usize)>,
    schedule: S,
) -> (Runnable, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Fn(Runnable, ScheduleInfo) + Send + Sync + 'static,
{
    register(registry, move |registered| {
        let (wrapped, meta, task) = Prepared::new(future, how, registered);
        let (runnable, raw) = async_task::Builder::new()
            .metadata(meta)
            .spawn(move |meta| wrapped.with_meta(meta), task.schedule(schedule));
        task.finish(runnable, raw)
    })
}

/// [`spawn`] for a future that is not `Send`: its `Runnable` must run (and be dropped, if it
/// is) on this thread only, which async-task checks, panicking otherwise. Only a
/// [`LocalSet`] spawns such tasks, and runs them on its own thread.
pub(crate) fn spawn_local_task<F, S>(
    future: F,
    how: Spawn<'_>,
    registry: Option<(&Arc<Registry>, usize)>,
    schedule: S,
) -> (Runnable, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Fn(Runnable, ScheduleInfo) + Send + Sync + 'static,
{
    register(registry, move |registered| {
        let (wrapped, meta, task) = Prepared::new(future, how, registered);
        let (runnable, raw) = async_task::Builder::new()
            .metadata(meta)
            .spawn_local(move |meta| wrapped.with_meta(meta), task.schedule(schedule));
        task.finish(runnable, raw)
    })
}

/// Runs `allocate` with the task's place in `registry` (if given) and registers the waker of
/// the `Runnable` it returns there.
fn register<R>(
    registry: Option<(&Arc<Registry>, usize)>,
    allocate: impl FnOnce(Option<(Arc<Registry>, Slot)>) -> (Runnable, R),
) -> (Runnable, R) {
    match registry {
        None => allocate(None),
        Some((registry, shard)) => registry.insert(shard, |slot| {
            let (runnable, out) = allocate(Some((Arc::clone(registry), slot)));
            let waker = runnable.waker();
            ((runnable, out), waker)
        }),
    }
}

/// What a task's schedule function and handle need, besides its wrapped future and metadata.
struct Prepared {
    tag: crate::trace::WakeTag,
    id: TaskId,
    queue: Option<std::sync::Arc<str>>,
}

impl Prepared {
    /// Wraps `future` (a new id, its span, its registry entry) and makes the metadata of a
    /// task spawned as `how` says.
    fn new<F>(
        future: F,
        how: Spawn<'_>,
        registered: Option<(Arc<Registry>, Slot)>,
    ) -> (Traced<F>, TaskMeta, Prepared) {
        let Spawn {
            pin,
            priority,
            queue,
            queue_id,
            site,
            name,
        } = how;
        let id = TaskId::next();
        let span = TaskSpan::new(
            name.as_ref().map(Name::as_str),
            queue.map(|q| &**q),
            site,
            id.as_u64(),
        );
        let tag = span.wake_tag();
        let (registered, slot) = registered.unzip();
        let wrapped = Traced {
            task: TaskFuture {
                future: Some(future),
                registered,
                slot: slot.unwrap_or_default(),
                meta: MetaRef(std::ptr::null()),
            },
            span,
        };
        let meta = TaskMeta::new(pin, priority, site, name, queue_id);
        let prepared = Prepared {
            tag,
            id,
            queue: queue.cloned(),
        };
        (wrapped, meta, prepared)
    }

    /// The task's schedule function: reports the wake-up, then calls `schedule`.
    fn schedule<S>(&self, schedule: S) -> WithInfo<impl Fn(Runnable, ScheduleInfo) + Send + Sync>
    where
        S: Fn(Runnable, ScheduleInfo) + Send + Sync + 'static,
    {
        let tag = self.tag;
        WithInfo(move |runnable, info| {
            crate::trace::woken(tag);
            schedule(runnable, info);
        })
    }

    /// The allocated task's first `Runnable`, with its handle.
    fn finish<T>(
        self,
        runnable: Runnable,
        raw: async_task::Task<TaskOutput<T>, TaskMeta>,
    ) -> (Runnable, JoinHandle<T>) {
        let handle = JoinHandle::new(raw, runnable.waker(), self.id, self.queue);
        (runnable, handle)
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
