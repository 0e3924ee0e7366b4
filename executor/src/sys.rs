//! The few OS calls baton makes beyond std, kept in one place.

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

/// The CPU that the workers of `core` keep to, if the runtime has one core per CPU this thread
/// may run on: the `core`-th CPU of the calling thread's affinity mask.
///
/// A core's workers take turns on one CPU, like the kernel's per-CPU worker pools. Without
/// this, the spare woken by a handoff is often queued behind the other core's busy worker while
/// the blocked worker's CPU goes idle: the kernel skips pulling it across when its CPUs are
/// rarely idle, and the core loses tens of microseconds per handoff. With fewer or more cores
/// than CPUs (a cgroup quota, an explicit core count) the workers are left to the kernel.
#[cfg(target_os = "linux")]
pub(crate) fn core_cpu(core: usize, cores: usize) -> Option<usize> {
    // SAFETY: `cpu_set_t` is plain old data, for which all zeroes is a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return None;
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the capacity of `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    (cpus.len() == cores).then(|| cpus[core])
}

/// Other systems leave threads to the scheduler.
#[cfg(not(target_os = "linux"))]
pub(crate) fn core_cpu(_core: usize, _cores: usize) -> Option<usize> {
    None
}

/// Keeps the calling thread to `cpu` (from [`core_cpu`]). Best effort: an error leaves the
/// thread free to run anywhere.
#[cfg(target_os = "linux")]
pub(crate) fn pin_to_cpu(cpu: usize) {
    // SAFETY: `cpu_set_t` is plain old data, for which all zeroes is a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` came from `core_cpu`, so it is below `CPU_SETSIZE`, the capacity of `set`;
    // `set` is a valid `cpu_set_t` of the size passed, and pid 0 is this thread.
    unsafe {
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

/// Other systems leave threads to the scheduler.
#[cfg(not(target_os = "linux"))]
pub(crate) fn pin_to_cpu(_cpu: usize) {}
