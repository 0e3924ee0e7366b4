//! Context-switch events: where the kernel grants them, a poll of a watched spawn site that
//! goes to sleep without a section is taken over when its worker thread leaves its CPU, not at
//! the monitor's next look; where it refuses, or the builder turns them off, detection keeps to
//! the monitor's looks and still takes the poll over.
//!
//! The blocking task waits for a task queued behind it on its one core, so it can only finish
//! if the runtime took its poll over: no timing is assumed, only a generous bound that turns a
//! hang into a failure.

use std::sync::mpsc;
use std::time::Duration;

use baton::Detection;

/// How long the blocking task waits for the task behind it before the test fails.
const BOUND: Duration = Duration::from_secs(60);
/// A detection threshold long enough that a watched poll caught within it was caught by its
/// context switch (the monitor judges such polls at the threshold), yet short enough for the
/// first blocker, which teaches the runtime its spawn site, to be caught by the monitor soon.
const THRESHOLD: Duration = Duration::from_millis(500);
/// Blockers after the first, from the same spawn site.
const WATCHED_BLOCKERS: usize = 5;

/// Spawns, always from this one line (one spawn site), a task that blocks its worker outside
/// any section (an unannotated sleep in a channel receive) until a task queued behind it on
/// core 0 has run; returns whether that happened.
fn spawn_blocker() -> baton::JoinHandle<bool> {
    baton::spawn(async {
        let (done_tx, done_rx) = mpsc::channel();
        baton::spawn_on(0, async move { done_tx.send(()).unwrap() });
        done_rx.recv_timeout(BOUND).is_ok()
    })
}

/// Runs the first blocker (taken over by the monitor after the threshold: its spawn site is
/// learnt), then the watched ones; returns whether every task behind a blocker ran.
fn run_blockers(rt: &baton::Runtime) -> bool {
    rt.block_on(async {
        let mut ok = spawn_blocker().await.unwrap();
        for _ in 0..WATCHED_BLOCKERS {
            ok &= spawn_blocker().await.unwrap();
        }
        ok
    })
}

fn one_core(perf_events: bool) -> baton::Runtime {
    baton::Runtime::builder()
        .cores(1)
        .detection_threshold(THRESHOLD)
        .detect_with_perf_events(perf_events)
        .build()
        .unwrap()
}

#[test]
fn an_unannotated_sleep_is_taken_over_when_its_thread_leaves_the_cpu() {
    let rt = one_core(true);
    assert!(run_blockers(&rt), "every task behind a blocker ran");
    let stats = rt.stats();
    let core = &stats.cores[0];
    assert!(
        core.detected_blocks + core.eager_polls > WATCHED_BLOCKERS as u64,
        "every blocker was taken over, or handed off at its start once its site's polls had \
         blocked often enough: {stats}"
    );
    match stats.detection {
        Detection::SwitchEvents => assert!(
            core.switch_detections >= 1 && core.switch_detections <= core.watched_detections,
            "watched blockers were taken over at their context switch, long before the \
             monitor would judge them: {stats}"
        ),
        Detection::Monitor => println!(
            "skipped the switch-event check: the kernel refuses per-thread context-switch \
             events here (perf_event_paranoid, privileges or seccomp); detection fell back"
        ),
        Detection::Off => panic!("detection is on: {stats}"),
        other => panic!("unexpected detection {other:?}"),
    }
}

#[test]
fn turned_off_detection_keeps_to_the_monitor() {
    let rt = one_core(false);
    assert!(run_blockers(&rt), "every task behind a blocker ran");
    let stats = rt.stats();
    let core = &stats.cores[0];
    assert_eq!(stats.detection, Detection::Monitor, "{stats}");
    assert!(
        core.detected_blocks + core.eager_polls > WATCHED_BLOCKERS as u64,
        "every blocker was taken over, or handed off at its start: {stats}"
    );
    assert!(
        core.watched_detections >= 1,
        "the monitor took watched blockers over itself: {stats}"
    );
    assert_eq!(core.switch_detections, 0, "{stats}");
}

#[test]
fn detection_off_says_so() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .detect_blocking(false)
        .build()
        .unwrap();
    assert_eq!(rt.stats().detection, Detection::Off);
}
