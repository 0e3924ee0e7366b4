//! Per-thread context-switch events (`perf_event_open(2)`), and a set of them to wait on
//! (`epoll(7)`): how the runtime learns at once that a worker thread left its CPU, instead of at
//! the monitor's next look.
//!
//! One [`SwitchEvent`] counts the context switches of the thread that opened it, taking a
//! sample at every one (a sample period of one), into a ring buffer of its own that nobody
//! reads: a sample's only use is the wake-up it causes on a [`SwitchWatch`] the event was added
//! to. The ring is mapped read-only, so the kernel overwrites old samples instead of stopping
//! when it fills.
//!
//! A context switch is taken in the kernel, so the event must count kernel-side samples: with
//! `exclude_kernel` set it opens, yet never fires. Where `perf_event_paranoid` keeps an
//! unprivileged process from counting the kernel (a value above 1, the default on most
//! distributions), opening fails and the caller falls back.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// `perf_event_attr` as of its first published version (`PERF_ATTR_SIZE_VER0`, 64 bytes),
/// which every kernel with `perf_event_open` accepts; later fields keep their zero defaults.
/// `libc` does not define it.
#[repr(C)]
#[derive(Default)]
struct Attr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// The bit fields (`disabled`, `inherit`, ..., `exclude_hv` ...).
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

/// `PERF_TYPE_SOFTWARE`.
const TYPE_SOFTWARE: u32 = 1;
/// `PERF_COUNT_SW_CONTEXT_SWITCHES`.
const COUNT_SW_CONTEXT_SWITCHES: u64 = 3;
/// `perf_event_attr.exclude_hv`: the hypervisor's share is of no interest.
const FLAG_EXCLUDE_HV: u64 = 1 << 6;
/// `perf_event_attr.disabled`: the event starts off, until [`SwitchEvent::set_enabled`].
const FLAG_DISABLED: u64 = 1 << 0;
/// `PERF_EVENT_IOC_ENABLE` (`_IO('$', 0)`).
const IOC_ENABLE: u64 = 0x2400;
/// `PERF_EVENT_IOC_DISABLE` (`_IO('$', 1)`).
const IOC_DISABLE: u64 = 0x2401;
/// `PERF_FLAG_FD_CLOEXEC`.
const FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
/// Pages of an event's mapping: the control page and one page of ring.
const MAPPED_PAGES: usize = 2;

/// The context switches of one thread, counted by the kernel; closed on drop.
#[derive(Debug)]
pub(crate) struct SwitchEvent {
    fd: OwnedFd,
    /// The thread's `/proc` stat file, kept open: re-reading it costs one `pread`.
    stat: std::fs::File,
    /// The event's ring buffer mapping, which a sample's wake-up needs.
    ring: *mut libc::c_void,
    ring_len: usize,
}

// SAFETY: the mapping is never read or written through `ring` (only unmapped on drop), and a
// file descriptor may be used and closed from any thread.
unsafe impl Send for SwitchEvent {}
// SAFETY: as for `Send`: shared references only read the descriptor number.
unsafe impl Sync for SwitchEvent {}

impl SwitchEvent {
    /// Opens an event counting the calling thread's context switches, disabled: it fires only
    /// while [`SwitchEvent::set_enabled`] has it on.
    ///
    /// # Errors
    ///
    /// The kernel's refusal: no `perf_event_open` (`ENOSYS`), not allowed (`EACCES`,
    /// `EPERM`: `perf_event_paranoid`, seccomp), or out of descriptors or memory.
    pub(crate) fn for_current_thread() -> io::Result<SwitchEvent> {
        let attr = Attr {
            kind: TYPE_SOFTWARE,
            size: std::mem::size_of::<Attr>() as u32,
            config: COUNT_SW_CONTEXT_SWITCHES,
            sample_period: 1,
            flags: FLAG_EXCLUDE_HV | FLAG_DISABLED,
            wakeup_events: 1,
            ..Attr::default()
        };
        // SAFETY: `attr` is a valid `perf_event_attr` of the size it states, alive for the
        // call; pid 0 and cpu -1 name the calling thread on any CPU, group -1 opens a new
        // group. The call returns a new descriptor or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                std::ptr::from_ref(&attr),
                0 as libc::pid_t,
                -1 as libc::c_int,
                -1 as libc::c_int,
                FLAG_FD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::c_int::try_from(fd).map_err(|_| io::Error::other("bad descriptor"))?;
        // SAFETY: `fd` is a descriptor the kernel just returned, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let ring_len = MAPPED_PAGES * page_size();
        // SAFETY: maps `ring_len` bytes of the event's buffer, shared and read-only, at an
        // address the kernel chooses; the result is checked below and unmapped on drop.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let event = SwitchEvent {
            fd,
            stat: std::fs::File::open("/proc/thread-self/stat")?,
            ring,
            ring_len,
        };
        Ok(event)
    }

    /// Turns the event on or off: off, the thread's context switches wake nobody.
    pub(crate) fn set_enabled(&self, on: bool) {
        let request = if on { IOC_ENABLE } else { IOC_DISABLE };
        // SAFETY: the descriptor is open (owned by `self`); these requests take an integer
        // argument (0: this event alone, not its group) and touch no memory of ours. A failure
        // leaves the event as it was, which costs wake-ups, never correctness.
        unsafe {
            libc::ioctl(self.fd.as_raw_fd(), request as _, 0 as libc::c_ulong);
        }
    }

    /// Whether the thread that opened the event is asleep (waiting on something) rather than
    /// running or runnable; `None` if its state cannot be read.
    pub(crate) fn is_asleep(&self) -> Option<bool> {
        use std::os::unix::fs::FileExt;
        /// Enough for the state, which follows the thread's name (at most 64 bytes).
        const LEN: usize = 128;
        let mut buf = [0u8; LEN];
        let n = self.stat.read_at(&mut buf, 0).ok()?;
        super::is_asleep(std::str::from_utf8(&buf[..n]).ok()?)
    }
}

impl Drop for SwitchEvent {
    fn drop(&mut self) {
        // SAFETY: `ring` is the mapping of `ring_len` bytes made in `for_current_thread`,
        // unmapped only here; nothing refers into it.
        unsafe {
            libc::munmap(self.ring, self.ring_len);
        }
    }
}

/// The system's page size.
fn page_size() -> usize {
    // SAFETY: sysconf takes an integer name and reads no memory of ours.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(4096)
}

/// What a [`SwitchWatch::wait`] returned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// Events fired: the tokens they were added with.
    Switched(Vec<u64>),
    /// [`SwitchWatch::wake`] was called.
    Told,
    /// Neither, within the timeout.
    TimedOut,
}

/// A set of [`SwitchEvent`]s to wait on, each known by a token, and a way to wake the waiter.
#[derive(Debug)]
pub(crate) struct SwitchWatch {
    epoll: OwnedFd,
    /// An eventfd added with [`WAKE_TOKEN`].
    wake: OwnedFd,
    /// The events added and not removed, with their tokens.
    events: std::sync::Mutex<Vec<(u64, std::sync::Arc<SwitchEvent>)>>,
}

/// The token of the watch's own wake-up descriptor.
const WAKE_TOKEN: u64 = u64::MAX;

impl SwitchWatch {
    /// An empty watch.
    ///
    /// # Errors
    ///
    /// The kernel's refusal of an epoll instance or an eventfd (out of descriptors).
    pub(crate) fn new() -> io::Result<SwitchWatch> {
        // SAFETY: epoll_create1 takes flags only and returns a new descriptor or -1.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor the kernel just returned, owned by nobody else.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        // SAFETY: eventfd takes an initial count and flags and returns a new descriptor or -1.
        let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if wake < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor the kernel just returned, owned by nobody else.
        let wake = unsafe { OwnedFd::from_raw_fd(wake) };
        let watch = SwitchWatch {
            epoll,
            wake,
            events: std::sync::Mutex::default(),
        };
        watch.add_fd(watch.wake.as_raw_fd(), WAKE_TOKEN)?;
        Ok(watch)
    }

    /// Adds `event`, to be reported with `token` (any value but `u64::MAX`).
    ///
    /// # Errors
    ///
    /// The kernel's refusal (out of memory, or the event already added).
    pub(crate) fn add(&self, event: &std::sync::Arc<SwitchEvent>, token: u64) -> io::Result<()> {
        assert_ne!(token, WAKE_TOKEN, "the token u64::MAX is the watch's own");
        self.add_fd(event.fd.as_raw_fd(), token)?;
        self.lock_events()
            .push((token, std::sync::Arc::clone(event)));
        Ok(())
    }

    fn lock_events(&self) -> std::sync::MutexGuard<'_, Vec<(u64, std::sync::Arc<SwitchEvent>)>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an event was added with `token` and not removed.
    pub(crate) fn covers(&self, token: u64) -> bool {
        self.lock_events().iter().any(|(t, _)| *t == token)
    }

    /// Whether the thread of the event added with `token` is asleep, if it can be told.
    pub(crate) fn is_asleep(&self, token: u64) -> Option<bool> {
        let event = self
            .lock_events()
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, e)| std::sync::Arc::clone(e))?;
        event.is_asleep()
    }

    fn add_fd(&self, fd: libc::c_int, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open (owned by `self` and by the caller's borrow), and
        // `event` is a valid `epoll_event` for the call.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Removes `event`, added with `token`.
    pub(crate) fn remove(&self, event: &SwitchEvent, token: u64) {
        self.lock_events().retain(|(t, _)| *t != token);
        // SAFETY: both descriptors are open; EPOLL_CTL_DEL ignores the event argument, which
        // may be null since Linux 2.6.9.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                event.fd.as_raw_fd(),
                std::ptr::null_mut(),
            );
        }
    }

    /// Waits until an event fires, [`SwitchWatch::wake`] is called, or `timeout` passes
    /// (`None`: no timeout).
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Woken {
        /// Events taken per call.
        const BATCH: usize = 16;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        let timeout = timeout.map_or(-1, |t| {
            libc::c_int::try_from(t.as_millis().max(1)).unwrap_or(libc::c_int::MAX)
        });
        // SAFETY: `events` is a valid, writable array of `BATCH` entries, and the epoll
        // descriptor is open.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                BATCH as libc::c_int,
                timeout,
            )
        };
        let Ok(n) = usize::try_from(n) else {
            // EINTR: as a timeout; the caller waits again.
            return Woken::TimedOut;
        };
        let mut tokens = Vec::with_capacity(n);
        let mut told = false;
        for event in &events[..n] {
            let token = event.u64;
            if token == WAKE_TOKEN {
                told = true;
                let mut count = 0u64;
                // SAFETY: reads the eventfd's 8-byte count into `count`, which is valid for 8
                // bytes; the descriptor is non-blocking, so this cannot hang.
                unsafe {
                    libc::read(
                        self.wake.as_raw_fd(),
                        std::ptr::from_mut(&mut count).cast(),
                        std::mem::size_of::<u64>(),
                    );
                }
            } else {
                tokens.push(token);
            }
        }
        if told {
            Woken::Told
        } else if tokens.is_empty() {
            Woken::TimedOut
        } else {
            Woken::Switched(tokens)
        }
    }

    /// Wakes the thread in [`SwitchWatch::wait`] (or the next one to call it).
    pub(crate) fn wake(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from `one`, valid for 8 bytes, to the open eventfd; a full
        // count (EAGAIN) already means a pending wake-up.
        unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                std::ptr::from_ref(&one).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_sleeps_wakes_the_watch() {
        let watch = SwitchWatch::new().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            let event = SwitchEvent::for_current_thread().map(std::sync::Arc::new);
            let mine = event.as_ref().ok().map(std::sync::Arc::clone);
            tx.send(event).unwrap();
            if let Some(event) = mine {
                go_rx.recv().unwrap();
                event.set_enabled(true);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let event = match rx.recv().unwrap() {
            Ok(event) => event,
            Err(e) => {
                println!("skipped: the kernel refuses context-switch events here ({e})");
                sleeper.join().unwrap();
                return;
            }
        };
        watch.add(&event, 7).unwrap();
        // Blocked in `recv` until told to go, or about to be.
        assert_ne!(watch.is_asleep(8), Some(true), "no such event");
        // Blocked in `recv` meanwhile, and perhaps switched out: the event starts off.
        assert_eq!(
            watch.wait(Some(Duration::from_millis(20))),
            Woken::TimedOut,
            "an event that is off woke the watch"
        );
        go_tx.send(()).unwrap();
        // The sleeper leaves its CPU at least once (receiving, sleeping); a minute is a hang
        // guard.
        let woken = watch.wait(Some(Duration::from_secs(60)));
        assert_eq!(woken, Woken::Switched(vec![7]));
        sleeper.join().unwrap();
        assert_eq!(watch.is_asleep(7), None, "the thread is gone");
        assert!(watch.covers(7));
        watch.remove(&event, 7);
        assert!(!watch.covers(7));
        watch.wake();
        assert_eq!(watch.wait(Some(Duration::from_secs(60))), Woken::Told);
        assert_eq!(watch.wait(Some(Duration::ZERO)), Woken::TimedOut);
    }
}
