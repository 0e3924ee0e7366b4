//! The `Sleep` future.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use super::pause;
use crate::clock::Clock;
use crate::coop;
use crate::reactor::{assert_driven, Reactor};

/// How far in the future a deadline that would overflow `Instant` is put (about 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The deadline `duration` from now, saturating at [`FAR_FUTURE`].
pub(super) fn deadline_after(duration: Duration) -> Instant {
    let now = pause::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + FAR_FUTURE)
}

/// Waits until `duration` has elapsed.
///
/// The returned future completes no earlier than `duration` after this call.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let start = Instant::now();
/// baton::time::sleep(Duration::from_millis(20)).await;
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// # });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// Waits until `deadline` is reached.
///
/// The returned future completes no earlier than `deadline`; a deadline in the past completes
/// at the first poll.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let deadline = Instant::now() + Duration::from_millis(20);
/// baton::time::sleep_until(deadline).await;
/// assert!(Instant::now() >= deadline);
/// # });
/// ```
pub fn sleep_until(deadline: impl Into<Instant>) -> Sleep {
    Sleep {
        deadline: deadline.into(),
        timer: None,
        paused: None,
        completed: false,
    }
}

/// A future that completes at a deadline; made by [`sleep`] and [`sleep_until`].
///
/// It arms a timer in the reactor when first polled and disarms it when dropped, so a `Sleep`
/// that is never polled costs nothing.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let mut sleep = baton::time::sleep(Duration::from_secs(3600));
/// sleep.reset(Instant::now() + Duration::from_millis(5));
/// sleep.await;
/// # });
/// ```
#[derive(Debug)]
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    /// When it completes.
    deadline: Instant,
    /// The armed reactor timer's id, if polled and not yet complete.
    timer: Option<u64>,
    /// The timer armed in a paused clock instead, if any.
    paused: Option<Box<PausedTimer>>,
    /// Returned `Ready` since it was made or last [reset](Sleep::reset).
    completed: bool,
}

/// A timer armed in a paused clock (see [`pause`](super::pause())).
#[derive(Debug)]
struct PausedTimer {
    clock: std::sync::Arc<Clock>,
    id: u64,
    /// The deadline it is armed at.
    deadline: Instant,
}

impl Sleep {
    /// The instant at which this future completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(baton::time::sleep_until(deadline).deadline(), deadline);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// assert!(baton::time::sleep(Duration::ZERO).is_elapsed());
    /// assert!(!baton::time::sleep(Duration::from_secs(60)).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        pause::now() >= self.deadline
    }

    /// Moves the deadline, whether or not the future already completed.
    ///
    /// A pending sleep keeps the waker of its last poll: the task awaiting it is woken at the
    /// new deadline, earlier or later, even if another task or thread moved it (through a
    /// shared `Mutex<Sleep>`, say). A completed sleep is pending again if the new deadline is
    /// in the future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut sleep = baton::time::sleep(Duration::ZERO);
    /// let later = Instant::now() + Duration::from_secs(60);
    /// sleep.reset(later);
    /// assert!(!sleep.is_elapsed());
    /// ```
    pub fn reset(&mut self, deadline: impl Into<Instant>) {
        let deadline = deadline.into();
        self.deadline = deadline;
        self.completed = false;
        if let Some(id) = self.timer {
            let real = pause::current_clock().map_or(deadline, |clock| clock.to_real(deadline));
            self.timer = Some(Reactor::get().reset_timer(id, real));
        }
        if let Some(paused) = &mut self.paused {
            match paused.clock.reset(paused.id, paused.deadline, deadline) {
                Some(id) => {
                    paused.id = id;
                    paused.deadline = deadline;
                }
                None => self.paused = None,
            }
        }
    }

    /// Removes the armed timers, if any.
    fn disarm(&mut self) {
        if let Some(id) = self.timer.take() {
            Reactor::get().remove_timer(id);
        }
        self.disarm_paused();
    }

    /// Removes the timer armed in a paused clock, if any.
    fn disarm_paused(&mut self) {
        if let Some(paused) = self.paused.take() {
            paused.clock.disarm(paused.id, paused.deadline);
        }
    }

    /// Polls by the clock of a runtime whose clock was paused at some point (see
    /// [`pause`](super::pause())).
    fn poll_virtual(&mut self, clock: std::sync::Arc<Clock>, cx: &mut Context<'_>) -> bool {
        if clock.now() >= self.deadline {
            self.disarm();
            return true;
        }
        if clock.is_paused() {
            if let Some(id) = self.timer.take() {
                Reactor::get().remove_timer(id);
            }
            let current = self
                .paused
                .as_ref()
                .filter(|p| std::sync::Arc::ptr_eq(&p.clock, &clock) && p.deadline == self.deadline)
                .map(|p| p.id);
            if current.is_none() {
                self.disarm_paused();
            }
            if let Some(id) = clock.arm(current, self.deadline, cx.waker()) {
                if current != Some(id) {
                    self.paused = Some(Box::new(PausedTimer {
                        clock,
                        id,
                        deadline: self.deadline,
                    }));
                }
                pause::arm_check_current();
                return false;
            }
            // Resumed meanwhile: arm in the reactor below.
        }
        // Running, ahead of (or behind) the real clock: a reactor timer at the real instant.
        self.disarm_paused();
        let reactor = Reactor::get();
        let real = clock.to_real(self.deadline);
        self.timer = Some(match self.timer {
            Some(id) => reactor.update_timer(real, id, cx.waker()),
            None => reactor.insert_timer(real, cx.waker()),
        });
        false
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A due sleep spends the task's cooperative budget, so a loop of them yields.
        let charge = ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        if let Some(clock) = pause::current_clock() {
            if this.poll_virtual(clock, cx) {
                this.completed = true;
                charge.made_progress();
                return Poll::Ready(());
            }
            assert_driven("a baton timer (`sleep`, `timeout`, `interval`)");
            return Poll::Pending;
        }
        if this.paused.is_some() {
            // Polled outside the paused runtime now.
            this.disarm_paused();
        }
        let reactor = Reactor::get();
        // A woken timer learns that it fired without reading the clock; a first poll must.
        let fired = this.timer.is_some() && reactor.timer_fired(this.deadline);
        if fired || Instant::now() >= this.deadline {
            // Not disarmed: the timer is due, so it fired already, or the reactor's next batch
            // of due timers fires it (a spurious wake-up at most). That saves a lock.
            this.timer = None;
            this.completed = true;
            charge.made_progress();
            return Poll::Ready(());
        }
        match this.timer {
            Some(id) => this.timer = Some(reactor.update_timer(this.deadline, id, cx.waker())),
            None => this.timer = Some(reactor.insert_timer(this.deadline, cx.waker())),
        }
        assert_driven("a baton timer (`sleep`, `timeout`, `interval`)");
        Poll::Pending
    }
}

/// A `Sleep` is terminated once it returned `Ready`, until [`Sleep::reset`] gives it a new
/// deadline: `select!` loops skip it meanwhile.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use futures::future::FusedFuture;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let mut sleep = baton::time::sleep(Duration::from_millis(1));
/// assert!(!sleep.is_terminated());
/// (&mut sleep).await;
/// assert!(sleep.is_terminated());
/// sleep.reset(Instant::now() + Duration::from_millis(1));
/// assert!(!sleep.is_terminated());
/// # });
/// ```
impl futures_core::FusedFuture for Sleep {
    fn is_terminated(&self) -> bool {
        self.completed
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::block_on;

    #[test]
    fn sleep_never_returns_early() {
        for ms in [0, 1, 3, 10] {
            let start = Instant::now();
            block_on(sleep(Duration::from_millis(ms)));
            assert!(start.elapsed() >= Duration::from_millis(ms), "{ms} ms");
        }
    }

    #[test]
    fn dropping_a_pending_sleep_disarms_it() {
        // Polled by hand, outside `block_on`: counted as a driver so the poll may arm it.
        let _driver = crate::reactor::Driver::start();
        let mut sleep = sleep(Duration::from_secs(3600));
        let waker = futures::task::noop_waker_ref();
        assert!(Pin::new(&mut sleep)
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        let id = sleep.timer.expect("armed");
        assert!(Reactor::get().has_timer(id));
        drop(sleep);
        assert!(!Reactor::get().has_timer(id));
    }

    #[test]
    fn huge_duration_does_not_overflow() {
        let sleep = sleep(Duration::MAX);
        assert!(!sleep.is_elapsed());
    }
}
