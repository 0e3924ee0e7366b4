//! An ordered queue's runner shares its task's cooperative budget among the jobs it runs: once
//! a job spent it, the runner yields to the core instead of running that job again and again
//! while every leaf future it awaits returns `Pending` for want of budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use baton::time::sleep;
use baton_testing::Polls;

/// Jobs in the queue.
const JOBS: usize = 20;
/// Due sleeps each job awaits: many budgets' worth in all.
const READY: usize = 1000;

#[test]
fn jobs_of_an_ordered_queue_are_not_polled_in_vain() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("ordered")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let polls = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..JOBS)
        .map(|_| {
            q.spawn(Polls::new(
                async {
                    for _ in 0..READY {
                        sleep(Duration::ZERO).await;
                    }
                },
                &polls,
            ))
        })
        .collect();
    rt.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    // Each job is polled once, plus once more per forced yield: about one per budget's worth
    // of sleeps. Polls that find the budget spent again at once are wasted.
    let budgets = JOBS * READY / usize::from(baton::coop::BUDGET);
    let polls = polls.load(Ordering::Relaxed);
    assert!(
        polls <= 2 * (JOBS + budgets),
        "{polls} polls for {JOBS} jobs and {budgets} budgets' worth of progress"
    );
}
