//! A thread limit stalls nothing: when the OS refuses new worker threads (RLIMIT_NPROC, a
//! cgroup's pids.max), sections run without replacement, every task still finishes, and the
//! counts stay exact (a failed spawn is counted in `spawn_failures`, not as a thread started).
//!
//! The limit is real: the test re-runs itself as a child process under an unprivileged user
//! (root ignores RLIMIT_NPROC), and the child lowers its own RLIMIT_NPROC to a couple of threads
//! above what it already runs once its runtime has started, so that only some of the spares the
//! runtime wants can be created.
#![cfg(target_os = "linux")]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

/// Set in the child's environment.
const CHILD: &str = "BATON_THREAD_LIMIT_CHILD";
/// Tasks of the workload, each with one blocking section among yields.
const TASKS: usize = 2_000;
/// What a section blocks for.
const BLOCK: Duration = Duration::from_millis(1);
/// Threads the child may start beyond those it runs when the limit is set.
const HEADROOM: u64 = 2;
/// How long the child's workload may take before it reports a stall.
const CHILD_WATCHDOG: Duration = Duration::from_secs(60);
/// How long the parent waits for the child.
const PARENT_WATCHDOG: Duration = Duration::from_secs(120);

#[test]
fn a_thread_limit_stalls_nothing() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args(["a_thread_limit_stalls_nothing", "--exact", "--nocapture"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        // An unprivileged uid of its own (so that copies of this test running at once do not
        // share a thread count): RLIMIT_NPROC counts every thread of the child's real uid.
        let id = 60_000 + std::process::id() % 5_000;
        // SAFETY: between fork and exec the closure only makes async-signal-safe system calls.
        unsafe {
            command.pre_exec(move || {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(id) != 0
                    || libc::setuid(id) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    } else {
        println!("not running as root: the child limits the threads of this user, whose other processes may disturb the count");
    }
    let mut child = command
        .spawn()
        .expect("cannot start the child test process");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        let _ = done.send(format!("{out}{err}"));
    });
    let Ok(output) = finished.recv_timeout(PARENT_WATCHDOG) else {
        let _ = child.kill();
        panic!("the child test did not finish within {PARENT_WATCHDOG:?}");
    };
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the child test failed ({status}):\n{output}"
    );
    assert!(
        output.contains("child: a runtime that cannot start"),
        "the child did not run to the end:\n{output}"
    );
    println!("{output}");
}

/// Threads of every process whose real uid is `uid`, from `/proc`.
fn threads_of_uid(uid: u32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        // Processes only (not the `self` and `thread-self` links).
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        };
        if field("Uid:") == Some(u64::from(uid)) {
            total += field("Threads:").unwrap_or(0);
        }
    }
    total
}

/// The child: a runtime under a thread limit runs a workload of blocking sections.
fn child() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    common::settle(&rt);
    // The watchdog first: once the limit is set, it could not be started.
    let (done, finished) = mpsc::channel::<()>();
    let handle = rt.handle();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(CHILD_WATCHDOG).is_err() {
            eprintln!(
                "child: the workload stalled for {CHILD_WATCHDOG:?}\n{}",
                handle.stats()
            );
            std::process::exit(2);
        }
    });
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let limit = threads_of_uid(uid) + HEADROOM;
    set_thread_limit(limit);
    println!("child: uid {uid}, at most {limit} threads for this user");

    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            rt.spawn(async {
                baton::yield_now().await;
                baton::blocking::section(|| std::thread::sleep(BLOCK));
                baton::yield_now().await;
            })
        })
        .collect();
    rt.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
    let _ = done.send(());
    watchdog.join().unwrap();
    println!("child: every task finished in {:?}", start.elapsed());

    // Once idle, the counts add up: every thread started is a worker or was reaped, and every
    // worker is running, a spare, or in a section.
    let mut stats = common::settle(&rt);
    for _ in 0..5000 {
        let settled = stats.cores.iter().all(|c| {
            c.running + c.spares + c.in_section == c.workers
                && c.threads_started - c.threads_reaped == c.workers
        });
        if settled {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        stats = rt.stats();
    }
    println!("{stats}");
    let failures: u64 = stats.cores.iter().map(|c| c.spawn_failures).sum();
    assert!(failures > 0, "no spawn was refused: {stats}");
    for c in &stats.cores {
        assert_eq!(c.running + c.spares + c.in_section, c.workers, "{stats}");
        assert_eq!(c.threads_started - c.threads_reaped, c.workers, "{stats}");
    }

    // Room for one thread only: a second runtime starts a worker for its first core and none
    // for its second, so it fails to build, and stops the thread it started.
    let before = threads_of_uid(uid);
    set_thread_limit(before + 1);
    let err = baton::Runtime::builder().cores(2).build().unwrap_err();
    assert!(err.is_thread_spawn(), "{err}");
    assert_eq!(
        threads_of_uid(uid),
        before,
        "a failed build left threads behind"
    );
    println!("child: a runtime that cannot start a worker per core fails to build: {err}");
}

/// Sets RLIMIT_NPROC (the threads this user may have) to `limit`.
fn set_thread_limit(limit: u64) {
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: `rlimit` is a valid rlimit; lowering a limit needs no privilege.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &rlimit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}
