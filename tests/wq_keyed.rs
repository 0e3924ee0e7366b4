//! Keyed lanes: tasks with the same key run one at a time in submission order; tasks with
//! different keys run concurrently.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

#[test]
fn same_key_runs_in_order_one_at_a_time() {
    const KEYS: usize = 8;
    const PER_KEY: usize = 500;
    let rt = baton::Runtime::builder().cores(4).build().unwrap();
    let q = baton::WorkQueue::builder("keyed")
        .build(&rt.handle())
        .unwrap();
    let inside: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let log: Arc<Vec<Mutex<Vec<usize>>>> =
        Arc::new((0..KEYS).map(|_| Mutex::new(Vec::new())).collect());
    let mut handles = Vec::new();
    for seq in 0..PER_KEY {
        for key in 0..KEYS {
            let (inside, log) = (inside.clone(), log.clone());
            handles.push(q.spawn_keyed(key, async move {
                assert_eq!(
                    inside[key].fetch_add(1, Ordering::SeqCst),
                    0,
                    "key {key}: two at once"
                );
                log[key].lock().unwrap().push(seq);
                if seq % 3 == 0 {
                    baton::yield_now().await;
                }
                inside[key].fetch_sub(1, Ordering::SeqCst);
            }));
        }
    }
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    for key in 0..KEYS {
        assert_eq!(
            *log[key].lock().unwrap(),
            (0..PER_KEY).collect::<Vec<_>>(),
            "key {key}"
        );
    }
}

#[test]
fn different_keys_run_concurrently() {
    // Two tasks with different keys meet at a barrier: they can only both pass if they run at
    // the same time (the waits are blocking sections, so both cores' workers hand off).
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("keyed-concurrent")
        .build(&rt.handle())
        .unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|key| {
            let barrier = barrier.clone();
            q.spawn_keyed(key, async move {
                baton::blocking::section(|| barrier.wait());
            })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
}
