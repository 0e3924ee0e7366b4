//! The OS poller behind the reactor, one backend per platform family, with one interface:
//! `Poller::{new, add, delete, wait, notify}`, `Events` and `Report`.
//!
//! - [`epoll`] (Linux, Android): epoll and an eventfd through `rustix`, one syscall per wait,
//!   and safe to wait in from several threads at once.
//! - `portable` (elsewhere): `polling`, which serves kqueue with one syscall per wait.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) use epoll::{Events, Poller};

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod portable;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) use portable::{Events, Poller};

use super::source::Event;

/// One entry of a wait's reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Report {
    /// A registered source's readiness changed.
    Source {
        /// The key it was registered with.
        key: usize,
        /// What changed.
        event: Event,
    },
    /// `Poller::notify` was called (reported by epoll only: `polling` keeps its notifications
    /// to itself).
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    Notified,
}
