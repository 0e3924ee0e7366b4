//! An HTTP/1 server with hyper on baton (needs the `hyper` feature).
//!
//! ```text
//! cargo run --example hyper_server --features hyper                   # serve, check, exit
//! cargo run --example hyper_server --features hyper -- 127.0.0.1:3000  # serve until interrupted
//! ```
//!
//! Each connection is one baton task running hyper's `serve_connection` over
//! `baton::hyper::Io`; `baton::hyper::Timer` makes `header_read_timeout` work (without a timer
//! hyper ignores it). With no address, it serves on a free port, fetches a page with the pooled
//! client of `examples/hyper_client.rs`'s kind, shows a client that never finishes its headers
//! being cut off, and exits.

use std::convert::Infallible;
use std::io;
use std::time::{Duration, Instant};

use baton::hyper::{Io, Timer};
use baton::net::{TcpListener, TcpStream};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};

/// How long a client may take to send a request's headers before the server hangs up.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_millis(500);

/// Answers `GET /name` with `hello, name`.
async fn hello(request: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let name = request.uri().path().trim_start_matches('/');
    Ok(Response::new(format!("hello, {name}")))
}

/// Serves `listener` forever, one task per connection.
pub(crate) async fn serve(listener: TcpListener, header_read_timeout: Duration) -> io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        baton::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(Timer)
                .header_read_timeout(header_read_timeout)
                .serve_connection(Io::new(stream), service_fn(hello))
                .await;
            if let Err(err) = served {
                eprintln!("{peer}: {err}");
            }
        });
    }
}

/// Sends half a request's headers and waits; returns once the server hung up.
pub(crate) async fn slow_client(addr: std::net::SocketAddr) -> io::Result<Duration> {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: slow\r\n")
        .await?;
    let mut reply = Vec::new();
    // The server closes the connection (after a 408 response) at its header read timeout.
    stream.read_to_end(&mut reply).await?;
    Ok(start.elapsed())
}

#[baton::main]
async fn main() -> io::Result<()> {
    if let Some(addr) = std::env::args().nth(1) {
        let listener = TcpListener::bind(addr.as_str()).await?;
        println!("serving on http://{}/", listener.local_addr()?);
        return serve(listener, HEADER_READ_TIMEOUT).await;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("serving on http://{addr}/");
    let server = baton::spawn(serve(listener, HEADER_READ_TIMEOUT));
    let client = baton::hyper::client::<String>();
    let uri = format!("http://{addr}/baton")
        .parse()
        .map_err(io::Error::other)?;
    let response = client.get(uri).await.map_err(io::Error::other)?;
    println!("GET /baton: {}", response.status());
    let waited = slow_client(addr).await?;
    println!("a client that never finished its headers was cut off after {waited:?}");
    server.abort();
    Ok(())
}
