//! What one run measured: wall time, the peak thread count, context switches and CPU time,
//! watched by a sampler thread; and quantiles of latencies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

impl Sample {
    /// The sample with `foreign` threads (see [`foreign_threads`]) taken off its peak: what the
    /// system itself had running at most. (smol's `blocking` pool is the process's, and kept:
    /// a later smol run reuses the threads an earlier one left, which count as foreign then.)
    pub(crate) fn without(mut self, foreign: usize) -> Sample {
        self.peak_threads = self.peak_threads.saturating_sub(foreign);
        self
    }
}

/// What one run of the mix measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    /// The process's peak thread count during the run, not counting the sampler.
    pub(crate) peak_threads: usize,
    /// Context switches of the process during the run, not counting the sampler's.
    pub(crate) switches: u64,
    /// CPU time of the process during the run (user and system), not counting the sampler's:
    /// below `CORES ×` the wall time, the cores sat idle for the difference.
    pub(crate) cpu: Duration,
}

/// Runs `f` while a sampler thread watches the process's thread count, and counts the
/// process's context switches.
pub(crate) fn observe(f: impl FnOnce()) -> Sample {
    let sampler = Sampler::start();
    let before = usage(libc::RUSAGE_SELF);
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    let after = usage(libc::RUSAGE_SELF);
    let (peak, sampler) = sampler.stop();
    Sample {
        wall,
        peak_threads: peak.saturating_sub(1),
        switches: (after.switches - before.switches).saturating_sub(sampler.switches),
        cpu: (after.cpu.saturating_sub(before.cpu)).saturating_sub(sampler.cpu),
    }
}

/// A thread reading `Threads:` from `/proc/self/status` about every millisecond.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<(usize, Usage)>,
}

impl Sampler {
    /// Starts sampling, and returns once the first sample is taken.
    fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, started) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name("thread-sampler".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || {
                    let mut peak = thread_count();
                    let first = usage(libc::RUSAGE_THREAD);
                    let _ = ready.send(());
                    while !stop.load(Ordering::Relaxed) {
                        thread::sleep(Duration::from_millis(1));
                        peak = peak.max(thread_count());
                    }
                    let last = usage(libc::RUSAGE_THREAD);
                    let own = Usage {
                        switches: last.switches - first.switches,
                        cpu: last.cpu.saturating_sub(first.cpu),
                    };
                    (peak, own)
                }
            })
            .expect("cannot start the sampler thread");
        let _ = started.recv();
        Sampler { stop, thread }
    }

    /// Stops sampling; returns the peak thread count and the sampler's own usage.
    fn stop(self) -> (usize, Usage) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler panicked")
    }
}

/// The process's thread count, from `/proc/self/status` (0 where there is none).
/// Threads of the process besides the main thread, before a system starts: the pools that
/// earlier systems left behind (smol's `blocking` pool keeps its idle threads), which a
/// system's peak must not count (see [`Sample::without`]).
pub(crate) fn foreign_threads() -> usize {
    thread_count().saturating_sub(1)
}

fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Context switches (voluntary and involuntary) and CPU time (user and system) so far.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    switches: u64,
    cpu: Duration,
}

/// The usage of `who`: `RUSAGE_SELF` for the whole process (including threads that have
/// exited), `RUSAGE_THREAD` for the calling thread.
fn usage(who: libc::c_int) -> Usage {
    // SAFETY: `rusage` is plain old data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`, and `who` is a valid target.
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    if rc != 0 {
        return Usage::default();
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Usage {
        switches: (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
    }
}

/// The `q` quantile of `samples`, in seconds.
pub(crate) fn percentile(samples: &[Duration], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i].as_secs_f64()
}
