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
        // "tid (name) S ...": the name may hold spaces and parentheses, so the state is the
        // first field after the last ')'.
        let state = stat[stat.rfind(')')? + 1..].trim_start().chars().next()?;
        // R: running or runnable. S: interruptible sleep. D: uninterruptible (disk, page
        // fault). Anything else (stopped, traced, dead) is not ours to judge.
        match state {
            'R' => Some(false),
            'S' | 'D' => Some(true),
            _ => None,
        }
    }

    /// Other systems: unknown.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn is_asleep(self) -> Option<bool> {
        None
    }
}
