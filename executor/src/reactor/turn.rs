//! A turn in the reactor: taking the seat, waiting in the poller, and collecting the wakers of
//! what became ready (the *take the seat*, *compute the wait*, *announce the wait*, *end the wait*
//! and *take over* steps of the protocol in the [module docs](super)); and the poll without the
//! seat of a busy worker (*stay on duty*).

use std::cell::Cell;
use std::io;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::sync::{lock, Ordering};

use super::poller::{Events, Report};
use super::seat::Sitter;
use super::Reactor;

/// How many events one wait collects at most; more stay queued in the kernel for the next one.
const EVENTS_CAPACITY: usize = 1024;

/// How long a worker about to block in the poller polls it first (the spin).
pub(super) const SPIN_TIME: Duration = Duration::from_micros(20);
/// A blocking wait that ended with events within this time says spinning would have paid
/// (the spin); one that lasted longer turns spinning off until a wait is that short
/// again.
pub(super) const SPIN_PAYS_WITHIN: Duration = Duration::from_micros(200);
/// Spin-loop hints between two polls while spinning.
const SPINS_PER_POLL: u32 = 64;

std::thread_local! {
    /// This thread's buffer for the reports of its waits: several threads may wait at once
    /// (one seated, others polling without the seat: *stay on duty*), each into its own buffer.
    static EVENTS: Cell<Option<Events>> = const { Cell::new(None) };
}

/// This thread's event buffer, taken out of [`EVENTS`] (put it back when done).
fn take_events() -> Events {
    EVENTS
        .with(Cell::take)
        .unwrap_or_else(|| Events::with_capacity(EVENTS_CAPACITY))
}

impl Reactor {
    /// [`try_react_unless`](Reactor::try_react_unless) without a wake-up check (for tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn try_react(&self, timeout: Option<Duration>) -> Option<io::Result<()>> {
        self.try_react_unless(timeout, None)
    }

    /// Waits for I/O readiness or the next due timer, at most `timeout` (`None`: until an
    /// event, a timer or [`notify`](Reactor::notify)), and wakes the wakers of ready sources and
    /// due timers. For a parked worker: once seated, it does not block if `woken` reports that
    /// its wake-up already arrived.
    ///
    /// Returns `None` at once, without waiting, if another worker is already in the reactor;
    /// a `block_on` thread's seat it takes over (*take over*). To poll without waiting, call
    /// [`poll`](Reactor::poll), which needs no seat.
    ///
    /// The `woken` check closes a gap in the notification protocol: a notify meant for a thread
    /// that is about to take the seat may be consumed by the thread seated before it (*announce
    /// the wait* consumes any pending notification), and the thread would then block with its
    /// wake-up already delivered to its parker. *Announce the wait* calls `woken` after its SeqCst
    /// RMW on the wake word; a waker records the wake-up under the parker's lock before its own RMW
    /// in `notify`, so either `woken` sees it, or the waker's RMW comes later and sees `WAITING`.
    ///
    /// Only parking workers call it, and loom models park without the reactor.
    #[cfg(not(loom))]
    pub(crate) fn try_react_unless(
        &self,
        timeout: Option<Duration>,
        woken: Option<&dyn Fn() -> bool>,
    ) -> Option<io::Result<()>> {
        let seated = match self.seat.try_take(Sitter::Worker) {
            true => true,
            false if self.seat.try_mark_takeover() => {
                self.notify();
                self.seat.wait_handoff();
                true
            }
            false => false,
        };
        seated.then(|| self.react_seated(Sitter::Worker, timeout, woken))
    }

    /// Like [`try_react_unless`](Reactor::try_react_unless) for a `block_on` thread: it takes
    /// the seat softly, never takes it over, and leaves it to the workers while one is on duty
    /// (*stay on duty*): then it returns `Err` with the end of the duty lease, until which the
    /// caller parks.
    pub(super) fn try_react_soft(
        &self,
        timeout: Option<Duration>,
        woken: &dyn Fn() -> bool,
    ) -> Result<Option<io::Result<()>>, Instant> {
        if let Some(until) = self.duty_deadline() {
            return Err(until);
        }
        Ok(self
            .seat
            .try_take(Sitter::BlockOn)
            .then(|| self.react_seated(Sitter::BlockOn, timeout, Some(woken))))
    }

    /// One turn in the seat: *compute the wait* to *end the wait*. Leaves the seat before
    /// returning.
    fn react_seated(
        &self,
        sitter: Sitter,
        timeout: Option<Duration>,
        woken: Option<&dyn Fn() -> bool>,
    ) -> io::Result<()> {
        let mut wakers = Vec::new();
        let result = self.react_turn(sitter, timeout, woken, &mut wakers);
        self.seat.leave(sitter);
        // Stand by: a worker leaves on duty instead of kicking a standby thread (*stay on duty*).
        match sitter {
            Sitter::Worker if result.is_ok() => self.leave_on_duty(),
            _ => self.kick_standby(false),
        }
        for waker in wakers {
            crate::task::wake_quietly(waker);
        }
        result
    }

    /// *Compute the wait* to *end the wait*, collecting the wakers to wake once the seat is left.
    fn react_turn(
        &self,
        sitter: Sitter,
        timeout: Option<Duration>,
        woken: Option<&dyn Fn() -> bool>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        let now = Instant::now();
        let mut wait = self.plan_wait(now, timeout, wakers);
        let mut events = take_events();
        let spun = sitter == Sitter::Worker && self.spin_if_it_pays(&mut events, wait, now);
        if spun {
            wait = Some(Duration::ZERO);
        }
        let blocking = wait != Some(Duration::ZERO);
        if blocking && self.announce_wait(woken) {
            wait = Some(Duration::ZERO);
        }
        let started = Instant::now();
        let result = match spun {
            true => Ok(()),
            false => self.poller.wait(&mut events, wait),
        };
        // The wait is over: a timer armed from now on needs no notify (this thread collects
        // due timers below, and the next wait reads every shard's hint), which would only
        // turn the next wait into a wasted zero-timeout turn.
        self.timers.set_awake();
        if wait != Some(Duration::ZERO) {
            self.judge_spin(&events, started);
        }
        if blocking {
            self.end_wait();
        }
        self.dispatch(&events, wakers, true);
        EVENTS.with(|cell| cell.set(Some(events)));
        self.timers.take_due(Instant::now(), wakers);
        result
    }

    /// *Compute the wait*: collects the wakers of due timers and returns how long to wait:
    /// `timeout`, shortened to the next timer, or zero if a timer was due (its waker has work to
    /// do); `None` waits until an event or a notify. Records the deadline the wait ends at, for
    /// [`insert_timer`](Reactor::insert_timer) to know whether to notify (*arm an earlier timer*).
    fn plan_wait(
        &self,
        now: Instant,
        timeout: Option<Duration>,
        wakers: &mut Vec<Waker>,
    ) -> Option<Duration> {
        let next = self.timers.take_due(now, wakers);
        let mut wait = match (wakers.is_empty(), next, timeout) {
            (false, _, _) => Some(Duration::ZERO),
            (true, Some(deadline), Some(t)) => Some(t.min(deadline.saturating_duration_since(now))),
            (true, Some(deadline), None) => Some(deadline.saturating_duration_since(now)),
            (true, None, t) => t,
        };
        if wait != Some(Duration::ZERO) {
            // A timer armed since `take_due` shortens the wait.
            if let Some(earlier) = self.timers.sleep(wait.and_then(|w| now.checked_add(w))) {
                wait = Some(earlier.saturating_duration_since(now));
            }
        }
        wait
    }

    /// The spin: before a wait that may block, polls for a short while if that paid
    /// off lately, so that an event due any moment costs no sleep and wake-up. True if it
    /// collected events into `events`.
    fn spin_if_it_pays(&self, events: &mut Events, wait: Option<Duration>, now: Instant) -> bool {
        // Relaxed: only the seated thread uses `spin_pays`, and the seat orders the turns.
        wait != Some(Duration::ZERO)
            && self.spin_pays.load(Ordering::Relaxed)
            && self.spin(events, wait, now)
    }

    /// The spin: polls without waiting for up to [`SPIN_TIME`] (less if `wait` ends
    /// sooner); true as soon as a poll collected events into `events`. A pending notification
    /// ends the spin with false, for *announce the wait* to consume.
    fn spin(&self, events: &mut Events, wait: Option<Duration>, now: Instant) -> bool {
        let spin = wait.map_or(SPIN_TIME, |w| w.min(SPIN_TIME));
        let deadline = now + spin;
        loop {
            if self.is_notified() {
                return false;
            }
            // A zero-timeout epoll wait returns without locking anything when nothing is
            // ready, unlike `poll(2)` on the epoll descriptor. An error shows up again in the
            // wait that follows.
            if self.poller.wait(events, Some(Duration::ZERO)).is_ok() && !events.is_empty() {
                self.spin_pays.store(true, Ordering::Relaxed);
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            for _ in 0..SPINS_PER_POLL {
                std::hint::spin_loop();
            }
        }
    }

    /// The spin: after a wait that might have blocked, records whether spinning would
    /// have paid, that is whether events came within [`SPIN_PAYS_WITHIN`]. (Not judged on a
    /// wait that *announce the wait* turned into a poll: that says nothing about spinning.)
    fn judge_spin(&self, events: &Events, started: Instant) {
        let soon = !events.is_empty() && started.elapsed() <= SPIN_PAYS_WITHIN;
        // Relaxed: see `spin_if_it_pays`.
        self.spin_pays.store(soon, Ordering::Relaxed);
    }

    /// Polls without waiting and without the seat (*stay on duty*): wakes the wakers of ready
    /// sources and due timers, renews the duty lease, and returns whether it woke anything.
    ///
    /// Cheap when nothing is ready: one clock read, the poller's syscall, and one atomic load
    /// per timer shard (a shard is locked only if its earliest timer may be due); the duty
    /// lease is renewed only when half of it has run out.
    pub(crate) fn poll(&self) -> io::Result<bool> {
        let now = Instant::now();
        self.renew_duty(now);
        let mut wakers = Vec::new();
        let mut events = take_events();
        let result = self.poller.wait(&mut events, Some(Duration::ZERO));
        self.dispatch(&events, &mut wakers, false);
        EVENTS.with(|cell| cell.set(Some(events)));
        self.timers.take_due(now, &mut wakers);
        let woke = !wakers.is_empty();
        for waker in wakers {
            crate::task::wake_quietly(waker);
        }
        result.map(|()| woke)
    }

    /// *End the wait*: records the readiness reported in `events` and collects the wakers of ready
    /// sources. A notification collected by a thread that is not `seated` was meant for the
    /// seated one: it is passed on if that thread still waits (*stay on duty*).
    fn dispatch(&self, events: &Events, wakers: &mut Vec<Waker>, seated: bool) {
        if events.is_empty() {
            return;
        }
        let sources = lock(&self.sources);
        for report in events.iter() {
            match report {
                Report::Source { key, event } => {
                    if let Some(source) = sources.get(key) {
                        source.set_ready(event, wakers);
                    }
                }
                // Acquire: pairs with the seated thread's RMW setting `WAITING` (*announce the
                // wait*); if it has already cleared it, the `NOTIFIED` flag reaches the next waiter
                // instead.
                Report::Notified if !seated && self.is_waiting(Ordering::Acquire) => {
                    // A failed notify leaves the waiter to its timeout (see `notify`).
                    let _ = self.poller.notify();
                }
                Report::Notified => {}
            }
        }
    }
}
