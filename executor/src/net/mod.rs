//! Networking: TCP, UDP and Unix-domain sockets on the reactor, in async-net's shapes.
//!
//! - [`TcpListener`] and [`TcpStream`]: `bind`, `accept`, `connect`, half-close through
//!   [`TcpStream::shutdown`], and the `futures-io` traits.
//! - [`UdpSocket`]: datagrams, connected or not.
//! - [`UnixListener`] and [`UnixStream`]: Unix-domain stream sockets.
//! - [`UnixDatagram`]: Unix-domain datagram sockets, bound, unbound or paired.
//!
//! Sockets are cheap to clone (they share one registration) and deregister from the reactor
//! when the last clone is dropped. Errors are [`std::io::Error`]s carrying the OS's cause, so
//! `ErrorKind::ConnectionRefused` or `ErrorKind::AddrInUse` can be matched on.
//!
//! # Examples
//!
//! ```
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use baton::net::{TcpListener, TcpStream};
//! # baton::Runtime::new().unwrap().block_on(async {
//!
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let mut client = TcpStream::connect(listener.local_addr()?).await?;
//! let (mut server, _) = listener.accept().await?;
//! client.write_all(b"hello").await?;
//! let mut buf = [0; 5];
//! server.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"hello");
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```

mod forward;
mod tcp;
mod udp;
mod unix;
mod unix_datagram;

pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
pub use unix_datagram::UnixDatagram;

use std::io;
use std::net::ToSocketAddrs;

/// Resolves `addr` inside a blocking section (a host name may need a DNS query).
fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<std::net::SocketAddr>> {
    let addrs: Vec<_> = baton_blocking::section(|| addr.to_socket_addrs())?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        ));
    }
    Ok(addrs)
}

/// Tries `f` on each address in turn; returns the first success or the last error.
async fn each_addr<T, F, Fut>(addrs: Vec<std::net::SocketAddr>, mut f: F) -> io::Result<T>
where
    F: FnMut(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match f(addr).await {
            Ok(out) => return Ok(out),
            Err(err) => last = Some(err),
        }
    }
    Err(last.expect("`resolve` returns at least one address"))
}
