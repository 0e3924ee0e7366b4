//! Cores going offline (`Shared::set_online`) racing the scheduling of tasks pinned to them (the
//! scheduler's notes on cores that go offline, `scheduler/online.rs`): a pinned task spawned or
//! woken while its core goes offline ends up queued exactly once, on an online core; nothing is
//! left on the offline core, where no worker would run it. If the resizer's evacuation and the
//! scheduler's look at the online count both missed, the task would stay on core 1 and the models
//! fail.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::model;
use crate::core::Recheck;
use crate::park::{Parker, WakeFor};
use crate::queue::{Priority, Runnable, TaskQueue};
use crate::scheduler::{core_queues, Config, Shared};
use crate::sync::{lock, Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::task::{JoinHandle, Spawn};

/// Pending at its first poll, leaving its waker in `slot`; ready at the next. Counts its polls.
struct WaitOnce {
    slot: Arc<Mutex<Option<Waker>>>,
    polls: Arc<AtomicUsize>,
}

impl Future for WaitOnce {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polls.fetch_add(1, Ordering::Relaxed) == 0 {
            *lock(&self.slot) = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// Takes the one task queued anywhere in the runtime, checking there is exactly one and that
/// no offline core holds it.
fn the_one_queued_task(shared: &Shared) -> Runnable {
    let online = shared.online();
    let mut found = Vec::new();
    for core in 0..shared.cores.len() {
        for queue in core_queues(&shared.cores[core]) {
            while let Ok(runnable) = queue.pop() {
                assert!(core < online, "a task was left on offline core {core}");
                found.push(runnable);
            }
        }
    }
    for injector in
        [Priority::High, Priority::Normal, Priority::Idle].map(|p| shared.injector_for(p))
    {
        while let Ok(runnable) = injector.pop() {
            found.push(runnable);
        }
    }
    assert_eq!(found.len(), 1, "the task is queued once");
    found.pop().unwrap()
}

/// Spawns, on a thread of its own, a task pinned to core 1 that counts its polls in `polls`.
fn spawn_pinned_to_1(
    shared: &Arc<Shared>,
    polls: &Arc<AtomicUsize>,
) -> loom::thread::JoinHandle<JoinHandle<()>> {
    let (shared, polls) = (shared.clone(), polls.clone());
    loom::thread::spawn(move || {
        let future = async move {
            polls.fetch_add(1, Ordering::Relaxed);
        };
        Shared::spawn(&shared, future, Some(1), std::panic::Location::caller())
    })
}

#[test]
fn a_pinned_spawn_racing_its_core_going_offline_moves_to_an_online_core() {
    model(3, || {
        let shared = Arc::new(Shared::new(2, Config::default()));
        let polls = Arc::new(AtomicUsize::new(0));
        let spawner = spawn_pinned_to_1(&shared, &polls);
        shared.set_online(1);
        let handle = spawner.join().unwrap();
        the_one_queued_task(&shared).run();
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        assert!(handle.is_finished());
    });
}

#[test]
fn a_wake_racing_its_core_going_offline_moves_the_task_to_an_online_core() {
    model(3, || {
        let shared = Arc::new(Shared::new(2, Config::default()));
        let polls = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Mutex::new(None));
        let future = WaitOnce {
            slot: slot.clone(),
            polls: polls.clone(),
        };
        let handle = Shared::spawn(&shared, future, Some(1), std::panic::Location::caller());
        // Polled once on core 1, as its worker would: now waiting, its waker out in the world.
        shared.cores[1].classes[Priority::Normal]
            .pinned
            .pop()
            .expect("queued on core 1")
            .run();
        let waker = lock(&slot).take().expect("the task left its waker");
        let waking = loom::thread::spawn(move || waker.wake());
        shared.set_online(1);
        waking.join().unwrap();
        the_one_queued_task(&shared).run();
        assert_eq!(polls.load(Ordering::Relaxed), 2);
        assert!(handle.is_finished());
    });
}

#[test]
fn a_pinned_spawn_racing_its_core_going_and_coming_back_is_queued_once() {
    model(2, || {
        let shared = Arc::new(Shared::new(2, Config::default()));
        let polls = Arc::new(AtomicUsize::new(0));
        let spawner = spawn_pinned_to_1(&shared, &polls);
        shared.set_online(1);
        shared.set_online(2);
        let handle = spawner.join().unwrap();
        // Core 1 is online again: the task may be on core 0 (moved there) or core 1, once.
        the_one_queued_task(&shared).run();
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        assert!(handle.is_finished());
    });
}

/// An offline core's own worker racing the resize: it holds core 1's baton and its poll put a
/// task in the core's next-task slot (with no notify, as `Shared::schedule_here` does outside a
/// section), then goes on as `Worker::work` does: runs the slot while it sees the core online,
/// evacuates once it sees it offline, and parks through `Core::park` with
/// `Shared::recheck_parking` (whose fence may show it work queued meanwhile). Either the worker
/// runs the task, or the task leaves core 1, moved by the resizer's evacuation or the worker's.
/// Once the resize is over the model tells the worker to stop, waking it if it parked.
#[test]
fn an_offline_cores_worker_moves_what_its_poll_queued() {
    model(2, || {
        let shared = Arc::new(Shared::new(2, Config::default()));
        let polls = Arc::new(AtomicUsize::new(0));
        let (runnable, handle) = {
            let polls = polls.clone();
            let future = async move {
                polls.fetch_add(1, Ordering::Relaxed);
            };
            Shared::spawn_unscheduled(&shared, future, Spawn::at(std::panic::Location::caller()))
        };
        // Core 1's worker, holding the baton.
        let core = &shared.cores[1];
        core.reserve_worker();
        let parker = Arc::new(Parker::new());
        assert!(core.add_worker(&parker, &shared.siblings, || false, || Recheck::Nothing));
        assert!(core.wake_one(&shared.siblings, WakeFor::Work));
        assert_eq!(Parker::park(&parker), WakeFor::Work);
        let done = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let worker = {
            let (shared, done, stopped) = (shared.clone(), done.clone(), stopped.clone());
            loom::thread::spawn(move || {
                let core = &shared.cores[1];
                core.lifo.push(runnable).unwrap();
                loop {
                    if shared.is_online(1) {
                        if let Ok(runnable) = core.lifo.pop() {
                            runnable.run();
                            continue;
                        }
                    } else {
                        shared.evacuate(1);
                    }
                    if done.load(Ordering::SeqCst) {
                        stopped.store(true, Ordering::SeqCst);
                        return;
                    }
                    core.park(&parker, &shared.siblings, |work_here| {
                        shared.recheck_parking(1, work_here)
                    });
                }
            })
        };
        shared.set_online(1);
        done.store(true, Ordering::SeqCst);
        while !stopped.load(Ordering::SeqCst) {
            core.wake_all();
            loom::thread::yield_now();
        }
        worker.join().unwrap();
        assert!(
            core_queues(core).iter().all(|q| q.len() == 0),
            "a task was left on offline core 1"
        );
        let moved: usize = core_queues(&shared.cores[0])
            .into_iter()
            .chain([shared.injector_for(Priority::Normal) as &dyn TaskQueue])
            .map(|q| q.len())
            .sum();
        assert_eq!(
            polls.load(Ordering::Relaxed) + moved,
            1,
            "run or queued, once"
        );
        assert_eq!(moved == 0, handle.is_finished());
        // A queued task holds the runtime (its schedule function does): cancel it.
        shared.cancel_queued();
    });
}
