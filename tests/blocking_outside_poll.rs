//! A blocking section on a worker thread outside a task's poll (in the thread-start and
//! thread-stop callbacks) runs as a plain call: the core's counts stay exact, tasks still run,
//! and dropping the runtime does not hang.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// How long a callback's section blocks.
const BLOCK: Duration = Duration::from_millis(20);

/// Which callback holds the section, and which kind of section it is.
#[derive(Clone, Copy, Debug)]
enum Callback {
    StartSection,
    StartSectionLong,
    StopSection,
    StopSectionLong,
}

/// Blocks in a section of the kind `callback` names.
fn block(callback: Callback) {
    let sleep = || std::thread::sleep(BLOCK);
    match callback {
        Callback::StartSection | Callback::StopSection => baton::blocking::section(sleep),
        Callback::StartSectionLong | Callback::StopSectionLong => {
            baton::blocking::section_long(sleep)
        }
    }
}

/// Waits (a generous while) until `ready` holds, then returns; panics with `what` otherwise.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("timed out waiting until {what}");
}

/// Builds a runtime of `cores` cores whose workers block in a section in `callback`, runs tasks
/// on it (some blocking in long sections, so that the monitor starts spares which, with a short
/// keep-alive, exit again and run the thread-stop callback), checks its counts once idle, and
/// drops it; fails if that does not finish within a generous time.
fn run_with(cores: usize, callback: Callback) {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let called = Arc::new(AtomicUsize::new(0));
        let on_call = {
            let called = called.clone();
            move || {
                block(callback);
                called.fetch_add(1, Ordering::Relaxed);
            }
        };
        let builder = baton::Runtime::builder()
            .cores(cores)
            .keep_alive(Duration::from_millis(5));
        let builder = match callback {
            Callback::StartSection | Callback::StartSectionLong => builder.on_thread_start(on_call),
            Callback::StopSection | Callback::StopSectionLong => builder.on_thread_stop(on_call),
        };
        let rt = builder.build().unwrap();
        let tasks: Vec<_> = (0..40u64)
            .map(|i| {
                rt.spawn(async move {
                    if i % 10 == 0 {
                        baton::blocking::section_long(|| std::thread::sleep(BLOCK));
                    }
                    baton::yield_now().await;
                    i
                })
            })
            .collect();
        let sum: u64 = tasks.into_iter().map(|t| rt.block_on(t).unwrap()).sum();
        assert_eq!(sum, (0..40).sum::<u64>());
        // The callback ran to its end at least once (a surplus spare exited, for the
        // thread-stop callback), and every worker left parks: none counts as running or in a
        // section.
        wait_for("the callback returned", || {
            called.load(Ordering::Relaxed) > 0
        });
        wait_for("every worker parked", || {
            rt.stats()
                .cores
                .iter()
                .all(|c| c.running == 0 && c.in_section == 0 && c.spares == c.workers)
        });
        drop(rt);
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{cores} core(s), {callback:?}: the runtime stalled or hung"));
}

#[test]
fn a_section_in_on_thread_start_runs_as_a_plain_call() {
    run_with(1, Callback::StartSection);
    run_with(2, Callback::StartSection);
}

#[test]
fn a_long_section_in_on_thread_start_runs_as_a_plain_call() {
    run_with(1, Callback::StartSectionLong);
    run_with(2, Callback::StartSectionLong);
}

#[test]
fn a_section_in_on_thread_stop_runs_as_a_plain_call() {
    run_with(1, Callback::StopSection);
    run_with(2, Callback::StopSection);
}

#[test]
fn a_long_section_in_on_thread_stop_runs_as_a_plain_call() {
    run_with(1, Callback::StopSectionLong);
    run_with(2, Callback::StopSectionLong);
}
