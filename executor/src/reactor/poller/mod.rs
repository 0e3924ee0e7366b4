//! The OS poller behind the reactor, one backend per platform family, with one interface:
//! `Poller::{new, add, delete, wait, notify}`, `Events` and `Report`.
//!
//! - [`epoll`] (Linux, Android): epoll and an eventfd through `rustix`, one syscall per wait,
//!   and safe to wait in from several threads at once.
//! - `portable` (elsewhere): `polling`, which serves kqueue with one syscall per wait.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) use epoll::{Events, Poller, Report};

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod portable;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) use portable::{Events, Poller, Report};
