//! Runtimes built and dropped in a loop, after running sections (some handed off) and tasks
//! talking over channels, and dropped while workers come back from sections: every drop
//! returns.

use std::sync::mpsc;
use std::time::Duration;

/// Runtimes built and dropped.
const CYCLES: usize = 200;

/// One cycle: a service task answering clients over channels (clients blocking in sections,
/// some handed off), then tasks still in sections when the runtime is dropped, so workers
/// return from handed-off sections and retire while shutdown goes on.
fn cycle(cores: usize) {
    let rt = baton::Runtime::builder().cores(cores).build().unwrap();
    let (requests, incoming) = async_channel::unbounded::<(u32, async_channel::Sender<u32>)>();
    let service = rt.spawn(async move {
        while let Ok((request, reply)) = incoming.recv().await {
            reply.send(request + 1).await.unwrap();
        }
    });
    let clients: Vec<_> = (0..4u32)
        .map(|c| {
            let requests = requests.clone();
            rt.spawn(async move {
                for i in 0..4 {
                    let (reply, replies) = async_channel::bounded(1);
                    requests.send((i, reply)).await.unwrap();
                    assert_eq!(replies.recv().await.unwrap(), i + 1);
                    if (c + i) % 2 == 0 {
                        baton::blocking::section_long(|| {
                            std::thread::sleep(Duration::from_micros(50))
                        });
                    } else {
                        baton::blocking::section(|| std::hint::black_box(i));
                    }
                }
            })
        })
        .collect();
    drop(requests);
    for client in clients {
        rt.block_on(client).unwrap();
    }
    rt.block_on(service).unwrap();
    // Left running: handed off at entry, back while the runtime shuts down.
    for _ in 0..cores * 2 {
        drop(rt.spawn(async {
            baton::blocking::section_long(|| std::thread::sleep(Duration::from_micros(200)));
            baton::yield_now().await;
        }));
    }
    std::thread::sleep(Duration::from_micros(100));
    drop(rt);
}

#[test]
fn runtimes_that_ran_sections_and_channels_drop_without_hanging() {
    let (done_tx, done_rx) = mpsc::channel();
    let (progress_tx, progress_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for n in 0..CYCLES {
            cycle(1 + n % 2);
            progress_tx.send(n).unwrap();
        }
        done_tx.send(()).unwrap();
    });
    if done_rx.recv_timeout(Duration::from_secs(120)).is_err() {
        let cycles = progress_rx.try_iter().count();
        panic!("a runtime's drop hung: {cycles} of {CYCLES} cycles completed");
    }
}
