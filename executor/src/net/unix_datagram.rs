//! Unix-domain datagram sockets.

use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::forward::{impl_fd, impl_try_from};
use crate::io::Async;
use crate::sync::Arc;

/// A Unix-domain datagram socket: bound to a socket file, unbound, or one of a connected
/// pair.
///
/// Cloning shares the socket; it closes when the last clone is dropped. The socket file of a
/// bound socket is not removed on drop.
///
/// # Examples
///
/// ```
/// # mod baton { pub use baton_executor::*; }
/// use baton::net::UnixDatagram;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("baton-doc-dgram-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("server.sock");
/// # let _ = std::fs::remove_file(&path);
/// let server = UnixDatagram::bind(&path)?;
/// let client = UnixDatagram::unbound()?;
/// client.send_to(b"ping", &path).await?;
/// let mut buf = [0; 8];
/// let (n, from) = server.recv_from(&mut buf).await?;
/// assert_eq!(&buf[..n], b"ping");
/// assert!(from.is_unnamed());
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct UnixDatagram {
    /// The registered socket.
    inner: Arc<Async<std::os::unix::net::UnixDatagram>>,
}

impl UnixDatagram {
    /// Creates a socket bound to the socket file `path`.
    ///
    /// # Errors
    ///
    /// The OS's error from `bind(2)`: `ErrorKind::AddrInUse` if the file exists.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// use std::io::ErrorKind;
    /// use baton::net::UnixDatagram;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("baton-doc-dbind-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("bind.sock");
    /// # let _ = std::fs::remove_file(&path);
    /// let socket = UnixDatagram::bind(&path)?;
    /// assert_eq!(socket.local_addr()?.as_pathname(), Some(path.as_path()));
    /// assert_eq!(UnixDatagram::bind(&path).unwrap_err().kind(), ErrorKind::AddrInUse);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::try_from(std::os::unix::net::UnixDatagram::bind(path)?)
    }

    /// Creates a socket bound to no address. It can send (after [`UnixDatagram::connect`],
    /// or with [`UnixDatagram::send_to`]); its datagrams arrive from an unnamed address, which
    /// a receiver cannot reply to: a socket that needs replies is made with
    /// [`UnixDatagram::bind`].
    ///
    /// # Errors
    ///
    /// The OS's error from `socket(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// use baton::net::UnixDatagram;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = UnixDatagram::unbound()?;
    /// assert!(socket.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::try_from(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// A pair of sockets connected to each other.
    ///
    /// # Errors
    ///
    /// The OS's error from `socketpair(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// use baton::net::UnixDatagram;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, b) = UnixDatagram::pair()?;
    /// a.send(b"one").await?;
    /// a.send(b"two").await?;
    /// let mut buf = [0; 8];
    /// // Datagrams keep their boundaries.
    /// let n = b.recv(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"one");
    /// let n = b.recv(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"two");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::try_from(a)?, UnixDatagram::try_from(b)?))
    }

    /// Sets the default peer to the socket file `path`: `send` goes there, and `recv` only
    /// takes its datagrams. A Unix datagram `connect(2)` does not wait for anything.
    ///
    /// # Errors
    ///
    /// The OS's error from `connect(2)`: `ErrorKind::NotFound` if no file is there,
    /// `ErrorKind::ConnectionRefused` if no socket is bound to it.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// use baton::net::UnixDatagram;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("baton-doc-dconn-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("server.sock");
    /// # let _ = std::fs::remove_file(&path);
    /// let server = UnixDatagram::bind(&path)?;
    /// let client = UnixDatagram::unbound()?;
    /// client.connect(&path)?;
    /// assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// client.send(b"hi").await?;
    /// let mut buf = [0; 4];
    /// assert_eq!(server.recv(&mut buf).await?, 2);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.get_ref().connect(path)
    }

    /// Sends a datagram to the socket file `path`; returns the number of bytes sent.
    ///
    /// # Errors
    ///
    /// The OS's error from `sendto(2)`, for instance `ErrorKind::NotFound` if no file is
    /// there.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner.write_with(|s| s.send_to(buf, path)).await
    }

    /// Receives a datagram; returns its length and its sender's address (unnamed if the
    /// sender is not bound). A datagram longer than `buf` is cut to fit.
    ///
    /// # Errors
    ///
    /// The OS's error from `recvfrom(2)`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|s| s.recv_from(buf)).await
    }

    /// Sends a datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `ErrorKind::NotConnected` without a peer, or the OS's error from `send(2)`.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|s| s.send(buf)).await
    }

    /// Receives a datagram (from the connected peer, if connected); returns its length. A
    /// datagram longer than `buf` is cut to fit.
    ///
    /// # Errors
    ///
    /// The OS's error from `recv(2)`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.recv(buf)).await
    }

    /// Receives the next datagram without removing it from the queue: the next `recv` or
    /// `peek` gets it again. Returns the number of bytes copied into `buf`.
    ///
    /// # Errors
    ///
    /// The OS's error from `recv(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod baton { pub use baton_executor::*; }
    /// use baton::net::UnixDatagram;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, b) = UnixDatagram::pair()?;
    /// a.send(b"hello").await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek(&mut buf).await?, 5);
    /// assert_eq!(b.recv(&mut buf).await?, 5);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read_with(|s| {
                let (copied, _) = rustix::net::recv(s, &mut *buf, rustix::net::RecvFlags::PEEK)?;
                Ok(copied)
            })
            .await
    }

    /// The address this socket is bound to (unnamed if it is not bound).
    ///
    /// # Errors
    ///
    /// The OS's error from `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `ErrorKind::NotConnected` without a peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Shuts down the receiving half, the sending half, or both. After `Shutdown::Write`,
    /// `send` fails with `ErrorKind::BrokenPipe`.
    ///
    /// # Caveats
    ///
    /// Datagram sockets have no end of stream: on Linux, `Shutdown::Read` does not end a
    /// `recv` that waits (a non-blocking receive keeps reporting that nothing is there), and
    /// neither half's shutdown reaches the peer. Drop the receiving task, or send it a
    /// datagram, to stop it.
    ///
    /// # Errors
    ///
    /// The OS's error from `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }
}

impl_try_from!(UnixDatagram, std::os::unix::net::UnixDatagram);

impl_fd!(UnixDatagram);
