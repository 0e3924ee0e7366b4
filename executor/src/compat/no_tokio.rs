//! Without the `tokio` feature: the shims the worker loop and `block_on` call, doing nothing.

use std::any::Any;
use std::marker::PhantomData;
use std::panic::Location;
use std::time::Instant;

/// How other runtimes' threads would enter the baton runtime.
pub(crate) type ThreadStart = Box<dyn Fn() -> Box<dyn Any> + Send + Sync>;

/// No tokio runtime.
#[derive(Debug, Default)]
pub(crate) struct TokioRuntime;

impl TokioRuntime {
    /// No tokio runtime.
    pub(crate) fn new() -> TokioRuntime {
        TokioRuntime
    }

    /// Nothing to enter.
    #[inline(always)]
    pub(crate) fn enter(&self, _baton: impl FnOnce() -> ThreadStart) -> NoContext {
        NoContext
    }

    /// Nothing to shut down.
    #[inline(always)]
    pub(crate) fn shutdown(&self, _deadline: Option<Instant>) {}
}

/// What [`TokioRuntime::enter`] returns without the feature: nothing to leave.
#[derive(Debug)]
pub(crate) struct NoContext;

/// No tokio context on worker threads.
#[derive(Debug, Default)]
pub(crate) struct WorkerContext<'a>(PhantomData<&'a ()>);

impl<'a> WorkerContext<'a> {
    /// No context.
    pub(crate) fn new() -> WorkerContext<'a> {
        WorkerContext(PhantomData)
    }

    /// Nothing to enter.
    #[inline(always)]
    pub(crate) fn ensure(
        &mut self,
        _runtime: &'a TokioRuntime,
        _baton: impl FnOnce() -> ThreadStart,
    ) {
    }
}

/// Runs `f`: without the feature, baton cannot see tokio's threads.
#[inline(always)]
pub(crate) fn leave_foreign_runtime<R>(
    _caller: &'static Location<'static>,
    f: impl FnOnce() -> R,
) -> R {
    f()
}
