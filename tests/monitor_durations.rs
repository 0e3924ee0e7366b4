//! The monitor survives any duration it is configured with: a grace period or keep-alive of
//! `Duration::MAX` does not overflow its clock arithmetic (it would die silently, and from
//! then on no blocked worker is replaced), and a grace period of a nanosecond does not make it
//! spin.

use std::mem::ManuallyDrop;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

mod common;

/// How long a test waits for work that needs the monitor before it declares a hang.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `n` tasks on one core that all block in a section until every one of them has
/// entered it: that needs `n` workers at once, so the monitor must start `n - 2` replacements
/// (the core starts with two). Fails the test if they do not all finish in time (the runtime
/// must then be leaked, not dropped: dropping it would wait for the blocked workers).
fn run_blocked_together(rt: &baton::Runtime, n: usize) {
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            rt.spawn(async move {
                baton::blocking::section_long(|| {
                    barrier.wait();
                });
            })
        })
        .collect();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        for task in tasks {
            futures::executor::block_on(task).unwrap();
        }
        let _ = done.send(());
    });
    finished.recv_timeout(WATCHDOG).unwrap_or_else(|_| {
        panic!(
            "{n} tasks blocked together did not finish within {WATCHDOG:?}: \
             no replacement workers were started\n{}",
            rt.stats()
        )
    });
}

#[test]
fn a_grace_period_of_duration_max_keeps_the_monitor_alive() {
    let rt = ManuallyDrop::new(
        baton::Runtime::builder()
            .cores(1)
            .grace_period(Duration::MAX)
            .build()
            .unwrap(),
    );
    // A lazy section long enough for the monitor to look at it: with an infinite grace period
    // it is never handed off, and the monitor must live on.
    rt.block_on(rt.spawn(async {
        baton::blocking::section(|| std::thread::sleep(Duration::from_millis(100)));
    }))
    .unwrap();
    assert_eq!(rt.stats().cores[0].handoffs, 0, "{}", rt.stats());
    run_blocked_together(&rt, 4);
    drop(ManuallyDrop::into_inner(rt));
}

#[test]
fn a_keep_alive_of_duration_max_keeps_the_monitor_alive() {
    let rt = ManuallyDrop::new(
        baton::Runtime::builder()
            .cores(1)
            .keep_alive(Duration::MAX)
            .build()
            .unwrap(),
    );
    // Surplus spares: the monitor weighs their keep-alive at every look from now on.
    run_blocked_together(&rt, 4);
    let stats = common::settle(&rt);
    assert!(stats.cores[0].workers >= 4, "{stats}");
    run_blocked_together(&rt, 6);
    let stats = common::settle(&rt);
    assert_eq!(stats.cores[0].threads_reaped, 0, "{stats}");
    drop(ManuallyDrop::into_inner(rt));
}

/// The monitor thread's CPU time so far (Linux: from `/proc`), found by its name.
#[cfg(target_os = "linux")]
fn monitor_cpu_time(name: &str) -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task").expect("no /proc/self/task");
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).expect("no stat");
        // The fields after the command name (which ends with the last ')'): utime and stime are
        // the 12th and 13th of them, in clock ticks.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        return Duration::from_secs_f64(ticks as f64 / per_sec as f64);
    }
    panic!("no thread named {name}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_grace_period_of_a_nanosecond_does_not_spin_the_monitor() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .thread_name("nsg")
        .grace_period(Duration::from_nanos(1))
        // The sleep below blocks outside any section: detection would take it over and look
        // every detection threshold while it blocks, which this bound is not about.
        .detect_blocking(false)
        .build()
        .unwrap();
    // Sections are still handed off: this one lasts until the monitor has handed it off.
    let handle = rt.handle();
    rt.block_on(rt.spawn(async move {
        baton::blocking::section(|| {
            let start = std::time::Instant::now();
            while handle.stats().cores[0].handoffs == 0 && start.elapsed() < WATCHDOG {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    }))
    .unwrap();
    assert_eq!(rt.stats().cores[0].handoffs, 1, "{}", rt.stats());
    // A worker that runs (an unannotated sleep) keeps the monitor looking. Looking costs
    // microseconds, a few hundred times a second at most; a monitor with a zero tick spends
    // whatever CPU time it is given. The bound is fifty times what a working monitor uses, and
    // CPU time (unlike wall time) does not grow when the machine is loaded.
    let before = monitor_cpu_time("nsg-monitor");
    rt.block_on(rt.spawn(async {
        std::thread::sleep(Duration::from_secs(2));
    }))
    .unwrap();
    let used = monitor_cpu_time("nsg-monitor") - before;
    assert!(
        used < Duration::from_millis(100),
        "the monitor used {used:?} of CPU in 2 s while one worker slept"
    );
}
