//! How long the calling thread has waited for a CPU: the part of a section's duration that is
//! not its site's doing.
//!
//! The managed concurrency learner (`crate::sites::level`) judges contention from how a site's
//! section durations grow with the number in flight. Sections that wait for each other (a lock)
//! sleep longer as more are in flight. But a section's duration also counts the time its thread,
//! woken when its blocking call returned, waited for a CPU before it could leave the section, and
//! that wait grows with the number of sections in flight too, lock or no lock: every section that
//! ends wakes a thread, and those threads queue for the same few CPUs (more so on a machine that
//! other processes load). Read as contention, it makes the learner hold sections that do not wait
//! for each other at all, and a held section leaves its core idle for as long as it blocks.
//!
//! So a counted section's duration leaves out the time its thread spent runnable but not running
//! ([`run_delay`]: the second field of Linux's `/proc/thread-self/schedstat`, read with one
//! `pread` on a descriptor each worker opens once), and keeps what the thread slept.

use std::time::Duration;

/// The time the calling thread has spent waiting on a run queue since it started, or `None`
/// where the system does not tell (not Linux, a kernel without scheduler statistics).
#[cfg(all(target_os = "linux", not(loom)))]
pub(crate) fn run_delay() -> Option<Duration> {
    use std::cell::OnceCell;
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    thread_local! {
        /// This thread's schedstat file, opened at the first read (`None` if it cannot be).
        static SCHEDSTAT: OnceCell<Option<File>> = const { OnceCell::new() };
    }
    // `try_with`: a section in a thread-local's destructor, at thread exit, learns nothing.
    SCHEDSTAT
        .try_with(|file| {
            // `thread-self` resolves at open: the descriptor stays this thread's.
            let file = file
                .get_or_init(|| File::open("/proc/thread-self/schedstat").ok())
                .as_ref()?;
            // Three decimal counts: far below 96 bytes. A read at offset 0 regenerates the text.
            let mut buf = [0u8; 96];
            let n = file.read_at(&mut buf, 0).ok()?;
            crate::sys::schedstat_run_delay(std::str::from_utf8(&buf[..n]).ok()?)
        })
        .ok()
        .flatten()
}

/// Elsewhere (and in loom models): unknown.
#[cfg(not(all(target_os = "linux", not(loom))))]
pub(crate) fn run_delay() -> Option<Duration> {
    None
}

/// `took` without what the thread waited for a CPU between the readings `before` and `after`
/// of [`run_delay`] (taken at the section's start and end); `took` itself if either is
/// missing.
pub(crate) fn own_time(
    took: Duration,
    before: Option<Duration>,
    after: Option<Duration>,
) -> Duration {
    match (before, after) {
        (Some(before), Some(after)) => took.saturating_sub(after.saturating_sub(before)),
        _ => took,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_the_second_field() {
        let parse = crate::sys::schedstat_run_delay;
        assert_eq!(
            parse("453219 17159569 2\n"),
            Some(Duration::from_nanos(17_159_569))
        );
        assert_eq!(parse("453219\n"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("1 x 2"), None);
    }

    #[test]
    fn the_wait_for_a_cpu_is_taken_off_the_duration() {
        let ms = Duration::from_millis;
        assert_eq!(own_time(ms(3), Some(ms(10)), Some(ms(12))), ms(1));
        assert_eq!(
            own_time(ms(3), Some(ms(10)), Some(ms(20))),
            ms(0),
            "saturates"
        );
        assert_eq!(own_time(ms(3), None, Some(ms(12))), ms(3));
        assert_eq!(own_time(ms(3), Some(ms(10)), None), ms(3));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_that_waits_for_a_cpu_sees_its_delay_grow() {
        // Where the kernel keeps no scheduler statistics there is nothing to check.
        let Some(first) = run_delay() else { return };
        // More runnable threads than CPUs: each of them waits on a run queue at some point,
        // whatever the load (the wait is counted at every switch in, and there are many).
        // The CPUs the threads may run on (not a quota's share: a quota throttles instead).
        let cpus = crate::sys::allowed_cpus().map_or(1, |cpus| cpus.len());
        let grew: Vec<bool> = std::thread::scope(|scope| {
            let spinners: Vec<_> = (0..cpus + 2)
                .map(|_| {
                    scope.spawn(|| {
                        let start = run_delay();
                        let begun = std::time::Instant::now();
                        while begun.elapsed() < Duration::from_millis(300) {
                            std::hint::spin_loop();
                        }
                        run_delay() > start
                    })
                })
                .collect();
            spinners.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert!(grew.iter().any(|&g| g), "no spinner ever waited: {grew:?}");
        assert!(run_delay() >= Some(first), "the count never goes back");
    }
}
