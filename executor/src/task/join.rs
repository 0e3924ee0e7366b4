//! Join handles and the error a join reports.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use async_task::FallibleTask;

use super::{Failure, Panic, QuietWaker, TaskId, TaskOutput};
use crate::queue::{Name, TaskMeta};

/// An owned permission to await a spawned task's output.
///
/// Awaiting it yields `Ok(value)`, or a [`JoinError`] if the task panicked or was cancelled
/// (aborted, or dropped by the runtime's shutdown). Dropping the handle detaches the task: it
/// keeps running and its output is dropped.
///
/// # Priority inheritance
///
/// A [`High`](crate::Priority::High) task awaiting the handle of an unfinished task raises
/// that task to `High` until it completes: it is queued ahead of `Normal` and `Idle` work,
/// moved there if it already waits behind such work, and what it awaits is raised in turn.
/// Giving up the wait (dropping the handle, a timeout) does not lower it again. A task of any
/// other class awaiting a handle changes nothing. See [`Priority`](crate::Priority).
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let sum = rt.block_on(async {
///     let handle = baton::spawn(async { 40 + 2 });
///     handle.await
/// })?;
/// assert_eq!(sum, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinHandle<T> {
    /// `None` only after the output was taken.
    task: Option<FallibleTask<TaskOutput<T>, TaskMeta>>,
    /// The task's metadata, in its header. `FallibleTask` does not expose it, so the handle
    /// keeps a pointer taken from the `Task` it was made from.
    meta: NonNull<TaskMeta>,
    /// Wakes the task so an abort takes effect even if nothing else would wake it.
    waker: Waker,
    /// The task's id and name, for its errors.
    name: TaskName,
    /// The waker registered with the task for the handle's awaiter, once it waited: the task
    /// wakes it when it finishes inside async-task's abort-on-panic guard (on the worker that
    /// completed or cancelled it, or in the runtime's drop), so a panic of the awaiter's
    /// waker must not escape there (tokio contains it too).
    awaiter: Option<std::sync::Arc<QuietWaker>>,
}

/// What names a task in its errors: its id, its name if it has one, and the work queue it
/// belongs to, if any.
#[derive(Clone, Debug)]
struct TaskName {
    id: TaskId,
    name: Option<Name>,
    queue: Option<std::sync::Arc<str>>,
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {:?}", name.as_str())?;
        }
        match &self.queue {
            Some(queue) => write!(f, " of queue {queue:?}"),
            None => Ok(()),
        }
    }
}

// SAFETY: the only field that is not `Send`/`Sync` on its own is `meta`, a pointer to a
// `TaskMeta` (itself `Sync`: an atomic word) inside the task's allocation, which the handle
// only reads through a shared reference. The other fields are `Send`/`Sync` when `T: Send`, as
// async-task's own `Task<T>` is.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: see the `Send` impl; `&JoinHandle` only reads `meta` and calls `is_finished`, which
// async-task allows from any thread.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(super) fn new(
        task: async_task::Task<TaskOutput<T>, TaskMeta>,
        waker: Waker,
        id: TaskId,
        queue: Option<std::sync::Arc<str>>,
    ) -> Self {
        let name = task.metadata().name().cloned();
        let meta = NonNull::from(task.metadata());
        JoinHandle {
            task: Some(task.fallible()),
            meta,
            waker,
            name: TaskName { id, name, queue },
            awaiter: None,
        }
    }

    /// The task's name, if it was spawned with one ([`task::Builder`](crate::task::Builder)).
    pub fn name(&self) -> Option<&str> {
        self.name.name.as_ref().map(Name::as_str)
    }

    /// The task's id, unique in the process; its [`JoinError`] carries it too.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let task = rt.spawn(async { panic!("boom") });
    /// let id = task.id();
    /// let err = rt.block_on(task).unwrap_err();
    /// assert_eq!(err.id(), id);
    /// assert_eq!(err.to_string(), format!("task {id} panicked: boom"));
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn id(&self) -> TaskId {
        self.name.id
    }

    /// Cancels the task: at its next turn its future is dropped instead of polled, and awaiting
    /// this handle yields an error for which [`JoinError::is_cancelled`] is true, or
    /// [`JoinError::is_panic`] if the future panicked while it was dropped.
    ///
    /// A task that already completed keeps its output. A task running right now stops at its
    /// next `.await` point.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// rt.block_on(async {
    ///     let handle = baton::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn abort(&self) {
        if let Some(task) = &self.task {
            if !task.is_finished() {
                // SAFETY: `meta` points into the task's header, which stays allocated while
                // `task` (a reference-counted handle to it) is alive, as it is here.
                unsafe { self.meta.as_ref() }.abort();
                self.waker.wake_by_ref();
            }
        }
    }

    /// Whether the task has finished: completed, panicked or been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let handle = rt.spawn(async {});
    /// while !handle.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// # Ok::<(), baton::BuildError>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|task| task.is_finished())
    }
}

/// A `JoinHandle` is terminated once it returned the task's output (or error): `select!` loops
/// skip it from then on instead of polling it again, which would panic.
///
/// # Examples
///
/// ```
/// use futures::future::FusedFuture;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let mut task = baton::spawn(async { 1 });
/// assert!(!task.is_terminated());
/// assert_eq!((&mut task).await.unwrap(), 1);
/// assert!(task.is_terminated());
/// # });
/// ```
impl<T> futures_core::FusedFuture for JoinHandle<T> {
    fn is_terminated(&self) -> bool {
        self.task.is_none()
    }
}

impl<T> JoinHandle<T> {
    /// Panics if this thread runs the tasks of an ordered work queue and this handle's task,
    /// unfinished, is one of them: it starts only once the task polling it ended, so the wait
    /// would never end.
    fn check_not_behind(&self) {
        let line = crate::context::ordered_queue();
        // SAFETY: as in `abort`: `task` is alive while the handle is polled.
        if line != 0 && unsafe { self.meta.as_ref() }.queue_id() == line {
            panic!(
                "a task of an ordered work queue awaits {}, a later task of the same queue: \
                 that task starts only once this one has ended, so this would wait for ever; \
                 await it from outside the queue, or spawn one of them elsewhere",
                self.name
            );
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    /// # Panics
    ///
    /// Panics if polled again after it returned `Ready`.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let finished = self.is_finished();
        if finished {
            // Taking a finished task's output spends the cooperative budget (see `coop`).
            std::task::ready!(crate::coop::poll_proceed(cx)).made_progress()
        }
        // A finished task registers no waker: its output is taken at once.
        let awaiter = (!finished).then(|| QuietWaker::waker_for(&mut self.awaiter, cx.waker()));
        let task = self
            .task
            .as_mut()
            .expect("JoinHandle polled after it completed");
        let polled = match &awaiter {
            Some(awaiter) => Pin::new(task).poll(&mut Context::from_waker(awaiter)),
            None => Pin::new(task).poll(cx),
        };
        let output = match polled {
            Poll::Pending => {
                self.check_not_behind();
                if super::boost::awaiter_is_high() {
                    // SAFETY: as in `abort`: `task` is alive while the handle is polled.
                    super::boost::raise(unsafe { self.meta.as_ref() });
                }
                return Poll::Pending;
            }
            // Closed before it ran to the end: its `Runnable` was dropped.
            Poll::Ready(None) => Err(JoinError::new(Kind::Cancelled, self.name.clone())),
            Poll::Ready(Some(output)) => match output.into_inner() {
                Ok(value) => Ok(value),
                Err(failure) => {
                    let kind = match failure {
                        Failure::Cancelled => Kind::Cancelled,
                        Failure::Panicked(panic) => Kind::Panic {
                            payload: std::sync::Mutex::new(panic),
                            cancelling: false,
                        },
                        Failure::PanickedWhileCancelled(panic) => Kind::Panic {
                            payload: std::sync::Mutex::new(panic),
                            cancelling: true,
                        },
                    };
                    Err(JoinError::new(kind, self.name.clone()))
                }
            },
        };
        self.task = None;
        Poll::Ready(output)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.name.id)
            .field("name", &self.name())
            .field("queue", &self.name.queue)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// Why a task produced no value: it panicked, or it was cancelled. Its message names the task
/// (its [`TaskId`], its name and its work queue if it has them).
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let task = rt.spawn(async { panic!("boom") });
/// let id = task.id();
/// let err = rt.block_on(task).unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.to_string(), format!("task {id} panicked: boom"));
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// # Ok::<(), baton::BuildError>(())
/// ```
pub struct JoinError {
    kind: Kind,
    name: TaskName,
}

enum Kind {
    Cancelled,
    /// The payload sits in a mutex only to make `JoinError` `Sync` (the payload is only `Send`);
    /// it is locked solely to format the message or to take the payload out. `cancelling`: the
    /// future panicked while it was dropped by a cancellation.
    Panic {
        payload: std::sync::Mutex<Panic>,
        cancelling: bool,
    },
}

impl JoinError {
    fn new(kind: Kind, name: TaskName) -> JoinError {
        JoinError { kind, name }
    }

    /// The id of the task, as [`JoinHandle::id`] gave it.
    pub fn id(&self) -> TaskId {
        self.name.id
    }

    /// The task's name, if it was spawned with one; the message names it too.
    pub fn name(&self) -> Option<&str> {
        self.name.name.as_ref().map(Name::as_str)
    }

    /// Whether the task was cancelled (aborted, or dropped by the runtime's shutdown) and its
    /// future was dropped without panicking.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, Kind::Cancelled)
    }

    /// Whether the task panicked: in a poll, or while its future was dropped (after it
    /// completed, or when it was cancelled).
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, Kind::Panic { .. })
    }

    /// The task's panic payload, to inspect or to resume with `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// Panics if the task did not panic; use [`JoinError::try_into_panic`] to check.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("JoinError::into_panic called on a cancelled task's error")
    }

    /// The task's panic payload, or the error back if the task was cancelled.
    ///
    /// # Errors
    ///
    /// Returns `self` if the task was cancelled rather than panicking.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.kind {
            Kind::Panic { payload, .. } => Ok(payload
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner())),
            Kind::Cancelled => Err(self),
        }
    }
}

/// The panic message, when the payload is a string.
fn panic_message(payload: &std::sync::Mutex<Panic>) -> Option<String> {
    let payload = payload
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    payload
        .downcast_ref::<&'static str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.kind {
            Kind::Cancelled => write!(f, "{name} was cancelled"),
            Kind::Panic {
                payload,
                cancelling,
            } => {
                let what = if *cancelling {
                    "panicked while it was cancelled"
                } else {
                    "panicked"
                };
                match panic_message(payload) {
                    Some(message) => write!(f, "{name} {what}: {message}"),
                    None => write!(f, "{name} {what}"),
                }
            }
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (variant, message) = match &self.kind {
            Kind::Cancelled => ("JoinError::Cancelled", None),
            Kind::Panic {
                payload,
                cancelling: false,
            } => ("JoinError::Panic", Some(panic_message(payload))),
            Kind::Panic {
                payload,
                cancelling: true,
            } => (
                "JoinError::PanicWhileCancelled",
                Some(panic_message(payload)),
            ),
        };
        let mut tuple = f.debug_tuple(variant);
        tuple.field(&self.name.id);
        if let Some(name) = &self.name.name {
            tuple.field(&name.as_str());
        }
        if let Some(queue) = &self.name.queue {
            tuple.field(queue);
        }
        match message {
            Some(Some(message)) => tuple.field(&message).finish(),
            Some(None) => tuple.finish_non_exhaustive(),
            None => tuple.finish(),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        std::io::Error::other(err.to_string())
    }
}
