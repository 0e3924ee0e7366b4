//! Why a work queue refuses a task: [`SpawnError`], which gives the future back.

use std::error::Error;
use std::fmt;

/// Why a work queue refused a task, from [`WorkQueue::try_spawn`](super::WorkQueue::try_spawn);
/// gives the future back.
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let q = baton::WorkQueue::builder("q").build(&rt.handle())?;
/// q.close();
/// let err = q.try_spawn(async { 1 }).unwrap_err();
/// assert!(err.is_closed());
/// let future = err.into_inner();
/// assert_eq!(rt.block_on(future), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SpawnError<F> {
    future: F,
    reason: Refusal,
}

/// Why a queue refuses new tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// `close` was called.
    Closed,
    /// A `drain` is in progress and the spawn came from outside the queue.
    Draining,
    /// The runtime shut down.
    Shutdown,
}

impl<F> SpawnError<F> {
    pub(super) fn new(future: F, reason: Refusal) -> SpawnError<F> {
        SpawnError { future, reason }
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.reason == Refusal::Closed
    }

    /// Whether the queue was draining (and the spawn came from outside the queue).
    pub fn is_draining(&self) -> bool {
        self.reason == Refusal::Draining
    }

    /// Whether the runtime had shut down.
    pub fn is_shutdown(&self) -> bool {
        self.reason == Refusal::Shutdown
    }

    /// The future that was not spawned.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.reason {
            Refusal::Closed => "the work queue is closed",
            Refusal::Draining => "the work queue is draining",
            Refusal::Shutdown => "the runtime has shut down",
        })
    }
}

impl<F> Error for SpawnError<F> {}
