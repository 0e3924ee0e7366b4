//! On a one-core runtime, tasks queued behind a task blocked in a section run while it blocks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::settle;

/// How long the blocking section lasts.
const BLOCK: Duration = Duration::from_millis(5);

/// Spawns a task that blocks for `BLOCK` in a section, then `n` tasks that report whether the
/// section had ended when they ran, and returns those reports.
async fn queue_behind_a_section(n: usize) -> Vec<bool> {
    let section_over = Arc::new(AtomicBool::new(false));
    let blocker = baton::spawn({
        let section_over = section_over.clone();
        async move {
            baton::blocking::section(|| std::thread::sleep(BLOCK));
            section_over.store(true, Ordering::SeqCst);
        }
    });
    let queued: Vec<_> = (0..n)
        .map(|_| {
            let section_over = section_over.clone();
            baton::spawn(async move { section_over.load(Ordering::SeqCst) })
        })
        .collect();
    let mut ran_after_section = Vec::new();
    for q in queued {
        ran_after_section.push(q.await.unwrap());
    }
    blocker.await.unwrap();
    ran_after_section
}

#[test]
fn tasks_queued_on_the_core_run_while_a_section_blocks() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    // Spawned from a task: the blocker and the tasks behind it share the core's local queue.
    let after = rt.block_on(rt.spawn(queue_behind_a_section(20))).unwrap();
    assert!(
        after.iter().all(|a| !a),
        "every queued task ran before the section ended: {after:?}"
    );
    let stats = settle(&rt);
    assert_eq!(stats.cores[0].handoffs, 1, "{stats}");
}

#[test]
fn tasks_injected_from_outside_run_while_a_section_blocks() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    // Spawned from block_on's thread: the tasks go through the injector.
    let after = rt.block_on(queue_behind_a_section(20));
    assert!(
        after.iter().all(|a| !a),
        "every queued task ran before the section ended: {after:?}"
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
