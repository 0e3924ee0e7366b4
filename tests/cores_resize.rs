//! `Handle::set_cores`: cores go offline and come back while the runtime runs; their queued
//! and pinned tasks move to the online cores, nothing is lost or run twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use baton::{Affinity, WorkQueue};

/// A hang guard, far longer than any of these tests takes.
const PATIENCE: Duration = Duration::from_secs(60);

/// A runtime of `cores` cores with detection off, so that a poll that blocks keeps its core's
/// baton.
fn runtime(cores: usize) -> baton::Runtime {
    baton::Runtime::builder()
        .cores(cores)
        .detect_blocking(false)
        .build()
        .unwrap()
}

/// Blocks core `core`'s worker in one poll until the returned sender sends (or is dropped, or
/// [`PATIENCE`] passes); returns once the poll has begun. The task returns the core it ran on.
fn block_core(
    handle: &baton::Handle,
    core: usize,
) -> (mpsc::Sender<()>, baton::JoinHandle<Option<usize>>) {
    let (release, released) = mpsc::channel::<()>();
    let (started, blocker_started) = mpsc::channel();
    let blocker = handle.spawn_on(core, async move {
        started.send(()).unwrap();
        let _ = released.recv_timeout(PATIENCE);
        baton::current_core()
    });
    blocker_started.recv_timeout(PATIENCE).unwrap();
    (release, blocker)
}

#[test]
fn a_zero_or_too_large_count_is_refused_and_changes_nothing() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let handle = rt.handle();
    assert!(handle.set_cores(0).unwrap_err().is_zero());
    let err = handle.set_cores(3).unwrap_err();
    assert!(err.is_above_max() && !err.is_zero(), "{err}");
    assert_eq!(handle.online_cores(), 2);
    assert!(rt.stats().cores.iter().all(|c| !c.offline));
}

#[test]
fn tasks_pinned_to_an_offline_core_run_on_its_stand_in() {
    let rt = baton::Runtime::builder().cores(3).build().unwrap();
    let handle = rt.handle();
    for (online, pin, expected) in [(1, 2, 0), (2, 2, 0), (2, 1, 1), (3, 2, 2)] {
        handle.set_cores(online).unwrap();
        let task = handle.spawn_on(pin, async {
            let mut seen = Vec::new();
            for _ in 0..5 {
                seen.push(baton::current_core());
                baton::yield_now().await;
            }
            seen
        });
        let seen = rt.block_on(task).unwrap();
        assert!(
            seen.iter().all(|c| *c == Some(expected)),
            "{online} online, pinned to {pin}: {seen:?}"
        );
    }
    let offline: Vec<bool> = rt.stats().cores.iter().map(|c| c.offline).collect();
    assert_eq!(offline, [false, false, false]);
}

#[test]
fn tasks_queued_on_a_core_move_when_it_goes_offline() {
    let rt = runtime(2);
    let handle = rt.handle();
    // Core 1's worker is stuck in one poll, so the tasks pinned behind it wait in its queue.
    let (release, blocker) = block_core(&handle, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..50)
        .map(|_| {
            let ran = ran.clone();
            handle.spawn_on(1, async move {
                ran.fetch_add(1, Ordering::SeqCst);
                baton::current_core()
            })
        })
        .collect();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(rt.stats().cores[1].queue_depth >= 50);
    handle.set_cores(1).unwrap();
    // They run on core 0 while core 1's worker is still stuck.
    for task in queued {
        assert_eq!(rt.block_on(task).unwrap(), Some(0));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 50);
    let stats = rt.stats();
    assert!(stats.cores[1].offline, "{stats}");
    assert_eq!(stats.cores[1].queue_depth, 0, "{stats}");
    // The poll that was running finishes where it was.
    release.send(()).unwrap();
    assert_eq!(rt.block_on(blocker).unwrap(), Some(1));
}

#[test]
fn a_core_brought_online_takes_work_at_once() {
    let rt = runtime(2);
    let handle = rt.handle();
    handle.set_cores(1).unwrap();
    // Core 0, the only one online, is stuck in one poll: the tasks spawned below wait in the
    // injector, and only core 1 coming online (with no new spawn to wake it) runs them.
    let (release, blocker) = block_core(&handle, 0);
    let tasks: Vec<_> = (0..20)
        .map(|_| handle.spawn(async { baton::current_core() }))
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    assert!(tasks.iter().all(|t| !t.is_finished()), "core 1 is offline");
    handle.set_cores(2).unwrap();
    for task in tasks {
        assert_eq!(rt.block_on(task).unwrap(), Some(1));
    }
    release.send(()).unwrap();
    assert_eq!(rt.block_on(blocker).unwrap(), Some(0));
    assert!(rt.stats().cores.iter().all(|c| !c.offline));
}

#[test]
fn a_work_queue_whose_cores_are_all_offline_runs_on_their_stand_ins() {
    let rt = baton::Runtime::builder().cores(3).build().unwrap();
    let handle = rt.handle();
    let q = WorkQueue::builder("pair")
        .affinity(Affinity::Cores(vec![1, 2]))
        .build(&handle)
        .unwrap();
    let cores_of = |q: &WorkQueue| -> Vec<Option<usize>> {
        let tasks: Vec<_> = (0..6)
            .map(|_| q.spawn(async { baton::current_core() }))
            .collect();
        tasks.into_iter().map(|t| rt.block_on(t).unwrap()).collect()
    };
    // One of the set online: only that one.
    handle.set_cores(2).unwrap();
    assert!(cores_of(&q).iter().all(|c| *c == Some(1)));
    // None of the set online: core 1 % 1 and core 2 % 1, both core 0.
    handle.set_cores(1).unwrap();
    assert!(cores_of(&q).iter().all(|c| *c == Some(0)));
    // All back: both cores of the set, in turn.
    handle.set_cores(3).unwrap();
    let seen = cores_of(&q);
    assert!(
        seen.contains(&Some(1)) && seen.contains(&Some(2)),
        "{seen:?}"
    );
    assert!(!seen.contains(&Some(0)), "{seen:?}");
}

#[test]
fn a_runtime_with_offline_cores_shuts_down_and_cancels_what_waits() {
    let rt = runtime(3);
    let handle = rt.handle();
    handle.set_cores(1).unwrap();
    // Core 0 is stuck until the runtime drops; the tasks pinned to the offline cores wait on it.
    let (release, _blocker) = block_core(&handle, 0);
    let waiting: Vec<_> = (1..3).map(|core| handle.spawn_on(core, async {})).collect();
    let stats = rt.stats();
    assert_eq!(stats.cores[0].queue_depth, 2, "{stats}");
    assert!(stats.cores[1].offline && stats.cores[2].offline, "{stats}");
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        release.send(()).unwrap();
    });
    drop(rt);
    releaser.join().unwrap();
    for task in waiting {
        assert!(task.is_finished());
    }
}
