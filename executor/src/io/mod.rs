//! Asynchronous I/O on any file descriptor: [`Async<T>`] registers it with the reactor.
//!
//! `Async<T>` puts `T` in non-blocking mode and retries its operations when the reactor
//! reports readiness. Each operation that completes spends a unit of the task's [cooperative
//! budget](crate::coop), so a loop over an object that is always ready still yields. It
//! implements the `futures-io` traits [`AsyncRead`] and [`AsyncWrite`] when `T` implements
//! [`Read`](std::io::Read) and [`Write`](std::io::Write) (and `&Async<T>` does when `&T` does,
//! as for sockets), so the adapters of the futures and smol ecosystems work on it.
//!
//! # Examples
//!
//! ```
//! use std::os::unix::net::UnixStream;
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use baton::io::Async;
//! # baton::Runtime::new().unwrap().block_on(async {
//!
//! let (a, b) = UnixStream::pair()?;
//! let (mut a, mut b) = (Async::new(a)?, Async::new(b)?);
//! a.write_all(b"ping").await?;
//! let mut buf = [0; 4];
//! b.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"ping");
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{ready, Context, Poll};

pub use futures_io::{AsyncRead, AsyncWrite};

use crate::coop;
use crate::reactor::{Direction, Reactor, Source};
use crate::sync::Arc;

mod ready;
mod traits;

pub use ready::Ready;
use ready::{fd_is_ready, poll_io, WakerEntry};

/// An I/O object registered with the reactor, in non-blocking mode.
///
/// Dropping it deregisters the file descriptor, then drops `T` (which closes it).
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use baton::io::Async;
/// # baton::Runtime::new().unwrap().block_on(async {
///
/// let listener = Async::new(TcpListener::bind("127.0.0.1:0")?)?;
/// let addr = listener.get_ref().local_addr()?;
/// let _client = TcpStream::connect(addr)?;
/// let (_stream, peer) = listener.read_with(|l| l.accept()).await?;
/// assert!(peer.ip().is_loopback());
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Async<T: AsFd> {
    /// The reactor's record of the descriptor.
    source: Arc<Source>,
    /// The I/O object; `None` only while `into_inner` or `drop` takes it out.
    io: Option<T>,
}

impl<T: AsFd> Async<T> {
    /// Puts `io` in non-blocking mode and registers it with the reactor.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be made non-blocking or registered (for instance a regular
    /// file, which epoll refuses with `EPERM`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use baton::io::Async;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// # let _ = socket;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn new(io: T) -> io::Result<Async<T>> {
        rustix::io::ioctl_fionbio(io.as_fd(), true)?;
        let source = Reactor::get().register(io.as_fd())?;
        Ok(Async {
            source,
            io: Some(io),
        })
    }

    /// A reference to the inner I/O object.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use baton::io::Async;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// assert!(socket.get_ref().local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn get_ref(&self) -> &T {
        self.io
            .as_ref()
            .expect("the I/O object is present until drop")
    }

    /// The source and a mutable reference to the object, for the `Read` / `Write` impls; not
    /// public, so the object cannot be replaced while its descriptor is registered.
    fn parts_mut(&mut self) -> (&Source, &mut T) {
        let io = self
            .io
            .as_mut()
            .expect("the I/O object is present until drop");
        (&self.source, io)
    }

    /// Deregisters the I/O object and returns it, still in non-blocking mode.
    ///
    /// # Errors
    ///
    /// If the poller fails to delete the descriptor.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use baton::io::Async;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let socket: UdpSocket = socket.into_inner()?;
    /// socket.set_nonblocking(false)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn into_inner(mut self) -> io::Result<T> {
        let io = self
            .io
            .take()
            .expect("the I/O object is present until drop");
        Reactor::get().deregister(&self.source, io.as_fd())?;
        Ok(io)
    }

    /// Waits until the I/O object is readable: a read would not block right now.
    ///
    /// Readiness is checked with `poll(2)` before the future completes, so a read that follows
    /// does not fail with `WouldBlock` unless another reader took the data first.
    ///
    /// # Errors
    ///
    /// If the readiness check fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use baton::io::Async;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, mut b) = UnixStream::pair()?;
    /// let a = Async::new(a)?;
    /// b.write_all(b"x")?;
    /// a.readable().await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn readable(&self) -> Ready<'_, T> {
        Ready::new(self, Direction::Read)
    }

    /// Waits until the I/O object is writable: a write would not block right now.
    ///
    /// # Errors
    ///
    /// If the readiness check fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use baton::io::Async;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, _b) = UnixStream::pair()?;
    /// Async::new(a)?.writable().await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn writable(&self) -> Ready<'_, T> {
        Ready::new(self, Direction::Write)
    }

    /// Polls for readability, registering `cx`'s waker (one per direction) if not readable.
    ///
    /// # Errors
    ///
    /// If the readiness check fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use baton::io::Async;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, _b) = UnixStream::pair()?;
    /// let a = Async::new(a)?;
    /// std::future::poll_fn(|cx| a.poll_writable(cx)).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_verified(Direction::Read, None, cx)
    }

    /// Polls for writability, registering `cx`'s waker (one per direction) if not writable.
    ///
    /// # Errors
    ///
    /// If the readiness check fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use baton::io::Async;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, _b) = UnixStream::pair()?;
    /// let a = Async::new(a)?;
    /// std::future::poll_fn(|cx| a.poll_writable(cx)).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_verified(Direction::Write, None, cx)
    }

    /// Performs a read operation, retrying it on readiness while it fails with `WouldBlock`.
    ///
    /// `op` must be non-blocking: it gets the object in non-blocking mode and should return
    /// `WouldBlock` instead of waiting.
    ///
    /// # Errors
    ///
    /// The first error of `op` other than `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use baton::io::Async;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let sender = UdpSocket::bind("127.0.0.1:0")?;
    /// sender.send_to(b"hello", socket.get_ref().local_addr()?)?;
    /// let mut buf = [0; 16];
    /// let (n, _from) = socket.read_with(|s| s.recv_from(&mut buf)).await?;
    /// assert_eq!(&buf[..n], b"hello");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.op_with(Direction::Read, op).await
    }

    /// Performs a write operation, retrying it on readiness while it fails with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// The first error of `op` other than `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use baton::io::Async;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let receiver = UdpSocket::bind("127.0.0.1:0")?;
    /// let to = receiver.local_addr()?;
    /// assert_eq!(socket.write_with(|s| s.send_to(b"hi", to)).await?, 2);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.op_with(Direction::Write, op).await
    }

    /// The loop behind `read_with` and `write_with`.
    async fn op_with<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut entry = WakerEntry {
            source: &self.source,
            dir,
            key: None,
        };
        let io = self.get_ref();
        std::future::poll_fn(|cx| {
            poll_io(
                &self.source,
                dir,
                Some(&mut entry.key),
                cx,
                || op(io),
                |_| false,
            )
        })
        .await
    }

    /// Polls `dir`'s readiness, confirmed with `poll(2)`; `key` selects the waker entry (`None`:
    /// the per-direction waker).
    fn poll_verified(
        &self,
        dir: Direction,
        mut key: Option<&mut Option<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let charge = ready!(coop::poll_proceed(cx));
        loop {
            let seen = self.source.readiness();
            if seen.is_ready(dir) {
                if fd_is_ready(self.get_ref().as_fd(), dir)? {
                    charge.made_progress();
                    return Poll::Ready(Ok(()));
                }
                self.source.clear_readiness(dir, seen);
            }
            let polled = match key.as_deref_mut() {
                Some(key) => self.source.poll_ready_entry(dir, key, cx),
                None => self.source.poll_ready(dir, cx),
            };
            ready!(polled);
        }
    }

    /// One attempt of a `poll_read` / `poll_write` style operation on `&mut T`.
    fn poll_op_mut<R>(
        &mut self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let (source, io) = self.parts_mut();
        poll_io(source, dir, None, cx, || op(io), |_| false)
    }

    /// One attempt of a `poll_read` / `poll_write` style operation on `&T`.
    pub(crate) fn poll_op<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        poll_io(&self.source, dir, None, cx, || op(io), |_| false)
    }

    /// One attempt of a read or write of `len` bytes on a *stream socket* (TCP, Unix stream),
    /// like [`poll_op`](Async::poll_op). A transfer of fewer bytes than `len`, but some, proves
    /// the socket drained (reading) or its send buffer full (writing), as an edge-triggered
    /// poller reports a new edge for whatever comes next: the readiness is cleared then, so the
    /// next attempt waits for that edge instead of costing a `WouldBlock` syscall first (the
    /// request-response pattern reads once per request, not twice).
    ///
    /// Only for stream sockets: a datagram or record socket, or a terminal, may return less
    /// than asked for with more queued.
    pub(crate) fn poll_stream_op(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let io = self.get_ref();
        poll_io(
            &self.source,
            dir,
            None,
            cx,
            || op(io),
            |&n| 0 < n && n < len,
        )
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_fd().as_raw_fd()
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            // Deleting cannot fail for a registered descriptor; if it did, closing the
            // descriptor below removes it from the epoll set anyway.
            let _ = Reactor::get().deregister(&self.source, io.as_fd());
            drop(io);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::block_on;
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::task::Poll;

    #[test]
    fn pair_round_trip_through_the_reactor() {
        block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (mut a, mut b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
            let mut buf = [0u8; 5];
            // The read waits (the first attempt would block), the write wakes it.
            let reader = async {
                b.read_exact(&mut buf).await.unwrap();
            };
            let writer = async {
                crate::time::sleep(std::time::Duration::from_millis(5)).await;
                a.write_all(b"hello").await.unwrap();
            };
            futures::join!(reader, writer);
            assert_eq!(&buf, b"hello");
        });
    }

    #[test]
    fn large_transfer_waits_for_writability() {
        // More than a socket buffer: the writer must wait for the reader to drain.
        const LEN: usize = 4 << 20;
        block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (mut a, mut b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
            let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
            let writer = async {
                a.write_all(&data).await.unwrap();
                drop(a);
            };
            let mut got = Vec::new();
            let reader = async {
                b.read_to_end(&mut got).await.unwrap();
            };
            futures::join!(writer, reader);
            assert_eq!(got, data);
        });
    }

    #[test]
    fn readable_is_confirmed_not_just_remembered() {
        block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (a, mut b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
            b.write_all(b"xy").await.unwrap();
            a.readable().await.unwrap();
            let mut buf = [0u8; 2];
            assert_eq!(a.get_ref().read(&mut buf).unwrap(), 2);
            // The readiness bit is still set, but nothing is left: `readable` must wait.
            let waited = crate::time::timeout(std::time::Duration::from_millis(20), a.readable());
            assert!(waited.await.is_err());
        });
    }

    /// A connected pair of TCP streams over the loopback: (client, server).
    fn tcp_pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (client, listener.accept().unwrap().0)
    }

    /// Reads once from `stream` into a 1 KiB buffer as a stream socket does; `None` if it
    /// would wait.
    fn read_now(stream: &Async<std::net::TcpStream>) -> Option<usize> {
        let mut buf = [0u8; 1024];
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let len = buf.len();
        match stream.poll_stream_op(Direction::Read, &mut cx, len, |mut s| s.read(&mut buf)) {
            Poll::Ready(n) => Some(n.unwrap()),
            Poll::Pending => None,
        }
    }

    /// Waits until the reactor has recorded a report of `stream`'s readability.
    async fn reported_readable(stream: &Async<std::net::TcpStream>) {
        stream
            .source
            .clear_readiness(Direction::Read, stream.source.readiness());
        std::future::poll_fn(|cx| stream.source.poll_ready(Direction::Read, cx)).await;
    }

    #[test]
    fn a_short_read_waits_for_the_next_edge() {
        block_on(async {
            let (mut client, server) = tcp_pair();
            let server = Async::new(server).unwrap();
            std::io::Write::write_all(&mut client, b"hi").unwrap();
            reported_readable(&server).await;
            assert_eq!(read_now(&server), Some(2));
            // Fewer bytes than asked for: drained, so no read is tried until the next report.
            assert!(!server.source.readiness().is_ready(Direction::Read));
            assert_eq!(read_now(&server), None);
            std::io::Write::write_all(&mut client, b"more").unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(server.read_with(|mut s| s.read(&mut buf)).await.unwrap(), 4);
        });
    }

    #[test]
    fn a_short_read_of_the_last_bytes_leaves_the_end_to_read() {
        block_on(async {
            let (mut client, server) = tcp_pair();
            let server = Async::new(server).unwrap();
            std::io::Write::write_all(&mut client, b"bye").unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            // The data and the end of stream are reported together, before the first read:
            // no edge follows the short read, which must not clear the readiness.
            reported_readable(&server).await;
            assert_eq!(read_now(&server), Some(3));
            assert_eq!(read_now(&server), Some(0));
        });
    }

    #[test]
    fn into_inner_returns_the_object() {
        let (a, _b) = UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        let a: UnixStream = a.into_inner().unwrap();
        a.set_nonblocking(false).unwrap();
    }

    #[test]
    fn regular_files_are_refused() {
        let file = std::fs::File::open("Cargo.toml").unwrap();
        let err = Async::new(file).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    }
}
