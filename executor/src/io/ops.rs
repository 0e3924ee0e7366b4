//! What an [`Async<T>`] does: wait for readiness ([`Async::readable`], [`Async::poll_writable`],
//! confirmed with `poll(2)`), and run an operation, retrying it on readiness while it would block
//! ([`Async::read_with`], and the one-attempt polls behind the `futures-io` traits and the socket
//! types). The retry loop and the [`Ready`] future are in [`super::ready`].

use std::io;
use std::os::fd::AsFd;
use std::task::{ready, Context, Poll};

use super::ready::{fd_is_ready, poll_io, WakerEntry};
use super::{Async, Ready};
use crate::coop;
use crate::reactor::Direction;

impl<T: AsFd> Async<T> {
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
    pub(super) fn poll_verified(
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
    pub(super) fn poll_op_mut<R>(
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::block_on;
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::task::Poll;

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
}
