//! Work queues: named front ends over the runtime's cores with their own policy, after the
//! Linux kernel's `alloc_workqueue`: `max_active`, strict ordering, keyed lanes, a priority
//! class, core affinity, delayed tasks, `flush`, `drain` and `close`.
//!
//! This file is the public face ([`WorkQueue`], its spawns and stats); the files beside it, from
//! the bottom up (each imports only files listed before it):
//!
//! - [`live`]: the metadata of the queue's live tasks, which a flush raises (priority
//!   inheritance); [`refusal`]: why a spawn is refused ([`SpawnError`]); [`admission`]: the pure
//!   state machine deciding which task may start, and the flush generations; [`counters`]: the
//!   counters kept outside the state lock; [`rescuer`]: the thread reserved for a queue built
//!   with [`rescuer()`](WorkQueueBuilder::rescuer), which runs its tasks on starved cores.
//! - [`held`]: a task the queue holds back until admission lets it start, and how it is
//!   submitted then; [`line`](mod@line): an ordered queue's line of tasks and its runner's
//!   record; [`placement`]: where the queue's tasks are placed.
//! - [`state`]: the queue's mutable state under its one lock (the locking and counting rules).
//! - [`inner`]: what the queue's handles and tasks share, and its operations (a task finishing,
//!   waits, raises, reports, shutdown).
//! - [`marks`]: what a poll of a queue's task leaves on its thread.
//! - [`runner`]: an ordered queue's runner, which runs its tasks one after another, inline,
//!   and what each task tells it through its thread; [`task`]: the future wrapped around each
//!   task (a task's life in a queue).
//! - [`spawn`]: accepting a task, building it and an ordered queue's runner over the state.
//! - [`builder`]: settings, validation, errors; [`flush`]: `flush`, `drain` and `close`. Both
//!   name [`WorkQueue`], defined here: a parent and its builder and methods.
//!
//! # How a queue holds tasks back
//!
//! A queue task is allocated at once (its [`JoinHandle`] is returned at once) but its first
//! `Runnable` is kept by the queue until admission lets it start; then it is submitted to the
//! runtime like any spawned task, with the queue's class and core pin. Nothing polls a task
//! that waits for its turn: it costs a queue entry, no wake-ups. A task's place is freed when
//! async-task drops its future: after it completed, panicked, or was cancelled. So an ordered
//! task that blocks in a section keeps its turn while its core goes on with other work.
//!
//! A task admitted because the task being polled finished goes to the core's next-task slot and
//! runs right after, like a chained wake; a task admitted at its spawn is placed like any new
//! task (the next-task slot if it is free and the spawner is a task on a worker, else the back
//! of the queue).
//!
//! An ordered queue's tasks are never submitted: one runner task per busy queue takes its line
//! and runs their `Runnable`s inline, one at a time, like a channel's consumer, while each
//! task keeps its own handle (see [`runner`]). The runner is placed like a new task.
//!
//! [`spawn`](crate::spawn) is the runtime's default queue: no `max_active`, no order, `Normal`
//! class, [`Affinity::Local`]. The priority class is stored in each task's metadata; the cores
//! serve the classes (see [`Priority`](crate::Priority)).
//!
//! # Keys
//!
//! `spawn_keyed(key, ..)` hashes the key to a `u64` (std's `DefaultHasher`): tasks with equal
//! hashes share a lane. Two distinct keys whose hashes collide run one at a time, which is
//! safe, only less concurrent.

mod admission;
mod builder;
mod counters;
mod flush;
mod held;
mod inner;
mod line;
mod live;
mod marks;
mod placement;
mod refusal;
mod rescuer;
mod runner;
mod spawn;
mod state;
mod task;

pub use builder::{Affinity, QueueBuildError, WorkQueueBuilder};
pub use builder::{DEFAULT_MAX_ACTIVE, MAX_ACTIVE_LIMIT};
pub use refusal::SpawnError;

#[cfg(all(test, loom))]
pub(crate) use admission::{Admission, Generations};
#[cfg(all(test, loom))]
pub(crate) use inner::wait_until;

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use crate::handle::Handle;
use crate::stats::QueueStats;
use crate::sync::Arc as SyncArc;
use crate::task::large::boxed_if_large;
use crate::task::JoinHandle;
use inner::Inner;
use placement::Placement;

/// A named queue of tasks with its own concurrency policy.
///
/// Cloning a `WorkQueue` gives another handle to the same queue. Dropping every handle does not
/// cancel its tasks: they run to completion.
///
/// # Rules
///
/// - **Admission.** A task is accepted at its spawn (its [`JoinHandle`] is returned at once) and
///   starts when the policy lets it: at most [`max_active`](WorkQueueBuilder::max_active) tasks
///   are in flight at once, the rest wait in submission order; tasks of one
///   [key](WorkQueue::spawn_keyed) run one at a time; an [ordered](WorkQueueBuilder::ordered)
///   queue runs one task at a time, in submission order, the next starting only once the one
///   before ended. A task is *in flight* from its start until it completes, panics or is
///   cancelled, also while it awaits I/O or blocks in a section. A waiting task costs a queue
///   entry, and is never polled before its turn.
/// - **Delayed tasks** ([`spawn_after`](WorkQueue::spawn_after)) join the queue once their
///   delay has passed, as if spawned then; they never start earlier.
/// - **[`flush`](WorkQueue::flush)** waits for every task accepted before the call to end
///   (complete, panic or be cancelled); it does not wait for tasks spawned after the call, nor
///   for delayed tasks whose delay has not passed by then (it may wait for one that becomes due
///   while it waits).
/// - **[`drain`](WorkQueue::drain)** refuses spawns from outside the queue from the call on, and
///   waits until the queue is empty, delayed tasks included; the queue's own tasks may still
///   spawn on it, and those are waited for too. Afterwards the queue accepts spawns again.
/// - **[`close`](WorkQueue::close)** refuses every new spawn for good; accepted tasks still run.
///   A refused spawn returns a handle that reports
///   [cancellation](crate::JoinError::is_cancelled) ([`try_spawn`](WorkQueue::try_spawn)
///   returns the future instead).
/// - **Cancellation.** [`JoinHandle::abort`] on a running task drops its future at its next
///   poll; on a task still waiting for its turn, the task is dropped without being polled once
///   its turn comes. Either way its handle reports cancellation, it counts as ended for `flush`
///   and `drain`, and the next task may start. Runtime shutdown cancels every task not ended,
///   delayed ones included.
/// - **Mistakes that would wait for ever panic instead:** awaiting `flush` or `drain` from one
///   of the queue's own tasks, in its poll or in a destructor its drop runs (it would wait for
///   itself), and, in an ordered queue, awaiting the
///   handle of a later task of the same queue (that task starts only once the waiting one
///   ended). The panic ends the task that made the mistake, and says so in its
///   [`JoinError`](crate::JoinError).
///
/// # Examples
///
/// A queue on the current runtime, with a delayed task, a flush and a drain:
///
/// ```
/// use std::time::Duration;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let q = baton::WorkQueue::builder("uploads")
///     .max_active(2)
///     .build(&baton::Handle::current())?;
/// let first = q.spawn(async { "now" });
/// let later = q.spawn_after(Duration::from_millis(5), async { "later" });
/// q.flush().await; // `first` has ended; `later` is not waited for before it is due
/// q.drain().await; // now `later` has ended too
/// assert_eq!(q.stats().completed, 2);
/// assert_eq!((first.await?, later.await?), ("now", "later"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// An ordered queue:
///
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let q = baton::WorkQueue::builder("journal").ordered().build(&rt.handle())?;
/// let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// for i in 0..10 {
///     let log = log.clone();
///     drop(q.spawn(async move { log.lock().unwrap().push(i) }));
/// }
/// rt.block_on(q.flush());
/// assert_eq!(*log.lock().unwrap(), (0..10).collect::<Vec<_>>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct WorkQueue {
    inner: std::sync::Arc<Inner>,
}

impl std::fmt::Debug for WorkQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkQueue")
            .field("name", self.inner.name())
            .field("max_active", &self.inner.max_active())
            .field("ordered", &self.inner.is_ordered())
            .field("priority", &self.inner.priority())
            .finish_non_exhaustive()
    }
}

impl WorkQueue {
    /// Starts building a queue named `name` (shown in [`Stats`](crate::Stats)).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("events").max_active(4).build(&rt.handle())?;
    /// assert_eq!(rt.block_on(q.spawn(async { 2 + 2 }))?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(name: impl Into<String>) -> WorkQueueBuilder {
        WorkQueueBuilder::new(name)
    }

    /// The queue `b` describes; fails only if its rescuer thread cannot be started.
    fn from_builder(
        b: WorkQueueBuilder,
        max_active: usize,
        handle: &Handle,
    ) -> std::io::Result<WorkQueue> {
        let placement = match b.affinity {
            Affinity::Local => Placement::Local,
            Affinity::Any => Placement::Any,
            Affinity::Core(core) => Placement::Core(core),
            Affinity::Cores(set) => Placement::Cores {
                set: set.into_boxed_slice(),
                next: AtomicUsize::new(0),
            },
        };
        let inner = std::sync::Arc::new(Inner::new(
            b.name.into(),
            SyncArc::clone(handle.shared()),
            max_active,
            b.ordered,
            b.priority,
            placement,
            b.rescuer,
        ));
        inner.start_rescuer()?;
        let weak = std::sync::Arc::downgrade(&inner);
        handle.shared().add_frontend(weak);
        Ok(WorkQueue { inner })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The most tasks of this queue in flight at once.
    pub fn max_active(&self) -> usize {
        self.inner.max_active()
    }

    /// Whether the queue is ordered (one task at a time, in submission order).
    pub fn is_ordered(&self) -> bool {
        self.inner.is_ordered()
    }

    /// Spawns a task on the queue; it starts when `max_active` and ordering allow.
    ///
    /// Works from any thread, inside the runtime or not. If the queue refuses the task (closed,
    /// draining, or the runtime shut down), the returned handle reports
    /// [`JoinError::is_cancelled`](crate::JoinError::is_cancelled); use
    /// [`WorkQueue::try_spawn`] to get the future back instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").max_active(2).build(&rt.handle())?;
    /// let handles: Vec<_> = (0..8).map(|i| q.spawn(async move { i * 2 })).collect();
    /// let outs: Vec<i32> = rt.block_on(async {
    ///     let mut outs = Vec::new();
    ///     for h in handles { outs.push(h.await.unwrap()); }
    ///     outs
    /// });
    /// assert_eq!(outs, [0, 2, 4, 6, 8, 10, 12, 14]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        boxed_if_large!(future => self.accept_or_cancel(future, None, None))
    }

    /// Like [`WorkQueue::spawn`], but a refused task is handed back.
    ///
    /// # Errors
    ///
    /// Returns a [`SpawnError`] holding the future if the queue is closed, is draining and the
    /// call does not come from one of its own tasks, or the runtime shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").build(&rt.handle())?;
    /// let task = q.try_spawn(async { 3 }).expect("an open queue accepts tasks");
    /// assert_eq!(rt.block_on(task)?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.accept(future, None, None)
    }

    /// Spawns a task in the lane of `key`: tasks with equal keys run one at a time, in
    /// submission order; tasks with different keys run concurrently (within `max_active`).
    ///
    /// Keys are hashed to a `u64`; keys whose hashes collide share a lane. On an ordered queue
    /// the key changes nothing. A refused task's handle reports cancellation, as with
    /// [`WorkQueue::spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("accounts").build(&rt.handle())?;
    /// let a = q.spawn_keyed("alice", async { 1 });
    /// let b = q.spawn_keyed("bob", async { 2 });
    /// assert_eq!(rt.block_on(async { a.await.unwrap() + b.await.unwrap() }), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn spawn_keyed<K, F>(&self, key: K, future: F) -> JoinHandle<F::Output>
    where
        K: Hash,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        let key = Some(hasher.finish());
        boxed_if_large!(future => self.accept_or_cancel(future, key, None))
    }

    /// Spawns a task that joins the queue once `delay` has passed (it never starts earlier).
    ///
    /// The handle is returned at once. Until the delay expires the task counts as waiting for
    /// [`WorkQueue::drain`], but not for [`WorkQueue::flush`] (see [the rules](WorkQueue#rules)).
    /// Shutdown cancels a pending delayed task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("later").build(&rt.handle())?;
    /// let start = Instant::now();
    /// rt.block_on(q.spawn_after(Duration::from_millis(10), async {}))?;
    /// assert!(start.elapsed() >= Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn spawn_after<F>(&self, delay: Duration, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        boxed_if_large!(future => self.accept_or_cancel(future, None, Some(delay)))
    }

    /// Spawns `future` with `key` and `delay`, or returns a handle that reports it cancelled
    /// if the queue refuses it.
    #[track_caller]
    fn accept_or_cancel<F>(
        &self,
        future: F,
        key: Option<u64>,
        delay: Option<Duration>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner
            .accept(future, key, delay)
            .unwrap_or_else(|refused| self.inner.cancelled(refused.into_inner()))
    }

    /// A snapshot of the queue's counters (also listed in [`Stats::queues`](crate::Stats)).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").build(&rt.handle())?;
    /// rt.block_on(q.spawn(async {}))?;
    /// rt.block_on(q.flush());
    /// let stats = q.stats();
    /// assert_eq!((stats.spawned, stats.started, stats.completed), (1, 1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> QueueStats {
        self.inner.snapshot()
    }
}
