//! A synchronous client in front of an async service: a task calls the service from inside a
//! section and blocks until the reply, which another task produces. The site's sections wait
//! on that task, not on one another; the per-site level learnt from their durations must not
//! keep holding them (no replacement), or every call waits out the held grace period. Once a
//! held section had to be handed off after all, the site's sections are no longer held.

use std::sync::mpsc;
use std::time::Duration;

/// Client tasks and calls per client. Each client holds a worker thread while it waits, so
/// more clients at once than the thread caps allow would be a true deadlock (no worker left
/// for the service); four stay well within them.
const CLIENTS: usize = 4;
const CALLS: usize = 100;

/// One call: sends `n` to the service and blocks in a section until it answers.
fn call(service: &async_channel::Sender<(usize, mpsc::Sender<usize>)>, n: usize) -> usize {
    baton::blocking::section(|| {
        let (reply_tx, reply_rx) = mpsc::channel();
        service
            .send_blocking((n, reply_tx))
            .expect("the service runs");
        reply_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the service replies")
    })
}

#[test]
fn sections_waiting_on_another_task_stop_being_held() {
    // One core: the service runs only when a client's section hands the core on.
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (service_tx, service_rx) = async_channel::unbounded::<(usize, mpsc::Sender<usize>)>();
    let service = rt.spawn(async move {
        while let Ok((n, reply)) = service_rx.recv().await {
            let _ = reply.send(n + 1);
        }
    });
    let total: usize = rt.block_on(async {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let service_tx = service_tx.clone();
                baton::spawn(async move {
                    let mut sum = 0;
                    for i in 0..CALLS {
                        sum += call(&service_tx, c * CALLS + i);
                        baton::yield_now().await;
                    }
                    sum
                })
            })
            .collect();
        let mut total = 0;
        for client in clients {
            total += client.await.unwrap();
        }
        total
    });
    let n = CLIENTS * CALLS;
    assert_eq!(total, n * (n + 1) / 2, "every call got its reply");
    drop(service_tx);
    rt.block_on(service).unwrap();
    let stats = rt.stats();
    let held: u64 = stats.cores.iter().map(|c| c.held_sections).sum();
    // At most a few before the first held section that had to be handed off: one per core at
    // a time (a held section keeps its worker), each released by the held grace period.
    assert!(
        held <= 4 * stats.cores.len() as u64,
        "the site's sections kept being held: {held} of {n}\n{stats}"
    );
}
