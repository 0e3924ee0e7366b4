//! Work queues: named front ends over the runtime's cores with their own policy, after the
//! Linux kernel's `alloc_workqueue`: `max_active`, strict ordering, keyed lanes, a priority
//! class, core affinity, delayed tasks, `flush`, `drain` and `close`.
//!
//! - [`builder`]: settings, validation, errors.
//! - [`admission`]: the pure state machine deciding which task may start.
//! - [`inner`]: the queue's shared state and its operations (accept, finish, wait, cancel).
//! - [`live`]: the metadata of the queue's live tasks, which a flush raises (priority
//!   inheritance).
//! - [`task`]: the future wrapped around each task and the runnable a queue holds back.
//! - [`runner`]: an ordered queue's runner, which runs its tasks one after another, inline.
//! - [`rescuer`]: the thread reserved for a queue built with
//!   [`rescuer()`](WorkQueueBuilder::rescuer), which runs its tasks on starved cores.
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
//! # flush, drain, close
//!
//! - `flush` waits until every task accepted before the call finished (see
//!   [`admission::Generations`]). A delayed task counts from the moment its delay expires: a
//!   flush does not wait for one still pending (the kernel's `flush_workqueue` does the same),
//!   and may wait for one that becomes due while it waits.
//! - `drain` refuses spawns from outside the queue (a spawn is "inside" while the thread polls
//!   one of the queue's own tasks) and waits until the queue is empty, delayed tasks included.
//!   Afterwards the queue accepts spawns again (the kernel's `drain_workqueue`).
//! - `close` refuses every new spawn for good; accepted tasks still run.
//!
//! `flush` and `drain` take effect at the call (the generation is opened, the refusal starts);
//! the futures they return only wait. A refused `spawn` returns a handle that reports
//! cancellation; `try_spawn` returns the future instead. Waiters are woken through an
//! `event-listener` `Event` rather than a hand-made waker list: it is already the runtime's
//! notification primitive, costs one atomic load per notification while nobody waits, and
//! handles any number of concurrent flushes and drains without bookkeeping here.
//!
//! # Locking
//!
//! One mutex per queue guards its [`QueueState`](inner::QueueState): admission, an ordered queue's
//! line, generations and the task counts. A spawn takes it once, and allocates the task under it
//! (so acceptance, the task's generation and its FIFO position are one step); a finishing task
//! takes it once (an ordered queue's runner when it reports, see [`runner`]). Lock order: the state
//! lock, then the runtime's registry shard (inside the allocation). No user code, no task drop and
//! no wake-up runs under it: held tasks are dropped, admitted ones (or a new runner) submitted, and
//! flush and drain waiters woken after it is released.
//!
//! # Stats
//!
//! The task counts (spawned, completed, cancelled) are plain integers under the state lock,
//! which every spawn and finish takes anyway: cheaper than atomics that the spawning and the
//! finishing core would pull back and forth. `started` (`completed + in_flight`) and the live
//! count (`spawned - completed - cancelled`) are derived. An ordered queue's runner does not
//! take the lock per task: it counts the tasks it ran in a relaxed atomic (before their handles
//! learn they finished) and reports their generations to the state when it waits, takes a new
//! line or exits, and before a task of a later generation starts.
//!
//! `handoffs` is a relaxed atomic bumped at the handoff site: while one of the queue's tasks is
//! polled, the thread's `context::set_queue_handoffs` mark points at it (which also tells
//! `drain` that a spawn comes from inside the queue).
//!
//! # Keys
//!
//! `spawn_keyed(key, ..)` hashes the key to a `u64` (std's `DefaultHasher`): tasks with equal
//! hashes share a lane. Two distinct keys whose hashes collide run one at a time, which is
//! safe, only less concurrent.
//!
//! # Shutdown
//!
//! Every queue registers with its runtime as a [`Frontend`](crate::scheduler::Frontend). Shutdown
//! drops the tasks a queue still holds back (and delayed tasks, through their timer tasks), so
//! their handles report cancellation; from then on the queue refuses spawns. A flush or drain
//! awaited on the thread that shuts the runtime down (in a destructor of a task it cancels)
//! would wait for tasks that only this thread will cancel: it cancels them there and then, and
//! waits only for polls still running on the workers.

mod admission;
mod builder;
mod held;
mod inner;
mod live;
mod marks;
mod refusal;
mod rescuer;
mod runner;
mod spawn;
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
use crate::sync::{lock, Arc as SyncArc};
use crate::task::JoinHandle;
use inner::{DrainGuard, Inner, Placement};

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
            .field("name", &self.inner.name)
            .field("max_active", &self.inner.max_active)
            .field("ordered", &self.inner.ordered)
            .field("priority", &self.inner.priority)
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
        if let Some(rescuer) = &inner.rescuer {
            rescuer.start(handle.shared())?;
        }
        let weak = std::sync::Arc::downgrade(&inner);
        handle.shared().add_frontend(weak);
        Ok(WorkQueue { inner })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The most tasks of this queue in flight at once.
    pub fn max_active(&self) -> usize {
        self.inner.max_active
    }

    /// Whether the queue is ordered (one task at a time, in submission order).
    pub fn is_ordered(&self) -> bool {
        self.inner.ordered
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
        self.try_spawn(future)
            .unwrap_or_else(|refused| self.inner.cancelled(refused.into_inner()))
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
        self.inner
            .accept(future, Some(hasher.finish()), None)
            .unwrap_or_else(|refused| self.inner.cancelled(refused.into_inner()))
    }

    /// Spawns a task that joins the queue once `delay` has passed (it never starts earlier).
    ///
    /// The handle is returned at once. Until the delay expires the task counts as waiting for
    /// [`WorkQueue::drain`], but not for [`WorkQueue::flush`] (see the module docs). Shutdown
    /// cancels a pending delayed task.
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
        self.inner
            .accept(future, None, Some(delay))
            .unwrap_or_else(|refused| self.inner.cancelled(refused.into_inner()))
    }

    /// Returns a future that completes once every task accepted before this call has finished
    /// (completed, panicked or been cancelled). Tasks spawned meanwhile are not waited for; delayed
    /// tasks still pending are not either (see the module docs).
    ///
    /// # Priority inheritance
    ///
    /// Awaited by a [`High`](crate::Priority::High) task, the flush raises every task it waits
    /// for to `High` until that task completes (see [`Priority`](crate::Priority)):
    ///
    /// - tasks the queue still holds back (beyond `max_active`, or behind their key): once
    ///   admitted, they are queued ahead of `Normal` and `Idle` work, and admitted before the
    ///   tasks that wait only for a place;
    /// - tasks the queue already admitted: those queued behind lower work move to the `High`
    ///   queues, and those running or waiting are queued as `High` at every later wake-up;
    /// - in an ordered queue, its runner, which runs the tasks one after another: it runs as
    ///   `High` until it comes to a task the flush does not wait for (one spawned after the
    ///   call), and hands the rest of the line to a new runner of the queue's class there. A
    ///   raise for the rest of the runner's life would lift every later task of a busy queue,
    ///   whose runner never stops, for good.
    ///
    /// A delayed task that becomes due while the flush waits is raised as it joins the queue.
    /// Admission order stays the queue's: its backlog keeps its order, a key's tasks start one
    /// after another, at most `max_active` are in flight, and an ordered queue stays strictly
    /// FIFO. A flush that a `Normal` or `Idle` task awaits raises nothing.
    ///
    /// # Panics
    ///
    /// The returned future panics when it is made and awaited in the queue's own tasks: the task
    /// that calls `flush` was accepted before the call, so the flush would wait for it for ever.
    /// Flush from outside the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").max_active(2).build(&rt.handle())?;
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..100 {
    ///     let done = done.clone();
    ///     drop(q.spawn(async move { done.fetch_add(1, Ordering::Relaxed); }));
    /// }
    /// rt.block_on(q.flush());
    /// assert_eq!(done.load(Ordering::Relaxed), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) -> impl Future<Output = ()> + Send + 'static {
        // The generation is opened now, at the call, not at the first poll.
        let target = lock(&self.inner.state).generations.open();
        let inner = std::sync::Arc::clone(&self.inner);
        // Made inside one of the queue's tasks: that task counts in the generation.
        let made_inside = inner.is_polled_here();
        async move {
            if made_inside && inner.is_polled_here() {
                panic!(
                    "WorkQueue::flush of queue {:?} awaited from one of that queue's own tasks: \
                     the flush waits for that task, which waits for the flush, so it would never \
                     complete; flush from outside the queue (another task, or `block_on`)",
                    inner.name
                );
            }
            if let Some(target) = target.filter(|_| crate::task::boost::awaiter_is_high()) {
                inner.raise_until(target);
            }
            inner
                .wait_until(|state| state.generations.done(target))
                .await;
        }
    }

    /// From this call on, refuses spawns from outside the queue; the returned future completes once
    /// the queue is empty, delayed tasks included; the queue's own tasks may still spawn more on
    /// it, and those are waited for too. Afterwards the queue accepts spawns again.
    ///
    /// # Panics
    ///
    /// The returned future panics when awaited from one of the queue's own tasks: that task is
    /// part of what the drain waits for, so it would wait for itself for ever. (Calling `drain`
    /// there is fine; await it from another task or `block_on`.)
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").build(&rt.handle())?;
    /// let inner = q.clone();
    /// drop(q.spawn(async move {
    ///     // Spawns from the queue's own tasks are accepted during a drain.
    ///     drop(inner.spawn(async {}));
    /// }));
    /// rt.block_on(q.drain());
    /// assert_eq!(q.stats().completed, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drain(&self) -> impl Future<Output = ()> + Send + 'static {
        // Outside spawns are refused from the call on, until the returned future completes or
        // is dropped.
        lock(&self.inner.state).draining += 1;
        let guard = DrainGuard(std::sync::Arc::clone(&self.inner));
        async move {
            if guard.0.is_polled_here() {
                panic!(
                    "WorkQueue::drain of queue {:?} awaited from one of that queue's own tasks: \
                     the drain waits for every task of the queue, that one included, so it \
                     would never complete; drain from outside the queue (another task, or \
                     `block_on`)",
                    guard.0.name
                );
            }
            guard.0.wait_until(|state| guard.0.live(state) == 0).await;
            drop(guard);
        }
    }

    /// Refuses every new spawn from now on. Tasks already accepted still run.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").build(&rt.handle())?;
    /// q.close();
    /// assert!(rt.block_on(q.spawn(async {})).unwrap_err().is_cancelled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        lock(&self.inner.state).closed = true;
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
