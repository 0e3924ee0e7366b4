//! Unix-domain stream sockets.

use std::io::{self};
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::forward::{impl_fd, impl_stream, impl_try_from};
use crate::io::Async;
use crate::sync::Arc;

/// A Unix-domain socket server, listening for connections.
///
/// Cloning shares the socket; it closes when the last clone is dropped. The socket file is
/// not removed on drop.
///
/// # Examples
///
/// ```
/// use baton::net::{UnixListener, UnixStream};
/// # baton::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("baton-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("listener.sock");
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let _client = UnixStream::connect(&path).await?;
/// let (_stream, _addr) = listener.accept().await?;
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct UnixListener {
    /// The registered listener.
    inner: Arc<Async<std::os::unix::net::UnixListener>>,
}

impl UnixListener {
    /// Creates a listener bound to the socket file `path`.
    ///
    /// # Errors
    ///
    /// The OS's error from `bind(2)`: `ErrorKind::AddrInUse` if the file exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use baton::net::UnixListener;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("baton-doc-bind-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("bind.sock");
    /// # let _ = std::fs::remove_file(&path);
    /// let _listener = UnixListener::bind(&path)?;
    /// assert_eq!(UnixListener::bind(&path).unwrap_err().kind(), ErrorKind::AddrInUse);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::try_from(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Accepts a connection, returning the stream and the peer's (usually unnamed) address.
    ///
    /// # Errors
    ///
    /// The OS's error from `accept(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::{UnixListener, UnixStream};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("baton-doc-accept-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("accept.sock");
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let _client = UnixStream::connect(&path).await?;
    /// let (_stream, addr) = listener.accept().await?;
    /// assert!(addr.is_unnamed());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.inner.read_with(|l| l.accept()).await?;
        Ok((UnixStream::try_from(stream)?, addr))
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
    /// use baton::net::UnixListener;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("baton-doc-addr-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("addr.sock");
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl_try_from!(UnixListener, std::os::unix::net::UnixListener);

impl_fd!(UnixListener);

/// A Unix-domain stream connection.
///
/// It implements [`AsyncRead`](futures_io::AsyncRead) and
/// [`AsyncWrite`](futures_io::AsyncWrite), as does `&UnixStream`; closing the writer
/// shuts the write half down.
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use baton::net::UnixStream;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let (mut a, mut b) = UnixStream::pair()?;
/// a.write_all(b"hi").await?;
/// a.close().await?;
/// let mut got = String::new();
/// b.read_to_string(&mut got).await?;
/// assert_eq!(got, "hi");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct UnixStream {
    /// The registered stream.
    inner: Arc<Async<std::os::unix::net::UnixStream>>,
}

impl UnixStream {
    /// Connects to the socket file `path`.
    ///
    /// The `connect(2)` runs inside a blocking section: on a Unix socket it completes at once
    /// unless the listener's backlog is full.
    ///
    /// # Errors
    ///
    /// The OS's error from `connect(2)`: `ErrorKind::NotFound` if no file is there,
    /// `ErrorKind::ConnectionRefused` if nothing listens on it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use baton::net::UnixStream;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let err = UnixStream::connect("/nonexistent/baton.sock").await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// # });
    /// ```
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let stream = baton_blocking::section(|| std::os::unix::net::UnixStream::connect(path))?;
        UnixStream::try_from(stream)
    }

    /// A pair of connected streams.
    ///
    /// # Errors
    ///
    /// The OS's error from `socketpair(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UnixStream;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, b) = UnixStream::pair()?;
    /// # let _ = (a, b);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::try_from(a)?, UnixStream::try_from(b)?))
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
    /// use baton::net::UnixStream;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, _b) = UnixStream::pair()?;
    /// assert!(a.local_addr()?.is_unnamed());
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
    /// The OS's error from `getpeername(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::net::UnixStream;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, _b) = UnixStream::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// # Errors
    ///
    /// The OS's error from `shutdown(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Shutdown;
    /// use futures::io::AsyncReadExt;
    /// use baton::net::UnixStream;
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let (a, mut b) = UnixStream::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// let mut buf = [0; 1];
    /// assert_eq!(b.read(&mut buf).await?, 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }
}

impl_try_from!(UnixStream, std::os::unix::net::UnixStream);

impl_stream!(UnixStream);
