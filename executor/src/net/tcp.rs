//! TCP listeners and streams.

use std::io::{self};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use socket2::{Domain, Protocol, Socket, Type};

use super::forward::{impl_fd, impl_stream, impl_try_from};
use super::{each_addr, resolve};
use crate::io::Async;
use crate::reactor::Direction;
use crate::sync::Arc;

/// A TCP socket server, listening for connections.
///
/// Cloning shares the socket; it closes when the last clone is dropped.
///
/// # Examples
///
/// ```
/// use baton::net::{TcpListener, TcpStream};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let _client = TcpStream::connect(listener.local_addr()?).await?;
/// let (_stream, peer) = listener.accept().await?;
/// assert!(peer.ip().is_loopback());
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct TcpListener {
    /// The registered listener.
    inner: Arc<Async<std::net::TcpListener>>,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (the first of its addresses that binds).
    ///
    /// Binding to port 0 picks a free port; [`local_addr`](TcpListener::local_addr) tells which.
    /// A host name is resolved inside a blocking section.
    ///
    /// # Errors
    ///
    /// The OS's error for the last address tried: `ErrorKind::AddrInUse` if another socket
    /// listens there, `ErrorKind::AddrNotAvailable` for an address not on this machine.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use baton::net::TcpListener;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let first = TcpListener::bind("127.0.0.1:0").await?;
    /// let err = TcpListener::bind(first.local_addr()?).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::AddrInUse);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let addrs = resolve(addr)?;
        each_addr(addrs, |addr| async move {
            TcpListener::try_from(std::net::TcpListener::bind(addr)?)
        })
        .await
    }

    /// Accepts a connection, returning the stream and the peer's address.
    ///
    /// # Errors
    ///
    /// The OS's error from `accept(2)`, for instance `EMFILE` when out of descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (_stream, peer) = listener.accept().await?;
    /// assert_eq!(peer, client.local_addr()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.inner.read_with(|l| l.accept()).await?;
        Ok((TcpStream::try_from(stream)?, peer))
    }

    /// Polls for a connection, registering `cx`'s waker if none is pending.
    ///
    /// # Errors
    ///
    /// As [`accept`](TcpListener::accept).
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let _client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (_stream, _peer) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.inner
            .poll_op(Direction::Read, cx, |l| l.accept())
            .map(|res| res.and_then(|(s, peer)| Ok((TcpStream::try_from(s)?, peer))))
    }

    /// A stream of incoming connections; it never ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let _client = TcpStream::connect(listener.local_addr()?).await?;
    /// let stream = listener.incoming().next().await.unwrap()?;
    /// # let _ = stream;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    ///
    /// The OS's error from `getsockname(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::TcpListener;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl_try_from!(TcpListener, std::net::TcpListener);

impl_fd!(TcpListener);

/// The stream of [`TcpListener::incoming`].
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use baton::net::{TcpListener, TcpStream};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let _client = TcpStream::connect(listener.local_addr()?).await?;
/// let mut incoming: baton::net::Incoming<'_> = listener.incoming();
/// assert!(incoming.next().await.unwrap().is_ok());
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "a stream does nothing unless polled"]
pub struct Incoming<'a> {
    /// The listener accepted from.
    listener: &'a TcpListener,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener
            .poll_accept(cx)
            .map(|res| Some(res.map(|(stream, _)| stream)))
    }
}

/// A TCP connection.
///
/// It implements [`AsyncRead`](futures_io::AsyncRead) and
/// [`AsyncWrite`](futures_io::AsyncWrite), as does `&TcpStream`; cloning shares the
/// socket, so one clone can read while another writes. Closing the writer (`close().await`)
/// shuts the write half down, which the peer reads as end of stream.
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use baton::net::{TcpListener, TcpStream};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let mut client = TcpStream::connect(listener.local_addr()?).await?;
/// let (mut server, _) = listener.accept().await?;
/// client.write_all(b"bye").await?;
/// client.close().await?;
/// let mut got = Vec::new();
/// server.read_to_end(&mut got).await?;
/// assert_eq!(got, b"bye");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct TcpStream {
    /// The registered stream.
    inner: Arc<Async<std::net::TcpStream>>,
}

impl TcpStream {
    /// Connects to `addr` (the first of its addresses that accepts).
    ///
    /// # Errors
    ///
    /// The OS's error for the last address tried, for instance `ErrorKind::ConnectionRefused`
    /// when nothing listens there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// drop(listener);
    /// let err = TcpStream::connect(addr).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let addrs = resolve(addr)?;
        each_addr(addrs, connect_one).await
    }

    /// The local address of this connection.
    ///
    /// # Errors
    ///
    /// The OS's error from `getsockname(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// assert!(client.local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The remote address of this connection.
    ///
    /// # Errors
    ///
    /// The OS's error from `getpeername(2)`, `ErrorKind::NotConnected` once the connection is
    /// reset.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// assert_eq!(client.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Sets `TCP_NODELAY`: whether small writes go out at once instead of being coalesced.
    ///
    /// # Errors
    ///
    /// The OS's error from `setsockopt(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// client.set_nodelay(true)?;
    /// assert!(client.nodelay()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The OS's error from `getsockopt(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// client.set_nodelay(false)?;
    /// assert!(!client.nodelay()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
    }

    /// Shuts down the read half, the write half, or both (a half-close for `Write`).
    ///
    /// # Errors
    ///
    /// The OS's error from `shutdown(2)`, `ErrorKind::NotConnected` once the connection is
    /// gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Shutdown;
    /// use futures::io::AsyncReadExt;
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (mut server, _) = listener.accept().await?;
    /// client.shutdown(Shutdown::Write)?;
    /// let mut buf = [0; 1];
    /// assert_eq!(server.read(&mut buf).await?, 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Reads data without removing it from the receive queue; waits until some arrives.
    ///
    /// # Errors
    ///
    /// The OS's error from `recv(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::{AsyncReadExt, AsyncWriteExt};
    /// use baton::net::{TcpListener, TcpStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let mut client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (mut server, _) = listener.accept().await?;
    /// client.write_all(b"ab").await?;
    /// let mut buf = [0; 2];
    /// let n = server.peek(&mut buf).await?;
    /// server.read_exact(&mut buf[..n]).await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.peek(buf)).await
    }
}

/// Connects to one address without blocking: `connect(2)` in non-blocking mode, then wait for
/// writability and read the outcome with `SO_ERROR`.
async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    let stream = Async::new(std::net::TcpStream::from(socket))?;
    stream.writable().await?;
    if let Some(err) = stream.get_ref().take_error()? {
        return Err(err);
    }
    Ok(TcpStream {
        inner: Arc::new(stream),
    })
}

impl_try_from!(TcpStream, std::net::TcpStream);

impl_stream!(TcpStream);
