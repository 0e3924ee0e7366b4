//! The few OS calls baton makes beyond std, kept in one place.

#[cfg(all(target_os = "linux", not(loom)))]
mod perf;
#[cfg(not(all(target_os = "linux", not(loom))))]
#[path = "sys/no_perf.rs"]
mod perf;

pub(crate) use perf::{SwitchEvent, SwitchWatch, Woken};

/// Asks the kernel to wake the calling thread's timed sleeps within about a microsecond of
/// their deadline instead of the default 50 µs of slack, so the monitor's ticks keep to the
/// grace period. Best effort: an error leaves the default slack.
#[cfg(target_os = "linux")]
pub(crate) fn tighten_timer_slack() {
    /// The slack asked for, in nanoseconds.
    const SLACK_NS: libc::c_ulong = 1_000;
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only changes the calling
    // thread's timer slack; the unused arguments are zero as prctl(2) asks.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, SLACK_NS, 0, 0, 0);
    }
}

/// Other systems keep their default timer behaviour.
#[cfg(not(target_os = "linux"))]
pub(crate) fn tighten_timer_slack() {}

/// The CPUs the calling thread may run on (its affinity mask), in increasing order; `None`
/// where the system does not say.
#[cfg(target_os = "linux")]
pub(crate) fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: `cpu_set_t` is plain old data, for which all zeroes is a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return None;
    }
    let cpus: Vec<usize> = (0..MAX_CPU)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the capacity of `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    (!cpus.is_empty()).then_some(cpus)
}

/// Other systems do not say.
#[cfg(not(target_os = "linux"))]
pub(crate) fn allowed_cpus() -> Option<Vec<usize>> {
    None
}

/// One more than the highest CPU number an affinity mask can name here.
#[cfg(target_os = "linux")]
pub(crate) const MAX_CPU: usize = libc::CPU_SETSIZE as usize;

/// One more than the highest CPU number an affinity mask can name here.
#[cfg(not(target_os = "linux"))]
pub(crate) const MAX_CPU: usize = 1024;

/// Keeps the calling thread to `cpus` (each below [`MAX_CPU`]), as the runtime's placement
/// says (see `runtime::placement`). Best effort: an error leaves the thread where it was
/// allowed to run.
#[cfg(target_os = "linux")]
pub(crate) fn pin_to_cpus(cpus: &[usize]) {
    // SAFETY: `cpu_set_t` is plain old data, for which all zeroes is a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus.iter().filter(|&&cpu| cpu < MAX_CPU) {
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the capacity of `set`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed, and pid 0 is this thread.
    unsafe {
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

/// Other systems leave threads to the scheduler.
#[cfg(not(target_os = "linux"))]
pub(crate) fn pin_to_cpus(_cpus: &[usize]) {}

/// The CPU limit of this process's cgroup, rounded up (a quota of 1.5 CPUs gives 2), if it
/// has one: the smallest over the cgroup and its ancestors, version 2 (`cpu.max`) or 1
/// (`cpu.cfs_quota_us` over `cpu.cfs_period_us`).
#[cfg(target_os = "linux")]
pub(crate) fn cgroup_cpu_limit() -> Option<usize> {
    use std::path::Path;
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut limit: Option<usize> = None;
    let mut tighten = |found: Option<usize>| {
        if let Some(found) = found {
            limit = Some(limit.map_or(found, |l| l.min(found)));
        }
    };
    for (version, path) in cgroup_paths(&membership) {
        let root = match version {
            2 => Path::new("/sys/fs/cgroup"),
            _ => match ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"]
                .iter()
                .map(Path::new)
                .find(|p| p.is_dir())
            {
                Some(root) => root,
                None => continue,
            },
        };
        let mut dir = Some(Path::new(&path));
        while let Some(d) = dir {
            let here = root.join(d.strip_prefix("/").unwrap_or(d));
            tighten(if version == 2 {
                std::fs::read_to_string(here.join("cpu.max"))
                    .ok()
                    .and_then(|s| parse_cpu_max(&s))
            } else {
                let quota = std::fs::read_to_string(here.join("cpu.cfs_quota_us")).ok();
                let period = std::fs::read_to_string(here.join("cpu.cfs_period_us")).ok();
                quota
                    .zip(period)
                    .and_then(|(q, p)| parse_cpu_max(&format!("{} {}", q.trim(), p.trim())))
            });
            dir = d.parent();
        }
    }
    limit
}

/// Other systems have no cgroups.
#[cfg(not(target_os = "linux"))]
pub(crate) fn cgroup_cpu_limit() -> Option<usize> {
    None
}

/// The cgroups a `/proc/self/cgroup` listing names for CPU control: version 2's unified one
/// (`0::/path`) and version 1's `cpu` controller, with their versions.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn cgroup_paths(membership: &str) -> Vec<(u8, String)> {
    membership
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            if id == "0" && controllers.is_empty() {
                Some((2, path.to_owned()))
            } else if controllers.split(',').any(|c| c == "cpu") {
                Some((1, path.to_owned()))
            } else {
                None
            }
        })
        .collect()
}

/// The CPUs a quota and period allow (`cpu.max`'s "quota period", or "max period" for none),
/// rounded up, at least 1.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_cpu_max(text: &str) -> Option<usize> {
    let mut fields = text.split_whitespace();
    let quota: i64 = fields.next()?.parse().ok()?;
    let period: i64 = fields.next()?.parse().ok()?;
    // "max" fails to parse; version 1 writes -1 for no quota.
    if quota <= 0 || period <= 0 {
        return None;
    }
    usize::try_from((quota + period - 1) / period)
        .ok()
        .map(|n| n.max(1))
}

/// The light half of an asymmetric barrier, for the hot side of a store-then-load handshake
/// whose other side calls [`heavy_barrier`]: it only keeps the compiler from reordering the
/// store and the load; the heavy barrier makes the CPU's order match.
#[cfg(not(loom))]
pub(crate) fn light_barrier() {
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Loom models both halves as full fences (loom cannot model `membarrier`).
#[cfg(loom)]
pub(crate) fn light_barrier() {
    crate::sync::fence(crate::sync::Ordering::SeqCst);
}

/// The heavy half of an asymmetric barrier: every thread of this process that is running
/// passes through a full memory barrier before this returns (`membarrier(2)`, private
/// expedited), so a store before this call and a load after it pair with a [`light_barrier`]
/// on another thread as if both sides had issued `fence(SeqCst)`. Costs a system call and an
/// interrupt per CPU running one of our threads: for rare, slow paths only.
///
/// Returns false, having done nothing, where the kernel does not offer it (see
/// [`heavy_barrier_available`], [`prepare_heavy_barrier`]); the caller must then not rely on
/// the handshake.
#[cfg(all(target_os = "linux", not(loom)))]
pub(crate) fn heavy_barrier() -> bool {
    if !heavy_barrier_available() {
        return false;
    }
    // SAFETY: membarrier takes a command and two integer arguments and touches no memory of
    // ours; `heavy_barrier_available` said the process registered for the command.
    unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0 }
}

/// Loom models both halves as full fences.
#[cfg(loom)]
pub(crate) fn heavy_barrier() -> bool {
    crate::sync::fence(crate::sync::Ordering::SeqCst);
    true
}

/// Other systems have no `membarrier`.
#[cfg(all(not(target_os = "linux"), not(loom)))]
pub(crate) fn heavy_barrier() -> bool {
    false
}

/// `membarrier(2)`: a barrier on every running thread of the calling process.
#[cfg(all(target_os = "linux", not(loom)))]
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
/// `membarrier(2)`: registers the process for [`MEMBARRIER_CMD_PRIVATE_EXPEDITED`].
#[cfg(target_os = "linux")]
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Where this process stands with `membarrier` registration.
#[cfg(target_os = "linux")]
mod registration {
    /// Not asked for yet.
    pub(super) const UNKNOWN: u8 = 0;
    /// A thread is registering the process.
    pub(super) const PENDING: u8 = 1;
    /// Registered: [`super::heavy_barrier`] works.
    pub(super) const DONE: u8 = 2;
    /// The kernel refused.
    pub(super) const REFUSED: u8 = 3;
}

/// This process's `membarrier` registration (see [`registration`]).
#[cfg(target_os = "linux")]
static REGISTRATION: std::sync::atomic::AtomicU8 =
    std::sync::atomic::AtomicU8::new(registration::UNKNOWN);

/// Whether [`heavy_barrier`] works here yet (see [`prepare_heavy_barrier`]).
#[cfg(target_os = "linux")]
pub(crate) fn heavy_barrier_available() -> bool {
    // Acquire: pairs with the Release store of the registering thread, after its system call.
    REGISTRATION.load(std::sync::atomic::Ordering::Acquire) == registration::DONE
}

/// Registers the process for [`heavy_barrier`] on a short-lived thread of its own, once per
/// process: registering waits for an RCU grace period (about 10 ms on a busy machine), which
/// must not delay whoever asks. Until it is done, `heavy_barrier_available` says no. If the
/// thread cannot be started, a later call tries again.
#[cfg(target_os = "linux")]
pub(crate) fn prepare_heavy_barrier() {
    use std::sync::atomic::Ordering;
    if REGISTRATION
        .compare_exchange(
            registration::UNKNOWN,
            registration::PENDING,
            Ordering::Relaxed,
            Ordering::Relaxed,
        )
        .is_err()
    {
        return;
    }
    let started = std::thread::Builder::new()
        .name("baton-membarrier".to_owned())
        .spawn(|| {
            // SAFETY: registration takes no pointers; it only changes how the kernel treats
            // later membarrier calls of this process.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                    0,
                    0,
                )
            };
            let state = if rc == 0 {
                registration::DONE
            } else {
                registration::REFUSED
            };
            // Release: pairs with the Acquire in `heavy_barrier_available`.
            REGISTRATION.store(state, Ordering::Release);
        });
    if started.is_err() {
        REGISTRATION.store(registration::UNKNOWN, Ordering::Relaxed);
    }
}

/// Other systems have no `membarrier`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn prepare_heavy_barrier() {}

/// For tests: registers for [`heavy_barrier`] and waits (up to a minute) until it is ready;
/// returns whether it is.
#[cfg(all(test, not(loom)))]
pub(crate) fn wait_for_heavy_barrier() -> bool {
    prepare_heavy_barrier();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !heavy_barrier_available() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    heavy_barrier_available()
}

/// Other systems have no `membarrier`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn heavy_barrier_available() -> bool {
    false
}

/// How many times the calling thread has left its CPU of its own accord (to wait on something:
/// a sleep, a lock, a read) so far; `None` if the system does not tell. One system call.
#[cfg(target_os = "linux")]
pub(crate) fn voluntary_switches() -> Option<u64> {
    // SAFETY: `rusage` is plain old data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_THREAD reads the calling thread.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    (rc == 0).then(|| u64::try_from(usage.ru_nvcsw).unwrap_or(0))
}

/// Other systems: unknown.
#[cfg(not(target_os = "linux"))]
pub(crate) fn voluntary_switches() -> Option<u64> {
    None
}

/// What another thread is doing, as far as the OS tells: its CPU-time clock and its
/// scheduling state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadProbe {
    #[cfg(target_os = "linux")]
    clock: libc::clockid_t,
    #[cfg(target_os = "linux")]
    tid: libc::pid_t,
}

impl ThreadProbe {
    /// A probe of the calling thread, if the system offers one.
    #[cfg(target_os = "linux")]
    pub(crate) fn current() -> Option<ThreadProbe> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is always valid for the calling thread, and `clock` is a
        // valid, writable `clockid_t`.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::gettid() };
        (rc == 0).then_some(ThreadProbe { clock, tid })
    }

    /// Other systems: no probe.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn current() -> Option<ThreadProbe> {
        None
    }

    /// The CPU time the thread has used so far; `None` if it cannot be read (the thread has
    /// exited).
    #[cfg(target_os = "linux")]
    pub(crate) fn cpu_time(self) -> Option<std::time::Duration> {
        // SAFETY: `timespec` is plain old data, for which all zeroes is a valid value.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: `ts` is a valid, writable `timespec`; a clock id of a thread that has
        // exited makes the call fail with EINVAL rather than touch memory.
        let rc = unsafe { libc::clock_gettime(self.clock, &mut ts) };
        (rc == 0).then(|| {
            std::time::Duration::new(
                u64::try_from(ts.tv_sec).unwrap_or(0),
                u32::try_from(ts.tv_nsec).unwrap_or(0),
            )
        })
    }

    /// Other systems: no per-thread clock.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn cpu_time(self) -> Option<std::time::Duration> {
        None
    }

    /// Whether the thread is asleep (waiting on something) rather than running or waiting for
    /// a CPU, from its state in `/proc`; `None` if that cannot be read. Costs an open, a read
    /// and a close: for rare checks only.
    #[cfg(target_os = "linux")]
    pub(crate) fn is_asleep(self) -> Option<bool> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{}/stat", self.tid)).ok()?;
        is_asleep(&stat)
    }

    /// Other systems: unknown.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn is_asleep(self) -> Option<bool> {
        None
    }

    /// How long the thread has waited for a CPU, and how often it slept, since it started;
    /// `None` if `/proc` does not tell. Costs two opens, reads and closes: for rare checks
    /// only.
    #[cfg(target_os = "linux")]
    pub(crate) fn waits(self) -> Option<Waits> {
        let task = format!("/proc/self/task/{}", self.tid);
        let schedstat = std::fs::read_to_string(format!("{task}/schedstat")).ok()?;
        let status = std::fs::read_to_string(format!("{task}/status")).ok()?;
        Some(Waits {
            run_delay: schedstat_run_delay(&schedstat)?,
            voluntary_switches: status_voluntary_switches(&status)?,
        })
    }

    /// Other systems: unknown.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn waits(self) -> Option<Waits> {
        None
    }
}

/// What a thread has waited for so far (see [`ThreadProbe::waits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Waits {
    /// The time it spent runnable but waiting for a CPU.
    pub(crate) run_delay: std::time::Duration,
    /// How many times it left its CPU of its own accord, to wait on something.
    pub(crate) voluntary_switches: u64,
}

/// The count of voluntary context switches in a `/proc/.../status` text.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn status_voluntary_switches(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()
}

/// The run-queue wait in a schedstat line: "time on CPU, time waiting, timeslices", the first
/// two in nanoseconds.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn schedstat_run_delay(line: &str) -> Option<std::time::Duration> {
    let waited = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(std::time::Duration::from_nanos(waited))
}

/// Whether a thread whose `/proc/.../stat` line is `stat` is asleep (see
/// [`ThreadProbe::is_asleep`]).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn is_asleep(stat: &str) -> Option<bool> {
    // "tid (name) S ...": the name may hold spaces and parentheses, so the state is the first
    // field after the last ')'.
    let state = stat[stat.rfind(')')? + 1..].trim_start().chars().next()?;
    // R: running or runnable. S: interruptible sleep. D: uninterruptible (disk, page fault).
    // Anything else (stopped, traced, dead) is not ours to judge.
    match state {
        'R' => Some(false),
        'S' | 'D' => Some(true),
        _ => None,
    }
}

#[cfg(all(test, not(loom)))]
mod cgroup_tests {
    use super::*;

    #[test]
    fn a_cpu_quota_rounds_up() {
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(2));
        assert_eq!(parse_cpu_max("100000 100000"), Some(1));
        assert_eq!(parse_cpu_max("50000 100000"), Some(1));
        assert_eq!(parse_cpu_max("400000 100000"), Some(4));
        assert_eq!(parse_cpu_max("max 100000"), None);
        assert_eq!(parse_cpu_max("-1 100000"), None);
        assert_eq!(parse_cpu_max(""), None);
    }

    #[test]
    fn the_cpu_cgroups_are_found_in_a_membership_listing() {
        let v2 = "0::/system.slice/app.service\n";
        assert_eq!(
            cgroup_paths(v2),
            [(2, "/system.slice/app.service".to_owned())]
        );
        let v1 = "12:memory:/a\n4:cpu,cpuacct:/docker/abc\n3:cpuset:/docker/abc\n";
        assert_eq!(cgroup_paths(v1), [(1, "/docker/abc".to_owned())]);
    }
}
