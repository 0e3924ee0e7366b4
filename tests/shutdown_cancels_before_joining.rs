//! Dropping a runtime cancels its pending tasks before it waits for its workers: a task blocked
//! in a section on something that only another task's cancellation releases does not hang the
//! drop (tokio's `hang_on_shutdown`).

mod watchdog;

use std::sync::mpsc;
use std::time::Duration;

/// Spawns a task blocked in a section on a channel whose only sender lives in a pending task;
/// returns once the section is entered, with both handles.
fn blocked_on_a_pending_task(
    rt: &baton::Runtime,
) -> (baton::JoinHandle<bool>, baton::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let (entered_tx, entered_rx) = mpsc::channel();
    let blocked = rt.spawn(async move {
        baton::blocking::section(|| {
            entered_tx.send(()).unwrap();
            // Returns once every sender is gone.
            rx.recv().is_err()
        })
    });
    let holder = rt.spawn(async move {
        let _tx = tx;
        std::future::pending::<()>().await;
    });
    entered_rx.recv().unwrap();
    (blocked, holder)
}

#[test]
fn drop_cancels_the_task_a_section_waits_on() {
    for cores in [1, 2] {
        let (blocked, holder) = watchdog::finishes("dropping the runtime", move || {
            let rt = baton::Runtime::builder().cores(cores).build().unwrap();
            let handles = blocked_on_a_pending_task(&rt);
            drop(rt);
            handles
        });
        // The section's task was running: its poll ended on its own once the sender was gone.
        assert!(
            futures::executor::block_on(blocked).unwrap(),
            "the section saw the sender gone"
        );
        assert!(futures::executor::block_on(holder)
            .unwrap_err()
            .is_cancelled());
    }
}

#[test]
fn shutdown_timeout_cancels_the_task_a_section_waits_on() {
    let (exited, holder) = watchdog::finishes("shutdown_timeout", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let (_blocked, holder) = blocked_on_a_pending_task(&rt);
        // Generous: the section ends as soon as the holder is cancelled.
        (rt.shutdown_timeout(Duration::from_secs(50)), holder)
    });
    assert!(exited, "every worker exited once the holder was cancelled");
    assert!(futures::executor::block_on(holder)
        .unwrap_err()
        .is_cancelled());
}
