//! The poller elsewhere (kqueue on macOS and the BSDs): `polling`, edge-triggered.
//!
//! `polling` waits in one syscall on these platforms; it lets one thread wait at a time, and a
//! concurrent wait returns at once with no reports. Its notifications never show up as
//! reports.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use polling::{Event, PollMode};

use super::Report;
use crate::reactor::source::Event as SourceEvent;

/// The `polling` poller.
#[derive(Debug)]
pub(in crate::reactor) struct Poller {
    /// The OS poller.
    poller: polling::Poller,
}

/// A buffer for the readiness reports of one wait.
#[derive(Debug)]
pub(in crate::reactor) struct Events {
    /// `polling`'s buffer.
    list: polling::Events,
}

impl Events {
    /// An empty buffer with room for `capacity` reports.
    pub(in crate::reactor) fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1).try_into().expect("non-zero capacity");
        Events {
            list: polling::Events::with_capacity(capacity),
        }
    }

    /// Whether the last wait reported nothing.
    pub(in crate::reactor) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The last wait's reports.
    pub(in crate::reactor) fn iter(&self) -> impl Iterator<Item = Report> + '_ {
        // `polling` does not say which reports are hang-ups: each may be one.
        self.list.iter().map(|event| Report::Source {
            key: event.key,
            event: SourceEvent {
                readable: event.readable,
                writable: event.writable,
                read_closed: true,
                write_closed: true,
            },
        })
    }
}

impl Poller {
    /// A new poller.
    ///
    /// # Errors
    ///
    /// If the OS poller cannot be created, or has no edge-triggered mode.
    pub(in crate::reactor) fn new() -> io::Result<Poller> {
        let poller = polling::Poller::new()?;
        if !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the OS poller has no edge-triggered mode on this platform",
            ));
        }
        Ok(Poller { poller })
    }

    /// Registers `fd` edge-triggered for both directions under `key`.
    pub(in crate::reactor) fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        // SAFETY: `polling` requires the fd to be deleted from the poller before it is closed.
        // Every registered fd belongs to an `Async`, whose `Drop` deletes it (through
        // `Reactor::deregister`) before dropping the I/O object that owns it.
        unsafe {
            self.poller
                .add_with_mode(fd.as_raw_fd(), Event::all(key), PollMode::Edge)
        }
    }

    /// Deletes `fd` from the interest list.
    pub(in crate::reactor) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.poller.delete(fd.as_fd())
    }

    /// Waits for reports into `events`, at most `timeout` (`None`: no limit).
    pub(in crate::reactor) fn wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        events.list.clear();
        self.poller.wait(&mut events.list, timeout).map(drop)
    }

    /// Makes a wait in progress (or the next one) return.
    pub(in crate::reactor) fn notify(&self) -> io::Result<()> {
        self.poller.notify()
    }
}
