//! Waiting for readiness: the loop that retries an operation until it stops blocking, the
//! zero-timeout readiness check, a future's waker entry, and the [`Ready`] future.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::Async;
use crate::coop;
use crate::reactor::{Direction, Source};

/// Runs `op` while `source` is ready for `dir`, until it returns something other than
/// `WouldBlock`; each `WouldBlock` clears the readiness it was tried on, and the poll then waits
/// for the next report (in the waker entry keyed `key`, or the per-direction waker if `None`). A
/// result that `drained` says proves the source drained for `dir` clears the readiness too (see
/// [`Source::clear_drained`]), so the next attempt waits instead of failing with `WouldBlock`.
/// Charges the cooperative budget once, and counts progress only when `op` completes.
pub(super) fn poll_io<R>(
    source: &Source,
    dir: Direction,
    mut key: Option<&mut Option<usize>>,
    cx: &mut Context<'_>,
    mut op: impl FnMut() -> io::Result<R>,
    drained: impl Fn(&R) -> bool,
) -> Poll<io::Result<R>> {
    let charge = ready!(coop::poll_proceed(cx));
    loop {
        let seen = source.readiness();
        if seen.is_ready(dir) {
            match op() {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    source.clear_readiness(dir, seen);
                }
                res => {
                    if res.as_ref().is_ok_and(&drained) {
                        source.clear_drained(dir, seen);
                    }
                    charge.made_progress();
                    return Poll::Ready(res);
                }
            }
        }
        // Not ready (or just cleared): wait for a report, then try again.
        let polled = match key.as_deref_mut() {
            Some(key) => source.poll_ready_entry(dir, key, cx),
            None => source.poll_ready(dir, cx),
        };
        ready!(polled);
    }
}

/// Whether `fd` is ready for `dir` right now, by `poll(2)` with a zero timeout. Errors and
/// hang-ups count as ready: the operation will report them.
pub(super) fn fd_is_ready(fd: BorrowedFd<'_>, dir: Direction) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags};
    let flags = match dir {
        Direction::Read => PollFlags::IN | PollFlags::PRI,
        Direction::Write => PollFlags::OUT,
    };
    let mut fds = [PollFd::new(&fd, flags)];
    match poll(&mut fds, Some(&rustix::event::Timespec::default())) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(true),
        Err(err) => Err(err.into()),
    }
}

/// Releases a future's waker entry when the future is dropped.
pub(super) struct WakerEntry<'a> {
    /// The source holding the entry.
    pub(super) source: &'a Source,
    /// The entry's direction.
    pub(super) dir: Direction,
    /// Its key among the source's wakers, once allocated.
    pub(super) key: Option<usize>,
}

impl Drop for WakerEntry<'_> {
    fn drop(&mut self) {
        self.source.release_entry(self.dir, &mut self.key);
    }
}

/// The future of [`Async::readable`] and [`Async::writable`].
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use baton::io::Async;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let (a, _b) = UnixStream::pair()?;
/// let a = Async::new(a)?;
/// let ready: baton::io::Ready<'_, UnixStream> = a.writable();
/// ready.await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[must_use = "a readiness future does nothing unless awaited"]
pub struct Ready<'a, T: AsFd> {
    /// The object waited on.
    io: &'a Async<T>,
    /// The waker entry of this future.
    entry: WakerEntry<'a>,
}

impl<'a, T: AsFd> Ready<'a, T> {
    /// A future waiting for `dir` on `io`.
    pub(super) fn new(io: &'a Async<T>, dir: Direction) -> Ready<'a, T> {
        Ready {
            io,
            entry: WakerEntry {
                source: &io.source,
                dir,
                key: None,
            },
        }
    }
}

impl<T: AsFd> std::fmt::Debug for Ready<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("direction", &self.entry.dir)
            .finish_non_exhaustive()
    }
}

impl<T: AsFd> Future for Ready<'_, T> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let dir = this.entry.dir;
        this.io.poll_verified(dir, Some(&mut this.entry.key), cx)
    }
}
