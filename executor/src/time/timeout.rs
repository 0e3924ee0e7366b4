//! Bounding a future by a deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use std::{error, fmt, io};

use super::sleep::{deadline_after, sleep_until, Sleep};
use crate::coop;

/// Runs `future` for at most `duration`.
///
/// The returned future resolves to the future's output, or to [`Elapsed`] if `duration`
/// passes first (the inner future is then dropped when the `Timeout` is).
///
/// # Errors
///
/// [`Elapsed`] if the deadline passes before `future` completes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use baton::time::{sleep, timeout};
/// # baton::Runtime::new().unwrap().block_on(async {
/// assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
/// assert!(timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))).await.is_err());
/// # });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    timeout_at(deadline_after(duration), future)
}

/// Runs `future` until `deadline` at most.
///
/// # Errors
///
/// [`Elapsed`] if the deadline passes before `future` completes.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use baton::time::{sleep, timeout_at};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let deadline = Instant::now() + Duration::from_millis(5);
/// let err = timeout_at(deadline, sleep(Duration::from_secs(60))).await.unwrap_err();
/// assert!(Instant::now() >= deadline);
/// # let _ = err;
/// # });
/// ```
pub fn timeout_at<F: Future>(deadline: impl Into<Instant>, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

pin_project_lite::pin_project! {
    /// A future bounded by a deadline; made by [`timeout`] and [`timeout_at`].
    ///
    /// The inner future is polled first, so a future that is ready at its deadline wins. The
    /// deadline is checked even when the inner future spent the task's [cooperative
    /// budget](crate::coop), so a future that is always ready still times out.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let bounded = baton::time::timeout(Duration::from_secs(1), async { "done" });
    /// assert_eq!(bounded.await, Ok("done"));
    /// # });
    /// ```
    #[derive(Debug)]
    #[must_use = "a Timeout does nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The bounded future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let bounded = baton::time::timeout(Duration::from_secs(1), std::future::ready(3));
    /// let _inner: &std::future::Ready<i32> = bounded.get_ref();
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// Unwraps the bounded future, dropping the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let bounded = baton::time::timeout(Duration::from_secs(1), std::future::ready(3));
    /// let _inner: std::future::Ready<i32> = bounded.into_inner();
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let had_budget = coop::has_budget_remaining();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let mut sleep = Pin::new(this.sleep);
        // If the inner future spent the task's cooperative budget, the deadline is still
        // checked (with the budget lifted): otherwise a future that is always ready would
        // never let its timeout fire.
        let polled = if had_budget && !coop::has_budget_remaining() {
            coop::with_unconstrained(|| sleep.as_mut().poll(cx))
        } else {
            sleep.poll(cx)
        };
        match polled {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error of a [`Timeout`] whose deadline passed first.
///
/// It converts into an [`io::Error`] of kind [`io::ErrorKind::TimedOut`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use baton::time::{sleep, timeout};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let err = timeout(Duration::ZERO, sleep(Duration::from_secs(60))).await.unwrap_err();
/// assert_eq!(err.to_string(), "deadline has elapsed");
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::block_on;
    use crate::time::sleep;

    #[test]
    fn ready_future_beats_its_deadline() {
        assert_eq!(block_on(timeout(Duration::ZERO, async { 1 })), Ok(1));
    }

    #[test]
    fn slow_future_times_out_no_earlier_than_the_deadline() {
        let start = Instant::now();
        let out = block_on(timeout(
            Duration::from_millis(20),
            sleep(Duration::from_secs(3600)),
        ));
        assert_eq!(out, Err(Elapsed(())));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn fast_enough_future_completes() {
        let out = block_on(timeout(Duration::from_secs(3600), async {
            sleep(Duration::from_millis(5)).await;
            "done"
        }));
        assert_eq!(out, Ok("done"));
    }
}
