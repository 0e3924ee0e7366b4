//! `Instant`: a reading of the current runtime's clock, which tests may pause.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// A measurement of the current runtime's clock: `std::time::Instant`, except that
/// [`Instant::now`] reads the runtime's paused clock while it is paused (see
/// [`pause`](fn@super::pause)).
///
/// It converts to and from `std::time::Instant` (a paused clock's readings are instants the
/// real clock stood at when paused, plus the time it was advanced by), so the timer functions
/// take either.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use baton::time::{self, Instant};
/// # baton::Runtime::builder().cores(1).build().unwrap().block_on(async {
/// let start = Instant::now();
/// time::sleep_until(start + Duration::from_millis(5)).await;
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(std::time::Instant);

impl Instant {
    /// The current runtime's clock reading; the real clock's outside a runtime, or while the
    /// runtime's clock runs and was never paused.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use baton::time::{self, Instant};
    /// # baton::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// time::pause();
    /// let before = Instant::now();
    /// time::advance(Duration::from_secs(5)).await;
    /// assert_eq!(Instant::now() - before, Duration::from_secs(5));
    /// # });
    /// ```
    pub fn now() -> Instant {
        Instant(super::pause::now())
    }

    /// The `std::time::Instant` this reading is.
    ///
    /// # Examples
    ///
    /// ```
    /// let now = baton::time::Instant::now();
    /// assert_eq!(baton::time::Instant::from_std(now.into_std()), now);
    /// ```
    pub fn into_std(self) -> std::time::Instant {
        self.0
    }

    /// The reading `instant` is.
    ///
    /// # Examples
    ///
    /// ```
    /// let now = std::time::Instant::now();
    /// assert_eq!(baton::time::Instant::from_std(now).into_std(), now);
    /// ```
    pub fn from_std(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let start = baton::time::Instant::now();
    /// let later = start + Duration::from_secs(1);
    /// assert_eq!(later.duration_since(start), Duration::from_secs(1));
    /// assert_eq!(start.duration_since(later), Duration::ZERO);
    /// ```
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let start = baton::time::Instant::now();
    /// assert_eq!(start.checked_duration_since(start + Duration::from_secs(1)), None);
    /// ```
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let start = baton::time::Instant::now();
    /// assert_eq!(start.saturating_duration_since(start + Duration::from_secs(1)), Duration::ZERO);
    /// ```
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The time elapsed since this reading, by the current runtime's clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use baton::time::{self, Instant};
    /// # baton::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// time::pause();
    /// let start = Instant::now();
    /// time::sleep(Duration::from_secs(60)).await;
    /// assert_eq!(start.elapsed(), Duration::from_secs(60));
    /// # });
    /// ```
    pub fn elapsed(&self) -> Duration {
        Instant::now().duration_since(*self)
    }

    /// `self + duration`, or `None` if that overflows.
    ///
    /// # Examples
    ///
    /// ```
    /// let now = baton::time::Instant::now();
    /// assert!(now.checked_add(std::time::Duration::MAX).is_none());
    /// ```
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(duration).map(Instant)
    }

    /// `self - duration`, or `None` if that overflows.
    ///
    /// # Examples
    ///
    /// ```
    /// let now = baton::time::Instant::now();
    /// assert!(now.checked_sub(std::time::Duration::MAX).is_none());
    /// ```
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_sub(duration).map(Instant)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(instant: Instant) -> std::time::Instant {
        instant.0
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// If the result overflows; see [`Instant::checked_add`].
    fn add(self, duration: Duration) -> Instant {
        Instant(self.0 + duration)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, duration: Duration) {
        self.0 += duration;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// If the result overflows; see [`Instant::checked_sub`].
    fn sub(self, duration: Duration) -> Instant {
        Instant(self.0 - duration)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, duration: Duration) {
        self.0 -= duration;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    fn sub(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
