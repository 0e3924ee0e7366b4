//! Sections at the edges: one core, nesting, panics, `block_on`'s thread, and aborted tasks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::settle;

/// How long a test waits for something that should happen promptly before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

fn handoffs(rt: &baton::Runtime) -> u64 {
    rt.stats().cores.iter().map(|c| c.handoffs).sum()
}

/// A task blocked in a section waits for a message that only a task of the same core sends
/// once the blocked task is inside its section: it arrives only if the core was handed to a
/// spare.
async fn blocked_until_the_next_task_runs() -> Result<(), mpsc::RecvTimeoutError> {
    let (tx, rx) = mpsc::channel();
    let entered = Arc::new(AtomicBool::new(false));
    let blocked = baton::spawn({
        let entered = entered.clone();
        async move {
            baton::blocking::section(|| {
                entered.store(true, Ordering::SeqCst);
                rx.recv_timeout(PATIENCE)
            })
        }
    });
    let mut yields = 0u64;
    while !entered.load(Ordering::SeqCst) {
        yields += 1;
        assert!(
            yields < 100_000_000,
            "the blocked task never entered its section"
        );
        baton::yield_now().await;
    }
    tx.send(()).unwrap();
    blocked.await.unwrap()
}

#[test]
fn a_one_core_runtime_hands_off_like_any_other() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    for _ in 0..3 {
        rt.block_on(rt.spawn(blocked_until_the_next_task_runs()))
            .unwrap()
            .expect("the task behind the section never ran");
    }
    let stats = settle(&rt);
    // Each round's core went to a spare: by the section's handoff, or, on a loaded machine,
    // by detection, which may judge the poll blocked (its thread asleep in the section, its
    // poll seen before the section began) and take it over first.
    let core = &stats.cores[0];
    assert!(core.handoffs + core.detected_blocks >= 3, "{stats}");
    assert!(core.workers >= 2, "{stats}");
}

#[test]
fn a_nested_section_is_not_a_second_handoff() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    settle(&rt);
    let before = handoffs(&rt);
    let (outer, inner, after) = rt
        .block_on(rt.spawn(async {
            let (outer, inner) = baton::blocking::section_long(|| {
                let outer = baton::blocking::in_section();
                let inner = baton::blocking::section_long(|| {
                    std::thread::sleep(Duration::from_millis(1));
                    baton::blocking::in_section()
                });
                (outer, inner && baton::blocking::in_section())
            });
            (outer, inner, baton::blocking::in_section())
        }))
        .unwrap();
    assert!(outer && inner, "in_section() inside: {outer} {inner}");
    assert!(!after, "in_section() after the outer section ended");
    let stats = settle(&rt);
    assert_eq!(handoffs(&rt) - before, 1, "{stats}");
}

#[test]
fn a_panic_in_a_section_fails_only_its_task() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let err = rt
        .block_on(rt.spawn(async {
            baton::blocking::section_long(|| -> u32 { panic!("panic in a section") })
        }))
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(
        err.into_panic().downcast_ref::<&str>().copied(),
        Some("panic in a section")
    );
    // The same with a lazy section whose handoff the monitor may or may not have made.
    let err = rt
        .block_on(rt.spawn(async {
            baton::blocking::section(|| -> u32 {
                std::thread::sleep(Duration::from_millis(2));
                panic!("panic in a lazy section")
            })
        }))
        .unwrap_err();
    assert!(err.is_panic());

    // The core's workers survived, and the section ended with the panic.
    let (in_after, inside) = rt
        .block_on(rt.spawn(async {
            let inside = baton::blocking::section(baton::blocking::in_section);
            (baton::blocking::in_section(), inside)
        }))
        .unwrap();
    assert!(inside);
    assert!(
        !in_after,
        "in_section() still true after a section panicked"
    );
    // Later sections on the core still hand off.
    rt.block_on(rt.spawn(blocked_until_the_next_task_runs()))
        .unwrap()
        .expect("the task behind the section never ran");
    let stats = settle(&rt);
    let core = &stats.cores[0];
    assert_eq!(core.in_section, 0, "{stats}");
    assert!(core.running + core.spares <= core.workers, "{stats}");
}

#[test]
fn a_section_in_block_on_just_runs_on_the_callers_thread() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    settle(&rt);
    let before = handoffs(&rt);
    let caller = std::thread::current().id();
    let (thread, value, core) = rt.block_on(async {
        let (thread, value) = baton::blocking::section_long(|| {
            std::thread::sleep(Duration::from_millis(1));
            (std::thread::current().id(), 6 * 7)
        });
        let lazy = baton::blocking::section(|| 1);
        (thread, value + lazy - 1, baton::current_core())
    });
    assert_eq!(thread, caller);
    assert_eq!(value, 42);
    assert_eq!(core, None, "block_on's future ran on a worker");
    assert_eq!(
        handoffs(&rt),
        before,
        "a section off the workers handed a core off"
    );
}

#[test]
fn an_aborted_task_finishes_its_section_and_reports_cancelled() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let section_done = Arc::new(AtomicBool::new(false));
    let after_await = Arc::new(AtomicBool::new(false));
    let task = rt.spawn({
        let (section_done, after_await) = (section_done.clone(), after_await.clone());
        async move {
            baton::blocking::section(|| {
                entered_tx.send(()).unwrap();
                release_rx.recv_timeout(PATIENCE).unwrap();
                section_done.store(true, Ordering::SeqCst);
            });
            baton::yield_now().await;
            after_await.store(true, Ordering::SeqCst);
        }
    });
    entered_rx
        .recv_timeout(PATIENCE)
        .expect("the task never entered its section");
    task.abort();
    release_tx.send(()).unwrap();
    let err = rt.block_on(task).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(
        section_done.load(Ordering::SeqCst),
        "the section was cut short"
    );
    assert!(
        !after_await.load(Ordering::SeqCst),
        "the task ran past its next await after the abort"
    );
    // The core is fine afterwards.
    assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
    let stats = settle(&rt);
    assert_eq!(stats.cores[0].in_section, 0, "{stats}");
}
