//! A task woken from inside a blocking section runs, even once the section's core was handed off
//! with nothing queued: a synchronous client in a section sends a request to an async service
//! task and blocks on the reply.

use std::sync::mpsc;
use std::time::Duration;

/// How many requests each client makes: the first may find the service not yet waiting; every
/// later one wakes it from inside the section.
const REQUESTS: u32 = 50;

/// How a client blocks for its reply.
#[derive(Clone, Copy, Debug)]
enum Block {
    /// `baton::blocking::section`: lazy, then eager once the monitor learnt the site blocks.
    Section,
    /// `baton::blocking::section_long`: the core is handed off at entry.
    SectionLong,
    /// The guard form, `baton::blocking::enter()`.
    Guard,
}

/// Sends `request` to the service and waits for the reply, inside a section of kind `block`.
fn call(
    block: Block,
    requests: &async_channel::Sender<u32>,
    replies: &mpsc::Receiver<u32>,
    request: u32,
) -> u32 {
    let ask = || {
        requests.send_blocking(request).unwrap();
        replies.recv().unwrap()
    };
    match block {
        Block::Section => baton::blocking::section(ask),
        Block::SectionLong => baton::blocking::section_long(ask),
        Block::Guard => {
            let _section = baton::blocking::enter();
            ask()
        }
    }
}

/// On a runtime of `cores` cores, a service task answers `REQUESTS` requests of a client task
/// that blocks in a section of kind `block` for each reply. Fails if that does not finish
/// within a generous time (a stranded service leaves the client blocked for good).
fn client_and_service(cores: usize, block: Block) {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = baton::Runtime::builder().cores(cores).build().unwrap();
        let (requests, incoming) = async_channel::unbounded::<u32>();
        let (reply, replies) = mpsc::channel::<u32>();
        let service = rt.spawn(async move {
            while let Ok(request) = incoming.recv().await {
                reply.send(request * 2).unwrap();
            }
        });
        let client = rt.spawn(async move {
            for request in 0..REQUESTS {
                assert_eq!(call(block, &requests, &replies, request), request * 2);
                // Give the core back between calls, so the service waits before the next.
                baton::yield_now().await;
            }
        });
        rt.block_on(client).unwrap();
        rt.block_on(service).unwrap();
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!("{cores} core(s), {block:?}: the service woken from the section never ran")
        });
}

#[test]
fn woken_from_a_section_on_one_core() {
    client_and_service(1, Block::Section);
}

#[test]
fn woken_from_a_long_section_on_one_core() {
    client_and_service(1, Block::SectionLong);
}

#[test]
fn woken_from_a_guard_on_one_core() {
    client_and_service(1, Block::Guard);
}

#[test]
fn woken_from_a_section_on_two_cores() {
    client_and_service(2, Block::Section);
}

#[test]
fn woken_from_a_long_section_on_two_cores() {
    client_and_service(2, Block::SectionLong);
}

#[test]
fn woken_from_a_guard_on_two_cores() {
    client_and_service(2, Block::Guard);
}
