//! Who drives the reactor between turns: the duty lease of workers that left the seat to run
//! tasks, and the standby list of threads turned away by a taken seat (the *stand by*, *never
//! strand the reactor* and *stay on duty* steps of the protocol in the [module docs](super)).

use std::cell::Cell;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::sync::{fence, Ordering};

use super::seat::Sitter;
use super::Reactor;

/// How long a worker counts as on duty after it left the seat or polled without it (*stay on
/// duty*): many times the interval at which a busy worker polls.
pub(super) const DUTY_LEASE: Duration = Duration::from_millis(1);
/// A poll renews the duty lease only once this much of it, in nanoseconds, has run out.
const DUTY_RENEWAL: u64 = DUTY_LEASE.as_nanos() as u64 / 2;

std::thread_local! {
    /// Set once this worker thread has left the seat on duty (*stay on duty*); its exit then hands
    /// the duty over, since it will not come back to the seat.
    static ON_DUTY: OnDuty = const { OnDuty(Cell::new(false)) };
}

/// A worker thread's duty flag; see [`ON_DUTY`].
struct OnDuty(Cell<bool>);

impl Drop for OnDuty {
    fn drop(&mut self) {
        if self.0.get() {
            Reactor::get().hand_over_duty();
        }
    }
}

impl Reactor {
    /// A worker left the seat after a turn and goes to run tasks: it stays on duty instead
    /// of waking a standby thread (*stay on duty*).
    pub(super) fn leave_on_duty(&self) {
        ON_DUTY.with(|duty| duty.0.set(true));
        self.renew_duty(Instant::now());
    }

    /// When the current duty lease ends, if a worker is on duty (*stay on duty*).
    pub(super) fn duty_deadline(&self) -> Option<Instant> {
        // Relaxed: the lease is a hint about who drives the reactor, ordered with nothing; a
        // stale value only shortens or lengthens one park of a `block_on` thread.
        let nanos = self.duty_until.load(Ordering::Relaxed);
        let until = self.epoch + Duration::from_nanos(nanos);
        (until > Instant::now()).then_some(until)
    }

    /// Extends the duty lease from `now`: the calling worker polls the reactor without the
    /// seat. Writes the shared word only once half of the lease has run out, so workers that
    /// poll often do not bounce its cache line.
    pub(super) fn renew_duty(&self, now: Instant) {
        let until = now.saturating_duration_since(self.epoch) + DUTY_LEASE;
        let nanos = u64::try_from(until.as_nanos()).unwrap_or(u64::MAX);
        let stale = nanos.saturating_sub(DUTY_RENEWAL);
        // Relaxed: see `duty_deadline`.
        if self.duty_until.load(Ordering::Relaxed) < stale {
            self.duty_until.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// After a `try_react` that returned `None`, registers `waker` to be woken once the seat
    /// is vacated, so the caller can retry instead of leaving the reactor unattended (*never
    /// strand the reactor*). Returns false, registering nothing, if the seat is already free: retry
    /// now.
    ///
    /// A thread woken for another reason before the vacancy calls
    /// [`cancel_wait_for_seat`](Reactor::cancel_wait_for_seat), so that a later vacancy wakes
    /// a thread that still waits.
    #[cfg(not(loom))]
    pub(crate) fn wait_for_seat(&self, waker: &Waker) -> bool {
        self.standby_for(Sitter::Worker, waker)
    }

    /// Removes a registration made by [`wait_for_seat`](Reactor::wait_for_seat).
    ///
    /// Returns false if the registration was gone: a thread that vacated the seat took it
    /// to wake this one, which must then take the seat or [hand the duty
    /// over](Reactor::hand_over_duty).
    #[cfg(not(loom))]
    pub(crate) fn cancel_wait_for_seat(&self, waker: &Waker) -> bool {
        self.standby.remove(waker)
    }

    /// Registers `waker` on the standby list unless the seat is free (then returns false).
    pub(super) fn standby_for(&self, sitter: Sitter, waker: &Waker) -> bool {
        self.standby.push(sitter, waker);
        // SeqCst: pairs with the fence in `kick_standby`: either this load sees the seat
        // free, or that thread's load sees this entry.
        fence(Ordering::SeqCst);
        if self.seat.is_free() {
            self.standby.remove(waker);
            return false;
        }
        true
    }

    /// Wakes a standby thread to take the seat (a worker, or a `block_on` thread if no worker
    /// waits), because the calling thread will not drive the reactor although it may be the
    /// one expected to (*stand by*):
    ///
    /// - a worker told of a vacancy (woken from standby, or finding the seat free) leaves to
    ///   run tasks or to exit instead of taking the seat; without this the vacancy would be
    ///   swallowed, and the threads still on standby would wait for a seat nobody holds;
    /// - a worker's core was handed off from a blocking section: that worker may be the one
    ///   on duty (*stay on duty*), which left the seat without waking anyone, and will not poll
    ///   again until its section ends;
    /// - a worker thread that was on duty exits;
    /// - a `block_on` call returns, so its thread will not come back to the seat.
    ///
    /// A worker seated in the reactor drives it already, and leaves it on duty or kicks a
    /// standby thread itself: then nobody is woken (a handoff would otherwise wake a standby
    /// thread only to turn it away again, at every section that hands off).
    pub(crate) fn hand_over_duty(&self) {
        if self.seat.held_by_worker() {
            return;
        }
        self.kick_standby(true);
    }

    /// Wakes a standby thread after this thread left the seat: a worker, or, if `any`, a
    /// `block_on` thread if no worker waits.
    pub(super) fn kick_standby(&self, any: bool) {
        // SeqCst: pairs with the fence in `standby_for`.
        fence(Ordering::SeqCst);
        if !self.standby.is_empty() {
            self.standby.kick(any);
        }
    }
}
