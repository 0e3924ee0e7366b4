//! A task that always wakes itself cannot starve other tasks or tasks injected from outside.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn self_waking_tasks_do_not_starve_injected_work() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Two tasks that keep the only core's local queue non-empty forever.
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            rt.spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    baton::yield_now().await;
                }
            })
        })
        .collect();
    // Injected from outside the runtime: must still run.
    for i in 0..50 {
        assert_eq!(rt.block_on(rt.spawn(async move { i })).unwrap(), i);
    }
    // Spawned from inside, behind the spinners on the local queue: must still run.
    let local = rt.block_on(rt.spawn(async {
        let handles: Vec<_> = (0..50).map(|i| baton::spawn(async move { i })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    }));
    assert_eq!(local.unwrap(), (0..50).sum::<i32>());
    stop.store(true, Ordering::SeqCst);
    for s in spinners {
        rt.block_on(s).unwrap();
    }
}
