//! On a one-core runtime, tasks queued behind a task blocked in a section run while it blocks.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::settle;

/// How long the blocking section waits for the queued tasks at most: far longer than any
/// scheduling delay, so only a section that is never handed off runs out of it.
const PATIENCE: Duration = Duration::from_secs(30);

/// Spawns a task that blocks in a section until `n` tasks spawned after it have run (or
/// [`PATIENCE`] ran out), then those `n` tasks; returns whether they all ran while the section
/// blocked.
///
/// Only a handoff of the core (after the grace period) lets them run: the core's one worker is
/// inside the section. So the outcome does not depend on how fast threads are scheduled.
async fn queue_behind_a_section(n: usize) -> bool {
    let ran = Arc::new((Mutex::new(0usize), Condvar::new()));
    let blocker = baton::spawn({
        let ran = ran.clone();
        async move {
            baton::blocking::section(|| {
                let deadline = Instant::now() + PATIENCE;
                let (count, cvar) = &*ran;
                let mut count = count.lock().unwrap();
                while *count < n {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        return false;
                    };
                    count = cvar.wait_timeout(count, left).unwrap().0;
                }
                true
            })
        }
    });
    let queued: Vec<_> = (0..n)
        .map(|_| {
            let ran = ran.clone();
            baton::spawn(async move {
                *ran.0.lock().unwrap() += 1;
                ran.1.notify_all();
            })
        })
        .collect();
    for q in queued {
        q.await.unwrap();
    }
    blocker.await.unwrap()
}

#[test]
fn tasks_queued_on_the_core_run_while_a_section_blocks() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    // Spawned from a task: the blocker and the tasks behind it share the core's local queue.
    let during = rt.block_on(rt.spawn(queue_behind_a_section(20))).unwrap();
    assert!(
        during,
        "the queued tasks did not run while the section blocked"
    );
    let stats = settle(&rt);
    assert_eq!(stats.cores[0].handoffs, 1, "{stats}");
}

#[test]
fn tasks_injected_from_outside_run_while_a_section_blocks() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    // Spawned from block_on's thread: the tasks go through the injector.
    let during = rt.block_on(queue_behind_a_section(20));
    assert!(
        during,
        "the injected tasks did not run while the section blocked"
    );
}

#[test]
fn a_section_that_does_not_block_is_not_handed_off() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(rt.spawn(async {
        for i in 0..1000 {
            assert_eq!(baton::blocking::section(|| i), i);
        }
    }))
    .unwrap();
    let stats = settle(&rt);
    assert_eq!(stats.cores[0].sections, 1000, "{stats}");
    // Not zero: on a loaded machine the worker can be preempted inside a section for longer
    // than the grace period, which looks exactly like blocking (and makes the site eager for a
    // few sections). Handing off every section, or even one in twenty, would be a bug.
    assert!(stats.cores[0].handoffs <= 50, "{stats}");
}
