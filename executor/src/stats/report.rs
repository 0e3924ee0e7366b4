//! The periodic reporter: a thread that takes a snapshot every so often and hands it on.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use super::Stats;

/// Takes a snapshot of a runtime's [`Stats`] every interval, on a thread of its own, and hands
/// it to a callback with the activity since the previous one (`snapshot - &previous`). Made by
/// [`Handle::report_stats`](crate::Handle::report_stats); stops when dropped (or
/// [`stop`](StatsReporter::stop)ped).
///
/// The reporter wakes the process once per interval, so it is off unless asked for. Dropping
/// the runtime does not stop it: its snapshots then show the runtime as shutdown left it.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// let rt = baton::Runtime::new()?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let reporter = rt.handle().report_stats(Duration::from_millis(10), move |_now, delta| {
///     let _ = tx.send(delta.cores.iter().map(|c| c.polls).sum::<u64>());
/// })?;
/// rt.block_on(rt.spawn(async {}))?;
/// let _polls_in_first_interval = rx.recv()?;
/// reporter.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StatsReporter {
    /// Dropped to stop the thread.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StatsReporter {
    /// Starts a reporter thread that calls `callback(&snapshot, &delta)` every `interval` with
    /// a snapshot from `take`.
    pub(crate) fn start(
        interval: Duration,
        take: impl Fn() -> Stats + Send + 'static,
        mut callback: impl FnMut(&Stats, &Stats) + Send + 'static,
    ) -> std::io::Result<StatsReporter> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("baton-stats".into())
            .spawn(move || {
                let mut previous = take();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let now = take();
                    callback(&now, &(&now - &previous));
                    previous = now;
                }
            })?;
        Ok(StatsReporter {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the reporter and waits for its thread (and a callback in progress) to finish.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // From inside the callback (it dropped its own reporter) there is nothing to wait
            // for: the thread exits once the callback returns.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for StatsReporter {
    fn drop(&mut self) {
        self.shut();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::stats::CoreStats;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn each_report_carries_the_activity_since_the_previous_one() {
        let polls = Arc::new(AtomicU64::new(0));
        let source = Arc::clone(&polls);
        let take = move || Stats {
            cores: vec![CoreStats {
                polls: source.fetch_add(10, Ordering::SeqCst) + 10,
                ..CoreStats::default()
            }],
            ..Stats::default()
        };
        let (tx, rx) = mpsc::channel();
        let reporter = StatsReporter::start(Duration::from_millis(1), take, move |now, delta| {
            let _ = tx.send((now.cores[0].polls, delta.cores[0].polls));
        })
        .unwrap();
        let first = rx.recv().unwrap();
        let second = rx.recv().unwrap();
        reporter.stop();
        assert_eq!(first, (20, 10));
        assert_eq!(second, (30, 10));
        let _late = rx.try_iter().count();
        assert!(rx.recv().is_err(), "the thread ended with stop");
    }
}
