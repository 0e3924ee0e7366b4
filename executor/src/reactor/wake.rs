//! The wake word: how [`Reactor::notify`] gets a thread out of the poller without losing a
//! wake-up and without a syscall when nobody waits (the *announce the wait*,
//! *notify* and *end the wait* steps of the protocol in the [module docs](super)).

use crate::sync::Ordering;

use super::Reactor;

/// Wake-word flag: the seated thread is in, or about to enter, a wait that may block.
pub(super) const WAITING: usize = 1 << 0;
/// Wake-word flag: a notification has not been consumed by a wait yet.
pub(super) const NOTIFIED: usize = 1 << 1;

impl Reactor {
    /// Makes a thread blocked in the reactor's seat return soon.
    ///
    /// Costs one atomic read-modify-write, and no syscall when no thread is waiting in the
    /// reactor (*notify* in the [protocol](super)).
    pub(crate) fn notify(&self) {
        // SeqCst: pairs with the seated thread's RMWs on the same word (*announce the wait*, *end
        // the wait*), so the notifier's prior writes (a queued task) are visible to the thread once
        // it wakes, and with its `woken` check after *announce the wait*'s RMW (see
        // `try_react_unless`).
        let prev = self.wake.fetch_or(NOTIFIED, Ordering::SeqCst);
        if prev & WAITING != 0 && prev & NOTIFIED == 0 {
            // A failed notify leaves the waiter to its timeout; the poller's notify only fails
            // if its eventfd (or `polling`'s notifier) cannot be written, which it always can.
            let _ = self.poller.notify();
        }
    }

    /// *Announce the wait*: announces a wait that may block. Returns true if the wait must not
    /// block after all: a notification was pending (it is consumed here), or `woken` reports that
    /// this thread's wake-up already arrived.
    pub(super) fn announce_wait(&self, woken: Option<&dyn Fn() -> bool>) -> bool {
        // SeqCst: pairs with `notify`'s RMW, and orders the `woken` load below
        // after it (see `try_react_unless`).
        let prev = self.wake.fetch_or(WAITING, Ordering::SeqCst);
        if prev & NOTIFIED != 0 {
            // Consume the pending notification here, at the start of a wait: it may have
            // been meant for this very thread (sent while it was being handed the seat).
            // AcqRel: like the RMW above, pairs with `notify`'s RMW.
            self.wake.fetch_and(!NOTIFIED, Ordering::AcqRel);
            return true;
        }
        // This thread may have been woken while it took the seat: then it must not block.
        woken.is_some_and(|woken| woken())
    }

    /// *End the wait*: leaves a wait announced by [`announce_wait`](Reactor::announce_wait). A
    /// notification is not consumed here: one that arrived after the wait returned is meant
    /// for the next waiter (for instance a worker being handed the seat), which consumes it
    /// when it announces its wait, with at most one spurious zero-timeout poll.
    pub(super) fn end_wait(&self) {
        // AcqRel: pairs with `notify`'s RMW; acquiring the notifier's writes.
        self.wake.fetch_and(!WAITING, Ordering::AcqRel);
    }

    /// Whether the seated thread announced a wait that may block (*announce the wait*).
    pub(super) fn is_waiting(&self, ordering: Ordering) -> bool {
        self.wake.load(ordering) & WAITING != 0
    }

    /// Whether a notification waits to be consumed (a hint: *announce the wait* consumes it).
    pub(super) fn is_notified(&self) -> bool {
        // Relaxed: only a hint; *announce the wait*'s RMW consumes the notification.
        self.wake.load(Ordering::Relaxed) & NOTIFIED != 0
    }
}
