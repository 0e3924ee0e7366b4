use std::task::Wake;
use std::time::Duration;

use super::seat::Sitter;
use super::wake::{NOTIFIED, WAITING};
use super::*;

/// A waker that counts its wakes.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs `f` while no other test sits in the reactor, so `try_react` gets the seat, and as a
/// driver of the reactor (the test drives it), so that another test dropping the process's last
/// runtime meanwhile does not wake every timer and socket early (see [`super::drivers`]).
fn exclusive<R>(f: impl FnOnce() -> R) -> R {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let _driver = super::drivers::Driver::start();
    f()
}

#[test]
fn notify_before_wait_makes_the_wait_return() {
    exclusive(|| {
        let reactor = Reactor::get();
        reactor.notify();
        // With a notification pending, a wait with no timeout returns at once.
        let out = loop {
            if let Some(out) = reactor.try_react(None) {
                break out;
            }
        };
        out.unwrap();
        assert_eq!(reactor.wake.load(Ordering::SeqCst) & NOTIFIED, 0);
    });
}

#[test]
fn a_worker_woken_while_it_takes_the_seat_does_not_block() {
    exclusive(|| {
        let reactor = Reactor::get();
        // The worker's wake-up: its parker got the token (`|| true` below), and the notify
        // it sent...
        reactor.notify();
        // ...is consumed by the thread seated before it (when that thread announces its wait).
        while reactor.try_react(Some(Duration::from_millis(1))).is_none() {}
        assert_eq!(reactor.wake.load(Ordering::SeqCst) & NOTIFIED, 0);
        // The worker then takes the seat: it must return instead of blocking, or this
        // test hangs (no timer is armed and nothing else notifies).
        let out = loop {
            if let Some(out) = reactor.try_react_unless(None, Some(&|| true)) {
                break out;
            }
        };
        out.unwrap();
    });
}

#[test]
fn notify_from_another_thread_ends_a_wait() {
    exclusive(|| {
        let reactor = Reactor::get();
        let waiter = std::thread::spawn(move || loop {
            if let Some(out) = reactor.try_react(None) {
                return out;
            }
        });
        // Notify until the waiter returns: a notify before it sat down is consumed by an
        // earlier turn, so keep notifying; the test fails by hanging if notify is lost.
        while !waiter.is_finished() {
            reactor.notify();
            std::thread::sleep(Duration::from_millis(1));
        }
        waiter.join().unwrap().unwrap();
    });
}

#[test]
fn a_notification_collected_by_a_zero_timeout_poll_still_ends_the_wait() {
    exclusive(|| {
        let reactor = Reactor::get();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Busy threads poll without the seat all along, so they may collect the
        // notifier's edge (*stay on duty*).
        let pollers: Vec<_> = (0..2)
            .map(|_| {
                let done = done.clone();
                std::thread::spawn(move || {
                    while !done.load(Ordering::SeqCst) {
                        reactor.poll().unwrap();
                    }
                })
            })
            .collect();
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waiter = {
            let sent = sent.clone();
            std::thread::spawn(move || loop {
                if let Some(out) = reactor.try_react(None) {
                    out.unwrap();
                }
                if sent.load(Ordering::SeqCst) {
                    return;
                }
            })
        };
        // One notification, sent once the waiter waits in the poller: the test hangs if
        // a busy poll swallows it.
        while reactor.wake.load(Ordering::SeqCst) & WAITING == 0 {
            std::thread::yield_now();
        }
        sent.store(true, Ordering::SeqCst);
        reactor.notify();
        waiter.join().unwrap();
        done.store(true, Ordering::SeqCst);
        for poller in pollers {
            poller.join().unwrap();
        }
    });
}

#[test]
fn due_timer_is_woken_by_a_turn() {
    exclusive(|| {
        let reactor = Reactor::get();
        let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let deadline = Instant::now() + Duration::from_millis(5);
        reactor.insert_timer(deadline, &waker);
        while count.0.load(Ordering::SeqCst) == 0 {
            let _ = reactor.try_react(Some(Duration::from_millis(50)));
        }
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn arming_a_timer_wakes_a_thread_waiting_without_timeout() {
    exclusive(|| {
        let reactor = Reactor::get();
        let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let waiter = {
            let count = count.clone();
            // No timeout: only the notify sent by arming the timer (*arm an earlier timer*) makes
            // its wait account for the timer; the test hangs if that notify is lost.
            std::thread::spawn(move || {
                while count.0.load(Ordering::SeqCst) == 0 {
                    let _ = reactor.try_react(None);
                }
            })
        };
        while reactor.wake.load(Ordering::SeqCst) & WAITING == 0 {
            std::thread::yield_now();
        }
        let deadline = Instant::now() + Duration::from_millis(5);
        reactor.insert_timer(deadline, &Waker::from(count.clone()));
        waiter.join().unwrap();
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn removed_timer_is_not_woken() {
    exclusive(|| {
        let reactor = Reactor::get();
        let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let deadline = Instant::now() + Duration::from_millis(20);
        let id = reactor.insert_timer(deadline, &waker);
        reactor.remove_timer(id);
        std::thread::sleep(Duration::from_millis(30));
        // Make sure one turn ran after the deadline.
        reactor.poll().unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    });
}

/// Runs the ignored test `name` (a path below this crate) in a child process of this test
/// binary, where no other test shares the process-wide reactor, and asserts it passed.
fn run_alone(name: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(ALONE, "1")
        .output()
        .expect("cannot run the test binary");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{name} failed in its own process:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Set in the environment of a test run by [`run_alone`].
const ALONE: &str = "BATON_TEST_ALONE";

#[test]
fn a_vacancy_is_passed_on_by_a_worker_that_leaves_for_work() {
    run_alone("reactor::tests::vacancy_told_to_a_worker_with_work");
}

/// Two workers wait on standby while this thread holds the seat. This thread leaves the
/// seat and wakes the first worker for it, which at that moment also got work: it runs
/// the work, and the second worker must be told of the vacancy instead
/// ([`Reactor::hand_over_duty`]): a vacancy swallowed by the first worker would leave the
/// second on standby with the seat free, and the timers and I/O of every runtime in the
/// process would wait for good.
#[test]
#[ignore = "run in its own process by a_vacancy_is_passed_on_by_a_worker_that_leaves_for_work"]
fn vacancy_told_to_a_worker_with_work() {
    use crate::park::{Parker, WakeFor as Token};
    if std::env::var_os(ALONE).is_none() {
        return;
    }
    let reactor = Reactor::get();
    assert!(reactor.seat.try_take(Sitter::Worker), "nobody else is here");
    let park = |parker: &Arc<Parker>| {
        let parker = parker.clone();
        std::thread::spawn(move || Parker::park(&parker))
    };
    let on_standby = |parker: &Arc<Parker>| {
        let waker = Waker::from(parker.clone());
        while !reactor.standby.contains(&waker) {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let (first, second) = (Arc::new(Parker::new()), Arc::new(Parker::new()));
    let first_thread = park(&first);
    on_standby(&first);
    let second_thread = park(&second);
    on_standby(&second);
    // Work for the first worker, without waking it: the vacancy below wakes it.
    first.give_token_quietly(Token::Work);
    reactor.seat.leave(Sitter::Worker);
    reactor.kick_standby(false);
    assert_eq!(first_thread.join().unwrap(), Token::Work);
    // The second worker takes the seat.
    let deadline = Instant::now() + Duration::from_secs(10);
    while reactor.seat.is_free() {
        assert!(
            Instant::now() < deadline,
            "the vacancy was lost: the seat is free and a worker waits on standby"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    second.unpark(Token::Work);
    assert_eq!(second_thread.join().unwrap(), Token::Work);
}

#[test]
fn handing_over_the_duty_wakes_nobody_while_a_worker_sits() {
    run_alone("reactor::tests::duty_handed_over_with_a_worker_seated");
}

/// A thread waits on standby while a worker sits in the seat. A worker whose section is
/// handed off hands over the duty: the seated worker drives the reactor, so waking the
/// standby thread would only turn it away again. Once the seat is free, the same call wakes it.
#[test]
#[ignore = "run in its own process by handing_over_the_duty_wakes_nobody_while_a_worker_sits"]
fn duty_handed_over_with_a_worker_seated() {
    if std::env::var_os(ALONE).is_none() {
        return;
    }
    let reactor = Reactor::get();
    assert!(reactor.seat.try_take(Sitter::Worker), "nobody else is here");
    let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    assert!(reactor.wait_for_seat(&waker), "the seat is taken");
    reactor.hand_over_duty();
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        0,
        "woken while a worker sits"
    );
    assert!(
        reactor.standby.contains(&waker),
        "taken off the standby list"
    );
    reactor.seat.leave(Sitter::Worker);
    reactor.hand_over_duty();
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "not told of the vacancy");
}
