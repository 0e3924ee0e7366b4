//! Shutdown never drops a task inside the `wake()` that scheduled it: the waker's caller may
//! hold a lock that dropping the task needs (event-listener and async-channel wake their
//! listeners under their list lock, and a listener's drop takes that lock).

mod watchdog;

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::task::Poll;

/// Polls `future` once (it must be pending: waiting, its listener registered), then sends on
/// `ready`, then awaits it.
async fn listen_then_await(future: impl Future<Output = ()>, ready: mpsc::Sender<()>) {
    let mut future = pin!(future);
    let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "the queue had a task in flight");
    ready.send(()).unwrap();
    future.await;
}

#[test]
fn tasks_waiting_for_a_flush_or_drain_are_cancelled_without_deadlock() {
    watchdog::finishes("dropping runtimes with flush and drain waiters", || {
        for _ in 0..20 {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let q = baton::WorkQueue::builder("one")
                .max_active(1)
                .build(&rt.handle())
                .unwrap();
            // The queue's only slot is taken by a task that never finishes; one more waits.
            let (started_tx, started_rx) = mpsc::channel();
            drop(q.spawn(async move {
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await;
            }));
            drop(q.spawn(async {}));
            started_rx.recv().unwrap();
            let (ready_tx, ready_rx) = mpsc::channel();
            let mut waiters = Vec::new();
            for i in 0..8 {
                let (q, ready) = (q.clone(), ready_tx.clone());
                waiters.push(rt.spawn(async move {
                    if i % 2 == 0 {
                        listen_then_await(q.flush(), ready).await;
                    } else {
                        listen_then_await(q.drain(), ready).await;
                    }
                }));
            }
            for _ in 0..8 {
                ready_rx.recv().unwrap();
            }
            // Cancelling the queue's tasks completes the flushes and drains: their waiters are
            // woken from inside event-listener's notify, under its list lock.
            drop(rt);
            for waiter in waiters {
                // Woken before or after their own cancellation: either way, resolved.
                let _ = futures::executor::block_on(waiter);
            }
        }
    });
}

/// tokio's `many_multishot_futures`, over async-channel: chains of tasks forwarding messages,
/// each chain ending in a task that cycles them back a few times; runtimes built, run and
/// dropped in a loop while the chains' tasks wait on their channels.
#[test]
fn runtimes_dropped_while_tasks_wait_on_channels() {
    const CHAIN: usize = 20;
    const CYCLES: usize = 3;
    const TRACKS: usize = 20;
    watchdog::finishes("dropping runtimes with chains of channel tasks", || {
        for _ in 0..20 {
            let rt = baton::Runtime::builder().cores(2).build().unwrap();
            let q = baton::WorkQueue::builder("one")
                .max_active(1)
                .build(&rt.handle())
                .unwrap();
            let mut start_txs = Vec::new();
            let mut final_rxs = Vec::new();
            for track in 0..TRACKS {
                let (start_tx, mut chain_rx) = async_channel::bounded::<&str>(10);
                for _ in 0..CHAIN {
                    let (next_tx, next_rx) = async_channel::bounded(10);
                    drop(rt.spawn(async move {
                        while let Ok(v) = chain_rx.recv().await {
                            next_tx.send(v).await.unwrap();
                        }
                    }));
                    chain_rx = next_rx;
                }
                let (final_tx, final_rx) = async_channel::bounded(10);
                let cycle_tx = start_tx.clone();
                let q = q.clone();
                drop(rt.spawn(async move {
                    for cycle in 1..=CYCLES {
                        let msg = chain_rx.recv().await.unwrap();
                        if cycle == CYCLES {
                            final_tx.send(msg).await.unwrap();
                        } else {
                            cycle_tx.send(msg).await.unwrap();
                        }
                    }
                    // Some tracks end waiting on the queue, whose only slot stays taken.
                    if track % 4 == 0 {
                        q.flush().await;
                    }
                }));
                start_txs.push(start_tx);
                final_rxs.push(final_rx);
            }
            drop(q.spawn(std::future::pending::<()>()));
            drop(q.spawn(async {}));
            // Kept until the runtime is gone, so the chains are still waiting when it drops:
            // cancelling one task closes its channels, which wakes the next one.
            let keep_open = start_txs.clone();
            rt.block_on(async move {
                for start_tx in start_txs {
                    start_tx.send("ping").await.unwrap();
                }
                for final_rx in final_rxs {
                    final_rx.recv().await.unwrap();
                }
            });
            drop(rt);
            drop(keep_open);
        }
    });
}
