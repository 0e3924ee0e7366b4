//! The `tokio` feature: a tokio runtime owned by the baton runtime, whose context baton's
//! threads enter, so tokio's APIs work inside baton tasks.
//!
//! # How it works
//!
//! 1. **Start.** The baton runtime owns a [`TokioRuntime`]: a multi-thread tokio runtime of
//!    [`TOKIO_WORKER_THREADS`] threads with its I/O and time drivers, started the first time a
//!    baton thread takes work or `block_on` is called (a runtime that never runs a task never
//!    starts it).
//! 2. **Enter.** Each baton worker enters that runtime's context (`tokio::runtime::Handle::enter`)
//!    the first time it is handed work, and stays in it for the rest of its life
//!    ([`WorkerContext`]): one check per wake-up, nothing per poll. `Runtime::block_on` enters it
//!    for the length of the call. So `tokio::spawn`, `tokio::time::sleep`,
//!    `tokio::net::TcpStream::connect` and everything built on them work in every baton task,
//!    children included, with no wrapper.
//! 3. **Drive.** tokio's I/O and timers are driven by tokio's own threads, which wake the baton
//!    tasks that wait on them; futures passed to `tokio::spawn` run on those threads, which are in
//!    the baton runtime's context too (`baton::spawn` and `Handle::current` work there).
//! 4. **Shut down.** When the baton runtime shuts down, its tasks are cancelled and its workers
//!    joined first, then the tokio runtime is shut down: waiting for its blocking threads as long
//!    as the baton shutdown waits (all of it on `drop`, until the timeout with
//!    `Runtime::shutdown_timeout`), or in the background when the thread shutting down is itself
//!    inside a tokio runtime, where blocking is not allowed.
//! 5. **Foreign runtimes.** `Runtime::block_on` called on a thread of another tokio runtime goes
//!    through [`leave_foreign_runtime`]: on a multi-thread runtime's worker it first hands that
//!    worker's tokio core over (`tokio::task::block_in_place`), so tokio goes on; on a
//!    current-thread runtime, which cannot go on without its one thread, it panics and says so.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use tokio::runtime::{EnterGuard, Handle};

/// Threads of the tokio runtime behind the `tokio` feature: enough to spread tokio's I/O and
/// `tokio::spawn`ed tasks over more than one thread, few enough to leave the CPUs to baton's
/// workers (those threads sleep in tokio's driver when nothing tokio-driven is ready).
pub const TOKIO_WORKER_THREADS: usize = 2;

/// Makes the baton runtime current on the calling thread for as long as the returned value
/// lives (run on each of the tokio runtime's threads as it starts).
pub(crate) type ThreadStart = Box<dyn Fn() -> Box<dyn Any> + Send + Sync>;

thread_local! {
    /// On the tokio runtime's threads: what [`ThreadStart`] returned, until the thread stops.
    static BATON_CONTEXT: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// The tokio runtime a baton runtime owns; started on first use.
#[derive(Debug)]
pub(crate) struct TokioRuntime {
    /// Its handle, once started (kept after shutdown: tokio calls then fail as tokio's own do
    /// on a runtime being shut down).
    handle: OnceLock<Handle>,
    /// The runtime, until shutdown takes it.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    /// Set once the baton runtime shuts down: no tokio runtime is started from then on.
    closed: AtomicBool,
}

impl TokioRuntime {
    /// Not started yet.
    pub(crate) fn new() -> TokioRuntime {
        TokioRuntime {
            handle: OnceLock::new(),
            runtime: Mutex::new(None),
            closed: AtomicBool::new(false),
        }
    }

    /// The tokio runtime's handle, starting it if this is the first use; `None` after shutdown
    /// began before it was ever started, or if the OS refused its threads (reported on
    /// standard error; the next use tries again).
    fn handle(&self, baton: impl FnOnce() -> ThreadStart) -> Option<&Handle> {
        if let Some(handle) = self.handle.get() {
            return Some(handle);
        }
        let mut runtime = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
        // Relaxed: read and written under the `runtime` mutex.
        if self.closed.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(handle) = self.handle.get() {
            return Some(handle);
        }
        let enter_baton = baton();
        let started = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(TOKIO_WORKER_THREADS)
            .thread_name("baton-tokio")
            .on_thread_start(move || {
                let entered = enter_baton();
                BATON_CONTEXT.with(|context| *context.borrow_mut() = Some(entered));
            })
            .on_thread_stop(|| drop(BATON_CONTEXT.with(|context| context.borrow_mut().take())))
            .enable_all()
            .build();
        match started {
            Ok(started) => {
                let handle = self.handle.get_or_init(|| started.handle().clone());
                *runtime = Some(started);
                Some(handle)
            }
            Err(err) => {
                eprintln!("baton: cannot start the tokio runtime of the `tokio` feature: {err}");
                None
            }
        }
    }

    /// Enters the tokio context until the guard is dropped (for `block_on`); `baton` tells
    /// how the tokio threads enter the baton runtime, if this starts them.
    pub(crate) fn enter(&self, baton: impl FnOnce() -> ThreadStart) -> Option<EnterGuard<'_>> {
        self.handle(baton).map(Handle::enter)
    }

    /// Shuts the tokio runtime down (the *shut down* step of the [module docs](self)), waiting for
    /// its blocking threads at most until `deadline` if given.
    pub(crate) fn shutdown(&self, deadline: Option<Instant>) {
        let runtime = {
            let mut runtime = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
            // Relaxed: under the mutex.
            self.closed.store(true, Ordering::Relaxed);
            runtime.take()
        };
        let Some(runtime) = runtime else {
            return;
        };
        let ours = runtime.handle().id();
        // Blocking is not allowed in a tokio task or another tokio runtime's `block_on`; this
        // runtime's own context, entered by baton's threads, allows it.
        let in_tokio = tokio::task::try_id().is_some()
            || Handle::try_current().is_ok_and(|current| current.id() != ours);
        match deadline {
            _ if in_tokio => runtime.shutdown_background(),
            Some(deadline) => {
                runtime.shutdown_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => drop(runtime),
        }
    }
}

/// A baton worker thread's stay in the tokio context (the *enter* step of the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct WorkerContext<'a> {
    guard: Option<EnterGuard<'a>>,
}

impl<'a> WorkerContext<'a> {
    /// Not entered yet.
    pub(crate) fn new() -> WorkerContext<'a> {
        WorkerContext { guard: None }
    }

    /// Enters `runtime`'s context unless this thread did already (once per wake-up); `baton`
    /// as in [`TokioRuntime::enter`].
    #[inline]
    pub(crate) fn ensure(
        &mut self,
        runtime: &'a TokioRuntime,
        baton: impl FnOnce() -> ThreadStart,
    ) {
        if self.guard.is_none() {
            self.guard = runtime.enter(baton);
        }
    }
}

/// Runs `f`, a `block_on` called at `caller`, so that it cannot stall a tokio runtime whose
/// thread this is (the *foreign runtimes* step of the [module docs](self)).
///
/// # Panics
///
/// On a thread of a tokio current-thread runtime (in its `block_on` or one of its tasks), and
/// if `f` panics.
pub(crate) fn leave_foreign_runtime<R>(
    caller: &'static Location<'static>,
    f: impl FnOnce() -> R,
) -> R {
    if Handle::try_current().is_err() {
        return f();
    }
    let mut f = Some(f);
    let mut out = None;
    // `block_in_place` runs the closure at once off tokio's runtime threads, hands the core
    // over first on a multi-thread worker, and refuses (panics) on a current-thread runtime.
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
        tokio::task::block_in_place(|| out = f.take().map(|f| f()));
    }));
    match (ran, out) {
        (Ok(()), Some(out)) => out,
        (Err(_), _) if f.is_some() => panic!(
            "baton: Runtime::block_on called at {caller} on a thread of a tokio current-thread \
             runtime (inside its block_on or one of its tasks): blocking that thread would \
             stall the tokio runtime. Spawn the future on baton and `.await` its JoinHandle \
             instead, or use tokio's multi-thread runtime, where baton's block_on hands the \
             tokio worker's core over first"
        ),
        (Err(payload), _) => std::panic::resume_unwind(payload),
        (Ok(()), None) => unreachable!("block_in_place returned without running its closure"),
    }
}
