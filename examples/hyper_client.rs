//! An HTTP client with hyper-util's pooled client on baton (needs the `hyper` feature).
//!
//! ```text
//! cargo run --example hyper_server --features hyper -- 127.0.0.1:3000 &
//! cargo run --example hyper_client --features hyper -- http://127.0.0.1:3000/baton 10
//! ```
//!
//! `baton::hyper::client()` builds hyper-util's `Client` with baton's connector, executor and
//! timer: connections are pooled and reused between requests. Plain `http://` only.

use std::io;

use http_body_util::BodyExt;

/// Fetches `uri` `times` times through one pooled client; returns the status and body of
/// each response.
pub(crate) async fn fetch(uri: hyper::Uri, times: usize) -> io::Result<Vec<(u16, String)>> {
    let client = baton::hyper::client::<String>();
    let mut responses = Vec::with_capacity(times);
    for _ in 0..times {
        let response = client.get(uri.clone()).await.map_err(io::Error::other)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(io::Error::other)?
            .to_bytes();
        responses.push((status, String::from_utf8_lossy(&body).into_owned()));
    }
    Ok(responses)
}

#[baton::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(uri) = args.next() else {
        eprintln!("usage: hyper_client URI [TIMES]  (serve one with the hyper_server example)");
        std::process::exit(2);
    };
    let uri = uri.parse().map_err(io::Error::other)?;
    let times = match args.next() {
        Some(n) => n.parse().map_err(io::Error::other)?,
        None => 1,
    };
    for (status, body) in fetch(uri, times).await? {
        println!("{status} {body}");
    }
    Ok(())
}
