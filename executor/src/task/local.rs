//! Local tasks: futures that are not `Send`, run on the thread of their [`LocalSet`].
//!
//! The design is in [`LocalSet`]'s docs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use super::large::boxed_if_large;
use super::{JoinHandle, Registry, Spawn};
use crate::queue::Runnable;
use crate::sync::Arc;

/// The most local tasks one poll of [`LocalSet::run_until`] runs before it yields.
pub(crate) const LOCAL_BATCH: usize = 64;

thread_local! {
    /// The set whose `run_until` is being polled on this thread, for [`spawn_local`].
    static CURRENT: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

/// A set of tasks that are not `Send`, all run on the thread that runs the set.
///
/// Spawn onto it with [`LocalSet::spawn_local`], or with [`spawn_local`] from inside
/// [`LocalSet::run_until`] (the set's own tasks included). The tasks run while
/// `run_until`'s future is polled, on the thread polling it. Dropping the set cancels the
/// tasks that have not finished, dropping their futures on the set's thread.
///
/// # Design
///
/// A `LocalSet` is a run queue of its own, drained by the future [`LocalSet::run_until`]
/// returns, on the thread that polls it. That future is not `Send` (it borrows the set, which
/// is not `Send` either), so it can only be polled where it was made: in
/// [`Runtime::block_on`](crate::Runtime::block_on) (what [`LocalSet::block_on`] does), in
/// `#[baton::main]`'s body, or in another local task. Every local task therefore runs on
/// that one thread, however many cores the runtime has and whichever thread wakes it; the
/// runtime's workers never see it.
///
/// 1. **Spawn.** async-task allocates the task with a check of the thread it runs and is
///    dropped on (`spawn_local`). Its waker pushes it onto the set's queue from any thread and
///    wakes the `run_until` future; its waker is also kept in the set's registry of live tasks.
/// 2. **Run.** Each poll of `run_until` polls its own future, then a bounded batch of queued
///    tasks, each with a cooperative budget of its own. With tasks left over it wakes
///    itself, so the thread's other work (the runtime's reactor, the rest of the enclosing
///    task) gets a turn in between.
/// 3. **Drop.** The set closes its registry, wakes every live task, and cancels each one
///    queued, on its own thread: every future is dropped there and every handle reports
///    cancellation. A task woken after that has no future left to run.
///
/// Tasks spawned on the set while no `run_until` runs wait in its queue for the next one.
///
/// # Examples
///
/// ```
/// # mod baton { pub use baton_executor::*; }
/// use std::rc::Rc;
/// use baton::task::LocalSet;
///
/// let rt = baton::Runtime::new()?;
/// let local = LocalSet::new();
/// let shared = Rc::new(String::from("not Send"));
/// let out = local.block_on(&rt, async {
///     let shared = Rc::clone(&shared);
///     let task = baton::task::spawn_local(async move {
///         baton::yield_now().await;
///         shared.len()
///     });
///     task.await.unwrap()
/// });
/// assert_eq!(out, 8);
/// # Ok::<(), baton::BuildError>(())
/// ```
pub struct LocalSet {
    inner: Rc<Local>,
}

/// A local set's state: its queue, and its registry of live tasks.
struct Local {
    queue: Arc<Queue>,
    registry: Arc<Registry>,
}

/// Tasks scheduled to run on a local set, and the waker of its `run_until` future.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    runnables: VecDeque<Runnable>,
    /// The waker of the `run_until` future last polled; taken by the wake that needs it.
    waker: Option<Waker>,
}

impl Queue {
    /// Queues a woken task, from any thread, and wakes the set's runner.
    fn schedule(&self, runnable: Runnable) {
        let waker = {
            let mut state = lock(&self.state);
            state.runnables.push_back(runnable);
            state.waker.take()
        };
        // Outside the lock: the waker may run code that schedules again.
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Takes the next queued task.
    fn pop(&self) -> Option<Runnable> {
        lock(&self.state).runnables.pop_front()
    }

    /// Registers the runner's waker, to be woken by the next task queued.
    fn register(&self, waker: &Waker) {
        let mut state = lock(&self.state);
        match &mut state.waker {
            Some(current) if current.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    fn is_empty(&self) -> bool {
        lock(&self.state).runnables.is_empty()
    }
}

/// Locks the queue; a panic elsewhere while it was held leaves nothing half-changed (each
/// critical section is one push, pop or swap).
fn lock(state: &Mutex<QueueState>) -> std::sync::MutexGuard<'_, QueueState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LocalSet {
    /// An empty set.
    pub fn new() -> LocalSet {
        LocalSet {
            inner: Rc::new(Local {
                queue: Arc::new(Queue::default()),
                registry: Arc::new(Registry::new(1)),
            }),
        }
    }

    /// Spawns a task that is not `Send` on this set. It runs while [`LocalSet::run_until`]
    /// runs, on the thread that runs it; it waits in the set until then.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// use std::rc::Rc;
    ///
    /// let rt = baton::Runtime::new()?;
    /// let local = baton::task::LocalSet::new();
    /// let value = Rc::new(5);
    /// let task = local.spawn_local(async move { *value + 1 });
    /// assert_eq!(local.block_on(&rt, task).unwrap(), 6);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let site = Location::caller();
        boxed_if_large!(future => self.inner.spawn(future, site))
    }

    /// Runs `future` and the set's tasks on the current thread until `future` completes, and
    /// returns its output. Tasks still unfinished then stay in the set, for the next
    /// `run_until` (or to be cancelled when the set is dropped).
    ///
    /// The returned future is not `Send`: `.await` it in a
    /// [`Runtime::block_on`](crate::Runtime::block_on) future (as [`LocalSet::block_on`]
    /// does), in `#[baton::main]`, or in another local task.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// let rt = baton::Runtime::new()?;
    /// let local = baton::task::LocalSet::new();
    /// let out = rt.block_on(local.run_until(async {
    ///     let cell = std::rc::Rc::new(std::cell::Cell::new(1));
    ///     let c = cell.clone();
    ///     baton::task::spawn_local(async move { c.set(c.get() + 1) }).await.unwrap();
    ///     cell.get()
    /// }));
    /// assert_eq!(out, 2);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn run_until<F: Future>(&self, future: F) -> RunUntil<'_, F> {
        RunUntil {
            local: self,
            future,
        }
    }

    /// Runs `future` and the set's tasks on the current thread, blocking it until `future`
    /// completes: `runtime.block_on(self.run_until(future))`.
    ///
    /// # Panics
    ///
    /// Where [`Runtime::block_on`](crate::Runtime::block_on) panics: inside a task of a
    /// runtime, outside a blocking section.
    #[track_caller]
    pub fn block_on<F: Future>(&self, runtime: &crate::Runtime, future: F) -> F::Output {
        boxed_if_large!(future => runtime.block_on(self.run_until(future)))
    }
}

impl Default for LocalSet {
    fn default() -> Self {
        LocalSet::new()
    }
}

impl fmt::Debug for LocalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSet").finish_non_exhaustive()
    }
}

impl Local {
    /// Spawns a local task on this set (the caller is on the set's thread: the set is not
    /// `Send`).
    fn spawn<F>(&self, future: F, site: &'static Location<'static>) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let queue = Arc::clone(&self.queue);
        let (runnable, handle) = super::spawn_local_task(
            future,
            Spawn::at(site),
            Some((&self.registry, 0)),
            move |runnable, _| queue.schedule(runnable),
        );
        runnable.schedule();
        handle
    }

    /// Runs queued tasks, at most [`LOCAL_BATCH`]; returns whether some are left.
    fn run_batch(&self) -> bool {
        for _ in 0..LOCAL_BATCH {
            let Some(runnable) = self.queue.pop() else {
                return false;
            };
            // An aborted task's poll drops its future instead.
            crate::coop::budget(|| runnable.run());
        }
        !self.queue.is_empty()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // Every task still alive is cancelled on this thread (see "Design" in `LocalSet`'s docs).
        self.registry.close();
        for waker in self.registry.wakers() {
            waker.wake();
        }
        while let Some(runnable) = self.queue.pop() {
            super::cancel(runnable);
        }
    }
}

pin_project_lite::pin_project! {
    /// Runs a [`LocalSet`]'s tasks until its future completes; returned by
    /// [`LocalSet::run_until`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RunUntil<'a, F> {
        local: &'a LocalSet,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for RunUntil<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let local = &this.local.inner;
        let _current = Current::enter(local);
        // Before the queue is looked at: a task queued after that wakes this future.
        local.queue.register(cx.waker());
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(out);
        }
        if local.run_batch() {
            // Tasks left over: come back after the thread's other work.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<F> fmt::Debug for RunUntil<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntil").finish_non_exhaustive()
    }
}

/// Makes a set current on this thread (for [`spawn_local`]) until dropped.
struct Current {
    previous: Option<Rc<Local>>,
}

impl Current {
    fn enter(local: &Rc<Local>) -> Current {
        let previous = CURRENT.with(|c| c.replace(Some(Rc::clone(local))));
        Current { previous }
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // Dropped once the thread-local is released.
        let _set = CURRENT.with(|c| c.replace(previous));
    }
}

/// Spawns a task that is not `Send` on the [`LocalSet`] running on this thread: inside
/// [`LocalSet::run_until`] and the set's own tasks. The task runs on this thread only.
///
/// # Panics
///
/// Panics outside a local set's `run_until` (for example in an ordinary task, or in
/// `Runtime::block_on` without a set): a `!Send` future has nowhere else to run. Make a
/// [`LocalSet`] and run the code in its [`run_until`](LocalSet::run_until) or
/// [`block_on`](LocalSet::block_on), or spawn on the set with [`LocalSet::spawn_local`].
///
/// # Examples
///
/// ```
/// # mod baton { pub use baton_executor::*; }
/// let rt = baton::Runtime::new()?;
/// let out = baton::task::LocalSet::new().block_on(&rt, async {
///     let data = std::rc::Rc::new([1, 2, 3]);
///     baton::task::spawn_local(async move { data.iter().sum::<i32>() }).await.unwrap()
/// });
/// assert_eq!(out, 6);
/// # Ok::<(), baton::BuildError>(())
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let site = Location::caller();
    let local = CURRENT.with(|c| c.borrow().clone());
    match local {
        Some(local) => boxed_if_large!(future => local.spawn(future, site)),
        None => panic!(
            "spawn_local called at {site} outside a LocalSet: a future that is not Send runs \
             only on a `baton::task::LocalSet`. Run this code inside `LocalSet::run_until` or \
             `LocalSet::block_on`, or spawn with `LocalSet::spawn_local`"
        ),
    }
}
