//! Per-queue counters: spawned, started, completed, in flight, waiting, handoffs, also listed
//! in the runtime's stats.

use std::time::Duration;

#[test]
fn queue_stats_count_tasks_and_handoffs() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("counted")
        .build(&rt.handle())
        .unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            q.spawn(async {
                // A section known to be long hands the core off at once, however the threads
                // are scheduled (a plain section is handed off only once the monitor sees it
                // outlive the grace period, which a loaded machine may delay past its end).
                baton::blocking::section_long(|| std::thread::sleep(Duration::from_millis(1)));
            })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    rt.block_on(q.flush());
    let stats = q.stats();
    assert_eq!(stats.name, "counted");
    assert_eq!((stats.spawned, stats.started, stats.completed), (3, 3, 3));
    assert_eq!((stats.in_flight, stats.waiting), (0, 0));
    assert_eq!(stats.handoffs, 3, "{stats:?}");
    let all = rt.stats();
    assert_eq!(all.queues, vec![stats]);
    assert!(all.to_string().contains("counted"), "{all}");
}
