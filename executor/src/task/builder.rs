//! Spawning a task with more than a future: a name.

use std::future::Future;
use std::panic::Location;

use super::large::boxed_if_large;
use super::{JoinHandle, Spawn};
use crate::handle::Handle;
use crate::queue::Name;

/// Spawns a task with a name, shown in its errors, in stall and detection reports, and in its
/// `tracing` span (so tokio-console lists it by name).
///
/// A name costs its task one heap allocation at spawn; a task spawned without one costs no
/// more than with [`spawn`](crate::spawn).
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let err = rt
///     .block_on(async {
///         baton::task::Builder::new()
///             .name("fetch")
///             .spawn(async { panic!("boom") })
///             .await
///     })
///     .unwrap_err();
/// assert_eq!(err.name(), Some("fetch"));
/// assert!(err.to_string().contains("\"fetch\" panicked: boom"), "{err}");
/// # Ok::<(), baton::BuildError>(())
/// ```
#[derive(Debug, Default)]
#[must_use = "a task builder spawns nothing until one of its spawn methods is called"]
pub struct Builder {
    name: Option<Name>,
}

impl Builder {
    /// A builder for a task with no name.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(Name::new(name));
        self
    }

    /// Spawns the task on the current runtime; it may run on any core.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime, as [`spawn`](crate::spawn) does; see [`Builder::spawn_with`].
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let how = self.how(None, Location::caller());
        boxed_if_large!(future => spawn_current(future, how))
    }

    /// Spawns the task on the current runtime, to run only on core `core`.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime, or if `core` is not below the runtime's core count.
    #[track_caller]
    pub fn spawn_on<F>(self, core: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let how = self.how(Some(core), Location::caller());
        boxed_if_large!(future => spawn_current(future, how))
    }

    /// Spawns the task on `handle`'s runtime, from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let task = baton::task::Builder::new()
    ///     .name("answer")
    ///     .spawn_with(&rt.handle(), async { 42 });
    /// assert_eq!(task.name(), Some("answer"));
    /// assert_eq!(rt.block_on(task)?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn spawn_with<F>(self, handle: &Handle, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let how = self.how(None, Location::caller());
        boxed_if_large!(future => handle.spawn_with(future, how))
    }

    fn how(self, pin: Option<usize>, site: &'static Location<'static>) -> Spawn<'static> {
        Spawn {
            pin,
            name: self.name,
            ..Spawn::at(site)
        }
    }
}

/// Spawns `future` as `how` says on the current runtime.
///
/// # Panics
///
/// Panics outside a runtime.
#[track_caller]
pub(crate) fn spawn_current<F>(future: F, how: Spawn<'_>) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Handle::with_current(|handle| handle.spawn_with(future, how)) {
        Ok(task) => task,
        Err(err) => panic!("{err}"),
    }
}
