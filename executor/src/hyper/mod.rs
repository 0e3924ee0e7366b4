//! hyper 1.x on baton (feature `hyper`): the executor, timer and I/O adapters hyper's
//! connection builders and hyper-util's pooled client ask for.
//!
//! - [`Executor`]: `hyper::rt::Executor`, spawning on a baton runtime (HTTP/2 connection
//!   tasks, hyper-util's pool).
//! - [`Timer`]: `hyper::rt::Timer` over [`baton::time`](crate::time). Give it to a server's
//!   connection builder: without a timer hyper ignores `header_read_timeout` and other
//!   timeouts.
//! - [`Io`]: `hyper::rt::Read` and `hyper::rt::Write` over any futures-io stream, such as
//!   [`baton::net::TcpStream`](crate::net::TcpStream).
//! - [`Connector`] and [`client`]: hyper-util's pooled `Client` over baton's TCP (plain
//!   `http://`; for TLS, wrap a TLS stream in [`Io`] and write a connector for it).
//!
//! # Examples
//!
//! A server that answers every request, with a header read timeout, and a pooled client:
//!
//! ```
//! # use baton_executor as baton; // `baton::hyper` needs the facade's `hyper` feature
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use baton::hyper::{Io, Timer};
//! use hyper::body::Incoming;
//! use hyper::service::service_fn;
//! use hyper::{Request, Response};
//!
//! # baton::Runtime::new().unwrap().block_on(async {
//! let listener = baton::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! baton::spawn(async move {
//!     let (stream, _) = listener.accept().await.unwrap();
//!     let service = service_fn(|_: Request<Incoming>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello")))
//!     });
//!     hyper::server::conn::http1::Builder::new()
//!         .timer(Timer)
//!         .header_read_timeout(Duration::from_secs(5))
//!         .serve_connection(Io::new(stream), service)
//!         .await
//!         .unwrap();
//! });
//!
//! let client = baton::hyper::client::<String>();
//! let uri = format!("http://{addr}/").parse()?;
//! let response = client.get(uri).await?;
//! assert_eq!(response.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod connect;
mod io;
mod rt;

pub use connect::{client, Connector};
pub use io::Io;
pub use rt::{Executor, Timer};
