//! `max_active`: never more of a queue's tasks in flight than allowed, the rest start in FIFO
//! order as slots free up.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn max_active_is_never_exceeded() {
    const LIMIT: usize = 3;
    const TASKS: usize = 3_000;
    let rt = baton::Runtime::builder().cores(4).build().unwrap();
    let q = baton::WorkQueue::builder("limited")
        .max_active(LIMIT)
        .build(&rt.handle())
        .unwrap();
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let (inside, peak) = (inside.clone(), peak.clone());
            q.spawn(async move {
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                assert!(now <= LIMIT, "{now} tasks in flight, max_active {LIMIT}");
                for _ in 0..i % 3 {
                    baton::yield_now().await;
                }
                if i % 100 == 0 {
                    baton::blocking::section(|| std::thread::sleep(Duration::from_micros(200)));
                }
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert!(peak.load(Ordering::SeqCst) <= LIMIT);
    assert_eq!(q.stats().completed, TASKS as u64);
}

#[test]
fn waiting_tasks_start_in_fifo_order() {
    // max_active 1 without `ordered`: the same FIFO.
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("fifo")
        .max_active(1)
        .build(&rt.handle())
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let log = log.clone();
            q.spawn(async move { log.lock().unwrap().push(i) })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(*log.lock().unwrap(), (0..200).collect::<Vec<_>>());
}

#[test]
fn waiting_tasks_are_not_polled() {
    // A task waiting for a slot costs no polls: only the running one is polled.
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("idle-wait")
        .max_active(1)
        .build(&rt.handle())
        .unwrap();
    let polls = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = async_channel::bounded::<()>(1);
    let first = q.spawn(async move { rx.recv().await.unwrap() });
    let counted: Vec<_> = (0..10)
        .map(|_| {
            let polls = polls.clone();
            q.spawn(std::future::poll_fn(move |_| {
                polls.fetch_add(1, Ordering::SeqCst);
                std::task::Poll::Ready(())
            }))
        })
        .collect();
    // Give the runtime time to do anything it would do; the waiting tasks stay untouched.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(polls.load(Ordering::SeqCst), 0);
    assert_eq!(q.stats().waiting, 10);
    assert_eq!(q.stats().in_flight, 1);
    rt.block_on(async {
        tx.send(()).await.unwrap();
        first.await.unwrap();
        for h in counted {
            h.await.unwrap();
        }
    });
    assert_eq!(polls.load(Ordering::SeqCst), 10);
}

#[test]
fn a_task_aborted_while_waiting_for_its_turn_is_never_polled_and_passes_the_turn_on() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("abort-waiting")
        .max_active(1)
        .build(&rt.handle())
        .unwrap();
    let (release, released) = async_channel::bounded::<()>(1);
    let polled = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let first = q.spawn(async move { released.recv().await.unwrap() });
        let seen = polled.clone();
        let waiting = q.spawn(async move { seen.store(true, Ordering::SeqCst) });
        let third = q.spawn(async { 3 });
        waiting.abort();
        release.send(()).await.unwrap();
        first.await.unwrap();
        assert!(waiting.await.unwrap_err().is_cancelled());
        assert_eq!(third.await.unwrap(), 3, "the turn passed on");
        q.flush().await;
    });
    assert!(!polled.load(Ordering::SeqCst), "polled after its abort");
}
