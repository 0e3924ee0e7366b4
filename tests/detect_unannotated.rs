//! Blocking that nobody annotated: a poll that blocks outside any section has its core handed
//! to a spare, so the tasks queued behind it run while it blocks; a poll that keeps the CPU
//! busy is taken out of its core's running count after the hog threshold, so tasks pinned
//! behind it run too.
//!
//! Each test makes the blocking task wait for the tasks behind it, so it can only finish if
//! the runtime noticed it: no timing is assumed, only a generous bound that turns a hang into
//! a failure.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// How long the blocking task waits for the tasks behind it before the test fails.
const BOUND: Duration = Duration::from_secs(60);
/// Tasks queued behind the blocking one.
const BEHIND: usize = 100;

fn one_core() -> baton::Runtime {
    baton::Runtime::builder().cores(1).build().unwrap()
}

/// Spawns `BEHIND` short tasks pinned to core 0 that count themselves done, then reports the
/// count through `done` once all have run.
fn spawn_behind(done: mpsc::Sender<()>) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..BEHIND {
        let count = count.clone();
        let done = done.clone();
        baton::spawn_on(0, async move {
            if count.fetch_add(1, Ordering::SeqCst) + 1 == BEHIND {
                let _ = done.send(());
            }
        });
    }
    count
}

/// Spawns [`BEHIND`] tasks pinned to core 0, then blocks its worker outside any section until
/// every one of them has run; returns whether they all did, and how many ran.
async fn block_until_behind_ran() -> (bool, usize) {
    let (done_tx, done_rx) = mpsc::channel();
    let count = spawn_behind(done_tx);
    let finished = done_rx.recv_timeout(BOUND).is_ok();
    (finished, count.load(Ordering::SeqCst))
}

#[test]
fn tasks_behind_an_unannotated_sleep_run_while_it_blocks() {
    let rt = one_core();
    let ran_behind = rt.block_on(async { baton::spawn(block_until_behind_ran()).await.unwrap() });
    assert_eq!(
        ran_behind,
        (true, BEHIND),
        "the queued tasks ran while the poll blocked"
    );
    let stats = rt.stats();
    assert!(stats.cores[0].detected_blocks >= 1, "{stats}");
    // Counted at the sleeper's spawn site too (the `baton::spawn` above).
    let site = stats
        .sites
        .iter()
        .find(|s| s.site.contains("detect_unannotated.rs"));
    assert!(
        site.is_some_and(|s| s.detected_blocks >= 1 && s.cpu_hogs == 0),
        "{stats}"
    );
}

#[test]
fn tasks_behind_a_blocking_pipe_read_run_while_it_blocks() {
    // A read the monitor cannot see into: only the OS knows the thread sleeps.
    let rt = one_core();
    let (mut reader, writer) = UnixStream::pair().unwrap();
    reader.set_read_timeout(Some(BOUND)).unwrap();
    let byte = rt.block_on(async move {
        baton::spawn(async move {
            let writer = Arc::new(std::sync::Mutex::new(writer));
            let (done_tx, done_rx) = mpsc::channel();
            spawn_behind(done_tx);
            let w = writer.clone();
            baton::spawn_on(0, async move {
                // Runs after the tasks before it on the core; tells the reader they all ran.
                while done_rx.try_recv().is_err() {
                    baton::yield_now().await;
                }
                w.lock().unwrap().write_all(&[7]).unwrap();
            });
            let mut buf = [0u8; 1];
            reader.read_exact(&mut buf).map(|()| buf[0]).ok()
        })
        .await
        .unwrap()
    });
    assert_eq!(
        byte,
        Some(7),
        "the writer behind the read ran while the read blocked"
    );
    assert!(rt.stats().cores[0].detected_blocks >= 1);
}

#[test]
fn a_cpu_hog_is_taken_out_of_the_running_count_after_the_hog_threshold() {
    let rt = one_core();
    let (spun, hog_stopped_by_pinned_task) = rt.block_on(async {
        baton::spawn(async {
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            baton::spawn_on(0, async move { s.store(true, Ordering::SeqCst) });
            // Spins on the CPU, outside any section, until the task pinned behind it runs.
            let start = std::time::Instant::now();
            let mut spins = 0u64;
            while !stop.load(Ordering::SeqCst) && start.elapsed() < BOUND {
                spins += 1;
                std::hint::spin_loop();
            }
            (spins, stop.load(Ordering::SeqCst))
        })
        .await
        .unwrap()
    });
    assert!(spun > 0);
    assert!(
        hog_stopped_by_pinned_task,
        "the pinned task ran while the hog spun"
    );
    let stats = rt.stats();
    // A machine busy with other work can deschedule the spinning thread long enough for it to
    // look blocked; either way the monitor took the poll over.
    assert!(
        stats.cores[0].cpu_hogs + stats.cores[0].detected_blocks >= 1,
        "{stats}"
    );
}

#[test]
fn detection_can_be_turned_off() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .detect_blocking(false)
        .build()
        .unwrap();
    let order = rt.block_on(async {
        baton::spawn(async {
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            baton::spawn_on(0, async move { r.store(true, Ordering::SeqCst) });
            // Without detection nothing takes this poll over: the task behind it waits.
            std::thread::sleep(Duration::from_millis(30));
            ran.load(Ordering::SeqCst)
        })
        .await
        .unwrap()
    });
    assert!(!order, "with detection off, a blocked poll keeps its core");
    let stats = rt.stats();
    assert_eq!(stats.cores[0].detected_blocks + stats.cores[0].cpu_hogs, 0);
}

#[test]
fn a_zero_detection_threshold_is_rejected() {
    let err = baton::Runtime::builder()
        .detection_threshold(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
}

/// Spawns, always from this one line (one spawn site), a task that blocks its worker outside
/// any section until a task queued behind it has run; returns whether that happened.
fn spawn_blocker() -> baton::JoinHandle<bool> {
    baton::spawn(async {
        let (done_tx, done_rx) = mpsc::channel();
        baton::spawn_on(0, async move { done_tx.send(()).unwrap() });
        done_rx.recv_timeout(BOUND).is_ok()
    })
}

#[test]
fn a_spawn_site_that_blocked_is_watched_and_handed_off_early() {
    // A long detection threshold, so that only the learnt spawn site explains an early handoff.
    let rt = baton::Runtime::builder()
        .cores(1)
        .detection_threshold(Duration::from_millis(50))
        .build()
        .unwrap();
    let all_ran = rt.block_on(async {
        let mut ok = spawn_blocker().await.unwrap();
        // The first blocker was taken over after the threshold; its spawn site is learnt.
        for _ in 0..5 {
            ok &= spawn_blocker().await.unwrap();
        }
        ok
    });
    assert!(all_ran, "every task behind a blocker ran while it blocked");
    let stats = rt.stats();
    // Once enough of the site's polls blocked, the later ones are handed off at their start.
    let core = &stats.cores[0];
    assert!(core.detected_blocks + core.eager_polls >= 6, "{stats}");
    assert!(
        stats.cores[0].watched_detections >= 1,
        "polls of the learnt spawn site were taken over as watched polls: {stats}"
    );
}

#[test]
fn a_task_woken_by_a_taken_over_poll_runs() {
    // A synchronous client in front of an async service, without any section: each call wakes
    // the service from inside the poll and blocks on its reply. After the first call the poll
    // has been taken over, so later wakes from it must still reach a worker.
    for cores in [1, 2] {
        let rt = baton::Runtime::builder().cores(cores).build().unwrap();
        let replies = rt.block_on(async {
            baton::spawn(async {
                let (request_tx, request_rx) = async_channel::unbounded::<u32>();
                let (reply_tx, reply_rx) = mpsc::channel();
                let service = baton::spawn(async move {
                    while let Ok(n) = request_rx.recv().await {
                        reply_tx.send(n * 2).unwrap();
                    }
                });
                let mut replies = Vec::new();
                for n in 0..20 {
                    request_tx.send_blocking(n).unwrap();
                    replies.push(reply_rx.recv_timeout(BOUND).ok());
                }
                drop(request_tx);
                service.await.unwrap();
                replies
            })
            .await
            .unwrap()
        });
        let expected: Vec<_> = (0..20).map(|n| Some(n * 2)).collect();
        assert_eq!(replies, expected, "on {cores} cores");
    }
}

/// With every core busy the monitor backs off and the cores watch one another's polls: a poll
/// that blocks on core 0 while core 1 keeps polling is still found, and the tasks pinned
/// behind it run while it blocks.
#[test]
fn a_poll_blocking_while_every_core_is_busy_is_found() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Keeps core 1 polling (short polls) until the test ends.
    let spinner = {
        let stop = stop.clone();
        rt.handle().spawn_on(1, async move {
            while !stop.load(Ordering::Relaxed) {
                baton::yield_now().await;
            }
        })
    };
    let ran_behind = rt.block_on(async {
        rt.handle()
            .spawn_on(0, block_until_behind_ran())
            .await
            .unwrap()
    });
    stop.store(true, Ordering::Relaxed);
    rt.block_on(spinner).unwrap();
    assert_eq!(
        ran_behind,
        (true, BEHIND),
        "the tasks pinned behind the blocked poll ran while it blocked"
    );
    let stats = rt.stats();
    assert!(stats.cores[0].detected_blocks >= 1, "{stats}");
}

#[test]
fn a_work_queue_counts_the_polls_of_its_tasks_that_were_taken_over() {
    let rt = one_core();
    for ordered in [false, true] {
        let builder = baton::WorkQueue::builder(if ordered { "ordered" } else { "plain" });
        let builder = if ordered { builder.ordered() } else { builder };
        let q = builder.build(&rt.handle()).unwrap();
        let ran_behind = rt.block_on(q.spawn(async {
            let (done_tx, done_rx) = mpsc::channel();
            spawn_behind(done_tx);
            // Blocks outside any section until the tasks behind it ran.
            done_rx.recv_timeout(BOUND).is_ok()
        }));
        assert!(ran_behind.unwrap());
        let stats = q.stats();
        assert_eq!(stats.detections, 1, "{stats:?}");
    }
}
