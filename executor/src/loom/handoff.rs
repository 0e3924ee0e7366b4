//! Sections against the core protocol (its sections step and *keep working*, see `crate::core`): a
//! handoff racing new work, two workers coming back from sections at once, and a retirement racing
//! a wake-up.

use super::{local, model, Tally};
use crate::core::{Core, HandOff, Recheck, SectionWord, Seen, Siblings};
use crate::park::{Parker, WakeFor};
use crate::sync::{lock, Arc, AtomicBool, Condvar, Mutex, Ordering};

/// Set once the model's task has run; the thread waiting for it sleeps on the condvar, so a
/// lost wake-up leaves every thread blocked and loom reports a deadlock.
#[derive(Default)]
struct Done {
    flag: Mutex<bool>,
    cvar: Condvar,
    seen: AtomicBool,
}

impl Done {
    fn set(&self) {
        self.seen.store(true, Ordering::SeqCst);
        *lock(&self.flag) = true;
        self.cvar.notify_all();
    }

    fn is_set(&self) -> bool {
        self.seen.load(Ordering::SeqCst)
    }

    fn wait(&self) {
        let mut flag = lock(&self.flag);
        while !*flag {
            flag = self.cvar.wait(flag).unwrap();
        }
    }
}

/// A worker of `core` holding the baton: runs the queued task, and parks while there is none.
/// Returns once the model's task has run (here or elsewhere); a worker parked when it ran is
/// woken by `Core::wake_all` and sees it through its recheck.
fn work(core: &Core, siblings: &Siblings, parker: &Arc<Parker>, done: &Done) {
    loop {
        if done.is_set() {
            return;
        }
        match local(core).pop() {
            Ok(runnable) => {
                runnable.run();
                done.set();
                return;
            }
            Err(_) => {
                core.park(parker, siblings, stop_when_done(done));
            }
        }
    }
}

/// Hands worker `parker` of `core` the baton, as a notify would.
fn start(core: &Core, siblings: &Siblings, parker: &Arc<Parker>) {
    assert!(core.wake_one(siblings, WakeFor::Work));
    assert_eq!(Parker::park(parker), WakeFor::Work);
}

/// A core whose one worker holds the baton: the core, the runtime's cross-core counts (`Siblings`),
/// the worker.
pub(super) fn running_core() -> (Arc<Core>, Arc<Siblings>, Arc<Parker>) {
    let core = Arc::new(Core::new(0));
    let siblings = Arc::new(Siblings::new(1));
    let worker = add_worker(&core, &siblings);
    start(&core, &siblings, &worker);
    (core, siblings, worker)
}

/// Registers a new worker on `core`, parked on its spare stack, as `worker::spawn` and the new
/// thread do.
pub(super) fn add_worker(core: &Core, siblings: &Siblings) -> Arc<Parker> {
    let parker = Arc::new(Parker::new());
    core.reserve_worker();
    assert!(core.add_worker(&parker, siblings, || false, || Recheck::Nothing));
    parker
}

/// The monitor's handoff of the section it saw as `seen`: claim, uncount, publish. `None` if
/// the claim failed (the section had ended).
fn monitor_hand_off(
    core: &Core,
    siblings: &Siblings,
    word: &SectionWord,
    seen: Seen,
) -> Option<HandOff> {
    if !word.claim(seen) {
        return None;
    }
    let outcome = core.hand_off(siblings, || Recheck::Nothing);
    word.publish(seen);
    Some(outcome)
}

/// A parking worker's recheck: stop once the model's task has run, as at shutdown.
fn stop_when_done(done: &Done) -> impl FnOnce(bool) -> Recheck + '_ {
    move |_| {
        if done.is_set() {
            Recheck::Stop
        } else {
            Recheck::Nothing
        }
    }
}

/// The core's counts: running, spares, in a section, all workers.
pub(super) fn counts(core: &Core) -> [u64; 4] {
    let state = core.state();
    [
        state.running(),
        state.spares(),
        state.in_section(),
        state.workers(),
    ]
}

/// The monitor hands off a lazy section (uncount, wake a spare if the core has work, publish)
/// while a task is queued on the core: the task always runs, on the spare.
#[test]
fn handoff_racing_new_work_runs_the_work() {
    model(3, || {
        let (core, siblings, _blocked) = running_core();
        let spare = add_worker(&core, &siblings);
        // The running worker enters a lazy section and stays in it for the whole model.
        let word = Arc::new(SectionWord::new());
        let _epoch = word.enter(false, || unreachable!());

        let monitor = {
            let (core, siblings, word) = (core.clone(), siblings.clone(), word.clone());
            loom::thread::spawn(move || {
                let seen = word.look();
                assert!(seen.is_in_lazy_section());
                let outcome = monitor_hand_off(&core, &siblings, &word, seen);
                assert_ne!(outcome, Some(HandOff::NoSpare), "the spare is parked");
                outcome.is_some()
            })
        };
        let tally = Tally::new();
        let spawner = {
            let (core, siblings, tally) = (core.clone(), siblings.clone(), tally.clone());
            loom::thread::spawn(move || {
                local(&core).push(tally.task()).unwrap();
                core.notify(&siblings);
            })
        };
        // The spare: parked until handed the baton, then a worker. If neither the handoff nor
        // the notify woke it, this park never returns and loom reports a deadlock.
        let done = Done::default();
        assert_eq!(Parker::park(&spare), WakeFor::Work);
        work(&core, &siblings, &spare, &done);

        assert!(monitor.join().unwrap(), "the section never ended");
        spawner.join().unwrap();
        assert_eq!(tally.polls(), 1);
        assert_eq!(counts(&core), [1, 0, 1, 2], "{:?}", core.state());
    });
}

/// The monitor hands off a lazy section just as it ends, and the worker, back from it, queues
/// a task: if the handoff could not be published the monitor undoes it, the worker learns
/// whether its baton passed on, and either way the counts add up and the task runs.
#[test]
fn handoff_racing_the_end_of_the_section() {
    model(3, || {
        let (core, siblings, blocked) = running_core();
        let spare = add_worker(&core, &siblings);
        let word = Arc::new(SectionWord::new());
        let epoch = word.enter(false, || unreachable!());
        let seen = word.look();
        let done = Arc::new(Done::default());
        let tally = Tally::new();

        let worker = {
            let (core, siblings, word, done, tally) = (
                core.clone(),
                siblings.clone(),
                word.clone(),
                done.clone(),
                tally.clone(),
            );
            loom::thread::spawn(move || {
                word.leave(epoch, || core.return_from_section(&siblings));
                // The rest of the poll queues a task; then the poll boundary (*keep working*).
                local(&core).push(tally.task()).unwrap();
                core.notify(&siblings);
                if !core.state().keep_working() {
                    core.retire(&blocked, &siblings, stop_when_done(&done));
                }
                work(&core, &siblings, &blocked, &done);
            })
        };
        let spare_thread = {
            let (core, siblings, done) = (core.clone(), siblings.clone(), done.clone());
            loom::thread::spawn(move || {
                // Woken by a handoff or a notify, or at the end by `wake_all`.
                Parker::park(&spare);
                work(&core, &siblings, &spare, &done);
            })
        };
        monitor_hand_off(&core, &siblings, &word, seen);
        done.wait();
        core.wake_all();
        worker.join().unwrap();
        spare_thread.join().unwrap();
        assert_eq!(tally.polls(), 1);
        let [running, siblings, in_section, workers] = counts(&core);
        assert_eq!(in_section, 0, "{:?}", core.state());
        assert_eq!(running + siblings, workers, "{:?}", core.state());
    });
}

/// Two workers whose batons passed on leave their sections at once, with no other worker
/// running: both count running again, and at the poll boundary exactly one retires.
#[test]
fn two_workers_back_from_sections_keep_one_baton() {
    model(3, || {
        let core = Arc::new(Core::new(0));
        let siblings = Arc::new(Siblings::new(1));
        let a = Arc::new(Parker::new());
        let b = Arc::new(Parker::new());
        let spare = Arc::new(Parker::new());
        for p in [&a, &b] {
            core.reserve_worker();
            assert!(core.add_worker(p, &siblings, || false, || Recheck::Nothing));
            start(&core, &siblings, p);
            // Its section is handed off; the core has no work, so nobody is woken.
            assert_eq!(
                core.hand_off(&siblings, || Recheck::Nothing),
                HandOff::NoWork
            );
        }
        core.reserve_worker();
        assert!(core.add_worker(&spare, &siblings, || false, || Recheck::Nothing));
        assert_eq!(counts(&core), [0, 1, 2, 3], "{:?}", core.state());

        // Each returns, then decides at its poll boundary. The one that keeps the baton lets the
        // retired one go (it would otherwise stay parked until there is work).
        let back =
            |me: Arc<Parker>, other: Arc<Parker>, core: Arc<Core>, siblings: Arc<Siblings>| {
                core.return_from_section(&siblings);
                match core.retire(&me, &siblings, |_| Recheck::Nothing) {
                    Some(wake) => {
                        assert_eq!(wake, WakeFor::Exit);
                        true
                    }
                    None => {
                        other.unpark(WakeFor::Exit);
                        false
                    }
                }
            };
        let there = {
            let (a, b, core, siblings) = (a.clone(), b.clone(), core.clone(), siblings.clone());
            loom::thread::spawn(move || back(a, b, core, siblings))
        };
        let here = back(b, a, core.clone(), siblings.clone());
        let there = there.join().unwrap();
        assert!(here ^ there, "exactly one retires: {here} {there}");
        assert_eq!(counts(&core), [1, 2, 0, 3], "{:?}", core.state());
        assert_eq!(core.stats().retirements, 1);
    });
}

/// A worker back from a section retires at its poll boundary while the worker that replaced it
/// runs out of work and parks, and a task arrives (push and notify): the counts stay
/// consistent and the task runs (a lost wake-up leaves every thread blocked).
#[test]
fn retirement_racing_a_wake_up_loses_nothing() {
    model(3, || {
        let (core, siblings, back) = running_core();
        let replacement = add_worker(&core, &siblings);
        assert_eq!(
            core.hand_off(&siblings, || Recheck::Nothing),
            HandOff::NoWork
        );
        start(&core, &siblings, &replacement);
        // `back` leaves its section: two workers run.
        core.return_from_section(&siblings);
        assert_eq!(core.state().running(), 2);

        let done = Arc::new(Done::default());
        let workers: Vec<_> = [back, replacement]
            .into_iter()
            .enumerate()
            .map(|(i, parker)| {
                let (core, siblings, done) = (core.clone(), siblings.clone(), done.clone());
                loom::thread::spawn(move || {
                    // `back` is at a poll boundary; the replacement just finished its poll.
                    if i == 0 {
                        core.retire(&parker, &siblings, stop_when_done(&done));
                    }
                    work(&core, &siblings, &parker, &done);
                })
            })
            .collect();
        let tally = Tally::new();
        local(&core).push(tally.task()).unwrap();
        core.notify(&siblings);
        done.wait();
        // Let whoever is still parked go, as shutdown does.
        core.wake_all();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(tally.polls(), 1);
        // (Not `running <= 1`: a worker that parks after the task ran stops, as at shutdown,
        // taking itself back as running.)
        let [running, siblings, in_section, workers] = counts(&core);
        assert_eq!(in_section, 0, "{:?}", core.state());
        assert_eq!(running + siblings, workers, "{:?}", core.state());
    });
}

/// A wake-up (a task queued while the core's only worker is in a handed-off section) racing
/// that worker's return from its section: the worker, back at its poll boundary with the
/// baton to itself, starts its next poll; a spare woken on the strength of an earlier look at
/// `running == 0` would start one too, and two workers would run the core outside any section.
/// The wake-up counts the spare running only if nobody runs, in one step, so either the spare
/// is not woken or the returning worker sees it and retires (*keep working*).
#[test]
fn a_wake_up_racing_a_return_from_a_section_leaves_one_runner() {
    model(3, || {
        let (core, siblings, back) = running_core();
        let spare = add_worker(&core, &siblings);
        assert_eq!(
            core.hand_off(&siblings, || Recheck::Nothing),
            HandOff::NoWork
        );
        let waker = {
            let (core, siblings) = (core.clone(), siblings.clone());
            loom::thread::spawn(move || core.wake_one(&siblings, WakeFor::Work))
        };
        // `back` leaves its section and reaches its poll boundary.
        core.return_from_section(&siblings);
        let keeps_going = core.state().keep_working();
        let woke = waker.join().unwrap();
        assert!(
            !(woke && keeps_going),
            "a spare was woken while the worker back from its section kept the baton: {:?}",
            core.state()
        );
        if woke {
            assert_eq!(Parker::park(&spare), WakeFor::Work);
        }
        drop(back);
    });
}

/// The monitor's handoff racing the end of the section and the next, eager, one. Were the
/// monitor to uncount, then publish, without a claim, the worker could leave its section in
/// between without counting itself running again, then hand off eagerly from `running == 0` (an
/// inconsistent state). The claim makes the worker wait for the publish.
#[test]
fn monitor_handoff_racing_the_next_eager_section() {
    model(2, || {
        let (core, siblings, _worker) = running_core();
        add_worker(&core, &siblings);
        let word = Arc::new(SectionWord::new());
        let epoch = word.enter(false, || unreachable!());
        let seen = word.look();

        let monitor = {
            let (core, siblings, word) = (core.clone(), siblings.clone(), word.clone());
            loom::thread::spawn(move || {
                monitor_hand_off(&core, &siblings, &word, seen);
            })
        };
        // The worker: its lazy section ends, and the same poll enters an eager section
        // (`section_long`, or a learnt site), which hands the core off at entry.
        word.leave(epoch, || core.return_from_section(&siblings));
        let epoch = word.enter(true, || {
            core.hand_off(&siblings, || Recheck::Nothing);
        });
        word.leave(epoch, || core.return_from_section(&siblings));
        monitor.join().unwrap();
        let [running, siblings, _, workers] = counts(&core);
        assert_eq!(running + siblings, workers, "{:?}", core.state());
    });
}

/// A task woken from inside a lazy section while the monitor hands that section off with
/// nothing queued yet: the waker queues the task in the core's next-task slot and notifies the
/// core (as `Shared::schedule_here` does inside a section), so either the handoff sees the task
/// and wakes the spare, or the notify sees no running worker and wakes it. The section waits
/// for the task (a synchronous client waiting for a service's reply): if nobody ran it, every
/// thread blocks and loom reports a deadlock.
#[test]
fn wake_from_a_section_racing_its_handoff() {
    model(3, || {
        let (core, siblings, _blocked) = running_core();
        let spare = add_worker(&core, &siblings);
        let word = Arc::new(SectionWord::new());
        let epoch = word.enter(false, || unreachable!());

        let monitor = {
            let (core, siblings, word) = (core.clone(), siblings.clone(), word.clone());
            loom::thread::spawn(move || {
                let seen = word.look();
                monitor_hand_off(&core, &siblings, &word, seen).is_some()
            })
        };
        let done = Arc::new(Done::default());
        let spare_thread = {
            let (core, done) = (core.clone(), done.clone());
            loom::thread::spawn(move || {
                assert_eq!(Parker::park(&spare), WakeFor::Work);
                match core.lifo.pop() {
                    Ok(runnable) => {
                        runnable.run();
                        done.set();
                    }
                    Err(_) => panic!(
                        "woken with nothing in the next-task slot: {:?}",
                        core.state()
                    ),
                }
            })
        };
        // The worker, inside its section: wakes the service task, then waits for it.
        let tally = Tally::new();
        core.lifo.push(tally.task()).unwrap();
        core.notify(&siblings);
        done.wait();
        assert!(monitor.join().unwrap(), "the section was still running");
        spare_thread.join().unwrap();
        assert!(
            word.leave(epoch, || core.return_from_section(&siblings)),
            "the section was handed off"
        );
        assert_eq!(tally.polls(), 1);
        assert_eq!(counts(&core), [2, 0, 0, 2], "{:?}", core.state());
    });
}
