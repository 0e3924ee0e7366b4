//! A core whose worker is kept busy does not strand its queue: an idle core steals the tasks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn tasks_queued_behind_a_busy_worker_run_on_the_other_core() {
    // Detection off: the busy task blocks in `sleep`, and a takeover of its poll would let a
    // spare of its own core run the queued tasks before the other core steals them.
    let rt = baton::Runtime::builder()
        .cores(2)
        .detect_blocking(false)
        .build()
        .unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let stolen = rt.block_on(rt.spawn({
        let release = release.clone();
        async move {
            let busy_core = baton::current_core().unwrap();
            // Queue tasks on this core's local queue, then hog the core without yielding
            // until they have all run: only another core can run them.
            let queued: Vec<_> = (0..64)
                .map(|_| baton::spawn(async { baton::current_core().unwrap() }))
                .collect();
            let watcher = baton::spawn({
                let release = release.clone();
                async move {
                    let mut cores = Vec::new();
                    for q in queued {
                        cores.push(q.await.unwrap());
                    }
                    release.store(true, Ordering::SeqCst);
                    cores
                }
            });
            while !release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            (busy_core, watcher.await.unwrap())
        }
    }));
    let (busy_core, cores) = stolen.unwrap();
    assert_eq!(cores.len(), 64);
    assert!(
        cores.iter().all(|&c| c != busy_core),
        "{busy_core}: {cores:?}"
    );
    let steals: u64 = rt.stats().cores.iter().map(|c| c.steals).sum();
    assert!(steals >= 1);
}
