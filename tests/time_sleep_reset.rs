//! Resetting a pending sleep keeps its waker: the task awaiting it wakes at the new deadline,
//! whoever moved it (another task, or a thread outside the runtime).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use baton::time::{sleep, Sleep};

/// How long a test waits for its runtime work before it fails: far longer than any scheduling
/// delay, so only a lost wake-up runs out of it.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs `work` on a new runtime in a thread of its own; fails if it does not finish within
/// [`PATIENCE`].
fn within_patience(work: impl FnOnce(&baton::Runtime) + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = baton::Runtime::builder().cores(2).build().unwrap();
        work(&rt);
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(PATIENCE)
        .expect("the task awaiting the reset sleep was never woken");
}

/// Awaits the shared sleep; tells `polled` once it registered its waker (its first poll was
/// pending). Returns when it completed.
async fn await_shared(shared: Arc<Mutex<Sleep>>, polled: mpsc::Sender<()>) -> Instant {
    let mut told = false;
    poll_fn(|cx| {
        let mut sleep = shared.lock().unwrap();
        let poll = Pin::new(&mut *sleep).poll(cx);
        if poll.is_pending() && !told {
            told = true;
            polled.send(()).unwrap();
        }
        poll.map(|()| Instant::now())
    })
    .await
}

#[test]
fn a_sleep_moved_earlier_by_another_task_wakes_its_waiter() {
    within_patience(|rt| {
        let shared = Arc::new(Mutex::new(sleep(Duration::from_secs(3600))));
        let (polled, registered) = mpsc::channel();
        let waiter = rt.spawn(await_shared(shared.clone(), polled));
        let deadline = rt.block_on(rt.spawn(async move {
            // The waiter's first poll registered its waker (a section, since this blocks).
            baton::blocking::section(|| registered.recv_timeout(PATIENCE).unwrap());
            let deadline = Instant::now() + Duration::from_millis(5);
            shared.lock().unwrap().reset(deadline);
            deadline
        }));
        let woke = rt.block_on(waiter).unwrap();
        assert!(woke >= deadline.unwrap(), "woken before the new deadline");
    });
}

#[test]
fn a_sleep_moved_by_a_thread_outside_the_runtime_wakes_its_waiter() {
    within_patience(|rt| {
        let shared = Arc::new(Mutex::new(sleep(Duration::from_secs(3600))));
        let (polled, registered) = mpsc::channel();
        let waiter = rt.spawn(await_shared(shared.clone(), polled));
        registered.recv_timeout(PATIENCE).unwrap();
        // Moved earlier, later and earlier again, armed all along: the waker survives each
        // move, and the waiter wakes at the last deadline.
        let deadline = {
            let mut sleep = shared.lock().unwrap();
            sleep.reset(Instant::now() + Duration::from_secs(1800));
            sleep.reset(Instant::now() + Duration::from_secs(2700));
            let deadline = Instant::now() + Duration::from_millis(20);
            sleep.reset(deadline);
            deadline
        };
        let woke = rt.block_on(waiter).unwrap();
        assert!(woke >= deadline, "woken before the new deadline");
    });
}
