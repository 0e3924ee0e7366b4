//! Stats snapshots add up: a section is counted before it can be handed off, so no snapshot
//! shows more handoffs than sections; a work queue that is gone keeps its counts in the retired
//! queues' total; and two snapshots subtract into the activity between them.

use std::sync::mpsc;
use std::time::Duration;

/// How long a test waits for something the runtime must do before it fails.
const BOUND: Duration = Duration::from_secs(60);

#[test]
fn a_snapshot_never_shows_more_handoffs_than_sections() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (inside_tx, inside_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let task = rt.spawn(async move {
        // Known to be long: handed off at once, on entry.
        baton::blocking::section_long(|| {
            inside_tx.send(()).unwrap();
            release_rx.recv_timeout(BOUND).unwrap();
        });
    });
    inside_rx.recv_timeout(BOUND).unwrap();
    let stats = rt.stats();
    release_tx.send(()).unwrap();
    rt.block_on(task).unwrap();
    let core = &stats.cores[0];
    assert_eq!(core.handoffs, 1, "{stats}");
    assert_eq!(core.sections, 1, "the section is counted at entry: {stats}");
    assert_eq!(core.in_section, 1, "{stats}");
}

#[test]
fn a_dropped_work_queue_keeps_its_counts_in_the_retired_total() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("short-lived")
        .build(&rt.handle())
        .unwrap();
    let tasks: Vec<_> = (0..5).map(|i| q.spawn(async move { i })).collect();
    for task in tasks {
        rt.block_on(task).unwrap();
    }
    let live = rt.stats();
    assert_eq!(live.queues.len(), 1, "{live}");
    assert_eq!(live.queues[0].completed, 5, "{live}");
    assert_eq!(live.retired_queues.spawned, 0, "{live}");
    // Its tasks are done and their futures (which hold the queue) dropped: this was its last
    // handle.
    drop(q);
    let gone = rt.stats();
    assert!(gone.queues.is_empty(), "{gone}");
    assert_eq!(gone.retired_queues.name, baton::QueueStats::RETIRED);
    assert_eq!(gone.retired_queues.spawned, 5, "{gone}");
    assert_eq!(gone.retired_queues.completed, 5, "{gone}");
    assert!(gone.to_string().contains("\n(retired)"), "{gone}");
    // The retired total is a counter like the others: a difference carries it.
    assert_eq!((&gone - &live).retired_queues.completed, 5);
}

#[test]
fn a_difference_shows_the_activity_between_two_snapshots() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(rt.spawn(async {})).unwrap();
    let before = rt.stats();
    for _ in 0..10 {
        rt.block_on(rt.spawn(async {
            baton::blocking::section(|| ());
        }))
        .unwrap();
    }
    let after = rt.stats();
    let delta = &after - &before;
    assert_eq!(delta.cores[0].sections, 10, "{delta}");
    assert_eq!(
        delta.cores[0].workers, after.cores[0].workers,
        "gauges stay"
    );
    assert_eq!(after.clone() - before.clone(), delta);
}
