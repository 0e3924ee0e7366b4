//! `Handle::block_on` on a thread the runtime's shutdown waits for: a worker in a blocking
//! section, or a thread of the runtime's unbound pool running an `unblock` job.
//!
//! Shutdown cancels the runtime's pending tasks, then joins those threads. A `block_on` there
//! that still waits after the cancelling waits for something no task of the runtime will
//! bring (a timer, a socket, another runtime): the reactor is the process's, so nothing would
//! end the wait, and the join would hang with it. tokio ends such waits by failing its timers
//! and sockets at shutdown; here the `block_on` panics instead, naming the call, once the
//! tasks are cancelled. The panic ends the section or the job like any other: the worker's task
//! reports it, or the `unblock` handle does.
//!
//! # Protocol
//!
//! 1. **Release.** After its first round of cancelling, the shutdown thread sets the
//!    `released` flag (SeqCst) and notifies every listener of the event.
//! 2. **Watch.** A watched `block_on` reads the flag, then polls its future. So a future
//!    that waits for a cancelled task sees the cancel (it happened before the flag was set)
//!    and returns it; only a future still pending after a poll that followed a raised flag
//!    panics. Otherwise it listens to the event and reads the flag again before it waits
//!    (event-listener's listen-then-check pattern), so a release between the two is not
//!    missed.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};

use crate::sync::{AtomicBool, Ordering};

/// The release of the watched `block_on` calls (see the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct JoinedWaits {
    /// Set once shutdown has cancelled the pending tasks.
    released: AtomicBool,
    /// Notified when `released` is set.
    event: Event,
}

impl JoinedWaits {
    /// The *release* step: called by the shutdown thread after its first round of cancelling.
    pub(crate) fn release(&self) {
        // SeqCst: pairs with the load in `is_released`; event-listener's notify fences too.
        self.released.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    fn is_released(&self) -> bool {
        // SeqCst: pairs with the store in `release`.
        self.released.load(Ordering::SeqCst)
    }
}

pin_project_lite::pin_project! {
    /// A future run by a watched `block_on` (the *watch* step).
    pub(crate) struct Watched<'a, F> {
        #[pin]
        future: F,
        waits: Option<&'a JoinedWaits>,
        listener: Option<EventListener>,
        caller: &'static Location<'static>,
    }
}

impl<'a, F> Watched<'a, F> {
    /// Watches `future`, run by `block_on` at `caller`, if `waits` is given; else only polls it.
    pub(crate) fn new(
        future: F,
        waits: Option<&'a JoinedWaits>,
        caller: &'static Location<'static>,
    ) -> Self {
        Watched {
            future,
            waits,
            listener: None,
            caller,
        }
    }
}

impl<F: Future> Future for Watched<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let Some(waits) = *this.waits else {
            return this.future.poll(cx);
        };
        loop {
            let released = waits.is_released();
            if let Poll::Ready(out) = this.future.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            if released {
                panic!(
                    "block_on at {} was still waiting after its runtime's shutdown cancelled \
                     the tasks: it runs on a thread the shutdown waits for (a worker in a \
                     blocking section, or an `unblock` job), and nothing of the runtime is left \
                     to end the wait. End such waits before dropping the runtime, or bound them \
                     with a timeout",
                    this.caller
                );
            }
            let listener = this.listener.get_or_insert_with(|| waits.event.listen());
            // Listening came before this check: a release in between is seen here.
            if waits.is_released() {
                continue;
            }
            match Pin::new(listener).poll(cx) {
                Poll::Ready(()) => *this.listener = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
