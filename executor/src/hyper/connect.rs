//! hyper-util's pooled client over baton's TCP: the connector and its connection type.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};

use super::{Executor, Io, Timer};
use crate::net::TcpStream;

/// The port of `http://` URIs that name none.
const HTTP_PORT: u16 = 80;

/// A hyper-util connector (`tower_service::Service<Uri>`) that opens plain TCP connections
/// with [`baton::net::TcpStream`](crate::net::TcpStream), `TCP_NODELAY` set.
///
/// It takes `http://` URIs (and URIs without a scheme); others fail with
/// [`io::ErrorKind::InvalidInput`]. Host names are resolved by the standard library's resolver
/// (`getaddrinfo`).
///
/// # Examples
///
/// ```
/// # use baton_executor as baton; // `baton::hyper` needs the facade's `hyper` feature
/// use hyper_util::client::legacy::Client;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let client: Client<_, String> = Client::builder(baton::hyper::Executor::current())
///     .timer(baton::hyper::Timer)
///     .pool_timer(baton::hyper::Timer)
///     .build(baton::hyper::Connector::new());
/// # let _ = client;
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Connector;

impl Connector {
    /// A connector.
    pub fn new() -> Connector {
        Connector
    }
}

/// Where `uri` says to connect, or why it cannot be reached over plain TCP.
fn authority(uri: &Uri) -> io::Result<(String, u16)> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    match uri.scheme_str() {
        None | Some("http") => {}
        Some(other) => {
            return Err(invalid(format!(
                "baton's hyper connector opens plain TCP, not `{other}://` ({uri})"
            )))
        }
    }
    let host = uri
        .host()
        .ok_or_else(|| invalid(format!("no host in {uri}")))?;
    // `[::1]` in a URI is `::1` to the resolver.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_owned(), uri.port_u16().unwrap_or(HTTP_PORT)))
}

impl tower_service::Service<Uri> for Connector {
    type Response = Io<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Io<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let target = authority(&uri);
        Box::pin(async move {
            let (host, port) = target?;
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Io::new(stream))
        })
    }
}

impl Connection for Io<TcpStream> {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// hyper-util's pooled `Client` over baton: [`Connector`], an [`Executor`] on the current
/// runtime, and [`Timer`] for both the connections' and the pool's timeouts.
///
/// # Panics
///
/// Outside a runtime (see [`Handle::current`](crate::Handle::current)).
///
/// # Examples
///
/// ```
/// # use baton_executor as baton; // `baton::hyper` needs the facade's `hyper` feature
/// # baton::Runtime::new().unwrap().block_on(async {
/// let client = baton::hyper::client::<String>();
/// let uri: hyper::Uri = "http://localhost:1/".parse().unwrap();
/// assert!(client.get(uri).await.is_err()); // nothing listens on port 1
/// # });
/// ```
#[track_caller]
pub fn client<B>() -> hyper_util::client::legacy::Client<Connector, B>
where
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    hyper_util::client::legacy::Client::builder(Executor::current())
        .timer(Timer)
        .pool_timer(Timer)
        .build(Connector)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        let parse = |s: &str| authority(&s.parse().unwrap());
        assert_eq!(
            parse("http://example.com/x").unwrap(),
            ("example.com".into(), 80)
        );
        assert_eq!(
            parse("http://127.0.0.1:8080").unwrap(),
            ("127.0.0.1".into(), 8080)
        );
        assert_eq!(parse("http://[::1]:81/").unwrap(), ("::1".into(), 81));
        let err = parse("https://example.com/").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("https://"), "{err}");
        assert!(parse("/path/only").is_err());
    }
}
