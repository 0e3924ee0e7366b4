//! hyper's runtime traits: an executor that spawns on baton, a timer over baton's timers.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::handle::Handle;
use crate::time::{self, Sleep};

/// `hyper::rt::Executor` for baton: spawns each future as a detached task on a runtime.
///
/// # Examples
///
/// ```
/// # use baton_executor as baton; // `baton::hyper` needs the facade's `hyper` feature
/// # baton::Runtime::new().unwrap().block_on(async {
/// let executor = baton::hyper::Executor::current();
/// let builder = hyper::client::conn::http1::Builder::new();
/// let pooled = hyper_util::client::legacy::Client::builder(executor);
/// # let _ = (builder, pooled);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Executor {
    handle: Handle,
}

impl Executor {
    /// An executor spawning on the runtime this thread runs in.
    ///
    /// # Panics
    ///
    /// Outside a runtime (see [`Handle::current`]); use [`Executor::from`] a handle there.
    #[track_caller]
    pub fn current() -> Executor {
        Executor {
            handle: Handle::current(),
        }
    }
}

impl From<Handle> for Executor {
    /// An executor spawning on `handle`'s runtime.
    fn from(handle: Handle) -> Executor {
        Executor { handle }
    }
}

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Detached: hyper watches its own tasks (a connection ends when its peer does).
        drop(self.handle.spawn(future));
    }
}

/// `hyper::rt::Timer` over [`baton::time`](crate::time), so hyper's timeouts fire
/// (`header_read_timeout`, keep-alive, the pool's idle timeout).
///
/// # Examples
///
/// ```
/// # use baton_executor as baton; // `baton::hyper` needs the facade's `hyper` feature
/// use std::time::Duration;
/// let mut builder = hyper::server::conn::http1::Builder::new();
/// builder
///     .timer(baton::hyper::Timer)
///     .header_read_timeout(Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer;

impl hyper::rt::Sleep for Sleep {}

impl hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(time::sleep_until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Sleep>() {
            // Moved in place: no new allocation, and the timer keeps its waker.
            Some(ours) => ours.get_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
