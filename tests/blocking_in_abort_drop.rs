//! A blocking section in the destructor of an aborted task, which its worker drops holding the
//! core's baton as a poll does, hands the core off like a section in a poll: the core's other
//! tasks run meanwhile.

use std::sync::mpsc;
use std::time::Duration;

/// Blocks in a long section when dropped until the message it waits for arrives (or a generous
/// time passes), then reports whether it arrived.
struct BlockingDrop {
    wait: mpsc::Receiver<()>,
    report: mpsc::Sender<bool>,
}

impl Drop for BlockingDrop {
    fn drop(&mut self) {
        let arrived = baton::blocking::section_long(|| {
            self.wait.recv_timeout(Duration::from_secs(30)).is_ok()
        });
        let _ = self.report.send(arrived);
    }
}

#[test]
fn a_section_in_an_aborted_tasks_destructor_hands_the_core_off() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (release, wait) = mpsc::channel();
    let (report, reported) = mpsc::channel();
    let guard = BlockingDrop { wait, report };
    let blocked = rt.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    // Aborted, the task is dropped by its worker, which blocks in the destructor's section
    // until the next task runs.
    blocked.abort();
    drop(rt.spawn(async move { release.send(()).unwrap() }));
    let arrived = reported
        .recv_timeout(Duration::from_secs(60))
        .expect("the destructor never finished");
    assert!(
        arrived,
        "the task queued behind the destructor's section ran only after it"
    );
    assert!(rt.block_on(blocked).unwrap_err().is_cancelled());
}
