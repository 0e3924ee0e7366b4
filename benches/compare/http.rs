//! HTTP: a hyper 1.x hello-world server on each system, loaded by `wrk` (a real HTTP server
//! library under a real load generator, as outside benchmarks run it).
//!
//! Each system serves with the same hyper server code (HTTP/1, one task per connection, a timer
//! for `header_read_timeout`) on two cores' worth of threads, and `wrk -t2 -c50` loads it from
//! another process on the same machine. Systems take turns, one `wrk` run each per round, and
//! each run starts with a fresh runtime and a one-second warm-up.
//!
//! It needs the `hyper` feature (for `baton::hyper`; `scripts/bench-readme` passes it) and `wrk`
//! on the `PATH` (`scripts/bench-readme` installs it where it can); without either the row is
//! skipped with a line saying why.

#[cfg(feature = "hyper")]
pub(crate) use with_hyper::run;

/// The row's name.
const NAME: &str = "hyper hello, wrk -c50 (requests/s)";

#[cfg(not(feature = "hyper"))]
pub(crate) fn run(filter: &str) {
    if NAME.contains(filter) {
        println!();
        println!("({NAME}: skipped, it needs `--features hyper`.)");
    }
}

#[cfg(feature = "hyper")]
mod with_hyper {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::process::Command;

    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::{Request, Response};

    use super::NAME;
    use crate::io::{baton_run, smol_run, smol_spawn, tokio_run};
    use crate::report;

    /// Rounds: each system serves one measured `wrk` run per round.
    const ROUNDS: usize = 3;
    /// Connections `wrk` keeps open.
    const CONNECTIONS: usize = 50;
    /// Seconds of each measured `wrk` run.
    const SECONDS: u32 = 4;

    pub(crate) fn run(filter: &str) {
        if !NAME.contains(filter) {
            return;
        }
        if Command::new("wrk").arg("--version").output().is_err() {
            println!();
            println!("({NAME}: skipped, `wrk` is not on the PATH.)");
            return;
        }
        let mut rates: [Vec<f64>; 3] = Default::default();
        for _ in 0..ROUNDS {
            rates[0].push(baton_run(|| async {
                let listener = baton::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = baton::spawn(baton_serve(listener));
                let rate = baton::blocking::unblock(move || load(addr)).await;
                server.abort();
                rate
            }));
            rates[1].push(tokio_run(|| async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = tokio::spawn(tokio_serve(listener));
                let rate = tokio::task::spawn_blocking(move || load(addr))
                    .await
                    .unwrap();
                server.abort();
                rate
            }));
            rates[2].push(smol_run(|| async {
                let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = smol_spawn(smol_serve(listener));
                let rate = blocking::unblock(move || load(addr)).await;
                drop(server);
                rate
            }));
        }
        let medians: Vec<f64> = rates.iter_mut().map(|runs| median(runs)).collect();
        // The bracketed ratio reads as everywhere else: > 1 means baton is faster. For a rate
        // that is baton's figure divided by the other system's.
        let cells: Vec<(&str, String)> = ["baton", "tokio", "async-executor"]
            .iter()
            .zip(&medians)
            .enumerate()
            .map(|(i, (&system, &rate))| {
                let cell = if i == 0 {
                    format!("{:.1}k/s", rate / 1e3)
                } else {
                    format!("{:.1}k/s ({:.2}×)", rate / 1e3, medians[0] / rate)
                };
                (system, cell)
            })
            .collect();
        report::text_row(NAME, &cells);
    }

    /// The median of `runs`.
    fn median(runs: &mut [f64]) -> f64 {
        runs.sort_by(f64::total_cmp);
        runs[runs.len() / 2]
    }

    /// Loads the server at `addr` with `wrk` for a second (the warm-up), then for [`SECONDS`],
    /// and returns the second run's requests per second.
    fn load(addr: SocketAddr) -> f64 {
        wrk(addr, 1);
        wrk(addr, SECONDS)
    }

    /// One `wrk` run against `addr`: its requests per second.
    fn wrk(addr: SocketAddr, seconds: u32) -> f64 {
        let out = Command::new("wrk")
            .args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s")])
            .arg(format!("http://{addr}/"))
            .output()
            .expect("cannot run wrk");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|line| line.strip_prefix("Requests/sec:"))
            .and_then(|rate| rate.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"))
    }

    /// The page every system serves.
    async fn hello(_: Request<Incoming>) -> Result<Response<String>, Infallible> {
        Ok(Response::new("hello, world".to_owned()))
    }

    async fn baton_serve(listener: baton::net::TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            baton::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(baton::hyper::Timer)
                    .serve_connection(baton::hyper::Io::new(stream), service_fn(hello))
                    .await;
            });
        }
    }

    async fn tokio_serve(listener: tokio::net::TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    }

    /// async-executor with async-net sockets, through the same futures-io adapter as baton's
    /// (it depends on nothing of baton's runtime). async-io's timers are not hyper timers, so
    /// this server has no header read timeout: a little less work than the others do.
    async fn smol_serve(listener: async_net::TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            smol_spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(baton::hyper::Io::new(stream), service_fn(hello))
                    .await;
            })
            .detach();
        }
    }
}
