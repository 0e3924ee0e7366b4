//! 100,000 tasks spawned at once all run, exactly once each, and all join.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn join_100k_tasks() {
    const N: usize = 100_000;
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let sum = rt.block_on({
        let runs = runs.clone();
        async move {
            let handles: Vec<_> = (0..N)
                .map(|i| {
                    let runs = runs.clone();
                    baton::spawn(async move {
                        runs.fetch_add(1, Ordering::Relaxed);
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        }
    });
    assert_eq!(runs.load(Ordering::Relaxed), N);
    assert_eq!(sum, N * (N - 1) / 2);
    let polls: u64 = rt.stats().cores.iter().map(|c| c.polls).sum();
    assert!(polls >= N as u64 - 2 * 61, "polls counted: {polls}");
}
