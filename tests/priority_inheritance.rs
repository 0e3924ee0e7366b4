//! Priority inheritance: a `High` task awaiting lower work raises it to `High` (a task's
//! `JoinHandle`, a work queue's `flush`), so the awaited work runs before the flood of `Normal`
//! tasks the `High` task was meant to go before; a `Normal` task's waits raise nothing; a
//! raised task stays `High` until it completes.
//!
//! Every test runs on one core, with detection of unannotated blocking off (on a loaded
//! machine it may hand the core to a spare while a task still queues the flood), and reads the
//! order in which tasks ran from a shared log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use baton::{JoinHandle, Priority, WorkQueue};

mod common;

use common::one_core_in_class_order as one_core;

/// `Normal` tasks of the flood.
const FLOOD: usize = 200;

/// The labels of the tasks that ran, in the order they ran.
type Log = Arc<Mutex<Vec<String>>>;

/// A queue of class `priority` (and `max_active`) on the current runtime.
fn queue(name: &str, priority: Priority, max_active: usize) -> WorkQueue {
    WorkQueue::builder(name)
        .priority(priority)
        .max_active(max_active)
        .build(&baton::Handle::current())
        .unwrap()
}

/// A task that logs `label`.
fn logged(log: &Log, label: impl Into<String>) -> impl std::future::Future<Output = ()> {
    let log = log.clone();
    let label = label.into();
    async move { log.lock().unwrap().push(label) }
}

/// Queues [`FLOOD`] `Normal` tasks that log "flood".
fn flood(log: &Log) -> Vec<JoinHandle<()>> {
    (0..FLOOD)
        .map(|_| baton::spawn(logged(log, "flood")))
        .collect()
}

/// Runs `setup` as a task on a one-core runtime (nothing else runs before it returns), then
/// waits for every handle it returned; returns the log.
fn run(setup: impl FnOnce(Log) -> Vec<JoinHandle<()>> + Send + 'static) -> Vec<String> {
    let rt = one_core();
    let log = Log::default();
    let handles = rt
        .block_on(rt.spawn({
            let log = log.clone();
            async move { setup(log) }
        }))
        .unwrap();
    for handle in handles {
        rt.block_on(handle).unwrap();
    }
    let log = log.lock().unwrap().clone();
    assert_eq!(log.iter().filter(|l| *l == "flood").count(), FLOOD);
    log
}

/// `log` with runs of one label collapsed ("flood x200"), for assertion messages.
fn summary(log: &[String]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < log.len() {
        let run = log[i..].iter().take_while(|l| **l == log[i]).count();
        out.push(if run > 1 {
            format!("{} x{run}", log[i])
        } else {
            log[i].clone()
        });
        i += run;
    }
    out.join(", ")
}

/// Spawns a `High` task that flushes `q`, then logs "flushed".
fn high_flush(log: &Log, q: WorkQueue) -> JoinHandle<()> {
    let high = queue("high", Priority::High, 1);
    let log = log.clone();
    high.spawn(async move {
        q.flush().await;
        log.lock().unwrap().push("flushed".into());
    })
}

/// Where `label` sits in `log`.
fn position(log: &[String], label: &str) -> usize {
    log.iter()
        .position(|l| l == label)
        .unwrap_or_else(|| panic!("{label} never ran: {}", summary(log)))
}

/// A `High` task awaits `target` (a task of class `class`, queued behind the flood): the
/// target runs before any of the flood, and the `High` task right after it.
fn high_awaits_a_task_behind_the_flood(class: Priority) {
    let log = run(move |log| {
        let mut handles = flood(&log);
        let lower = queue("lower", class, 1);
        let target = lower.spawn(logged(&log, "target"));
        let high = queue("high", Priority::High, 1);
        let log2 = log.clone();
        handles.push(high.spawn(async move {
            target.await.unwrap();
            log2.lock().unwrap().push("high".into());
        }));
        handles
    });
    assert_eq!(log[..2], ["target", "high"], "{}", summary(&log));
}

#[test]
fn a_high_task_awaiting_a_normal_task_runs_it_before_the_flood() {
    high_awaits_a_task_behind_the_flood(Priority::Normal);
}

#[test]
fn a_high_task_awaiting_an_idle_task_runs_it_before_the_flood() {
    high_awaits_a_task_behind_the_flood(Priority::Idle);
}

#[test]
fn inheritance_is_transitive_along_a_chain_of_awaits() {
    let log = run(|log| {
        let mut handles = flood(&log);
        // c is awaited by b, b by a, a by the `High` task; all three queued behind the flood.
        let c = baton::spawn(logged(&log, "c"));
        let log_b = log.clone();
        let b = baton::spawn(async move {
            c.await.unwrap();
            log_b.lock().unwrap().push("b".into());
        });
        let log_a = log.clone();
        let a = baton::spawn(async move {
            b.await.unwrap();
            log_a.lock().unwrap().push("a".into());
        });
        let high = queue("high", Priority::High, 1);
        let log_h = log.clone();
        handles.push(high.spawn(async move {
            a.await.unwrap();
            log_h.lock().unwrap().push("high".into());
        }));
        handles
    });
    assert_eq!(log[..4], ["c", "b", "a", "high"], "{}", summary(&log));
}

#[test]
fn a_normal_task_awaiting_raises_nothing() {
    let log = run(|log| {
        // The waiter runs first (the next-task slot) and awaits the target, queued behind the
        // flood: the target keeps its place.
        let target_slot: Arc<Mutex<Option<JoinHandle<()>>>> = Arc::default();
        let log_w = log.clone();
        let slot = target_slot.clone();
        let waiter = baton::spawn(async move {
            let target = slot.lock().unwrap().take().unwrap();
            target.await.unwrap();
            log_w.lock().unwrap().push("waiter".into());
        });
        let mut handles = flood(&log);
        *target_slot.lock().unwrap() = Some(baton::spawn(logged(&log, "target")));
        handles.push(waiter);
        handles
    });
    assert_eq!(position(&log, "target"), FLOOD, "{}", summary(&log));
    assert_eq!(position(&log, "waiter"), FLOOD + 1, "{}", summary(&log));
}

#[test]
fn a_raised_task_stays_high_after_its_awaiter_gave_up() {
    let rt = one_core();
    let log = Log::default();
    let stop = Arc::new(AtomicBool::new(false));
    // A long-lived task that yields until told to stop, then once more, then logs: each yield
    // queues it again in its class's queue, so its last yield (after the flood below was
    // queued) puts a `Normal` task behind the whole flood.
    let target = rt.spawn({
        let (log, stop) = (log.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                baton::yield_now().await;
            }
            baton::yield_now().await;
            log.lock().unwrap().push("target".into());
        }
    });
    // A `High` task polls the target's handle once and gives up: the target is raised, and
    // stays raised although nobody waits for it any more.
    let high = WorkQueue::builder("high")
        .priority(Priority::High)
        .build(&rt.handle())
        .unwrap();
    rt.block_on(high.spawn(async move {
        let mut target = target;
        assert!(futures::poll!(&mut target).is_pending());
    }))
    .unwrap();
    // Then a flood is queued and the target told to stop.
    let handles = rt
        .block_on(rt.spawn({
            let (log, stop) = (log.clone(), stop.clone());
            async move {
                let handles = flood(&log);
                stop.store(true, Ordering::Relaxed);
                handles
            }
        }))
        .unwrap();
    for handle in handles {
        rt.block_on(handle).unwrap();
    }
    // The target's handle is gone: wait for its log line (a hang guard, not a timing).
    for _ in 0..1_000_000 {
        if log.lock().unwrap().len() > FLOOD {
            break;
        }
        rt.block_on(baton::yield_now());
    }
    let log = log.lock().unwrap().clone();
    // Its last yield queued it as `High`, ahead of the flood: it ran first, or second if the
    // core's `High` streak had reached its bound (one `Normal` poll in every 17).
    assert!(position(&log, "target") <= 1, "{}", summary(&log));
}

#[test]
fn a_flush_awaited_by_a_high_task_raises_the_backlog() {
    const BACKLOG: usize = 10;
    let log = run(|log| {
        // One task at a time: the first is admitted at once, the others wait in the backlog.
        let q = queue("backlog", Priority::Normal, 1);
        let mut handles: Vec<_> = (0..BACKLOG)
            .map(|i| q.spawn(logged(&log, format!("q{i}"))))
            .collect();
        handles.extend(flood(&log));
        handles.push(high_flush(&log, q));
        handles
    });
    let flushed = position(&log, "flushed");
    assert_eq!(
        flushed,
        BACKLOG,
        "no flood task before the flush: {}",
        summary(&log)
    );
    for (i, label) in log[..BACKLOG].iter().enumerate() {
        assert_eq!(*label, format!("q{i}"), "in order: {}", summary(&log));
    }
}

#[test]
fn a_held_task_a_high_task_awaits_is_admitted_first() {
    let log = run(|log| {
        let q = queue("backlog", Priority::Normal, 1);
        let mut held: Vec<_> = (0..5)
            .map(|i| q.spawn(logged(&log, format!("q{i}"))))
            .collect();
        let mut handles = flood(&log);
        let q3 = held.remove(3);
        handles.extend(held);
        let high = queue("high", Priority::High, 1);
        let log_h = log.clone();
        handles.push(high.spawn(async move {
            q3.await.unwrap();
            log_h.lock().unwrap().push("high".into());
        }));
        handles
    });
    // q0 was admitted at its spawn, into the core's next-task slot; q3 passes q1 and q2.
    assert_eq!(log[..3], ["q0", "q3", "high"], "{}", summary(&log));
}

/// A `High` task flushes a queue of class `class` whose tasks (`max_active` of them, all
/// admitted at their spawn) were queued behind the flood: the flush raises them, so they run
/// before the flood, and the flush completes before it too.
fn high_flush_of_admitted_tasks(class: Priority) {
    const TASKS: usize = 4;
    let log = run(move |log| {
        let mut handles = flood(&log);
        let q = queue("admitted", class, TASKS);
        handles.extend((0..TASKS).map(|i| q.spawn(logged(&log, format!("q{i}")))));
        handles.push(high_flush(&log, q));
        handles
    });
    let mut first: Vec<_> = log[..TASKS].to_vec();
    first.sort();
    let expected: Vec<_> = (0..TASKS).map(|i| format!("q{i}")).collect();
    assert_eq!(first, expected, "{class:?}: {}", summary(&log));
    assert_eq!(
        position(&log, "flushed"),
        TASKS,
        "{class:?}: {}",
        summary(&log)
    );
}

#[test]
fn a_high_flush_raises_the_tasks_already_admitted() {
    for class in [Priority::Normal, Priority::Idle] {
        high_flush_of_admitted_tasks(class);
    }
}

#[test]
fn a_high_flush_queues_the_next_wake_up_of_a_waiting_task_as_high() {
    let rt = one_core();
    let log = Log::default();
    let q = WorkQueue::builder("waiting").build(&rt.handle()).unwrap();
    // The queue's task starts and waits for a message; so does a plain task.
    let (tx, rx) = async_channel::bounded::<()>(1);
    let (plain_tx, plain_rx) = async_channel::bounded::<()>(1);
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let waiting = |label: &'static str, rx: async_channel::Receiver<()>| {
        let (log, started) = (log.clone(), started.clone());
        async move {
            started.fetch_add(1, Ordering::Relaxed);
            rx.recv().await.unwrap();
            log.lock().unwrap().push(label.into());
        }
    };
    let task = q.spawn(waiting("q", rx));
    let plain = rt.spawn(waiting("plain", plain_rx));
    // A hang guard, not a timing: both run at the core's next turns.
    for _ in 0..1_000_000 {
        if started.load(Ordering::Relaxed) == 2 {
            break;
        }
        rt.block_on(baton::yield_now());
    }
    assert_eq!(started.load(Ordering::Relaxed), 2);
    // A task that wakes the queue's task, then the plain one: a `Normal` task woken last takes
    // the core's next-task slot, so the queue's task waits behind the flood, unless it was
    // raised and goes to the `High` queue. It runs from the slot, after the `High` task that
    // flushes the queue (and raises its waiting task) polled once.
    let handles = rt
        .block_on(rt.spawn({
            let log = log.clone();
            async move {
                let mut handles = vec![baton::spawn(async move {
                    tx.try_send(()).unwrap();
                    plain_tx.try_send(()).unwrap();
                })];
                handles.extend(flood(&log));
                handles.push(high_flush(&log, q));
                handles
            }
        }))
        .unwrap();
    for handle in handles.into_iter().chain([task, plain]) {
        rt.block_on(handle).unwrap();
    }
    let log = log.lock().unwrap().clone();
    assert_eq!(log[..3], ["q", "flushed", "plain"], "{}", summary(&log));
}

/// An ordered queue of class `class` with `jobs` jobs queued behind the flood, flushed by a
/// `High` task, and `later` jobs spawned after the flush: returns the log.
fn high_flush_of_an_ordered_queue(class: Priority, jobs: usize, later: usize) -> Vec<String> {
    run(move |log| {
        let mut handles = flood(&log);
        let q = WorkQueue::builder("ordered")
            .ordered()
            .priority(class)
            .build(&baton::Handle::current())
            .unwrap();
        handles.extend((0..jobs).map(|i| q.spawn(logged(&log, format!("j{i}")))));
        let high = queue("high", Priority::High, 1);
        let log_h = log.clone();
        let flush = q.flush();
        handles.extend((jobs..jobs + later).map(|i| q.spawn(logged(&log, format!("j{i}")))));
        handles.push(high.spawn(async move {
            flush.await;
            log_h.lock().unwrap().push("flushed".into());
        }));
        handles
    })
}

#[test]
fn a_high_flush_raises_an_ordered_queues_runner() {
    for class in [Priority::Normal, Priority::Idle] {
        let log = high_flush_of_an_ordered_queue(class, 5, 0);
        let expected: Vec<_> = (0..5)
            .map(|i| format!("j{i}"))
            .chain(["flushed".to_owned()])
            .collect();
        assert_eq!(log[..6], expected, "{class:?}: {}", summary(&log));
    }
}

#[test]
fn a_raised_runner_goes_back_to_its_class_after_the_flushed_jobs() {
    let log = high_flush_of_an_ordered_queue(Priority::Normal, 3, 3);
    assert_eq!(log[..4], ["j0", "j1", "j2", "flushed"], "{}", summary(&log));
    // The jobs spawned after the flush call run in the queue's class again: after the flood,
    // still in order.
    assert_eq!(
        log[4..4 + FLOOD].iter().filter(|l| *l == "flood").count(),
        FLOOD
    );
    assert_eq!(log[4 + FLOOD..], ["j3", "j4", "j5"], "{}", summary(&log));
}

#[test]
fn a_raised_queue_keeps_its_order_and_max_active() {
    const TASKS: usize = 4;
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // A task that logs its start, yields twice (so the tasks of a queue with room overlap),
    // and logs its end, counting how many of its queue's tasks run at once.
    let job = {
        let (in_flight, most) = (in_flight.clone(), most.clone());
        move |log: &Log, label: String| {
            let (log, in_flight, most) = (log.clone(), in_flight.clone(), most.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                most.fetch_max(now, Ordering::Relaxed);
                log.lock().unwrap().push(format!("{label} start"));
                baton::yield_now().await;
                baton::yield_now().await;
                log.lock().unwrap().push(format!("{label} end"));
                in_flight.fetch_sub(1, Ordering::Relaxed);
            }
        }
    };
    // An ordered queue: one job at a time, in submission order, ahead of the flood.
    let ordered_job = job.clone();
    let log = run(move |log| {
        let mut handles = flood(&log);
        let q = WorkQueue::builder("ordered")
            .ordered()
            .build(&baton::Handle::current())
            .unwrap();
        handles.extend((0..TASKS).map(|i| q.spawn(ordered_job(&log, format!("j{i}")))));
        let high = queue("high", Priority::High, 1);
        handles.push(high.spawn(async move { q.flush().await }));
        handles
    });
    let expected: Vec<_> = (0..TASKS)
        .flat_map(|i| [format!("j{i} start"), format!("j{i} end")])
        .collect();
    assert_eq!(log[..2 * TASKS], expected, "{}", summary(&log));
    assert_eq!(most.load(Ordering::Relaxed), 1);
    // A queue of two at a time, half of its tasks in one key's lane: never more than two in
    // flight, the key's tasks one after the other, all ahead of the flood.
    most.store(0, Ordering::Relaxed);
    let log = run(move |log| {
        let mut handles = flood(&log);
        let q = queue("two", Priority::Normal, 2);
        handles.extend((0..TASKS).map(|i| {
            let task = job(&log, format!("t{i}"));
            if i % 2 == 0 {
                q.spawn_keyed("even", task)
            } else {
                q.spawn(task)
            }
        }));
        let high = queue("high", Priority::High, 1);
        handles.push(high.spawn(async move { q.flush().await }));
        handles
    });
    assert!(
        log[..2 * TASKS].iter().all(|l| l.starts_with('t')),
        "{}",
        summary(&log)
    );
    assert_eq!(most.load(Ordering::Relaxed), 2, "{}", summary(&log));
    let even: Vec<_> = log
        .iter()
        .filter(|l| l.starts_with("t0 ") || l.starts_with("t2 "))
        .cloned()
        .collect();
    assert_eq!(
        even,
        ["t0 start", "t0 end", "t2 start", "t2 end"],
        "the key's tasks one at a time, in order: {}",
        summary(&log)
    );
}
