//! Shutdown racing spawn: a task spawned while the runtime shuts down is either dropped by
//! shutdown or by its own scheduler, never left in a queue (shutdown notes, step 3).

use super::model;
use crate::shared::{Config, Shared};
use crate::sync::{Arc, AtomicUsize, Ordering};

/// Counts its drops.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn shutdown_racing_spawn_strands_no_task() {
    model(3, || {
        let shared = Arc::new(Shared::new(1, Config::default()));
        let drops = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (shared, drops) = (shared.clone(), drops.clone());
            loom::thread::spawn(move || {
                let guard = DropCount(drops);
                Shared::spawn(
                    &shared,
                    async move {
                        let _guard = guard;
                        std::future::pending::<()>().await;
                    },
                    None,
                    std::panic::Location::caller(),
                )
            })
        };
        shared.begin_shutdown();
        shared.cancel_all(1);
        let handle = spawner.join().unwrap();
        // No worker exists in this model: the task never ran, so it must have been dropped.
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        assert!(handle.is_finished());
        assert!(shared.injector.is_empty());
        assert_eq!(shared.registry.len(), 0);
    });
}
