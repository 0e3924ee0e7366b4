//! Affinity: tasks run on the named core, on a core of the named set, or anywhere.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use baton::{Affinity, WorkQueue};

/// Runs 200 tasks of a queue with `affinity` that each yield a few times, and returns every
/// core each of them was polled on.
fn cores_seen(rt: &baton::Runtime, affinity: Affinity) -> Vec<Option<usize>> {
    let q = WorkQueue::builder("affinity")
        .affinity(affinity)
        .build(&rt.handle())
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let seen = seen.clone();
            q.spawn(async move {
                for _ in 0..3 {
                    seen.lock().unwrap().push(baton::current_core());
                    baton::yield_now().await;
                }
            })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    let seen = seen.lock().unwrap().clone();
    seen
}

#[test]
fn core_affinity_runs_on_that_core_only() {
    let rt = baton::Runtime::builder().cores(3).build().unwrap();
    let seen = cores_seen(&rt, Affinity::Core(2));
    assert!(seen.iter().all(|c| *c == Some(2)), "{seen:?}");
}

#[test]
fn core_set_affinity_stays_in_the_set_and_uses_it() {
    let rt = baton::Runtime::builder().cores(4).build().unwrap();
    let seen = cores_seen(&rt, Affinity::Cores(vec![1, 3]));
    let cores: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(
        cores,
        HashSet::from([Some(1), Some(3)]),
        "spawned off-runtime: round-robin"
    );
}

#[test]
fn core_set_affinity_prefers_the_spawning_core() {
    let rt = baton::Runtime::builder().cores(4).build().unwrap();
    let q = WorkQueue::builder("affinity-local")
        .affinity(Affinity::Cores(vec![0, 2]))
        .build(&rt.handle())
        .unwrap();
    let cores = rt
        .block_on(rt.handle().spawn_on(2, async move {
            let mut cores = Vec::new();
            for _ in 0..20 {
                cores.push(q.spawn(async { baton::current_core() }).await.unwrap());
            }
            cores
        }))
        .unwrap();
    assert!(cores.iter().all(|c| *c == Some(2)), "{cores:?}");
}

#[test]
fn local_and_any_affinity_run_on_workers() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    for affinity in [Affinity::Local, Affinity::Any] {
        let seen = cores_seen(&rt, affinity);
        assert!(seen.iter().all(|c| matches!(c, Some(0 | 1))), "{seen:?}");
    }
}
