//! A baton timer or socket polled once every runtime is gone panics and says why, instead of
//! never waking: both a sleep first polled after the drop, and one already waiting (in another
//! executor) when the last runtime is dropped, and one waited for in a destructor of a task
//! that the last runtime's shutdown cancels. One test in this file, so no other runtime of
//! the process keeps the reactor driven meanwhile.

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a thread of its own; returns its panic message, or panics if it returned
/// normally or had not finished after a minute (a hang guard: the failure this guards against is a hang).
fn panic_message_of(f: impl FnOnce() + Send + 'static) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(outcome.err().map(|payload| {
            payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "(not a string)".to_owned())
        }));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("hung: a baton timer or socket polled after its runtime was dropped never woke")
        .expect("returned, though nothing drives baton's timers and sockets")
}

#[test]
fn timers_and_sockets_polled_after_the_last_runtime_is_dropped_panic_clearly() {
    // A sleep first polled, by another executor, after the runtime was dropped (long enough
    // that it cannot have elapsed by then, however slowly the machine runs this test).
    let rt = baton::Runtime::new().unwrap();
    let sleep = baton::time::sleep(Duration::from_secs(3600));
    drop(rt);
    let message = panic_message_of(move || futures::executor::block_on(sleep));
    assert!(message.contains("no baton runtime running"), "{message}");

    // A sleep already waiting in another executor when the last runtime is dropped.
    let rt = baton::Runtime::new().unwrap();
    let (armed, is_armed) = mpsc::channel();
    let waiting = std::thread::spawn(move || {
        std::panic::catch_unwind(move || {
            let mut sleep = pin!(baton::time::sleep(Duration::from_secs(3600)));
            futures::executor::block_on(std::future::poll_fn(|cx| {
                let poll = sleep.as_mut().poll(cx);
                let _ = armed.send(());
                poll
            }))
        })
    });
    is_armed.recv().unwrap();
    drop(rt);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(waiting.join().unwrap()));
    let outcome = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("hung: a sleep waiting when the last runtime was dropped never woke");
    assert!(outcome.is_err(), "the hour-long sleep completed");

    // A socket: a read that waits, polled with no runtime.
    let rt = baton::Runtime::new().unwrap();
    let (listener, client) = rt.block_on(async {
        let listener = baton::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = baton::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        (listener, client)
    });
    drop(rt);
    let message = panic_message_of(move || {
        let _listener = listener;
        let mut buf = [0u8; 8];
        let _ = futures::executor::block_on(futures::AsyncReadExt::read(&mut &client, &mut buf));
    });
    assert!(message.contains("baton socket"), "{message}");

    // A sleep waited for (by another executor) in the destructor of a task that shutdown
    // cancels: the runtime drives the reactor no more once its shutdown began.
    let rt = baton::Runtime::new().unwrap();
    let (message_tx, message_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    rt.spawn(async move {
        let _sleeps_when_dropped = OnDrop(move || {
            let outcome = std::panic::catch_unwind(|| {
                futures::executor::block_on(baton::time::sleep(Duration::from_secs(3600)))
            });
            let message = outcome.err().map(|payload| {
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default()
            });
            let _ = message_tx.send(message);
        });
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await
    });
    started_rx.recv().unwrap();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(rt);
        let _ = dropped_tx.send(());
    });
    dropped_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("hung: a sleep in a destructor at shutdown never woke");
    let message = message_rx
        .recv()
        .unwrap()
        .expect("the hour-long sleep completed");
    assert!(message.contains("shutting down"), "{message}");

    // Inside a new runtime, a timer made anywhere works again.
    let rt = baton::Runtime::new().unwrap();
    rt.block_on(baton::time::sleep(Duration::from_millis(1)));
}

/// Runs `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}
