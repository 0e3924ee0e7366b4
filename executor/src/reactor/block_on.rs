//! Running a future to completion on the current thread, waiting in the reactor while it is
//! pending (the *take the seat*, *take over* and *stand by* steps of the protocol in the
//! [module docs](super)).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use super::drivers::Driver;
use super::seat::Sitter;
use super::Reactor;
use crate::sync::{lock, Condvar, Mutex};

/// A shared parker; `std`'s `Arc` because `Waker::from` takes one (a reference count, not a
/// synchronisation point).
pub(super) type ParkerRef = std::sync::Arc<Parker>;

/// What a `block_on` thread waits for, all behind one mutex.
#[derive(Debug, Default)]
struct ParkerState {
    /// The future's waker fired since the last poll.
    woken: bool,
    /// The thread is seated in the reactor: a wake must also `notify` the reactor.
    in_reactor: bool,
    /// The thread is on standby and the seat was vacated: it should try to take it.
    kicked: bool,
}

/// The parking spot of one `block_on` call; its `Waker` wakes the future.
#[derive(Debug, Default)]
pub(super) struct Parker {
    /// The flags above.
    state: Mutex<ParkerState>,
    /// Signalled when `woken` or `kicked` is set.
    cvar: Condvar,
}

impl Parker {
    /// Waits until `woken` or `kicked`; consumes `kicked`, not `woken`.
    fn park(&self) {
        let mut state = lock(&self.state);
        while !state.woken && !state.kicked {
            state = self
                .cvar
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.kicked = false;
    }

    /// Waits until `woken`, or until `deadline`; consumes nothing.
    fn park_until(&self, deadline: Instant) {
        let mut state = lock(&self.state);
        while !state.woken {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            state = self
                .cvar
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Tells a standby thread that the seat was vacated.
    pub(super) fn kick(&self) {
        lock(&self.state).kicked = true;
        self.cvar.notify_one();
    }
}

impl Wake for Parker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        let in_reactor = {
            let mut state = lock(&self.state);
            if state.woken {
                return;
            }
            state.woken = true;
            state.in_reactor
        };
        self.cvar.notify_one();
        if in_reactor {
            // The `in_reactor` flag and `woken` share the mutex: either the thread saw `woken`
            // before sitting down, or it is seated and this notify gets it out (*notify*).
            Reactor::get().notify();
        }
    }
}

/// The waker a `block_on` thread registers on the standby list: it kicks the parker.
struct Kick(ParkerRef);

impl Wake for Kick {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.kick();
    }
}

/// Runs a future to completion on the current thread.
///
/// While the future is pending, the thread waits in the reactor if no other thread does,
/// otherwise it parks until the future's waker fires. The waker also gets the thread out of
/// the reactor, through [`Reactor::notify`]. A runtime worker that wants the seat takes it over
/// (the *take over* step of the [protocol](super)).
///
/// # Panics
///
/// If the OS poller fails (it reports no error in normal operation), or if the future panics.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let _driver = Driver::start();
    let reactor = Reactor::get();
    let parker = ParkerRef::default();
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    let kick = Waker::from(std::sync::Arc::new(Kick(parker.clone())));
    let mut future = pin!(future);
    let out = loop {
        if let Poll::Ready(out) = crate::coop::budget(|| future.as_mut().poll(&mut cx)) {
            break out;
        }
        wait_for_wake(reactor, &parker, &kick);
    };
    // Stand by: this thread will not come back to the seat; a standby thread takes it.
    reactor.hand_over_duty();
    out
}

/// Waits until the future's waker fires: in the reactor when the seat is free, otherwise on
/// the parker, in the reactor's standby list. Consumes the wake.
fn wait_for_wake(reactor: &Reactor, parker: &ParkerRef, kick: &Waker) {
    loop {
        {
            let mut state = lock(&parker.state);
            if std::mem::take(&mut state.woken) {
                return;
            }
            state.in_reactor = true;
        }
        let reacted = reactor.try_react_soft(None, &|| lock(&parker.state).woken);
        lock(&parker.state).in_reactor = false;
        match reacted {
            Ok(Some(Ok(()))) => continue,
            Ok(Some(Err(err))) => panic!("baton: the I/O poller failed: {err}"),
            // Stay on duty: a worker drives the reactor; look again when its lease ends.
            Err(until) => parker.park_until(until),
            Ok(None) => {
                if reactor.standby_for(Sitter::BlockOn, kick) {
                    parker.park();
                    reactor.standby.remove(kick);
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ready_future_returns_its_output() {
        assert_eq!(block_on(async { 7 }), 7);
    }

    #[test]
    fn wake_from_another_thread_resumes_the_future() {
        let (tx, rx) = futures::channel::oneshot::channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            tx.send(5).unwrap();
        });
        assert_eq!(block_on(rx).unwrap(), 5);
        sender.join().unwrap();
    }

    #[test]
    fn concurrent_block_ons_all_finish() {
        // Several threads wait for channels at once: at most one sits in the reactor, the
        // others park, and each is woken by its own waker.
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for i in 0..4 {
            let (tx, rx) = futures::channel::oneshot::channel::<u32>();
            senders.push(tx);
            threads.push(std::thread::spawn(move || block_on(rx).unwrap() + i));
        }
        std::thread::sleep(Duration::from_millis(10));
        for (i, tx) in senders.into_iter().enumerate() {
            tx.send(10 * i as u32).unwrap();
        }
        let outs: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(outs, vec![0, 11, 22, 33]);
    }

    #[test]
    fn standby_thread_takes_the_seat_when_the_sitter_returns() {
        // Thread A sits in the reactor waiting for a channel; thread B waits for a timer. When
        // A returns, B must still see its timer fire, whoever drives the reactor.
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let a = std::thread::spawn(move || block_on(rx));
        std::thread::sleep(Duration::from_millis(5));
        let b = std::thread::spawn(|| {
            let start = Instant::now();
            block_on(crate::time::sleep(Duration::from_millis(50)));
            start.elapsed()
        });
        std::thread::sleep(Duration::from_millis(5));
        tx.send(()).unwrap();
        a.join().unwrap().unwrap();
        assert!(b.join().unwrap() >= Duration::from_millis(50));
    }
}
