//! Shutdown cancels the tasks a queue holds back: their handles report cancellation, none is
//! lost, and the queue refuses spawns afterwards.

use std::time::Duration;

#[test]
fn held_back_tasks_are_cancelled_at_shutdown() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("held")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let blocker = q.spawn(std::future::pending::<()>());
    let held: Vec<_> = (0..10_000).map(|i| q.spawn(async move { i })).collect();
    let delayed = q.spawn_after(Duration::from_secs(3600), async {});
    assert_eq!(q.stats().waiting, 10_001);
    drop(rt);
    futures::executor::block_on(async {
        assert!(blocker.await.unwrap_err().is_cancelled());
        for h in held {
            assert!(h.await.unwrap_err().is_cancelled());
        }
        assert!(delayed.await.unwrap_err().is_cancelled());
        let refused = q.try_spawn(async {}).unwrap_err();
        assert!(refused.is_shutdown());
    });
    let stats = q.stats();
    assert_eq!(stats.waiting, 0, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}
