//! Side-by-side comparison of baton, tokio and async-executor, in one process run.
//!
//! ```text
//! cargo bench --bench compare            # every workload
//! cargo bench --bench compare -- spawn   # the workloads whose name contains "spawn"
//! ```
//!
//! Each workload runs on every system in turn, with two cores (baton) or two worker threads
//! (tokio, async-executor), and prints one row of a markdown table: see [`report`].

mod blocking;
mod core;
mod io;
mod report;
mod sqlite;
mod workqueue;

fn main() {
    // Cargo passes flags of its own (`--bench`); the first argument that is not a flag filters.
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_default();
    report::title();
    core::run(&filter);
    io::run(&filter);
    blocking::run(&filter);
    sqlite::run(&filter);
    workqueue::run(&filter);
}
