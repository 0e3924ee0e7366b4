//! A core with tasks queued that starts none for the stall timeout is reported once per stall.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the blocking task waits for the report before the test fails.
const BOUND: Duration = Duration::from_secs(60);

fn stalls(rt_handle: &baton::Handle) -> u64 {
    rt_handle.stats().cores[0].stalls
}

#[test]
fn a_core_that_starts_nothing_is_reported_once() {
    // Detection off: nothing takes the blocked poll over, so the core stalls.
    let rt = baton::Runtime::builder()
        .cores(1)
        .detect_blocking(false)
        .stall_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let handle = rt.handle();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let (seen, queued) = rt.block_on(async move {
        baton::spawn(async move {
            let queued = baton::spawn_on(0, async move { r.store(true, Ordering::SeqCst) });
            // Blocks the core's only running worker, outside any section, until the watchdog
            // has reported it (its counter), and a while longer: one report per stall.
            let start = Instant::now();
            while stalls(&handle) == 0 && start.elapsed() < BOUND {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(200));
            (stalls(&handle), queued)
        })
        .await
        .unwrap()
    });
    assert_eq!(seen, 1, "the stall was reported, once");
    rt.block_on(queued).unwrap();
    assert!(
        ran.load(Ordering::SeqCst),
        "the queued task ran once the core moved on"
    );
}

#[test]
fn the_watchdog_can_be_turned_off() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .detect_blocking(false)
        .stall_timeout(None)
        .build()
        .unwrap();
    let handle = rt.handle();
    let seen = rt.block_on(async move {
        baton::spawn(async move {
            baton::spawn_on(0, async {});
            std::thread::sleep(Duration::from_millis(300));
            stalls(&handle)
        })
        .await
        .unwrap()
    });
    assert_eq!(seen, 0);
}
