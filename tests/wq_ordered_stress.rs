//! An ordered queue runs its tasks one at a time, in submission order, across all cores, even
//! when tasks yield or block in sections (20,000 tasks).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Tasks submitted.
const TASKS: usize = 20_000;

/// Marks "a task of the queue is running" from its first poll to its end, panicking if another
/// task of the queue is inside already.
struct Turn<'a>(&'a AtomicBool);

impl<'a> Turn<'a> {
    fn take(flag: &'a AtomicBool) -> Turn<'a> {
        assert!(
            !flag.swap(true, Ordering::SeqCst),
            "two tasks of an ordered queue ran at once"
        );
        Turn(flag)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

#[test]
fn ordered_queue_runs_one_task_at_a_time_in_order() {
    let rt = baton::Runtime::builder().cores(4).build().unwrap();
    let q = baton::WorkQueue::builder("ordered-stress")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let running = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let mut rng = 0x2545_f491_u32;
    let mut random = move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng
    };
    let mut handles = Vec::with_capacity(TASKS);
    for i in 0..TASKS {
        let (running, next) = (running.clone(), next.clone());
        let yields = random() % 4;
        let blocks = random() % 200 == 0;
        handles.push(q.spawn(async move {
            let turn = Turn::take(&running);
            assert_eq!(next.load(Ordering::SeqCst), i, "task {i} ran out of order");
            for _ in 0..yields {
                baton::yield_now().await;
            }
            if blocks {
                baton::blocking::section(|| std::thread::sleep(Duration::from_micros(300)));
            }
            next.store(i + 1, Ordering::SeqCst);
            drop(turn);
            i
        }));
    }
    // Meanwhile, unrelated tasks keep every core busy, so the queue's tasks move between cores.
    let noise: Vec<_> = (0..64)
        .map(|_| {
            rt.spawn(async {
                for _ in 0..200 {
                    baton::yield_now().await;
                }
            })
        })
        .collect();
    rt.block_on(async {
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), i);
        }
        for h in noise {
            h.await.unwrap();
        }
    });
    assert_eq!(next.load(Ordering::SeqCst), TASKS);
    let stats = q.stats();
    assert_eq!(
        (stats.spawned, stats.started, stats.completed),
        (TASKS as u64, TASKS as u64, TASKS as u64)
    );
    assert_eq!((stats.in_flight, stats.waiting), (0, 0));
}

#[test]
fn ordered_queue_keeps_the_turn_of_a_blocked_task_while_the_core_works_on() {
    // One core: while the ordered task blocks in a section, the core's other work goes on
    // through the handoff, and the queue's next task still waits its turn.
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("ordered-blocked")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let second_started = Arc::new(AtomicBool::new(false));
    let other_ran = Arc::new(AtomicBool::new(false));
    let first = q.spawn(async move {
        baton::blocking::section(|| released.recv().unwrap());
    });
    let second = {
        let second_started = second_started.clone();
        q.spawn(async move { second_started.store(true, Ordering::SeqCst) })
    };
    let other = {
        let other_ran = other_ran.clone();
        rt.spawn(async move { other_ran.store(true, Ordering::SeqCst) })
    };
    rt.block_on(other).unwrap();
    assert!(other_ran.load(Ordering::SeqCst));
    assert!(
        !second_started.load(Ordering::SeqCst),
        "the next ordered task started while the first was blocked"
    );
    release.send(()).unwrap();
    rt.block_on(async {
        first.await.unwrap();
        second.await.unwrap();
    });
    assert!(second_started.load(Ordering::SeqCst));
    assert!(q.stats().handoffs >= 1, "{:?}", q.stats());
}

#[test]
fn ordered_queue_moves_on_after_a_panic_or_an_abort() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("ordered-failures")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let (gate, opened) = std::sync::mpsc::channel::<()>();
    let first = q.spawn(async move { opened.recv().unwrap() });
    let pending = q.spawn(std::future::pending::<()>());
    let panics = q.spawn(async { panic!("boom") });
    let last = q.spawn(async { 7 });
    pending.abort();
    gate.send(()).unwrap();
    rt.block_on(async {
        first.await.unwrap();
        assert!(pending.await.unwrap_err().is_cancelled());
        assert!(panics.await.unwrap_err().is_panic());
        assert_eq!(last.await.unwrap(), 7);
    });
    assert_eq!(q.stats().completed, 4);
}
