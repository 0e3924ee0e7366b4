//! UDP sockets.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use super::forward::{impl_fd, impl_try_from};
use super::{each_addr, resolve};
use crate::io::Async;
use crate::sync::Arc;

/// A UDP socket.
///
/// Cloning shares the socket; it closes when the last clone is dropped.
///
/// # Examples
///
/// ```
/// use baton::net::UdpSocket;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let a = UdpSocket::bind("127.0.0.1:0").await?;
/// let b = UdpSocket::bind("127.0.0.1:0").await?;
/// a.send_to(b"ping", b.local_addr()?).await?;
/// let mut buf = [0; 8];
/// let (n, from) = b.recv_from(&mut buf).await?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct UdpSocket {
    /// The registered socket.
    inner: Arc<Async<std::net::UdpSocket>>,
}

impl UdpSocket {
    /// Creates a socket bound to `addr` (the first of its addresses that binds).
    ///
    /// # Errors
    ///
    /// The OS's error for the last address tried, for instance `ErrorKind::AddrInUse`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?;
    /// assert_ne!(socket.local_addr()?.port(), 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let addrs = resolve(addr)?;
        each_addr(addrs, |addr| async move {
            UdpSocket::try_from(std::net::UdpSocket::bind(addr)?)
        })
        .await
    }

    /// Sets the default peer: `send` goes there, and `recv` only takes its datagrams.
    ///
    /// # Errors
    ///
    /// The OS's error from `connect(2)` for the last address tried.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(b.local_addr()?).await?;
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = resolve(addr)?;
        each_addr(
            addrs,
            |addr| async move { self.inner.get_ref().connect(addr) },
        )
        .await
    }

    /// Sends a datagram to `addr`; returns the number of bytes sent.
    ///
    /// # Errors
    ///
    /// The OS's error from `sendto(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// assert_eq!(a.send_to(b"hi", b.local_addr()?).await?, 2);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = resolve(addr)?[0];
        self.inner.write_with(|s| s.send_to(buf, addr)).await
    }

    /// Receives a datagram; returns its length and its sender.
    ///
    /// # Errors
    ///
    /// The OS's error from `recvfrom(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.send_to(b"hi", b.local_addr()?).await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv_from(&mut buf).await?, (2, a.local_addr()?));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|s| s.recv_from(buf)).await
    }

    /// Receives a datagram without removing it from the queue.
    ///
    /// # Errors
    ///
    /// The OS's error from `recvfrom(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.send_to(b"hi", b.local_addr()?).await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek_from(&mut buf).await?, b.recv_from(&mut buf).await?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|s| s.peek_from(buf)).await
    }

    /// Sends a datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `ErrorKind::NotConnected` without a peer, or the OS's error from `send(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(b.local_addr()?).await?;
    /// a.send(b"hi").await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|s| s.send(buf)).await
    }

    /// Receives a datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// The OS's error from `recv(2)`, for instance `ErrorKind::ConnectionRefused` after an
    /// earlier datagram found no listener.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// b.connect(a.local_addr()?).await?;
    /// a.send_to(b"hi", b.local_addr()?).await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).await?, 2);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.recv(buf)).await
    }

    /// Receives a datagram from the connected peer without removing it from the queue: the
    /// next `recv` or `peek` gets it again.
    ///
    /// # Errors
    ///
    /// The OS's error from `recv(2)`; fails if the socket is not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let a = UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = UdpSocket::bind("127.0.0.1:0").await?;
    /// b.connect(a.local_addr()?).await?;
    /// a.send_to(b"hi", b.local_addr()?).await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek(&mut buf).await?, 2);
    /// assert_eq!(b.recv(&mut buf).await?, 2);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.peek(buf)).await
    }

    /// The address this socket is bound to.
    ///
    /// # Errors
    ///
    /// The OS's error from `getsockname(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?;
    /// assert!(socket.local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `ErrorKind::NotConnected` without a peer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?;
    /// assert_eq!(socket.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// The OS's error from `setsockopt(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?;
    /// socket.set_broadcast(true)?;
    /// assert!(socket.broadcast()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    ///
    /// # Errors
    ///
    /// The OS's error from `getsockopt(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UdpSocket;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let socket = UdpSocket::bind("127.0.0.1:0").await?;
    /// assert!(!socket.broadcast()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.get_ref().broadcast()
    }
}

impl_try_from!(UdpSocket, std::net::UdpSocket);

impl_fd!(UdpSocket);
