//! Shutdown racing the tasks it cancels (the shutdown notes in `scheduler/shutdown.rs`): a task
//! spawned or woken while the runtime shuts down is cancelled exactly once, by the shutdown thread
//! or, once shutdown is done, by its scheduler; never inside a `wake()` before shutdown is done
//! (the waker's caller may hold a lock the task's drop needs: modelled by `list`, as event-listener
//! holds its list lock while it wakes, and a listener's drop takes it); and nothing is left in a
//! queue or in the registry. Shutdown racing a retirement: the retiring worker never parks after
//! shutdown's wake-up.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::{local, model, Tally};
use crate::core::{HandOff, Recheck};
use crate::park::{Parker, WakeFor};
use crate::queue::Priority;
use crate::scheduler::{Config, Shared};
use crate::sync::{lock, Arc, AtomicUsize, Mutex, Ordering};
use crate::task::JoinHandle;

loom::thread_local! {
    /// Set on the model thread that plays a waker's caller (say, event-listener's `notify`
    /// with its list lock held).
    static IN_WAKE: Cell<bool> = Cell::new(false);
}

/// Counts its drops, and those inside a `wake()` before shutdown was done; takes the `list`
/// lock, as a listener's drop does.
struct DropCheck {
    drops: Arc<AtomicUsize>,
    dropped_in_wake: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    list: Arc<Mutex<()>>,
}

impl DropCheck {
    fn new(shared: &Arc<Shared>, list: &Arc<Mutex<()>>) -> DropCheck {
        DropCheck {
            drops: Arc::new(AtomicUsize::new(0)),
            dropped_in_wake: Arc::new(AtomicUsize::new(0)),
            shared: shared.clone(),
            list: list.clone(),
        }
    }
}

impl Drop for DropCheck {
    fn drop(&mut self) {
        if IN_WAKE.with(Cell::get) && !self.shared.is_shutdown_done() {
            // Relaxed: published by the Release increment of `drops` below.
            self.dropped_in_wake.fetch_add(1, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire load in `wait_for_end`.
        self.drops.fetch_add(1, Ordering::Release);
        drop(lock(&self.list));
    }
}

/// Waits until the task has finished and its drop is seen (it may be cancelled by a thread the
/// model does not join).
fn wait_for_end(handle: &JoinHandle<()>, drops: &Arc<AtomicUsize>) {
    // Acquire: pairs with the Release increment in `DropCheck::drop` (async-task's state word,
    // which `is_finished` reads, is invisible to loom).
    while !handle.is_finished() || drops.load(Ordering::Acquire) == 0 {
        loom::thread::yield_now();
    }
}

/// Checks that the task was dropped once, never inside a `wake()` while shutdown was under way.
fn assert_dropped_once(drops: &Arc<AtomicUsize>, dropped_in_wake: &Arc<AtomicUsize>) {
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    assert_eq!(
        dropped_in_wake.load(Ordering::Relaxed),
        0,
        "a task was dropped inside wake() while shutdown was under way"
    );
}

/// Pending forever; leaves its waker in `slot` at each poll.
struct Parked {
    slot: Arc<Mutex<Option<Waker>>>,
    _check: DropCheck,
}

impl Future for Parked {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *lock(&self.slot) = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Runs the whole shutdown on this thread, as `Runtime::shutdown` does with no workers.
fn shut_down(shared: &Shared) {
    shared.begin_shutdown();
    shared.cancel_pending();
    shared.finish_shutdown();
}

/// Checks that shutdown left nothing behind.
fn assert_nothing_left(shared: &Shared) {
    assert!(shared.injector_for(Priority::Normal).is_empty());
    assert!(shared.to_cancel.is_empty());
    assert_eq!(shared.registry.len(), 0);
}

#[test]
fn shutdown_racing_spawn_strands_no_task() {
    model(3, || {
        let shared = Arc::new(Shared::new(1, Config::default()));
        let list = Arc::new(Mutex::new(()));
        let check = DropCheck::new(&shared, &list);
        let (drops, dropped_in_wake) = (check.drops.clone(), check.dropped_in_wake.clone());
        let spawner = {
            let shared = shared.clone();
            loom::thread::spawn(move || {
                IN_WAKE.with(|w| w.set(true));
                let handle = Shared::spawn(
                    &shared,
                    async move {
                        let _check = check;
                        std::future::pending::<()>().await;
                    },
                    None,
                    std::panic::Location::caller(),
                );
                IN_WAKE.with(|w| w.set(false));
                handle
            })
        };
        shut_down(&shared);
        let handle = spawner.join().unwrap();
        // No worker exists in this model: the task never ran, so it must be cancelled (on a
        // thread of its own if it was queued once shutdown was done).
        wait_for_end(&handle, &drops);
        assert_dropped_once(&drops, &dropped_in_wake);
        assert_nothing_left(&shared);
    });
}

#[test]
fn a_wake_racing_shutdown_hands_the_task_to_shutdown() {
    model(3, || {
        let shared = Arc::new(Shared::new(1, Config::default()));
        let list = Arc::new(Mutex::new(()));
        let check = DropCheck::new(&shared, &list);
        let (drops, dropped_in_wake) = (check.drops.clone(), check.dropped_in_wake.clone());
        let slot = Arc::new(Mutex::new(None));
        let parked = Parked {
            slot: slot.clone(),
            _check: check,
        };
        let handle = Shared::spawn(&shared, parked, None, std::panic::Location::caller());
        // Polled once, as a worker would: now registered, idle, its waker out in the world.
        shared
            .injector_for(Priority::Normal)
            .pop()
            .expect("the spawned task")
            .run();
        let waker = lock(&slot).take().expect("the task left its waker");
        let waker_shared = shared.clone();
        // The waker's caller wakes under its list lock.
        let waking = loom::thread::spawn(move || {
            // Loom does not see async-task's state word: this read of the flag makes it try
            // the wake on both sides of shutdown's first step.
            let _ = waker_shared.is_shutdown();
            let _list = lock(&list);
            IN_WAKE.with(|w| w.set(true));
            waker.wake();
            IN_WAKE.with(|w| w.set(false));
        });
        shut_down(&shared);
        waking.join().unwrap();
        // A wake that began before shutdown and queued the task once shutdown was done has it
        // cancelled on a thread of its own.
        wait_for_end(&handle, &drops);
        assert_dropped_once(&drops, &dropped_in_wake);
        assert_nothing_left(&shared);
    });
}

/// A worker back from a section retires at its poll boundary (its replacement runs, and the
/// core has work queued, as it always has while shutdown begins) just as shutdown begins: it
/// must not stay parked once shutdown's wake-up of parked workers has gone out. Its recheck
/// sees the shutdown whatever the core's queues hold.
#[test]
fn retirement_racing_shutdown_does_not_park_for_good() {
    model(3, || {
        let shared = Arc::new(Shared::new(1, Config::default()));
        let core = &shared.cores[0];
        let back = Arc::new(Parker::new());
        core.reserve_worker();
        assert!(core.add_worker(&back, &shared.siblings, || false, || Recheck::Nothing));
        assert!(core.wake_one(&shared.siblings, WakeFor::Work));
        assert_eq!(Parker::park(&back), WakeFor::Work);
        // Its section is handed off with nothing queued; a replacement takes the baton; the
        // section ends: two workers run.
        assert_eq!(
            core.hand_off(&shared.siblings, || Recheck::Nothing),
            HandOff::NoWork
        );
        let replacement = Arc::new(Parker::new());
        core.reserve_worker();
        assert!(core.add_worker(
            &replacement,
            &shared.siblings,
            || false,
            || Recheck::Nothing
        ));
        assert!(core.wake_one(&shared.siblings, WakeFor::Work));
        core.return_from_section(&shared.siblings);
        assert_eq!(core.state().running(), 2, "{:?}", core.state());
        let tally = Tally::new();
        local(core).push(tally.task()).unwrap();

        let retiring = {
            let (shared, back) = (shared.clone(), back.clone());
            loom::thread::spawn(move || {
                // If this parks for good, the join below never returns: loom reports a
                // deadlock.
                shared.cores[0].retire(&back, &shared.siblings, |work_here| {
                    shared.recheck_parking(0, work_here)
                })
            })
        };
        shared.begin_shutdown();
        let wake = retiring.join().unwrap();
        assert_eq!(
            wake,
            Some(WakeFor::Work),
            "the worker retired and was let go"
        );
        assert_eq!(tally.polls(), 0);
    });
}
