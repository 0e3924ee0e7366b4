//! A set of tasks whose outputs are awaited in the order they complete.

use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::{FusedFuture, Stream};
use futures_util::stream::FuturesUnordered;

use super::large::boxed_if_large;
use super::{JoinError, JoinHandle};
use crate::handle::Handle;

/// A set of tasks spawned on a runtime, awaited in the order they complete (not the order they
/// were spawned), as tokio's `JoinSet`.
///
/// Dropping the set aborts every task still in it; [`JoinSet::detach_all`] lets them run on
/// instead. A task that completes before anyone asks keeps its output in the set until
/// [`JoinSet::join_next`] or [`JoinSet::try_join_next`] returns it.
///
/// # Examples
///
/// ```
/// # mod baton { pub use baton_executor::*; }
/// use baton::task::JoinSet;
///
/// let rt = baton::Runtime::new()?;
/// let total = rt.block_on(async {
///     let mut set = JoinSet::new();
///     for i in 0..10u64 {
///         set.spawn(async move { i * i });
///     }
///     let mut total = 0;
///     while let Some(result) = set.join_next().await {
///         total += result.unwrap();
///     }
///     total
/// });
/// assert_eq!(total, 285);
/// # Ok::<(), baton::BuildError>(())
/// ```
pub struct JoinSet<T> {
    /// The tasks' handles. `FuturesUnordered` gives each one a waker of its own that queues
    /// it for the next poll of the set, so a join polls only the tasks that finished since
    /// the last one, and a task finishing while the set is being polled is never missed.
    tasks: FuturesUnordered<JoinHandle<T>>,
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            tasks: FuturesUnordered::new(),
        }
    }

    /// The number of tasks in the set: spawned or inserted, and not yet returned by a join
    /// (finished tasks whose output was not taken yet included).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the set has no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Adds a task spawned elsewhere (named with [`task::Builder`](crate::task::Builder), on a
    /// work queue, or local with [`spawn_local`](crate::task::spawn_local)) to the set, which
    /// then owns it: it is joined, aborted and detached with the others.
    ///
    /// # Panics
    ///
    /// Panics if `handle` already returned its task's output (it was awaited to the end).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// let rt = baton::Runtime::new()?;
    /// let left = rt.block_on(async {
    ///     let mut set = baton::task::JoinSet::new();
    ///     set.insert(baton::task::Builder::new().name("fetch").spawn(async { 1 }));
    ///     assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
    ///     set.len()
    /// });
    /// assert_eq!(left, 0);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    #[track_caller]
    pub fn insert(&mut self, handle: JoinHandle<T>) {
        assert!(
            !handle.is_terminated(),
            "JoinSet::insert at {}: this JoinHandle already returned its task's output",
            Location::caller()
        );
        self.tasks.push(handle);
    }

    /// Waits for one of the tasks to finish and returns its output, or `None` once the set is
    /// empty. Tasks come out in the order they finish.
    ///
    /// Cancel safe: if the returned future is dropped before it completes (in a `select!`), no
    /// task's output is lost; it stays in the set.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// let rt = baton::Runtime::new()?;
    /// rt.block_on(async {
    ///     let mut set = baton::task::JoinSet::new();
    ///     set.spawn(std::future::pending::<&str>());
    ///     set.spawn(async { "quick" });
    ///     // The second task finishes first.
    ///     assert_eq!(set.join_next().await.unwrap().unwrap(), "quick");
    ///     assert_eq!(set.len(), 1);
    /// });
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for one of the tasks to finish: `Ready(Some(output))` for a finished task (removed
    /// from the set), `Ready(None)` if the set is empty, otherwise `Pending`, and `cx` is woken
    /// when a task finishes.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        Pin::new(&mut self.tasks).poll_next(cx)
    }

    /// Returns the output of a task that has finished, without waiting: `None` if no task has
    /// finished (or the set is empty).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// let rt = baton::Runtime::new()?;
    /// let mut set = baton::task::JoinSet::new();
    /// set.spawn_with(&rt.handle(), async { 3 });
    /// let out = loop {
    ///     if let Some(out) = set.try_join_next() {
    ///         break out;
    ///     }
    ///     std::thread::yield_now();
    /// };
    /// assert_eq!(out.unwrap(), 3);
    /// assert!(set.try_join_next().is_none());
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        let mut cx = Context::from_waker(Waker::noop());
        // Without a budget: a finished task's output is taken even if the calling task spent
        // its cooperative budget, rather than reported as missing.
        crate::coop::with_unconstrained(|| match self.poll_join_next(&mut cx) {
            Poll::Ready(out) => out,
            Poll::Pending => None,
        })
    }

    /// Aborts every task in the set (see [`JoinHandle::abort`]). They stay in the set: a join
    /// returns each one, with an error for which [`JoinError::is_cancelled`] is true unless it
    /// finished first.
    pub fn abort_all(&mut self) {
        for task in self.tasks.iter() {
            task.abort();
        }
    }

    /// Aborts every task and waits until all of them are gone; the set is empty afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// let rt = baton::Runtime::new()?;
    /// rt.block_on(async {
    ///     let mut set = baton::task::JoinSet::new();
    ///     for _ in 0..3 {
    ///         set.spawn(std::future::pending::<()>());
    ///     }
    ///     set.shutdown().await;
    ///     assert!(set.is_empty());
    /// });
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Removes every task from the set without aborting it: they run on, detached, as when a
    /// [`JoinHandle`] is dropped.
    pub fn detach_all(&mut self) {
        drop(std::mem::take(&mut self.tasks));
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Spawns a task on the current runtime (it may run on any core) and adds it to the set.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime, as [`spawn`](crate::spawn) does.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let task = boxed_if_large!(future => crate::spawn(future));
        self.tasks.push(task);
    }

    /// Spawns a task on the current runtime to run only on core `core`, and adds it to the set.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime, or if `core` is not below the runtime's core count, as
    /// [`spawn_on`](crate::spawn_on) does.
    #[track_caller]
    pub fn spawn_on<F>(&mut self, core: usize, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let task = boxed_if_large!(future => crate::spawn_on(core, future));
        self.tasks.push(task);
    }

    /// Spawns a task on `handle`'s runtime, from any thread, and adds it to the set.
    #[track_caller]
    pub fn spawn_with<F>(&mut self, handle: &Handle, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let task = boxed_if_large!(future => handle.spawn(future));
        self.tasks.push(task);
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns a task that is not `Send` on the [`LocalSet`](crate::task::LocalSet) running on
    /// this thread (see [`spawn_local`](crate::task::spawn_local)), and adds it to the set.
    ///
    /// # Panics
    ///
    /// Panics outside a local set's `run_until`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// use std::rc::Rc;
    ///
    /// let rt = baton::Runtime::new()?;
    /// let sum = baton::task::LocalSet::new().block_on(&rt, async {
    ///     let mut set = baton::task::JoinSet::new();
    ///     for i in 0..4 {
    ///         let i = Rc::new(i);
    ///         set.spawn_local(async move { *i });
    ///     }
    ///     let mut sum = 0;
    ///     while let Some(out) = set.join_next().await {
    ///         sum += out.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 6);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&mut self, future: F)
    where
        F: Future<Output = T> + 'static,
    {
        let task = boxed_if_large!(future => crate::task::spawn_local(future));
        self.tasks.push(task);
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}

/// Aborts every task still in the set.
impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}
