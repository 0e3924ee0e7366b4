//! Work queues: named front ends over the runtime's cores with their own policy, after the
//! Linux kernel's `alloc_workqueue`: `max_active`, strict ordering, keyed lanes, a priority
//! class, core affinity, delayed tasks, `flush`, `drain` and `close`.
//!
//! - [`builder`]: settings, validation, errors.
//! - [`admission`]: the pure state machine deciding which task may start.
//! - [`task`]: the future wrapped around each task and the runnable a queue holds back.
//!
//! # How a queue holds tasks back
//!
//! A queue task is allocated at once (its [`JoinHandle`] is returned at once) but its first
//! `Runnable` is kept by the queue until admission lets it start; then it is submitted to the
//! runtime like any spawned task, with the queue's class and core pin. Nothing polls a task
//! that waits for its turn: it costs a queue entry, no wake-ups. A task's slot is freed when
//! async-task drops its future: after it completed, panicked, or was cancelled. So an ordered
//! task that blocks in a section keeps its turn while its core goes on with other work.
//!
//! A task admitted because the task being polled finished (the next task of an ordered queue)
//! goes to the core's next-task slot and runs right after, like a chained wake; a task admitted
//! at its spawn goes to the back of the queue, like any new task.
//!
//! [`spawn`](crate::spawn) is the runtime's default queue: no `max_active`, no order, `Normal`
//! class, [`Affinity::Local`]. The priority class is stored in each task's metadata; the cores
//! serve the classes (see [`Priority`]).
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
//! One mutex per queue guards its [`State`]: admission, generations, the live count and the
//! task counts. A spawn takes it once, and allocates the task under it (so acceptance, the
//! task's generation and its FIFO place are one step); a finishing task takes it once. Lock
//! order: the state lock, then the runtime's registry shard (inside the allocation). No user
//! code and no task drop runs under it: held tasks are dropped, and admitted ones submitted,
//! after it is released.
//!
//! # Stats
//!
//! The task counts (spawned, started, completed, cancelled) are plain integers under the state
//! lock, which every spawn and finish takes anyway: cheaper than atomics that the spawning and
//! the finishing core would pull back and forth. `handoffs` is a relaxed atomic fed by the task
//! wrapper, which reads the thread's handoff count (`context::handoffs`) around each poll.
//!
//! # Keys
//!
//! `spawn_keyed(key, ..)` hashes the key to a `u64` (std's `DefaultHasher`): tasks with equal
//! hashes share a lane. Two distinct keys whose hashes collide run one at a time, which is
//! safe, only less concurrent.
//!
//! # Shutdown
//!
//! Every queue registers with its runtime as a [`Frontend`]. Shutdown drops the tasks a queue
//! still holds back (and delayed tasks, through their timer tasks), so their handles report
//! cancellation; from then on the queue refuses spawns.

mod admission;
mod builder;
mod task;

pub use builder::{Affinity, QueueBuildError, SpawnError, WorkQueueBuilder};
pub use builder::{DEFAULT_MAX_ACTIVE, MAX_ACTIVE_LIMIT};

#[cfg(all(test, loom))]
pub(crate) use admission::Admission;

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use event_listener::Event;

use crate::context;
use crate::handle::Handle;
use crate::queue::Priority;
use crate::shared::{Frontend, Shared};
use crate::stats::QueueStats;
use crate::sync::{lock, Arc as SyncArc, Mutex};
use crate::task::JoinHandle;
use admission::Generations;
use builder::Refusal;
use task::{Held, QueueTask, Submit};

/// A named queue of tasks with its own concurrency policy.
///
/// Cloning a `WorkQueue` gives another handle to the same queue. Dropping every handle does not
/// cancel its tasks: they run to completion.
///
/// # Examples
///
/// ```
/// let rt = baton_executor::Runtime::new()?;
/// let q = baton_executor::WorkQueue::builder("journal").ordered().build(&rt.handle())?;
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

/// What a queue's handles and tasks share.
pub(crate) struct Inner {
    name: String,
    shared: SyncArc<Shared>,
    max_active: usize,
    ordered: bool,
    priority: Priority,
    placement: Placement,
    /// Submit through the injector ([`Affinity::Any`]).
    any_core: bool,
    state: Mutex<State>,
    /// Notified when a generation empties or the queue empties (flush and drain wait on it).
    event: Event,
    stats: Counters,
}

/// Where each task is pinned.
enum Placement {
    Anywhere,
    Core(usize),
    Cores {
        set: Box<[usize]>,
        next: AtomicUsize,
    },
}

/// A queue's mutable state, under one lock.
struct State {
    admission: admission::Admission<Held>,
    generations: Generations,
    /// Tasks accepted and not finished, delayed ones included.
    live: usize,
    /// Drains in progress.
    draining: usize,
    /// Set by `close`.
    closed: bool,
    /// Set when shutdown cancelled the held tasks.
    shut_down: bool,
    /// Counters kept under the lock every spawn and finish takes anyway (no atomics for the
    /// producer and the finishing worker to bounce between their caches).
    counts: Counts,
}

/// Per-queue task counts, under the state lock.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    spawned: u64,
    started: u64,
    completed: u64,
    cancelled: u64,
}

/// Per-queue counters updated outside the lock, relaxed: statistics, not synchronisation.
#[derive(Default)]
struct Counters {
    handoffs: AtomicU64,
}

impl WorkQueue {
    /// Starts building a queue named `name` (shown in [`Stats`](crate::Stats)).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton_executor::Runtime::new()?;
    /// let q = baton_executor::WorkQueue::builder("events").max_active(4).build(&rt.handle())?;
    /// assert_eq!(rt.block_on(q.spawn(async { 2 + 2 }))?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(name: impl Into<String>) -> WorkQueueBuilder {
        WorkQueueBuilder::new(name)
    }

    fn from_builder(b: WorkQueueBuilder, max_active: usize, handle: &Handle) -> WorkQueue {
        let any_core = b.affinity == Affinity::Any;
        let placement = match b.affinity {
            Affinity::Local | Affinity::Any => Placement::Anywhere,
            Affinity::Core(core) => Placement::Core(core),
            Affinity::Cores(set) => Placement::Cores {
                set: set.into_boxed_slice(),
                next: AtomicUsize::new(0),
            },
        };
        let inner = std::sync::Arc::new(Inner {
            name: b.name,
            shared: SyncArc::clone(handle.shared()),
            max_active,
            ordered: b.ordered,
            priority: b.priority,
            placement,
            any_core,
            state: Mutex::new(State {
                admission: admission::Admission::new(max_active),
                generations: Generations::default(),
                live: 0,
                draining: 0,
                closed: false,
                shut_down: false,
                counts: Counts::default(),
            }),
            event: Event::new(),
            stats: Counters::default(),
        });
        let weak = std::sync::Arc::downgrade(&inner);
        handle.shared().add_frontend(weak);
        WorkQueue { inner }
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
    /// let rt = baton_executor::Runtime::new()?;
    /// let q = baton_executor::WorkQueue::builder("q").max_active(2).build(&rt.handle())?;
    /// let handles: Vec<_> = (0..8).map(|i| q.spawn(async move { i * 2 })).collect();
    /// let outs: Vec<i32> = rt.block_on(async {
    ///     let mut outs = Vec::new();
    ///     for h in handles { outs.push(h.await.unwrap()); }
    ///     outs
    /// });
    /// assert_eq!(outs, [0, 2, 4, 6, 8, 10, 12, 14]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    /// let rt = baton_executor::Runtime::new()?;
    /// let q = baton_executor::WorkQueue::builder("q").build(&rt.handle())?;
    /// let task = q.try_spawn(async { 3 }).expect("an open queue accepts tasks");
    /// assert_eq!(rt.block_on(task)?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.spawn(future, None)
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
    /// let rt = baton_executor::Runtime::new()?;
    /// let q = baton_executor::WorkQueue::builder("accounts").build(&rt.handle())?;
    /// let a = q.spawn_keyed("alice", async { 1 });
    /// let b = q.spawn_keyed("bob", async { 2 });
    /// assert_eq!(rt.block_on(async { a.await.unwrap() + b.await.unwrap() }), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_keyed<K, F>(&self, key: K, future: F) -> JoinHandle<F::Output>
    where
        K: Hash,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        self.inner
            .spawn(future, Some(hasher.finish()))
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
    /// let rt = baton_executor::Runtime::new()?;
    /// let q = baton_executor::WorkQueue::builder("later").build(&rt.handle())?;
    /// let start = Instant::now();
    /// rt.block_on(q.spawn_after(Duration::from_millis(10), async {}))?;
    /// assert!(start.elapsed() >= Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_after<F>(&self, delay: Duration, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let inner = &self.inner;
        let mut state = lock(&inner.state);
        if inner.refusal(&state).is_some() {
            drop(state);
            return inner.cancelled(future);
        }
        let generation = state.generations.current();
        let (held, handle) = inner.allocate(future, None, generation);
        state.counts.spawned += 1;
        state.live += 1;
        drop(state);
        let held = held.delayed(generation);
        let queue = std::sync::Arc::clone(inner);
        let timer = async move {
            crate::time::sleep(delay).await;
            queue.expire(held);
        };
        drop(Shared::spawn(&inner.shared, timer, None));
        handle
    }

    /// Returns a future that completes once every task accepted before this call has finished
    /// (completed, panicked or been cancelled). Tasks spawned meanwhile are not waited for; delayed tasks still pending
    /// are not either (see the module docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let rt = baton_executor::Runtime::new()?;
    /// let q = baton_executor::WorkQueue::builder("q").max_active(2).build(&rt.handle())?;
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
        async move {
            inner
                .wait_until(|state| state.generations.done(target))
                .await;
        }
    }

    /// From this call on, refuses spawns from outside the queue; the returned future completes
    /// once the queue is empty, delayed tasks included; the queue's own tasks may still spawn more on it, and those are waited for
    /// too. Afterwards the queue accepts spawns again.
    ///
    /// # Caveats
    ///
    /// Draining from inside one of the queue's own tasks never finishes: that task is part of
    /// what drain waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton_executor::Runtime::new()?;
    /// let q = baton_executor::WorkQueue::builder("q").build(&rt.handle())?;
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
            guard.0.wait_until(|state| state.live == 0).await;
            drop(guard);
        }
    }

    /// Refuses every new spawn from now on. Tasks already accepted still run.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton_executor::Runtime::new()?;
    /// let q = baton_executor::WorkQueue::builder("q").build(&rt.handle())?;
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
    /// let rt = baton_executor::Runtime::new()?;
    /// let q = baton_executor::WorkQueue::builder("q").build(&rt.handle())?;
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

/// Ends a drain, even if its future is dropped early.
struct DrainGuard(std::sync::Arc<Inner>);

impl Drop for DrainGuard {
    fn drop(&mut self) {
        lock(&self.0.state).draining -= 1;
    }
}

impl Inner {
    /// Why a spawn now would be refused, if it would.
    fn refusal(&self, state: &State) -> Option<Refusal> {
        if state.shut_down || self.shared.is_shutdown() {
            Some(Refusal::Shutdown)
        } else if state.closed {
            Some(Refusal::Closed)
        } else if state.draining > 0 && !task::polling_queue(self as *const Inner as usize) {
            Some(Refusal::Draining)
        } else {
            None
        }
    }

    /// Accepts a task (lane `key`), or refuses it.
    fn spawn<F>(
        self: &std::sync::Arc<Self>,
        future: F,
        key: Option<u64>,
    ) -> Result<JoinHandle<F::Output>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let key = if self.ordered { None } else { key };
        // One lock acquisition per spawn, held while the task is allocated: acceptance, its
        // generation and its place in the FIFO are one step, a refusal can give the future
        // back, and the spawner pulls the lock's cache line over once (measured a little
        // faster than two short critical sections around an unlocked allocation).
        let mut state = lock(&self.state);
        if let Some(reason) = self.refusal(&state) {
            return Err(SpawnError::new(future, reason));
        }
        let generation = state.generations.current();
        let (held, handle) = self.allocate(future, key, generation);
        state.counts.spawned += 1;
        state.generations.add(generation);
        state.live += 1;
        let now = state.admission.push(held, key);
        state.counts.started += u64::from(now.is_some());
        drop(state);
        if let Some(held) = now {
            task::submit(self, held, Submit::Spawned);
        }
        Ok(handle)
    }

    /// Allocates a task of this queue, not yet submitted.
    fn allocate<F>(
        self: &std::sync::Arc<Self>,
        future: F,
        key: Option<u64>,
        generation: u64,
    ) -> (Held, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let wrapped = QueueTask::new(future, std::sync::Arc::clone(self), key, generation);
        let (runnable, handle) =
            Shared::spawn_unscheduled(&self.shared, wrapped, self.pin(), self.priority);
        debug_assert_eq!(runnable.metadata().priority(), self.priority);
        (Held::new(runnable), handle)
    }

    /// A handle for a refused task: reports cancellation.
    fn cancelled<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (runnable, handle) =
            Shared::spawn_unscheduled(&self.shared, future, None, self.priority);
        drop(runnable);
        handle
    }

    /// The core a new task is pinned to, if any.
    fn pin(&self) -> Option<usize> {
        match &self.placement {
            Placement::Anywhere => None,
            Placement::Core(core) => Some(*core),
            Placement::Cores { set, next } => {
                match context::worker_core(self.shared.id).filter(|here| set.contains(here)) {
                    Some(here) => Some(here),
                    None => Some(set[next.fetch_add(1, Relaxed) % set.len()]),
                }
            }
        }
    }

    /// A delayed task's delay expired: it joins the queue (or is dropped after shutdown).
    fn expire(self: &std::sync::Arc<Self>, mut held: Held) {
        let mut state = lock(&self.state);
        if state.shut_down {
            drop(state);
            // Dropped while still delayed: uncounted, as it was never counted.
            drop(held);
            return;
        }
        state.generations.add(held.count());
        let now = state.admission.push(held, None);
        state.counts.started += u64::from(now.is_some());
        drop(state);
        if let Some(held) = now {
            task::submit(self, held, Submit::Spawned);
        }
    }

    /// A task's future was dropped. `started`: it had a slot; `counted`: it counted in its
    /// generation (every task but a delayed one whose delay had not expired).
    fn finished(
        self: &std::sync::Arc<Self>,
        key: Option<u64>,
        generation: u64,
        started: bool,
        counted: bool,
    ) {
        let mut state = lock(&self.state);
        let next = if started {
            state.counts.completed += 1;
            state.admission.finish(key)
        } else {
            state.counts.cancelled += 1;
            None
        };
        state.counts.started += u64::from(next.is_some());
        let mut wake = counted && state.generations.remove(generation);
        state.live -= 1;
        wake |= state.live == 0;
        drop(state);
        if let Some(next) = next {
            task::submit(self, next, Submit::Next);
        }
        if wake {
            self.event.notify(usize::MAX);
        }
    }

    /// Waits until `done` holds for the state.
    async fn wait_until(&self, done: impl Fn(&State) -> bool) {
        loop {
            if done(&lock(&self.state)) {
                return;
            }
            let listener = self.event.listen();
            // Checked again after listening: a notification in between is not missed.
            if done(&lock(&self.state)) {
                return;
            }
            listener.await;
        }
    }

    fn snapshot(&self) -> QueueStats {
        let Counts {
            spawned,
            started,
            completed,
            cancelled,
        } = lock(&self.state).counts;
        let mut stats = QueueStats::default();
        stats.name.clone_from(&self.name);
        stats.spawned = spawned;
        stats.started = started;
        stats.completed = completed;
        stats.cancelled = cancelled;
        stats.in_flight = started.saturating_sub(completed);
        stats.waiting = spawned.saturating_sub(started).saturating_sub(cancelled);
        stats.handoffs = self.stats.handoffs.load(Relaxed);
        stats
    }
}

impl Frontend for Inner {
    fn cancel_held(&self) {
        let held = {
            let mut state = lock(&self.state);
            state.shut_down = true;
            state.admission.take_waiting()
        };
        // Dropped without the lock: each drop re-enters `finished`.
        drop(held);
    }

    fn stats(&self) -> QueueStats {
        self.snapshot()
    }
}
