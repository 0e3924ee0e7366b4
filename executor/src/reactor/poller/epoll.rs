//! The poller on Linux and Android: epoll and an eventfd, through `rustix`.
//!
//! One wait is one `epoll_pwait` syscall. (`polling`'s wait costs five on Linux: it re-arms a
//! timerfd and its notifier around every wait, including zero-timeout ones.) Timeouts are
//! rounded *up* to whole milliseconds, so a wait never ends before its timeout; the reactor
//! checks timers against the clock after every wait anyway.
//!
//! The notifier is an eventfd registered edge-triggered: every write is a new edge, so it is
//! never read or re-armed (mio does the same). Several threads may wait at once (the seated
//! thread blocking, busy workers with a zero timeout); an edge goes to one of them. A thread
//! that collects the notifier's edge without being the one it was meant for calls
//! [`Poller::notify`] again if the reactor says a thread still waits, so the notification is
//! passed on, never swallowed.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use super::Report;
use crate::reactor::source::Event;
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags, Timespec};

/// The key of the notifier; source keys are slab indices, far below it.
const NOTIFY_KEY: u64 = u64::MAX;

/// The longest single wait; a longer timeout just waits again (it fits any kernel's
/// millisecond `int`).
const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Event flags that make a source readable: errors and hang-ups too, so the read reports them.
const READ_FLAGS: EventFlags = EventFlags::IN
    .union(EventFlags::PRI)
    .union(EventFlags::HUP)
    .union(EventFlags::ERR)
    .union(EventFlags::RDHUP);
/// Event flags that make a source writable.
const WRITE_FLAGS: EventFlags = EventFlags::OUT
    .union(EventFlags::HUP)
    .union(EventFlags::ERR);
/// Event flags that close the read side for good: reads return the data left, then the end
/// or the error, and never block again.
const READ_CLOSED_FLAGS: EventFlags = EventFlags::HUP
    .union(EventFlags::ERR)
    .union(EventFlags::RDHUP);
/// Event flags that close the write side for good.
const WRITE_CLOSED_FLAGS: EventFlags = EventFlags::HUP.union(EventFlags::ERR);

/// An epoll instance with its notifier.
#[derive(Debug)]
pub(in crate::reactor) struct Poller {
    /// The epoll descriptor.
    epoll: OwnedFd,
    /// The eventfd written by [`Poller::notify`].
    notifier: OwnedFd,
}

/// A buffer for the readiness reports of one wait.
pub(in crate::reactor) struct Events {
    /// The last wait's reports; its capacity is how many one wait collects at most.
    list: Vec<epoll::Event>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("len", &self.list.len())
            .finish()
    }
}

impl Events {
    /// An empty buffer with room for `capacity` reports.
    pub(in crate::reactor) fn with_capacity(capacity: usize) -> Events {
        Events {
            list: Vec::with_capacity(capacity),
        }
    }

    /// Whether the last wait reported nothing.
    pub(in crate::reactor) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The last wait's reports: [`Report::Source`] for each ready source, and
    /// [`Report::Notified`] if the notifier was among them.
    pub(in crate::reactor) fn iter(&self) -> impl Iterator<Item = Report> + '_ {
        self.list.iter().map(|event| {
            let key = event.data.u64();
            if key == NOTIFY_KEY {
                return Report::Notified;
            }
            let flags = event.flags;
            Report::Source {
                key: usize::try_from(key).expect("keys are slab indices"),
                event: Event {
                    readable: flags.intersects(READ_FLAGS),
                    writable: flags.intersects(WRITE_FLAGS),
                    read_closed: flags.intersects(READ_CLOSED_FLAGS),
                    write_closed: flags.intersects(WRITE_CLOSED_FLAGS),
                },
            }
        })
    }
}

impl Poller {
    /// A new epoll instance with its notifier registered.
    pub(in crate::reactor) fn new() -> io::Result<Poller> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let notifier = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &notifier,
            EventData::new_u64(NOTIFY_KEY),
            EventFlags::IN | EventFlags::ET,
        )?;
        Ok(Poller { epoll, notifier })
    }

    /// Registers `fd` edge-triggered for both directions under `key`.
    pub(in crate::reactor) fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        let data = EventData::new_u64(u64::try_from(key).expect("usize fits in u64"));
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        epoll::add(&self.epoll, fd, data, flags)?;
        Ok(())
    }

    /// Deletes `fd` from the interest list.
    pub(in crate::reactor) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        epoll::delete(&self.epoll, fd)?;
        Ok(())
    }

    /// Waits for reports into `events`, at most `timeout` (`None`: no limit), in one syscall.
    /// An interrupted wait returns with no reports.
    pub(in crate::reactor) fn wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        events.list.clear();
        let timeout =
            timeout.map(|t| Timespec::try_from(t.min(MAX_WAIT)).expect("a day fits in a timespec"));
        match epoll::wait(
            &self.epoll,
            spare_capacity(&mut events.list),
            timeout.as_ref(),
        ) {
            Ok(_) => Ok(()),
            Err(rustix::io::Errno::INTR) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Makes a wait in progress (or the next one) return: one `write` to the eventfd.
    pub(in crate::reactor) fn notify(&self) -> io::Result<()> {
        let one = 1u64.to_ne_bytes();
        match rustix::io::write(&self.notifier, &one) {
            Ok(_) => Ok(()),
            Err(rustix::io::Errno::AGAIN) => {
                // The counter is saturated (after 2^64 - 2 notifications): drain it and write
                // again, so the write is a new edge.
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(&self.notifier, &mut buf);
                rustix::io::write(&self.notifier, &one)?;
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }
}
