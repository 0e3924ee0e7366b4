//! Adversarial tests of work queues around shutdown, panics, aborts and blocking: every flush,
//! drain and handle resolves, nothing hangs or aborts, and the queue's counts add up.

mod watchdog;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// The three policies that hold tasks back: one at a time, strict order, and per key.
fn queues(rt: &baton::Runtime) -> Vec<baton::WorkQueue> {
    vec![
        baton::WorkQueue::builder("one")
            .max_active(1)
            .build(&rt.handle())
            .unwrap(),
        baton::WorkQueue::builder("ordered")
            .ordered()
            .build(&rt.handle())
            .unwrap(),
        baton::WorkQueue::builder("two")
            .max_active(2)
            .build(&rt.handle())
            .unwrap(),
    ]
}

/// Checks that nothing of `q` is left in flight or waiting, and that every spawn is counted
/// as completed or cancelled.
fn settled(q: &baton::WorkQueue) {
    let stats = q.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.waiting, 0, "{stats:?}");
    assert_eq!(
        stats.spawned,
        stats.completed + stats.cancelled,
        "{stats:?}"
    );
}

/// A task that tells `started` it runs, then waits for ever.
async fn blocker(started: mpsc::Sender<()>) {
    started.send(()).unwrap();
    std::future::pending::<()>().await;
}

/// Flushes and drains waited for on plain threads (no runtime), made while the queues hold a
/// task in flight, tasks back and delayed tasks, all complete once the runtime is dropped:
/// shutdown ends every task they wait for.
#[test]
fn flushes_and_drains_on_plain_threads_end_with_the_runtime() {
    watchdog::finishes("flushes and drains across a runtime drop", || {
        for _ in 0..10 {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let qs = queues(&rt);
            let mut waiters = Vec::new();
            let mut handles = Vec::new();
            for q in &qs {
                let (started_tx, started_rx) = mpsc::channel();
                handles.push(q.spawn(blocker(started_tx)));
                started_rx.recv().unwrap();
                for _ in 0..20 {
                    handles.push(q.spawn(baton::yield_now()));
                }
                handles.push(q.spawn_after(Duration::from_secs(3600), async {}));
                handles.push(q.spawn_after(Duration::ZERO, async {}));
                let flush = q.flush();
                let drain = q.drain();
                waiters.push(std::thread::spawn(move || {
                    futures::executor::block_on(flush)
                }));
                waiters.push(std::thread::spawn(move || {
                    futures::executor::block_on(drain)
                }));
            }
            drop(rt);
            for waiter in waiters {
                waiter.join().unwrap();
            }
            for handle in handles {
                // Ran before the drop, or cancelled by it.
                match futures::executor::block_on(handle) {
                    Ok(_) => {}
                    Err(err) => assert!(err.is_cancelled(), "{err}"),
                }
            }
            for q in &qs {
                settled(q);
                assert!(q.try_spawn(async {}).unwrap_err().is_shutdown());
            }
        }
    });
}

/// Delayed tasks whose timers fire while the runtime shuts down: each joins its queue before
/// shutdown reaches it, or is dropped as still delayed; none is lost or counted twice.
#[test]
fn delayed_tasks_due_during_shutdown() {
    watchdog::finishes("delayed tasks due during shutdown", || {
        for round in 0..30u64 {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let qs = queues(&rt);
            let ran = Arc::new(AtomicUsize::new(0));
            let mut handles = Vec::new();
            for q in &qs {
                for i in 0..50u64 {
                    let ran = ran.clone();
                    let delay = Duration::from_micros((i * 37 + round * 11) % 400);
                    handles.push(q.spawn_after(delay, async move {
                        baton::yield_now().await;
                        ran.fetch_add(1, Ordering::SeqCst);
                    }));
                }
            }
            // Some become due before the drop, some during it, some never.
            std::thread::sleep(Duration::from_micros(200));
            drop(rt);
            let mut completed = 0;
            for handle in handles {
                match futures::executor::block_on(handle) {
                    Ok(()) => completed += 1,
                    Err(err) => assert!(err.is_cancelled(), "{err}"),
                }
            }
            assert_eq!(completed, ran.load(Ordering::SeqCst));
            for q in &qs {
                settled(q);
            }
        }
    });
}

/// Spawns racing the runtime's drop from other threads: every handle resolves, and every
/// accepted task is counted as completed or cancelled.
#[test]
fn spawns_racing_the_runtime_drop() {
    watchdog::finishes("spawns racing a runtime drop", || {
        for _ in 0..60 {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let qs = queues(&rt);
            let go = Arc::new(std::sync::Barrier::new(qs.len() + 1));
            let spawners: Vec<_> = qs
                .iter()
                .cloned()
                .map(|q| {
                    let go = go.clone();
                    std::thread::spawn(move || {
                        go.wait();
                        let mut handles = Vec::new();
                        for i in 0..2_000u32 {
                            handles.push(match i % 3 {
                                0 => q.spawn(async move { i }),
                                1 => q.spawn_keyed(i % 7, async move { i }),
                                _ => q.spawn_after(Duration::from_micros(u64::from(i % 50)), {
                                    async move { i }
                                }),
                            });
                        }
                        handles
                    })
                })
                .collect();
            go.wait();
            drop(rt);
            for spawner in spawners {
                for handle in spawner.join().unwrap() {
                    if let Err(err) = futures::executor::block_on(handle) {
                        assert!(err.is_cancelled(), "{err}");
                    }
                }
            }
            for q in &qs {
                settled(q);
            }
        }
    });
}

/// A job drops the last handle of its own queue (and spawns a follow-up on it first): the
/// follow-up still runs, the queue is retired once its tasks are gone, and the runtime goes
/// on.
#[test]
fn a_job_drops_the_last_handle_of_its_queue() {
    watchdog::finishes("jobs dropping their own queue", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        for builder in [
            baton::WorkQueue::builder("one").max_active(1),
            baton::WorkQueue::builder("ordered").ordered(),
            baton::WorkQueue::builder("rescued").rescuer(),
            baton::WorkQueue::builder("ordered-rescued")
                .ordered()
                .rescuer(),
        ] {
            let q = builder.build(&rt.handle()).unwrap();
            let (tx, rx) = mpsc::channel();
            let slot = Arc::new(Mutex::new(Some(q.clone())));
            let job = {
                let slot = slot.clone();
                async move {
                    let q = slot.lock().unwrap().take().unwrap();
                    let follow_up = q.spawn(async move { tx.send(7).unwrap() });
                    drop(q);
                    // In a tuple: the job's value is the handle, not the follow-up's value.
                    (follow_up,)
                }
            };
            let first = q.spawn(job);
            drop(q);
            let (follow_up,) = rt.block_on(first).unwrap();
            rt.block_on(follow_up).unwrap();
            assert_eq!(rx.recv().unwrap(), 7);
        }
        // Every queue is gone: the runtime only counts them as retired.
        for _ in 0..watchdog::LIMIT.as_millis() {
            let stats = rt.stats();
            if stats
                .queues
                .iter()
                .all(|q| q.name == baton::QueueStats::RETIRED)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let stats = rt.stats();
        let live: Vec<_> = stats
            .queues
            .iter()
            .filter(|q| q.name != baton::QueueStats::RETIRED)
            .map(|q| &q.name)
            .collect();
        assert!(live.is_empty(), "queues still live: {live:?}");
        assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
    });
}

/// A queue whose last handle is dropped while it holds tasks back: they still run.
#[test]
fn dropping_every_handle_keeps_held_tasks() {
    watchdog::finishes("held tasks of a dropped queue", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let (release_tx, release_rx) = async_channel::bounded::<()>(1);
        let mut handles = Vec::new();
        for q in queues(&rt) {
            let release_rx = release_rx.clone();
            handles.push(q.spawn(async move {
                let _ = release_rx.recv().await;
                0
            }));
            for i in 1..50 {
                handles.push(q.spawn_keyed(i % 3, async move { i }));
            }
            handles.push(q.spawn_after(Duration::from_millis(1), async { 50 }));
        }
        drop(release_tx);
        rt.block_on(async {
            for handle in handles {
                handle.await.unwrap();
            }
        });
    });
}

/// A running job aborted while it blocks in a section: it ends at its next poll, its handle
/// reports it, the next job starts, and a flush made meanwhile completes.
#[test]
fn aborting_a_job_blocked_in_a_section() {
    watchdog::finishes("aborting a job in a section", || {
        let rt = baton::Runtime::builder().cores(1).build().unwrap();
        for q in queues(&rt) {
            let (in_section_tx, in_section_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let job = q.spawn(async move {
                baton::blocking::section(|| {
                    in_section_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                });
                baton::yield_now().await;
                1
            });
            let next = q.spawn(async { 2 });
            in_section_rx.recv().unwrap();
            let flush = q.flush();
            job.abort();
            release_tx.send(()).unwrap();
            assert!(rt.block_on(job).unwrap_err().is_cancelled());
            assert_eq!(rt.block_on(next).unwrap(), 2);
            rt.block_on(flush);
            settled(&q);
        }
    });
}

/// Jobs that panic, in their poll or in their drop, and whose outputs panic when dropped: the
/// queue goes on with the next, in order, and flush and drain complete.
#[test]
fn panicking_jobs_keep_the_queue_going() {
    #[derive(Debug)]
    struct Boom;
    impl Drop for Boom {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    watchdog::finishes("panicking jobs", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        for q in queues(&rt) {
            let order = Arc::new(Mutex::new(Vec::new()));
            let mut handles = Vec::new();
            for i in 0..40usize {
                let order = order.clone();
                handles.push(q.spawn(async move {
                    order.lock().unwrap().push(i);
                    match i % 4 {
                        0 => panic!("poll boom"),
                        1 => {
                            let guard = Boom;
                            baton::yield_now().await;
                            drop(guard);
                            None
                        }
                        2 => Some(Boom),
                        _ => None,
                    }
                }));
            }
            rt.block_on(q.flush());
            rt.block_on(q.drain());
            for (i, handle) in handles.into_iter().enumerate() {
                let result = rt.block_on(handle);
                match i % 4 {
                    0 | 1 => assert!(result.unwrap_err().is_panic(), "task {i}"),
                    2 => std::mem::forget(result.unwrap()),
                    _ => assert!(result.unwrap().is_none()),
                }
            }
            let order = order.lock().unwrap();
            assert_eq!(order.len(), 40);
            if q.is_ordered() || q.max_active() == 1 {
                assert_eq!(*order, (0..40).collect::<Vec<_>>());
            }
            settled(&q);
        }
    });
}

/// A flush waited for inside a blocking section of a task on a one-core runtime: the section
/// hands the core over, so the queue's tasks run and the flush completes.
#[test]
fn flush_inside_a_blocking_section() {
    watchdog::finishes("a flush in a section", || {
        let rt = baton::Runtime::builder().cores(1).build().unwrap();
        for q in queues(&rt) {
            let ran = Arc::new(AtomicUsize::new(0));
            let waiter = {
                let (q, ran) = (q.clone(), ran.clone());
                rt.spawn(async move {
                    for _ in 0..10 {
                        let ran = ran.clone();
                        drop(q.spawn(async move {
                            baton::yield_now().await;
                            ran.fetch_add(1, Ordering::SeqCst);
                        }));
                    }
                    let flush = q.flush();
                    baton::blocking::section(|| futures::executor::block_on(flush));
                    ran.load(Ordering::SeqCst)
                })
            };
            assert_eq!(rt.block_on(waiter).unwrap(), 10);
            // `Handle::block_on` in a section, too.
            let handle = rt.handle();
            let waiter = {
                let q = q.clone();
                rt.spawn(async move {
                    drop(q.spawn(baton::yield_now()));
                    baton::blocking::section(|| handle.block_on(q.flush()));
                })
            };
            rt.block_on(waiter).unwrap();
            settled(&q);
        }
    });
}

/// Unparks the thread that made it.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread, parking it while it waits. Unlike
/// `futures::executor::block_on`, it may run inside another call of itself (a destructor that
/// blocks, run by a destructor that blocks).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Blocks on a flush of its queue when dropped, or on a drain if its flag is set.
struct FlushOnDrop(Option<baton::WorkQueue>, bool);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let q = self.0.take().unwrap();
        if self.1 {
            block_on(q.drain());
        } else {
            block_on(q.flush());
        }
    }
}

/// Guards whose drop blocks on a flush or a drain of a queue, held by tasks that shutdown
/// cancels: the destructor runs on the thread that shuts the runtime down, while the queue's
/// tasks it waits for are still to be cancelled. Shutdown must not hang.
#[test]
fn flush_in_a_destructor_run_by_shutdown() {
    watchdog::finishes("a flush in a destructor during shutdown", || {
        for drain in [false, true] {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let qs = queues(&rt);
            let mut handles = Vec::new();
            let mut started = Vec::new();
            for q in &qs {
                // A plain task holding the guard, and tasks of the queue in flight and held
                // back for it to wait for.
                let guard = FlushOnDrop(Some(q.clone()), drain);
                handles.push(rt.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                }));
                // The first is in the middle of its poll when the runtime drops: the flush waits
                // for its worker to give it up to shutdown.
                let (started_tx, started_rx) = mpsc::channel();
                handles.push(q.spawn(async move {
                    baton::blocking::section(|| {
                        started_tx.send(()).unwrap();
                        std::thread::sleep(Duration::from_millis(20));
                    });
                    std::future::pending::<()>().await;
                }));
                started.push(started_rx);
                for _ in 0..3 {
                    handles.push(q.spawn(std::future::pending::<()>()));
                }
            }
            for started in started {
                started.recv().unwrap();
            }
            drop(rt);
            for handle in handles {
                assert!(futures::executor::block_on(handle)
                    .unwrap_err()
                    .is_cancelled());
            }
            for q in &qs {
                settled(q);
            }
        }
    });
}

/// A future that panics when dropped, ready at once.
struct ReadyPanicsOnDrop;

impl Future for ReadyPanicsOnDrop {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

impl Drop for ReadyPanicsOnDrop {
    fn drop(&mut self) {
        panic!("drop boom");
    }
}

/// Many held-back tasks of each queue whose futures panic when dropped, cancelled at shutdown
/// one after another (an ordered queue's runner holds a batch of them): no abort, every
/// handle reports the panic or a cancellation.
#[test]
fn held_tasks_whose_drops_panic_at_shutdown() {
    watchdog::finishes("held tasks with panicking drops at shutdown", || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        let mut handles = Vec::new();
        let qs = queues(&rt);
        for q in &qs {
            let (started_tx, started_rx) = mpsc::channel();
            handles.push(q.spawn(blocker(started_tx)));
            started_rx.recv().unwrap();
            for _ in 0..20 {
                handles.push(q.spawn(ReadyPanicsOnDrop));
                handles.push(q.spawn_after(Duration::from_secs(3600), ReadyPanicsOnDrop));
            }
        }
        drop(rt);
        for handle in handles {
            let err = futures::executor::block_on(handle).unwrap_err();
            assert!(err.is_cancelled() || err.is_panic(), "{err}");
        }
        for q in &qs {
            settled(q);
        }
    });
}

/// The runtime dropped from inside one of a queue's own jobs (an ordered queue's runner runs
/// it inline), with jobs behind it, delayed ones, a flush and a drain waiting on other
/// threads: every handle resolves, the waiters return, and the queue's counts add up.
#[test]
fn a_job_drops_the_runtime() {
    watchdog::finishes("a job dropping its runtime", || {
        for which in 0..3 {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let q = queues(&rt).swap_remove(which);
            let slot = Arc::new(Mutex::new(Some(rt)));
            let mut handles = vec![q.spawn({
                let slot = slot.clone();
                async move {
                    let rt = slot.lock().unwrap().take().unwrap();
                    drop(rt);
                    baton::yield_now().await;
                }
            })];
            for i in 0..20u64 {
                handles.push(q.spawn(async move {
                    baton::yield_now().await;
                    let _ = i;
                }));
                handles.push(q.spawn_after(Duration::from_micros(i * 50), async {}));
            }
            let flush = q.flush();
            let drain = q.drain();
            let waiters = [
                std::thread::spawn(move || futures::executor::block_on(flush)),
                std::thread::spawn(move || futures::executor::block_on(drain)),
            ];
            for waiter in waiters {
                waiter.join().unwrap();
            }
            for handle in handles {
                if let Err(err) = futures::executor::block_on(handle) {
                    assert!(err.is_cancelled(), "{err}");
                }
            }
            assert!(slot.lock().unwrap().is_none(), "the job never ran");
            settled(&q);
        }
    });
}

/// A job whose destructor waits for its own queue (a flush or drain in a `block_on`), dropped
/// by an abort and by shutdown: the wait would include the job itself, so it panics, as an
/// await of its own queue's flush in a job does, and the job's handle reports that panic.
#[test]
fn a_jobs_destructor_flushes_its_own_queue() {
    watchdog::finishes("a job's destructor flushing its queue", || {
        for drain in [false, true] {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let qs = queues(&rt);
            let mut at_shutdown = Vec::new();
            for q in &qs {
                let guard = FlushOnDrop(Some(q.clone()), drain);
                let aborted = q.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                });
                let after = q.spawn(async { 5 });
                rt.block_on(baton::yield_now());
                aborted.abort();
                let err = rt.block_on(aborted).unwrap_err();
                assert!(err.is_panic(), "{err}");
                assert_eq!(rt.block_on(after).unwrap(), 5);
                let guard = FlushOnDrop(Some(q.clone()), drain);
                at_shutdown.push(q.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                }));
            }
            drop(rt);
            for handle in at_shutdown {
                let err = futures::executor::block_on(handle).unwrap_err();
                assert!(err.is_panic(), "{err}");
            }
            for q in &qs {
                settled(q);
            }
        }
    });
}
