//! Handles to a runtime, and the thread-local "current runtime".

use std::cell::RefCell;
use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use crate::compat::{self, ThreadStart};
use crate::context::{self, Polling};
use crate::error::{SetCoresError, TryCurrentError};
use crate::scheduler::{Shared, Watched};
use crate::stats::{Stats, StatsReporter};
use crate::sync::Arc;
use crate::task::large::boxed_if_large;
use crate::task::{JoinHandle, Spawn};

thread_local! {
    /// The runtime that `Handle::current` and `baton::spawn` use on this thread.
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// A cheap, cloneable reference to a runtime, usable from any thread.
///
/// A handle does not keep the runtime's threads alive: once the [`Runtime`](crate::Runtime) is
/// dropped, tasks spawned through a handle are cancelled at once.
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let handle = rt.handle();
/// let out = std::thread::spawn(move || {
///     // Not a runtime thread: spawn through the handle, wait through a channel.
///     let (tx, rx) = std::sync::mpsc::channel();
///     let _task = handle.spawn(async move { tx.send(7).unwrap() });
///     rx.recv().unwrap()
/// })
/// .join()
/// .unwrap();
/// assert_eq!(out, 7);
/// # Ok::<(), baton::BuildError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Handle {
    shared: Arc<Shared>,
}

// As for `Runtime` (see the note beside its `UnwindSafe` impls).
impl std::panic::UnwindSafe for Handle {}
impl std::panic::RefUnwindSafe for Handle {}

impl Handle {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The handle of the runtime this thread runs in.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime (not in a task, not inside `block_on`, no [`Handle::enter`]
    /// guard alive). Use [`Handle::try_current`] to get an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// rt.block_on(async {
    ///     let handle = baton::Handle::current();
    ///     assert!(handle.cores() >= 1);
    /// });
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(err) => panic!("{err}"),
        }
    }

    /// The handle of the runtime this thread runs in, or an error outside a runtime.
    ///
    /// # Errors
    ///
    /// Returns [`TryCurrentError`] when the thread is not in a task, not inside `block_on`, and
    /// holds no [`Handle::enter`] guard.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(baton::Handle::try_current().is_err());
    /// ```
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        CURRENT
            .with(|current| current.borrow().clone())
            .ok_or_else(TryCurrentError::new)
    }

    /// Calls `f` with the current runtime's handle, without cloning it.
    pub(crate) fn with_current<R>(f: impl FnOnce(&Handle) -> R) -> Result<R, TryCurrentError> {
        CURRENT.with(|current| match &*current.borrow() {
            Some(handle) => Ok(f(handle)),
            None => Err(TryCurrentError::new()),
        })
    }

    /// Makes this runtime the current one on this thread until the guard drops, so that
    /// [`spawn`](crate::spawn) and [`Handle::current`] work outside tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let _guard = rt.handle().enter();
    /// let task = baton::spawn(async { 3 });
    /// assert_eq!(rt.block_on(task).unwrap(), 3);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn enter(&self) -> EnterGuard {
        self.enter_if_possible()
            .expect("Handle::enter called while this thread's thread-locals are destroyed")
    }

    /// [`Handle::enter`], unless this thread's thread-locals are being destroyed (a runtime
    /// kept in a thread-local drops at thread exit): then nothing is entered.
    pub(crate) fn enter_if_possible(&self) -> Option<EnterGuard> {
        let previous = CURRENT
            .try_with(|current| current.replace(Some(self.clone())))
            .ok()?;
        Some(EnterGuard {
            previous,
            _not_send: std::marker::PhantomData,
        })
    }

    /// A function that makes this runtime current on the thread that calls it, for as long as
    /// what it returns lives: for other runtimes' threads (the `tokio` feature).
    pub(crate) fn thread_start(&self) -> ThreadStart {
        let handle = self.clone();
        Box::new(move || Box::new(handle.enter()))
    }

    /// Runs `future` to completion on the current thread and returns its output, as
    /// [`Runtime::block_on`](crate::Runtime::block_on) does.
    ///
    /// Off the runtime's workers (a thread of your own, a
    /// [`blocking::unblock`](baton_blocking::unblock) closure) it simply blocks the thread.
    /// Inside a task it is allowed only within a blocking section
    /// ([`blocking::section`](baton_blocking::section) and its guard and attribute forms): the
    /// section tells the runtime that this worker may block, so the core's baton passes to a
    /// spare (at once at a call site known to block, otherwise once the section has outlived
    /// its grace period) and the core's other tasks, including those `future` spawns and
    /// awaits, run meanwhile. This is tokio's
    /// `block_in_place(|| handle.block_on(fut))` pattern, for code that must call async code
    /// from a synchronous function.
    ///
    /// [`spawn`](crate::spawn) and [`Handle::current`] work inside `future` and refer to this
    /// runtime.
    ///
    /// # Panics
    ///
    /// Panics when called inside a task of a baton runtime outside a blocking section (the
    /// message says to wrap the call in one): blocking a worker that holds its core's baton
    /// would stall every task queued on that core, the ones `future` waits for included. The
    /// `tokio` feature adds the panic described at [`Runtime::block_on`](crate::Runtime::block_on).
    ///
    /// Inside a task's section or an `unblock` job of this runtime, panics if `future` is still
    /// pending once the runtime's shutdown has cancelled its tasks: the shutdown waits for that
    /// thread, and nothing of the runtime is left to end the wait (see
    /// [Shutdown](crate::Runtime#shutdown)).
    ///
    /// # Caveats
    ///
    /// Each call inside a task keeps a worker thread until `future` completes. At the
    /// thread cap ([`Builder::max_threads_per_core`](crate::Builder::max_threads_per_core),
    /// [`Builder::max_threads`](crate::Builder::max_threads)) a section runs without a
    /// replacement, so a future that waits for tasks queued on the same core
    /// waits until one of that core's workers comes back.
    ///
    /// # Examples
    ///
    /// From a synchronous function called inside a task:
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; pub use baton_blocking as blocking; }
    /// fn sync_lookup(handle: &baton::Handle) -> u32 {
    ///     // A section: the core is handed on while this thread waits for the future.
    ///     baton::blocking::section(|| {
    ///         handle.block_on(async { baton::spawn(async { 41 }).await.unwrap() + 1 })
    ///     })
    /// }
    ///
    /// let rt = baton::Runtime::builder().cores(1).build()?;
    /// let task = rt.spawn(async { sync_lookup(&baton::Handle::current()) });
    /// assert_eq!(rt.block_on(task).unwrap(), 42);
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let caller = Location::caller();
        boxed_if_large!(future => self.block_on_at(future, caller))
    }

    /// [`Handle::block_on`], with the caller given.
    pub(crate) fn block_on_at<F: Future>(
        &self,
        future: F,
        caller: &'static Location<'static>,
    ) -> F::Output {
        // In a tracked section the worker's baton may pass on at any moment; holding it (in a
        // poll outside a section) or in no poll at all (a waker or callback run by a worker
        // between polls), the core would wait on this thread.
        if context::current_worker().is_some() && context::polling() != Polling::Section {
            panic!(
                "block_on called at {caller} on a baton worker thread (inside a task) outside a \
                 blocking section: this would block the worker and stall its core. Wrap the \
                 call in `baton::blocking::section(|| handle.block_on(..))` so the core is \
                 handed on while it waits, or `.await` the future instead"
            );
        }
        let _enter = self.enter();
        compat::leave_foreign_runtime(caller, || {
            let _tokio = self.shared.tokio.enter(|| self.thread_start());
            // Watched: a paused clock auto-advances only while a `block_on` waits.
            // On a thread the shutdown joins, a wait that outlives the tasks' cancelling would
            // hang the shutdown (see `scheduler::Watched`).
            let joined = context::worker_core(self.shared.id).is_some()
                || self.shared.unbound.runs_current_thread();
            let future = Watched::new(future, joined.then_some(&self.shared.joined), caller);
            crate::reactor::block_on(crate::time::watch(self.shared(), future))
        })
    }

    /// Spawns a task on this runtime; it may run on any core.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let task = rt.handle().spawn(async { "done" });
    /// assert_eq!(rt.block_on(task).unwrap(), "done");
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = Location::caller();
        boxed_if_large!(future => Shared::spawn(&self.shared, future, None, site))
    }

    /// Spawns a task that runs only on core `core` (it is never stolen by another core).
    ///
    /// While `core` is offline ([`Handle::set_cores`]`(n)` with `n <= core`), the task runs on
    /// core `core % n` instead, and it moves there if it was queued on `core` when `core` went
    /// offline; once `core` is online again, the task's next wake-up queues it on `core`.
    ///
    /// # Panics
    ///
    /// Panics if `core` is not below [`Handle::cores`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::builder().cores(2).build()?;
    /// let task = rt.handle().spawn_on(1, async { baton::current_core() });
    /// assert_eq!(rt.block_on(task).unwrap(), Some(1));
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&self, core: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = Location::caller();
        boxed_if_large!(future => self.spawn_on_at(core, future, site))
    }

    /// [`Handle::spawn_on`], with the spawn site given.
    #[track_caller]
    pub(crate) fn spawn_on_at<F>(
        &self,
        core: usize,
        future: F,
        site: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(
            future,
            Spawn {
                pin: Some(core),
                ..Spawn::at(site)
            },
        )
    }

    /// Spawns a task as `how` says.
    ///
    /// # Panics
    ///
    /// Panics if `how` pins the task to a core that is not below [`Handle::cores`].
    pub(crate) fn spawn_with<F>(&self, future: F, how: Spawn<'_>) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if let Some(core) = how.pin {
            let cores = self.cores();
            // The message names the caller: called through `baton::spawn_on`, the panic's own
            // location is inside the closure that looks the runtime up.
            assert!(
                core < cores,
                "spawn_on at {}: core {core} does not exist; this runtime has cores 0 to {}",
                how.site,
                cores - 1
            );
        }
        Shared::spawn_with(&self.shared, future, how)
    }

    /// The number of cores of this runtime, as built: online or not (see
    /// [`Handle::set_cores`]).
    pub fn cores(&self) -> usize {
        self.shared.cores.len()
    }

    /// The number of cores online now: cores `0` to `online_cores() - 1` take work. All of
    /// them ([`Handle::cores`]) unless [`Handle::set_cores`] took some offline.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton_executor::Runtime::builder().cores(2).build()?;
    /// assert_eq!(rt.handle().online_cores(), 2);
    /// rt.handle().set_cores(1)?;
    /// assert_eq!(rt.handle().online_cores(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn online_cores(&self) -> usize {
        self.shared.online()
    }

    /// Keeps `n` cores online, cores `0` to `n - 1`, while the runtime runs: the others go
    /// offline, or come back online. The most is the number of cores the runtime was built with
    /// ([`Handle::cores`]), which all start online.
    ///
    /// A core that goes offline stops taking new work at once. Its queued tasks move to the
    /// online cores; tasks pinned to it ([`Handle::spawn_on`], a work queue's
    /// [`Affinity::Core`](crate::Affinity::Core) or [`Affinity::Cores`](crate::Affinity::Cores))
    /// run on core `k % n` while their core `k` is offline. Its workers finish the polls and
    /// blocking sections they are in, move what they queued meanwhile, and park as spares
    /// until the core is online again. A core that comes online starts taking work at once.
    /// No task is lost or run twice, and a task running when its core goes offline is not
    /// interrupted. The offline cores' rows in [`Handle::stats`] say so
    /// ([`CoreStats::offline`](crate::CoreStats::offline)).
    ///
    /// # Errors
    ///
    /// Fails, changing nothing, if `n` is zero or above [`Handle::cores`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton_executor::Runtime::builder().cores(2).build()?;
    /// let handle = rt.handle();
    /// handle.set_cores(1)?;
    /// // Pinned to core 1, which is offline: it runs on core 1 % 1 = 0.
    /// let task = handle.spawn_on(1, async { baton_executor::current_core() });
    /// assert_eq!(rt.block_on(task)?, Some(0));
    /// handle.set_cores(2)?;
    /// let task = handle.spawn_on(1, async { baton_executor::current_core() });
    /// assert_eq!(rt.block_on(task)?, Some(1));
    /// assert!(!rt.stats().cores[1].offline);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_cores(&self, n: usize) -> Result<(), SetCoresError> {
        let max = self.cores();
        if n == 0 {
            return Err(SetCoresError::zero());
        }
        if n > max {
            return Err(SetCoresError::above_max(n, max));
        }
        self.shared.set_online(n);
        Ok(())
    }

    /// A snapshot of the runtime's counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Calls `callback(&snapshot, &delta)` every `interval`, on a thread of its own, with a
    /// snapshot of the runtime's counters and the activity since the previous call, until the
    /// returned [`StatsReporter`] is dropped. See [`StatsReporter`] for an example.
    ///
    /// # Errors
    ///
    /// Fails if the OS refuses the reporter's thread.
    pub fn report_stats(
        &self,
        interval: Duration,
        callback: impl FnMut(&Stats, &Stats) + Send + 'static,
    ) -> std::io::Result<StatsReporter> {
        let handle = self.clone();
        StatsReporter::start(interval, move || handle.stats(), callback)
    }

    /// Reports the runtime's activity to `tracing` every `interval`: one `INFO` event (target
    /// `baton::stats`) per core and per work queue whose counters moved, with the counters as
    /// fields, until the returned [`StatsReporter`] is dropped.
    ///
    /// # Errors
    ///
    /// Fails if the OS refuses the reporter's thread.
    #[cfg(feature = "tracing")]
    pub fn trace_stats(&self, interval: Duration) -> std::io::Result<StatsReporter> {
        self.report_stats(interval, |_, delta| crate::trace::stats(delta))
    }
}

/// Restores the previously current runtime when dropped; returned by [`Handle::enter`].
#[derive(Debug)]
#[must_use = "the runtime stays current only while the guard is alive"]
pub struct EnterGuard {
    previous: Option<Handle>,
    /// The guard restores a thread-local, so it must drop on the thread that made it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // `try_with`: a guard may drop while the thread's thread-locals are destroyed.
        let _ = CURRENT.try_with(|current| *current.borrow_mut() = previous);
    }
}
