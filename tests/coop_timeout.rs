//! An always-ready future cannot starve its own timeout: the runtime's leaf futures spend a
//! cooperative budget, and once it is spent they yield, so the timeout gets to check its
//! deadline (tokio's `timeout_is_not_exhausted_by_future`).

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use baton::net::{TcpListener, TcpStream, UnixStream};
use baton::time::{sleep, timeout};
use futures::io::AsyncReadExt;

/// How long a test waits for its runtime work before it fails: far longer than any scheduling
/// delay, so only a timeout that never fires runs out of it.
const PATIENCE: Duration = Duration::from_secs(60);

/// The bound each always-ready loop is given.
const BOUND: Duration = Duration::from_millis(1);

/// Runs `work` on a new runtime in a thread of its own; fails if it does not finish within
/// [`PATIENCE`].
fn within_patience(what: &str, work: impl FnOnce(&baton::Runtime) + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = baton::Runtime::builder().cores(1).build().unwrap();
        work(&rt);
        done.send(()).unwrap();
    });
    if finished.recv_timeout(PATIENCE).is_err() {
        panic!("{what}: the timeout never fired (the loop never yielded)");
    }
}

/// Asserts that `timeout(BOUND, spin)` fails with `Elapsed`, both in `block_on` and in a task
/// on a worker.
fn times_out<F, S>(what: &'static str, spin: F)
where
    F: Fn() -> S + Send + Sync + 'static,
    S: Future<Output = ()> + Send + 'static,
{
    let spin = std::sync::Arc::new(spin);
    let in_task = spin.clone();
    within_patience(what, move |rt| {
        assert!(rt.block_on(timeout(BOUND, spin())).is_err(), "{what}");
        let task = rt.spawn(async move { timeout(BOUND, in_task()).await.is_err() });
        assert!(rt.block_on(task).unwrap(), "{what} (in a task)");
    });
}

#[test]
fn a_loop_over_a_reader_at_end_of_stream_times_out() {
    times_out("unix reader", || async {
        let (mut reader, writer) = UnixStream::pair().unwrap();
        // The peer is gone: every read returns 0 at once.
        drop(writer);
        let mut buf = [0u8; 1];
        loop {
            assert_eq!(reader.read(&mut buf).await.unwrap(), 0);
        }
    });
}

#[test]
fn a_loop_over_a_tcp_stream_at_end_of_stream_times_out() {
    times_out("tcp reader", || async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (connected, accepted) = futures::join!(TcpStream::connect(addr), listener.accept());
        let mut reader = connected.unwrap();
        drop(accepted.unwrap());
        let mut buf = [0u8; 1];
        loop {
            assert_eq!(reader.read(&mut buf).await.unwrap(), 0);
        }
    });
}

#[test]
fn a_loop_over_due_sleeps_times_out() {
    times_out("due sleeps", || async {
        loop {
            sleep(Duration::ZERO).await;
        }
    });
}

#[test]
fn a_loop_over_flushes_of_an_idle_queue_times_out() {
    times_out("flushes", || async {
        let q = baton::WorkQueue::builder("idle")
            .build(&baton::Handle::current())
            .unwrap();
        loop {
            q.flush().await;
        }
    });
}
