//! An idle runtime has no periodic wake-ups: its threads do not switch in over a quiet second.
//!
//! Reads each runtime thread's context-switch counters from /proc (Linux only).
#![cfg(target_os = "linux")]

use std::sync::Mutex;
use std::time::Duration;

/// Sum of voluntary and involuntary context switches of this process's threads whose name
/// starts with `prefix`, and how many such threads there are.
fn switches(prefix: &str) -> (u64, usize) {
    let mut total = 0;
    let mut threads = 0;
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = entry.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        threads += 1;
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap();
            }
        }
    }
    (total, threads)
}

/// Held by each test: a runtime at work (they share the process's reactor) may wake another
/// runtime's threads, so the tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn an_idle_runtime_does_not_wake_up() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let rt = baton::Runtime::builder()
        .cores(2)
        .thread_name("idleprobe")
        .build()
        .unwrap();
    // Do some work first, then let everything settle.
    rt.block_on(async {
        let hs: Vec<_> = (0..1000).map(|i| baton::spawn(async move { i })).collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let (before, threads) = switches("idleprobe");
    assert!(threads >= 2, "found {threads} runtime threads");
    std::thread::sleep(Duration::from_secs(1));
    let (after, threads_after) = switches("idleprobe");
    assert_eq!(threads, threads_after);
    assert_eq!(after - before, 0, "runtime threads woke up while idle");
}

#[test]
fn an_idle_runtime_whose_workers_hold_switch_events_does_not_wake_up() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let rt = baton::Runtime::builder()
        .cores(1)
        .thread_name("idleswitch")
        .keep_alive(Duration::from_millis(10))
        .build()
        .unwrap();
    // Polls that block without a section, from one spawn site: after the first is taken over
    // the site is watched, and the workers that poll it open context-switch events where the
    // kernel grants them. Each waits for a task queued behind it, so it ends only once taken
    // over.
    rt.block_on(async {
        for _ in 0..3 {
            baton::spawn(async {
                let (tx, rx) = std::sync::mpsc::channel();
                baton::spawn_on(0, async move { tx.send(()).unwrap() });
                rx.recv_timeout(Duration::from_secs(60)).unwrap();
            })
            .await
            .unwrap();
        }
    });
    // Long enough for surplus spares to be let go after their keep-alive.
    std::thread::sleep(Duration::from_millis(500));
    let (before, threads) = switches("idleswitch");
    std::thread::sleep(Duration::from_secs(1));
    let (after, threads_after) = switches("idleswitch");
    assert_eq!(threads, threads_after);
    assert_eq!(
        after - before,
        0,
        "runtime threads woke up while idle (detection: {})",
        rt.stats().detection.name()
    );
}
