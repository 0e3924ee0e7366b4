//! Measuring and printing: medians, the comparison table, and a heap counter.
//!
//! Every row compares systems against the first one, baton. A cell holds the system's median and,
//! for the other systems, its ratio to baton's (the other system's figure divided by baton's), so
//! a ratio above 1 means baton is faster, or uses less memory. The table is markdown, so it can
//! be pasted into the README as printed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Width of the workload column.
const WORKLOAD_WIDTH: usize = 40;

/// Width of each system's column.
const CELL_WIDTH: usize = 19;

/// The system names of the table header printed last; a row with other names starts a new table.
static COLUMNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A builder for the baton runtimes of the comparison: `cores` cores, and the CPU affinity
/// `BATON_BENCH_AFFINITY` asks for (`locked`, the default, or `unlocked`), so that one command
/// compares the two placements on every workload.
pub(crate) fn baton_builder(cores: usize) -> baton::Builder {
    baton::Runtime::builder()
        .cores(cores)
        .affinity(affinity())
        .detect_with_perf_events(perf_events())
}

/// Whether detection may use context-switch events: off if `BATON_BENCH_PERF_EVENTS` is
/// `off`, to compare with the monitor's looks alone.
fn perf_events() -> bool {
    std::env::var("BATON_BENCH_PERF_EVENTS").as_deref() != Ok("off")
}

/// The affinity `BATON_BENCH_AFFINITY` asks for.
fn affinity() -> baton::CpuAffinity {
    match std::env::var("BATON_BENCH_AFFINITY").as_deref() {
        Ok("unlocked") => baton::CpuAffinity::Unlocked,
        _ => baton::CpuAffinity::Locked,
    }
}

/// Whether the system named `name` runs: `BATON_BENCH_SYSTEMS`, if set, is a comma-separated
/// list of parts of names (`BATON_BENCH_SYSTEMS="baton section"` runs that column alone), for
/// short A/B runs of one system. Workloads that honour it say so.
pub(crate) fn system_selected(name: &str) -> bool {
    match std::env::var("BATON_BENCH_SYSTEMS") {
        Ok(systems) if !systems.trim().is_empty() => systems
            .split(',')
            .any(|part| !part.trim().is_empty() && name.contains(part.trim())),
        _ => true,
    }
}

/// Whether `BATON_BENCH_SYSTEMS` leaves every system in.
pub(crate) fn every_system_selected() -> bool {
    std::env::var("BATON_BENCH_SYSTEMS").map_or(true, |systems| systems.trim().is_empty())
}

/// Prints the heading that explains the table.
pub(crate) fn title(competing: usize) {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    println!("## baton side by side: {cores} cores on this machine");
    println!();
    println!(
        "baton's workers: {:?} (`BATON_BENCH_AFFINITY`); competing CPU-bound threads in \
         another process: {competing} (`BATON_BENCH_COMPETE`).",
        affinity()
    );
    println!(
        "baton's detection may use context-switch events: {} (`BATON_BENCH_PERF_EVENTS`).",
        perf_events()
    );
    println!();
    println!("Each cell is a median over several runs, after one warm-up. The figure in brackets");
    println!("is that system's result divided by baton's: a ratio > 1 means baton is faster (or");
    println!("uses less memory), a ratio < 1 means baton is slower.");
}

/// Runs `f` `runs` times (after one warm-up) and returns the median.
pub(crate) fn measure(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs.max(1)).map(|_| f()).collect();
    times.sort_unstable();
    let mid = times.len() / 2;
    if times.len() % 2 == 0 {
        (times[mid - 1] + times[mid]) / 2
    } else {
        times[mid]
    }
}

/// Prints one table row: the workload, each system's median, and each system's ratio to baton's
/// (first entry is baton).
pub(crate) fn row(workload: &str, results: &[(&str, Duration)]) {
    let figures: Vec<(&str, f64)> = results
        .iter()
        .map(|&(system, time)| (system, time.as_secs_f64()))
        .collect();
    print_row(workload, &figures, duration);
}

/// Prints one table row of heap bytes per task: the workload, each system's figure, and each
/// system's ratio to baton's (first entry is baton).
pub(crate) fn bytes_row(workload: &str, results: &[(&str, f64)]) {
    print_row(workload, results, |bytes| format!("{bytes:.0} B"));
}

/// Prints one table row of durations given in seconds as `f64`, keeping sub-nanosecond
/// precision: the workload, each system's figure, and each system's ratio to baton's.
pub(crate) fn secs_row(workload: &str, results: &[(&str, f64)]) {
    print_row(workload, results, duration);
}

/// Prints one table row of counts (threads, context switches): the workload, each system's
/// figure, and each system's ratio to baton's (first entry is baton).
pub(crate) fn count_row(workload: &str, results: &[(&str, f64)]) {
    print_row(workload, results, |count| format!("{count:.0}"));
}

/// Prints one table row of free text: the workload and each system's cell, as given.
pub(crate) fn text_row(workload: &str, cells: &[(&str, String)]) {
    let systems: Vec<&str> = cells.iter().map(|(system, _)| *system).collect();
    header_if_new(&systems);
    let mut line = format!("| {workload:<WORKLOAD_WIDTH$} |");
    for (_, cell) in cells {
        line.push_str(&format!(" {cell:>CELL_WIDTH$} |"));
    }
    println!("{line}");
    let _ = std::io::stdout().flush();
}

fn print_row(workload: &str, results: &[(&str, f64)], show: impl Fn(f64) -> String) {
    let systems: Vec<&str> = results.iter().map(|&(system, _)| system).collect();
    header_if_new(&systems);
    let baton = results.first().map_or(0.0, |&(_, figure)| figure);
    let mut line = format!("| {workload:<WORKLOAD_WIDTH$} |");
    for (i, &(_, figure)) in results.iter().enumerate() {
        let cell = if i == 0 {
            show(figure)
        } else if baton > 0.0 {
            format!("{} ({:.2}×)", show(figure), figure / baton)
        } else {
            format!("{} (n/a)", show(figure))
        };
        line.push_str(&format!(" {cell:>CELL_WIDTH$} |"));
    }
    println!("{line}");
    // Rows come slowly; show each as soon as it is measured.
    let _ = std::io::stdout().flush();
}

/// Prints a table header when `systems` differ from the last header's.
fn header_if_new(systems: &[&str]) {
    let mut columns = COLUMNS.lock().unwrap_or_else(PoisonError::into_inner);
    if columns
        .iter()
        .map(String::as_str)
        .eq(systems.iter().copied())
    {
        return;
    }
    *columns = systems.iter().map(|system| system.to_string()).collect();
    let mut names = format!("| {:<WORKLOAD_WIDTH$} |", "workload");
    let mut rule = format!("|:{}|", "-".repeat(WORKLOAD_WIDTH + 1));
    for system in systems {
        names.push_str(&format!(" {system:>CELL_WIDTH$} |"));
        rule.push_str(&format!("{}:|", "-".repeat(CELL_WIDTH + 1)));
    }
    println!();
    println!("{names}");
    println!("{rule}");
}

/// Formats a duration in seconds with three significant digits and a fitting unit.
fn duration(secs: f64) -> String {
    let (value, unit) = match secs {
        s if s < 1e-6 => (s * 1e9, "ns"),
        s if s < 1e-3 => (s * 1e6, "µs"),
        s if s < 1.0 => (s * 1e3, "ms"),
        s => (s, "s"),
    };
    match value {
        v if v < 10.0 => format!("{v:.2} {unit}"),
        v if v < 100.0 => format!("{v:.1} {unit}"),
        v => format!("{v:.0} {unit}"),
    }
}

/// Whether a [`HeapCounter`] is live, so the allocator counts.
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Bytes allocated minus bytes freed since the live [`HeapCounter`] started.
static NET_BYTES: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting the bytes it hands out while a [`HeapCounter`] is live.
///
/// Counting only inside that window keeps one contended atomic off the allocation path of the
/// timed workloads: outside it, the cost is one relaxed load of a flag that never changes.
struct CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

impl CountingAllocator {
    fn count(&self, bytes: isize) {
        if COUNTING.load(Relaxed) {
            NET_BYTES.fetch_add(bytes, Relaxed);
        }
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting touches only two atomics and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract, which `System` shares.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, hence from `System`, with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        self.count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator, hence from `System`, with this `layout`, and
        // the caller upholds the rest of `GlobalAlloc::realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            self.count(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// Counts the heap bytes allocated and not yet freed, by any thread, while it is alive.
///
/// One counter at a time: starting a second one restarts the count.
#[derive(Debug)]
pub(crate) struct HeapCounter(());

impl HeapCounter {
    /// Starts counting from zero.
    pub(crate) fn start() -> Self {
        NET_BYTES.store(0, Relaxed);
        COUNTING.store(true, Relaxed);
        Self(())
    }

    /// Bytes allocated minus bytes freed since [`start`](Self::start).
    ///
    /// Allocations made by other threads show once this thread has synchronised with them.
    pub(crate) fn bytes(&self) -> isize {
        NET_BYTES.load(Relaxed)
    }
}

impl Drop for HeapCounter {
    fn drop(&mut self) {
        COUNTING.store(false, Relaxed);
    }
}
