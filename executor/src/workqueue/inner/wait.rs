//! Waiting for a queue's state: `flush` and `drain` await [`Inner::wait`].
//!
//! Two things set this wait apart from the plain [`wait_until`] loop under it:
//!
//! - **The caller's waker is woken quietly.** It is woken from inside event-listener's notify,
//!   in the drop of one of the queue's tasks: a waker that panicked there would break the
//!   listener list and report its panic as that innocent task's outcome. So the wait registers
//!   a waker of its own, which wakes the caller's and discards a panic of its `wake` (after the
//!   panic hook printed it), as tokio does.
//! - **On the thread shutting the runtime down** (a flush or drain in a `block_on` inside the
//!   destructor of a task shutdown cancels), the tasks waited for are cancelled by this very
//!   thread, after the destructor returns: waiting would hang. So the wait cancels them there
//!   and then (the queue's held tasks first, then, if that is not enough, everything shutdown
//!   has yet to cancel, whose destructors run inside this one), and blocks only for polls
//!   still running on workers: once they end, shutdown queues their tasks for this thread and
//!   unparks it.

use std::future::Future;
use std::task::{Context, Waker};

use super::{wait_until, Inner};
use crate::scheduler::Frontend;
use crate::sync::lock;
use crate::task::QuietWaker;
use crate::workqueue::state::QueueState;

impl Inner {
    /// Waits until `done` holds for the state (see the [module docs](self)).
    pub(in crate::workqueue) async fn wait(&self, done: impl Fn(&QueueState) -> bool) {
        if self.shared.on_shutdown_thread() {
            self.wait_on_shutdown_thread(done);
            return;
        }
        let mut wait = std::pin::pin!(wait_until(&self.state, &self.event, done));
        let mut quiet = None;
        std::future::poll_fn(|cx| {
            let waker = QuietWaker::waker_for(&mut quiet, cx.waker());
            wait.as_mut().poll(&mut Context::from_waker(&waker))
        })
        .await;
    }

    /// [`Inner::wait`] on the thread shutting the runtime down (see the [module docs](self)).
    fn wait_on_shutdown_thread(&self, done: impl Fn(&QueueState) -> bool) {
        let unpark = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
        let is_done = || done(&lock(&self.state));
        loop {
            if is_done() {
                return;
            }
            self.cancel_held();
            if is_done() {
                return;
            }
            self.shared.cancel_pending();
            let mut listener = std::pin::pin!(self.event.listen());
            // Checked again after listening: a notification in between is not missed.
            if is_done() {
                return;
            }
            if listener
                .as_mut()
                .poll(&mut Context::from_waker(&unpark))
                .is_pending()
            {
                // Unparked by the notification, or by a task queued for cancellation.
                std::thread::park();
            }
        }
    }
}

/// Unparks a thread blocked in [`Inner::wait_on_shutdown_thread`].
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}
