//! Timers: sleeping, timeouts and intervals, fired by the reactor.
//!
//! A pending timer is one entry in a timer wheel of the reactor; it fires no earlier than its
//! deadline and, with an idle thread in the reactor, within about a millisecond of it (a wheel tick
//! is about 66 µs; the poller's wait is rounded up to its timeout resolution). An idle runtime with
//! no pending timer has no periodic wake-ups.
//!
//! - [`sleep`](fn@sleep) and [`sleep_until`] return a [`Sleep`] future.
//! - [`timeout`](fn@timeout) and [`timeout_at`] bound a future; they fail with [`Elapsed`].
//! - [`interval`](fn@interval) and [`interval_at`] tick periodically, with a
//!   [`MissedTickBehavior`].
//!
//! # Examples
//!
//! ```
//! use std::time::{Duration, Instant};
//! use baton::time;
//! # baton::Runtime::new().unwrap().block_on(async {
//!
//! let start = Instant::now();
//! time::sleep(Duration::from_millis(10)).await;
//! assert!(start.elapsed() >= Duration::from_millis(10));
//! # });
//! ```

mod instant;
mod interval;
mod pause;
mod sleep;
mod timeout;

pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub(crate) use pause::watch;
pub use pause::{advance, pause, resume};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};
