//! Cooperative yielding.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields the current task once, letting the core run other queued tasks first.
///
/// The task goes to the back of its core's queue, so a task that keeps yielding cannot starve
/// the others.
///
/// # Examples
///
/// ```
/// # let rt = baton::Runtime::new()?;
/// # rt.block_on(async {
/// for _ in 0..3 {
///     baton::yield_now().await;
/// }
/// # });
/// # Ok::<(), baton::BuildError>(())
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
