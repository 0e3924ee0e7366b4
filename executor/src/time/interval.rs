//! Periodic ticks.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;

use super::sleep::{sleep_until, Sleep};

/// A stream of ticks every `period`, the first one at once.
///
/// # Panics
///
/// If `period` is zero.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let mut ticks = baton::time::interval(Duration::from_millis(10));
/// let first = ticks.tick().await;
/// let second = ticks.tick().await;
/// assert_eq!(second - first, Duration::from_millis(10));
/// assert!(Instant::now() >= second);
/// # });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(super::pause::now(), period)
}

/// A stream of ticks every `period`, the first one at `start`.
///
/// # Panics
///
/// If `period` is zero.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let start = Instant::now() + Duration::from_millis(5);
/// let mut ticks = baton::time::interval_at(start, Duration::from_millis(10));
/// assert_eq!(ticks.tick().await, start);
/// # });
/// ```
pub fn interval_at(start: impl Into<Instant>, period: Duration) -> Interval {
    let start = start.into();
    assert!(period > Duration::ZERO, "`period` must be non-zero");
    Interval {
        sleep: sleep_until(start),
        period,
        missed: MissedTickBehavior::default(),
    }
}

/// What an [`Interval`] does when ticks were missed (the task was late by a period or more).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use baton::time::{interval, MissedTickBehavior};
/// let mut ticks = interval(Duration::from_millis(10));
/// ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
/// assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Skip);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one per call, until caught up with the original
    /// schedule (the default, as in tokio).
    #[default]
    Burst,
    /// Start a new schedule: the next tick comes one period after the late one was taken.
    Delay,
    /// Drop the missed ticks: the next tick is the next one of the original schedule that is
    /// still in the future.
    Skip,
}

impl MissedTickBehavior {
    /// The deadline after a tick scheduled at `scheduled` was taken at `now`, when
    /// `now >= scheduled + period` (at least one tick was missed).
    fn next_after_miss(self, scheduled: Instant, now: Instant, period: Duration) -> Instant {
        let next = match self {
            MissedTickBehavior::Burst => scheduled.checked_add(period),
            MissedTickBehavior::Delay => now.checked_add(period),
            MissedTickBehavior::Skip => {
                let late = now.duration_since(scheduled).as_nanos();
                let periods = late / period.as_nanos() + 1;
                let skip = u32::try_from(periods).unwrap_or(u32::MAX);
                scheduled.checked_add(period.saturating_mul(skip))
            }
        };
        next.unwrap_or_else(|| super::sleep::deadline_after(period))
    }
}

/// Ticks at a fixed period; made by [`interval`] and [`interval_at`].
///
/// A tick never comes before its scheduled instant. It is also a [`Stream`] of the scheduled
/// instants.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let mut ticks = baton::time::interval(Duration::from_millis(1));
/// for _ in 0..3 {
///     ticks.tick().await;
/// }
/// # });
/// ```
#[derive(Debug)]
pub struct Interval {
    /// Completes at the next scheduled tick.
    sleep: Sleep,
    /// The period.
    period: Duration,
    /// What to do after missed ticks.
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let mut ticks = baton::time::interval(Duration::from_millis(5));
    /// let at = ticks.tick().await;
    /// assert!(Instant::now() >= at);
    /// # });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick, registering `cx`'s waker if it is not due.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let mut ticks = baton::time::interval(Duration::from_millis(5));
    /// let first = std::future::poll_fn(|cx| ticks.poll_tick(cx)).await;
    /// # let _ = first;
    /// # });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let now = super::pause::now();
        let next = match scheduled.checked_add(self.period) {
            Some(next) if now < next => next,
            Some(_) => self.missed.next_after_miss(scheduled, now, self.period),
            // A period too long for `Instant`: the next tick never comes.
            None => super::sleep::deadline_after(self.period),
        };
        self.sleep.reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick comes one period from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let mut ticks = baton::time::interval(Duration::from_millis(5));
    /// ticks.reset();
    /// let before = Instant::now();
    /// assert!(ticks.tick().await >= before);
    /// # });
    /// ```
    pub fn reset(&mut self) {
        self.sleep.reset(super::sleep::deadline_after(self.period));
    }

    /// Restarts the schedule with a tick due now: the next [`tick`](Interval::tick) returns
    /// at once, and the ones after it follow one period apart.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let mut ticks = baton::time::interval(Duration::from_secs(3600));
    /// ticks.tick().await; // the first tick is immediate
    /// ticks.reset_immediately();
    /// ticks.tick().await; // and so is this one, not an hour later
    /// # });
    /// ```
    pub fn reset_immediately(&mut self) {
        self.sleep.reset(super::pause::now());
    }

    /// Restarts the schedule with the next tick `after` from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let mut ticks = baton::time::interval(Duration::from_secs(3600));
    /// let before = Instant::now();
    /// ticks.reset_after(Duration::from_millis(5));
    /// assert!(ticks.tick().await >= before + Duration::from_millis(5));
    /// # });
    /// ```
    pub fn reset_after(&mut self, after: Duration) {
        self.sleep.reset(super::sleep::deadline_after(after));
    }

    /// Restarts the schedule with the next tick at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let mut ticks = baton::time::interval(Duration::from_secs(3600));
    /// let at = Instant::now() + Duration::from_millis(5);
    /// ticks.reset_at(at);
    /// assert_eq!(ticks.tick().await, at);
    /// # });
    /// ```
    pub fn reset_at(&mut self, deadline: impl Into<Instant>) {
        self.sleep.reset(deadline);
    }

    /// The period between ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ticks = baton::time::interval(Duration::from_millis(5));
    /// assert_eq!(ticks.period(), Duration::from_millis(5));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What the interval does after missed ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use baton::time::{interval, MissedTickBehavior};
    /// assert_eq!(interval(Duration::from_millis(5)).missed_tick_behavior(), MissedTickBehavior::Burst);
    /// ```
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets what the interval does after missed ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use baton::time::{interval, MissedTickBehavior};
    /// let mut ticks = interval(Duration::from_millis(5));
    /// ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::block_on;

    const P: Duration = Duration::from_millis(10);

    #[test]
    fn missed_tick_policies() {
        let t0 = Instant::now();
        // Taken 2.5 periods late.
        let now = t0 + P * 5 / 2;
        assert_eq!(
            MissedTickBehavior::Burst.next_after_miss(t0, now, P),
            t0 + P
        );
        assert_eq!(
            MissedTickBehavior::Delay.next_after_miss(t0, now, P),
            now + P
        );
        assert_eq!(
            MissedTickBehavior::Skip.next_after_miss(t0, now, P),
            t0 + P * 3
        );
        // Exactly one period late: skip to the tick after.
        assert_eq!(
            MissedTickBehavior::Skip.next_after_miss(t0, t0 + P, P),
            t0 + P * 2
        );
    }

    #[test]
    fn ticks_follow_the_schedule_and_never_come_early() {
        let mut ticks = interval(P);
        let first = block_on(ticks.tick());
        for i in 1..4 {
            let at = block_on(ticks.tick());
            assert_eq!(at, first + P * i);
            assert!(Instant::now() >= at);
        }
    }

    #[test]
    fn late_consumer_with_skip_loses_ticks() {
        let mut ticks = interval(P);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let first = block_on(ticks.tick());
        std::thread::sleep(P * 3);
        let late = block_on(ticks.tick());
        // The tick at first + P was missed; with Skip the one after comes on schedule.
        assert_eq!(late, first + P);
        let next = block_on(ticks.tick());
        assert!(next >= first + P * 4);
        assert_eq!((next - first).as_nanos() % P.as_nanos(), 0);
    }

    #[test]
    #[should_panic(expected = "non-zero")]
    fn zero_period_panics() {
        let _ = interval(Duration::ZERO);
    }

    #[test]
    fn a_period_too_long_for_instant_ticks_once_and_never_again() {
        // Polled by hand below, outside `block_on`: counted as a driver so the polls may arm.
        let _driver = crate::reactor::Driver::start();
        let mut ticks = interval(Duration::MAX);
        block_on(ticks.tick());
        let waker = futures::task::noop_waker_ref();
        let mut cx = Context::from_waker(waker);
        assert!(ticks.poll_tick(&mut cx).is_pending());
        ticks.reset();
        assert!(ticks.poll_tick(&mut cx).is_pending());
    }
}
