//! Running a test's body in a child process under a real thread limit: the child re-runs the
//! test binary under an unprivileged uid of its own (root ignores `RLIMIT_NPROC`), and lowers
//! its own `RLIMIT_NPROC` once it has started the threads it needs, so that the OS refuses
//! the threads it asks for after that.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the parent waits for the child.
const PARENT_WATCHDOG: Duration = Duration::from_secs(120);

/// In the child started with the marker `env`, runs `child`. Otherwise runs the test `test`
/// of this binary again in a child process, with `env` set, as an unprivileged user of its own
/// when run as root; checks that it succeeds and that its output contains `last_line` (so it
/// ran to the end), and prints its output.
pub(crate) fn run(test: &str, env: &str, last_line: &str, child: impl FnOnce()) {
    if std::env::var_os(env).is_some() {
        child();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args([test, "--exact", "--nocapture"])
        .env(env, "1")
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
        output.contains(last_line),
        "the child did not run to the end:\n{output}"
    );
    println!("{output}");
}

/// This process's real uid.
pub(crate) fn uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

/// Threads of every process whose real uid is `uid`, from `/proc`.
pub(crate) fn threads_of_uid(uid: u32) -> u64 {
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

/// Sets the soft RLIMIT_NPROC (the threads this user may have) to `limit`, so that a later
/// call may raise it again, up to the hard limit.
pub(crate) fn set_thread_limit(limit: u64) {
    let mut rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rlimit` is a valid rlimit for getrlimit to fill in.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut rlimit) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    rlimit.rlim_cur = limit.min(rlimit.rlim_max);
    // SAFETY: `rlimit` is a valid rlimit; a soft limit up to the hard one needs no privilege.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &rlimit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}
