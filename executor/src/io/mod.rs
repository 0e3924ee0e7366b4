//! Asynchronous I/O on any file descriptor: [`Async<T>`] registers it with the reactor.
//!
//! `Async<T>` puts `T` in non-blocking mode and retries its operations when the reactor
//! reports readiness. Each operation that completes spends a unit of the task's [cooperative
//! budget](crate::coop), so a loop over an object that is always ready still yields. It
//! implements the `futures-io` traits [`AsyncRead`] and [`AsyncWrite`] when `T` implements
//! [`Read`](std::io::Read) and [`Write`](std::io::Write) (and `&Async<T>` does when `&T` does,
//! as for sockets), so the adapters of the futures and smol ecosystems work on it.
//!
//! This file holds the object and its registration; beside it are what it does (`ops`: waiting
//! for readiness, retrying operations), the machinery under that (`ready`: the retry loop, the
//! readiness check, the [`Ready`] future), and the `futures-io` traits (`traits`).
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

pub use futures_io::{AsyncRead, AsyncWrite};

use crate::reactor::{Reactor, Source};
use crate::sync::Arc;

mod ops;
mod ready;
mod traits;

pub use ready::Ready;

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
    use std::os::unix::net::UnixStream;

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
