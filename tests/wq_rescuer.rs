//! Rescuers: a dependency chain across queues completes when the cores cannot get a worker.
//!
//! Clients block in sections until a task of the `replies` queue answers them. Once every
//! worker of the core blocks in a client and no spare can be had, the replies wait in the
//! core's queues behind the clients that wait for them: without a rescuer nothing ever runs
//! again. With one, the runtime calls the queue's rescuer after the mayday delay, it runs the
//! replies, and every client finishes.
//!
//! No spare can be had for two reasons, both tested: a thread cap, and the OS refusing threads
//! for real (a child process under an unprivileged user with a low `RLIMIT_NPROC`).
#![cfg(target_os = "linux")]

use std::sync::mpsc;
use std::time::Duration;

mod common;
#[path = "common/limited.rs"]
mod limited;

/// Clients that block at once: more than the core's workers.
const CLIENTS: usize = 4;
/// How long the workload may take before the test calls the chain stuck.
const WATCHDOG: Duration = Duration::from_secs(30);
/// Set in the child's environment.
const CHILD: &str = "BATON_RESCUER_CHILD";

/// Spawns the clients, then their replies on `replies`, and waits for the clients. Returns
/// what the clients received, or `None` if they did not all finish within [`WATCHDOG`].
fn chain(rt: &baton::Runtime, replies: &baton::WorkQueue) -> Option<Vec<usize>> {
    let mut clients = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..CLIENTS {
        let (tx, rx) = mpsc::channel::<usize>();
        // Each client blocks its worker until its reply comes (or its sender is dropped, when
        // shutdown cancels a reply that never ran).
        clients.push(rt.spawn(async move { baton::blocking::section(|| rx.recv().ok()) }));
        senders.push(tx);
    }
    for (i, tx) in senders.into_iter().enumerate() {
        drop(replies.spawn(async move { tx.send(i).unwrap() }));
    }
    let (done, finished) = mpsc::channel();
    drop(rt.spawn(async move {
        let mut got = Vec::new();
        for client in clients {
            got.push(client.await.unwrap());
        }
        let _ = done.send(got);
    }));
    let got = finished.recv_timeout(WATCHDOG).ok()?;
    Some(got.into_iter().map(|reply| reply.unwrap()).collect())
}

/// Runs the chain on a one-core runtime capped at its core's active worker and spare, with the replies on the
/// queue `replies` builds; returns the runtime's and the queue's stats.
fn chain_at_the_cap(replies: baton::WorkQueueBuilder) -> (baton::Stats, baton::QueueStats) {
    let rt = baton::Runtime::builder()
        .cores(1)
        // The runtime's cap, which is hard: a per-core cap would be exceeded by the cap rescue
        // once the core stays starved, and the replies would run on the new worker.
        .max_threads(2)
        .build()
        .unwrap();
    let replies = replies.build(&rt.handle()).unwrap();
    let got = chain(&rt, &replies).unwrap_or_else(|| {
        panic!(
            "the chain did not complete within {WATCHDOG:?}: {}",
            rt.stats()
        )
    });
    assert_eq!(got, (0..CLIENTS).collect::<Vec<_>>());
    (rt.stats(), replies.stats())
}

#[test]
fn a_rescuer_completes_the_chain_at_the_thread_cap() {
    let (stats, queue) = chain_at_the_cap(baton::WorkQueue::builder("replies").rescuer());
    assert!(queue.mayday_calls >= 1, "{queue:?}");
    assert!(queue.rescued >= 1, "{queue:?}");
    assert!(stats.cores[0].cap_hits >= 1, "{stats}");
}

#[test]
fn an_ordered_queue_is_rescued_through_its_runner() {
    let replies = baton::WorkQueue::builder("ordered replies")
        .ordered()
        .rescuer();
    let (_, queue) = chain_at_the_cap(replies);
    assert!(queue.rescued >= 1, "{queue:?}");
}

#[test]
fn a_rescuer_completes_the_chain_when_the_os_refuses_threads() {
    limited::run(
        "a_rescuer_completes_the_chain_when_the_os_refuses_threads",
        CHILD,
        "child: a queue whose rescuer cannot start",
        child,
    );
}

/// The child: the chain under a real thread limit, far below the runtime's thread caps.
fn child() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    common::settle(&rt);
    // The rescuer thread is started with its queue, before the limit.
    let replies = baton::WorkQueue::builder("replies")
        .rescuer()
        .build(&rt.handle())
        .unwrap();
    let uid = limited::uid();
    let limit = limited::threads_of_uid(uid);
    limited::set_thread_limit(limit);
    println!("child: uid {uid}, at most {limit} threads for this user: no new one");

    let got = chain(&rt, &replies);
    let stats = rt.stats();
    let Some(got) = got else {
        eprintln!("child: the chain did not complete within {WATCHDOG:?}\n{stats}");
        std::process::exit(2);
    };
    assert_eq!(got, (0..CLIENTS).collect::<Vec<_>>());
    let core = &stats.cores[0];
    assert!(core.spawn_failures >= 1, "no thread was refused: {stats}");
    assert_eq!(core.cap_hits, 0, "the thread cap was reached: {stats}");
    let queue = replies.stats();
    assert!(queue.mayday_calls >= 1, "{queue:?}");
    assert!(queue.rescued >= 1, "{queue:?}");
    println!("{stats}");
    println!("child: the chain completed: {queue:?}");
    // No room for another thread: a queue whose rescuer cannot start fails to build.
    limited::set_thread_limit(limited::threads_of_uid(uid));
    let err = baton::WorkQueue::builder("late")
        .rescuer()
        .build(&rt.handle())
        .unwrap_err();
    assert!(err.is_thread_spawn(), "{err}");
    println!("child: a queue whose rescuer cannot start fails to build: {err}");
}
