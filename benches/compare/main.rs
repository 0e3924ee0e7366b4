//! Side-by-side comparison of baton, tokio and async-executor, in one process run.
//!
//! ```text
//! cargo bench --bench compare            # every workload
//! cargo bench --bench compare -- spawn   # the workloads whose name contains "spawn"
//! cargo bench --bench compare --features hyper -- hyper   # the HTTP row (needs `wrk`)
//! BATON_BENCH_SYSTEMS="baton section" cargo bench --bench compare -- "blocking mix"
//!                                        # the mixes' baton section column alone (A/B runs)
//! ```
//!
//! Each workload runs on every system in turn, with two cores (baton) or two worker threads
//! (tokio, async-executor), and prints one row of a markdown table: see [`report`].

mod blocking;
mod core;
mod http;
mod io;
mod report;
mod sqlite;
mod workqueue;

/// The argument that makes this program a competing CPU-bound process instead.
const SPIN: &str = "--competing-spin";

fn main() {
    if std::env::args().nth(1).as_deref() == Some(SPIN) {
        compete_forever();
    }
    // Cargo passes flags of its own (`--bench`); the first argument that is not a flag filters.
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_default();
    let competing: usize = std::env::var("BATON_BENCH_COMPETE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // Killed when the comparison ends (the guard's drop), or with this process.
    let _competitor = (competing > 0).then(|| Competitor::start(competing));
    report::title(competing);
    core::run(&filter);
    io::run(&filter);
    http::run(&filter);
    blocking::run(&filter);
    sqlite::run(&filter);
    workqueue::run(&filter);
}

/// Another process that keeps CPUs busy while the comparison runs, as other work on a shared
/// machine does (`BATON_BENCH_COMPETE=n`: `n` spinning threads).
struct Competitor(std::process::Child);

impl Competitor {
    fn start(threads: usize) -> Competitor {
        let exe = std::env::current_exe().expect("the comparison's own path");
        let child = std::process::Command::new(exe)
            .arg(SPIN)
            .env("BATON_BENCH_COMPETE", threads.to_string())
            .spawn()
            .expect("cannot start the competing process");
        Competitor(child)
    }
}

impl Drop for Competitor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The competing process: spins on `BATON_BENCH_COMPETE` threads until killed, or until its
/// parent is gone.
fn compete_forever() -> ! {
    let threads: usize = std::env::var("BATON_BENCH_COMPETE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let parent = std::os::unix::process::parent_id();
    for _ in 1..threads {
        std::thread::spawn(spin);
    }
    loop {
        spin();
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(0);
        }
    }
}

/// Burns about 10 ms of CPU.
fn spin() {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(10) {
        std::hint::spin_loop();
    }
}
