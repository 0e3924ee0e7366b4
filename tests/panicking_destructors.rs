//! A task whose future panics while it is dropped never aborts the process: on abort, after its
//! own panic, on completion, at shutdown, and in work queues. The handle reports the panic;
//! the runtime keeps working.

mod watchdog;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Panics with "drop boom" when dropped, after counting the drop and noting whether the thread
/// was already unwinding.
struct PanicOnDrop {
    drops: Arc<AtomicUsize>,
    unwinding: Arc<AtomicBool>,
}

impl PanicOnDrop {
    fn new(drops: &Arc<AtomicUsize>) -> PanicOnDrop {
        PanicOnDrop {
            drops: drops.clone(),
            unwinding: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.unwinding
            .store(std::thread::panicking(), Ordering::SeqCst);
        self.drops.fetch_add(1, Ordering::SeqCst);
        panic!("drop boom");
    }
}

/// A task that waits forever holding a `PanicOnDrop`.
async fn pending_with(guard: PanicOnDrop) {
    let _guard = guard;
    std::future::pending::<()>().await;
}

/// The message of a task's panic.
fn message(err: baton::JoinError) -> String {
    assert!(err.is_panic(), "expected a panic, got {err}");
    let payload = err.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .expect("a string payload")
}

/// Checks that `rt` still runs tasks on every core.
fn still_works(rt: &baton::Runtime) {
    for core in 0..rt.handle().cores() {
        let task = rt.handle().spawn_on(core, async move { core * 2 });
        assert_eq!(rt.block_on(task).unwrap(), core * 2);
    }
}

#[test]
fn abort_reports_the_panic_of_the_futures_drop() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let task = rt.spawn(pending_with(PanicOnDrop::new(&drops)));
    task.abort();
    let err = rt.block_on(task).unwrap_err();
    assert!(!err.is_cancelled());
    assert_eq!(message(err), "drop boom");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    still_works(&rt);
}

/// Panics in its poll with "poll boom", then in its drop.
///
/// A hand-written future: an `async` block would drop the locals it keeps across an `.await`
/// while its own panic unwinds, which aborts the process before any runtime can step in.
struct PanicsTwice {
    _guard: PanicOnDrop,
}

impl Future for PanicsTwice {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        panic!("poll boom")
    }
}

#[test]
fn a_future_that_panicked_is_dropped_after_its_panic_was_caught() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = PanicOnDrop::new(&drops);
    let unwinding = guard.unwinding.clone();
    let task = rt.spawn(PanicsTwice { _guard: guard });
    // The first panic is reported; the drop's panic after it is discarded.
    assert_eq!(message(rt.block_on(task).unwrap_err()), "poll boom");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(
        !unwinding.load(Ordering::SeqCst),
        "the future is dropped after the panic was caught, not while unwinding"
    );
    still_works(&rt);
}

/// Ready at once; panics when dropped.
struct ReadyThenPanicOnDrop {
    _guard: PanicOnDrop,
}

impl Future for ReadyThenPanicOnDrop {
    type Output = u8;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
        Poll::Ready(5)
    }
}

#[test]
fn a_completed_future_whose_drop_panics_reports_the_panic() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let task = rt.spawn(ReadyThenPanicOnDrop {
        _guard: PanicOnDrop::new(&drops),
    });
    assert_eq!(message(rt.block_on(task).unwrap_err()), "drop boom");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    still_works(&rt);
}

#[test]
fn shutdown_reports_the_panics_of_pending_tasks_drops() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tasks, detached_drops) = watchdog::finishes("dropping the runtime", {
        let drops = drops.clone();
        move || {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let tasks: Vec<_> = (0..10)
                .map(|_| rt.spawn(pending_with(PanicOnDrop::new(&drops))))
                .collect();
            let detached = Arc::new(AtomicUsize::new(0));
            for _ in 0..10 {
                drop(rt.spawn(pending_with(PanicOnDrop::new(&detached))));
            }
            drop(rt);
            (tasks, detached)
        }
    });
    assert_eq!(drops.load(Ordering::SeqCst), 10);
    assert_eq!(detached_drops.load(Ordering::SeqCst), 10);
    for task in tasks {
        assert_eq!(
            message(futures::executor::block_on(task).unwrap_err()),
            "drop boom"
        );
    }
}

#[test]
fn work_queue_tasks_whose_drops_panic() {
    let drops = Arc::new(AtomicUsize::new(0));
    let handles = watchdog::finishes("work queues with panicking drops", {
        let drops = drops.clone();
        move || {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let limited = baton::WorkQueue::builder("limited")
                .max_active(1)
                .build(&rt.handle())
                .unwrap();
            let ordered = baton::WorkQueue::builder("ordered")
                .ordered()
                .build(&rt.handle())
                .unwrap();
            let mut handles = Vec::new();
            for q in [&limited, &ordered] {
                // In flight, aborted: reports the drop's panic; the queue goes on.
                let first = q.spawn(pending_with(PanicOnDrop::new(&drops)));
                let after = q.spawn(async { 7 });
                first.abort();
                assert_eq!(message(rt.block_on(first).unwrap_err()), "drop boom");
                assert_eq!(rt.block_on(after).unwrap(), 7);
                // Panics in its poll, then in its drop: the poll's panic is reported.
                let both = q.spawn(PanicsTwice {
                    _guard: PanicOnDrop::new(&drops),
                });
                assert_eq!(message(rt.block_on(both).unwrap_err()), "poll boom");
                // One in flight and one held back when the runtime drops.
                handles.push(q.spawn(pending_with(PanicOnDrop::new(&drops))));
                handles.push(q.spawn(pending_with(PanicOnDrop::new(&drops))));
            }
            still_works(&rt);
            drop(rt);
            handles
        }
    });
    assert_eq!(drops.load(Ordering::SeqCst), 8);
    for handle in handles {
        let err = futures::executor::block_on(handle).unwrap_err();
        // A held task is cancelled before its future ever ran; either way nothing aborts.
        assert!(err.is_panic() || err.is_cancelled(), "{err}");
    }
}

/// The value a task returns may panic when dropped too: a detached task's value is dropped by
/// the runtime when the task completes, a kept handle's when the handle is dropped unawaited,
/// and a work queue task's the same way. None of these aborts, and the runtime keeps working.
#[test]
fn a_task_value_whose_drop_panics_never_aborts() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let queue = baton::WorkQueue::builder("values")
        .build(&rt.handle())
        .unwrap();
    let handles: Vec<_> = rt.block_on(async {
        let mut kept = Vec::new();
        for i in 0..20 {
            let value = PanicOnDrop::new(&drops);
            let task = if i % 2 == 0 {
                baton::spawn(async move { value })
            } else {
                queue.spawn(async move { value })
            };
            if i % 4 < 2 {
                drop(task); // detached: the runtime drops the value
            } else {
                kept.push(task);
            }
        }
        kept
    });
    // Wait for the detached ones to finish, then drop the kept handles unawaited.
    wait_until(|| drops.load(Ordering::SeqCst) >= 10);
    for handle in &handles {
        wait_until(|| handle.is_finished());
    }
    drop(handles);
    assert_eq!(drops.load(Ordering::SeqCst), 20);
    still_works(&rt);
}

/// Waits until `done` holds, failing the test after the watchdog's bound.
fn wait_until(done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < watchdog::LIMIT,
            "the tasks never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
