//! The reactor: I/O readiness (epoll, or `polling` elsewhere) and timers, driven by idle threads.
//!
//! There is one reactor per process, like async-io's. No thread is dedicated to it: an idle
//! worker (or a thread in [`block_on`]) *sits in* the reactor, waiting in the poller until a
//! source is ready, a timer is due or someone calls [`Reactor::notify`]; busy workers poll it
//! without waiting every few dozen task polls, so I/O and timers progress under load.
//!
//! - [`poller`]: the OS poller, one backend per platform family.
//! - [`source`]: a registered file descriptor, its readiness word and its wakers.
//! - [`timers`]: pending timers, in one shard per core.
//! - [`wheel`]: the hierarchical timer wheel of one shard.
//! - [`seat`]: who sits in the reactor, and how a runtime worker takes the seat from a
//!   `block_on` thread.
//! - [`block_on`](mod@block_on): running a future on the current thread, waiting in the reactor
//!   when the seat is free.
//!
//! # The protocol
//!
//! The *seat* is the right to call the poller's `wait`; the *wake word* holds two flags,
//! `WAITING` (the seated thread is in, or about to enter, a wait that may block) and `NOTIFIED`
//! (a [`Reactor::notify`] has not been consumed yet).
//!
//! 1. A thread takes the seat with one compare-and-swap ([`Seat::try_take`]). A runtime worker
//!    takes it *hard*, a `block_on` thread *soft*. If the seat is taken,
//!    [`Reactor::try_react_unless`] returns `None` at once and the caller parks on its own parker,
//!    with one exception: a worker takes a *soft* seat over (step 7). (A busy worker's poll
//!    without waiting, [`Reactor::poll`], needs no seat: step 10.)
//! 2. Seated, the thread removes the due timers and computes the wait: the caller's timeout,
//!    shortened to the next timer, or zero if any timer was due (its waker has work to do). With
//!    no timer pending and no caller timeout the wait has no timeout: an idle runtime has no
//!    periodic wake-ups. It then records the deadline it will sleep until, and shortens the
//!    wait if a timer was armed meanwhile, so that arming an earlier timer knows to call
//!    `notify` (step 6, and see [`timers`]).
//!    A worker about to block first polls without waiting for up to [`SPIN_TIME`] (step 3a):
//!    under load the next event is usually microseconds away, and a sleep and wake-up in the
//!    poller cost more than that. A pending notification ends the spin. It spins only while
//!    that pays: a blocking wait that outlasts [`SPIN_PAYS_WITHIN`] turns spinning off until a
//!    wait is that short again, so a quiet or slow-paced runtime does not burn CPU.
//! 3. Before a wait that may block, the thread sets `WAITING` with one read-modify-write on the
//!    wake word. If that RMW sees `NOTIFIED`, a notification came before the wait: the thread
//!    consumes it (clears the flag) and the wait becomes a zero-timeout poll.
//! 4. [`Reactor::notify`] sets `NOTIFIED` with one RMW on the same word, and calls the poller's
//!    notify (a syscall) only if that RMW saw `WAITING` and not `NOTIFIED`. Both sides act on
//!    one atomic word, so their RMWs are totally ordered: either the notifier's comes first and
//!    step 3 sees `NOTIFIED`, or the seated thread's comes first and the notifier sees
//!    `WAITING` and wakes the poller. No wake-up is lost, and a notify with nobody waiting costs
//!    one RMW and no syscall. A notification that nobody consumes makes the next wait return at
//!    once: a spurious return, never a missed one.
//! 5. After the wait the thread clears `WAITING` only: a notification that arrived after its
//!    wait returned belongs to the next waiter, which consumes it in step 3. It records the
//!    readiness of each reported source (a tick-stamped word, see [`source`]), removes the
//!    timers that became due, leaves the seat, and only then wakes the collected wakers, so
//!    another idle thread can take the seat while the woken tasks are scheduled.
//! 6. Arming a timer earlier than the deadline recorded in step 2 calls `notify`, so the seated
//!    thread recomputes its wait; a later timer costs no wake-up.
//! 7. Take-over: a worker that finds a `block_on` thread seated marks the seat (one CAS, so only
//!    one worker waits for it), calls `notify`, and waits on the seat's handoff latch. The
//!    `block_on` thread leaves its wait (step 4), and on leaving passes the seat straight to the
//!    worker. So the thread that drives I/O under load is a worker, whose wakes stay on its own
//!    core, and not the thread that waits for the runtime's result.
//! 8. A thread turned away by a taken seat registers a waker on the *standby* list, then re-checks
//!    the seat after a `SeqCst` fence; a thread leaving the seat checks the list after a fence too,
//!    so one of them sees the other and no vacancy is missed. A `block_on` thread leaving the seat
//!    (or a worker whose poller failed) wakes the oldest standby *worker*, which retries the seat
//!    and so takes it if nobody else did ([`Reactor::wait_for_seat`]); a worker leaving the seat
//!    stays on duty instead (step 10). A worker told of a vacancy (its entry kicked, or the seat
//!    found free) that leaves with a token instead, for work or to exit, passes the vacancy on to
//!    the next standby thread ([`Reactor::pass_on_vacancy`]): otherwise the kick would be
//!    swallowed, and the threads still on standby would wait for a seat that nobody holds. A
//!    `block_on` thread on standby is woken when a `block_on` call returns (it will not come back
//!    to the seat) and no worker waits, and of course by its future's waker. Waking `block_on`
//!    threads on every turn would make the thread waiting for the runtime's result take the seat
//!    from the workers at each of their turns.
//! 9. The runtime's duty, so the reactor is never stranded: busy workers poll with a zero
//!    timeout every few dozen task polls, and once more when they run out of work while
//!    another core runs; a parking worker calls [`Reactor::try_react_unless`] with no
//!    timeout, and when that returns `None` it calls [`Reactor::wait_for_seat`] with a waker
//!    that makes its park retry the reactor (and [`Reactor::cancel_wait_for_seat`] when it is
//!    woken for work instead). Then a worker that leaves the seat to run tasks that block in a
//!    section, or a runtime that shuts down while its worker sits, hands the seat to a waiting
//!    thread of any runtime in the process.
//!
//! 10. Zero-timeout polls need no seat: a busy worker polls into its own buffer while another
//!     thread may block in the poller (epoll allows it; elsewhere `polling` turns such a poll
//!     into a no-op). A notification edge collected by such a poll was meant for the blocked
//!     thread, so it is re-sent while `WAITING` is set. So a worker that leaves the seat to run
//!     tasks stays *on duty* instead of waking a standby thread for the seat (a futex wake and
//!     a sleep in the poller on every turn): it polls every few dozen task polls, and comes
//!     back to the seat when it parks. A worker thread that ever left on duty wakes a standby
//!     thread when it exits. Leaving the seat or polling without it renews a *duty lease*
//!     ([`DUTY_LEASE`]); while it runs, a `block_on` thread does not take the seat (it would
//!     catch the workers' events and wake their tasks from outside the runtime) but parks
//!     until its future is woken or the lease ends, then tries again.
//!
//! # Caveats
//!
//! Sources are registered edge-triggered: with epoll directly on Linux and Android, through
//! `polling` on kqueue (macOS, the BSDs); see [`poller`]. Other platforms are not supported:
//! [`Reactor::get`] panics there.
//!
//! A worker on duty (step 10) whose section is handed off wakes a standby thread for the seat
//! ([`Reactor::hand_over_duty`]), also at the thread cap, where no spare replaces it on its
//! core. One that blocks in an unannotated call (outside any section) hands the seat over the
//! same way once the monitor takes its poll over ([`crate::detect`]): until then, about one
//! to two detection thresholds, the I/O and timers of idle cores wait.

mod block_on;
mod drivers;
mod poller;
mod seat;
mod source;
mod standby;
mod timers;
mod wheel;

pub(crate) use block_on::block_on;
pub(crate) use drivers::{assert_driven, Driver};
pub(crate) use source::{Direction, Source};

use std::cell::Cell;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::OnceLock;
use std::task::Waker;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::sync::{fence, lock, Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};

use poller::{Events, Poller, Report};
use seat::{Seat, Sitter};
use standby::Standby;
use timers::Timers;

/// Wake-word flag: the seated thread is in, or about to enter, a wait that may block.
const WAITING: usize = 1 << 0;
/// Wake-word flag: a notification has not been consumed by a wait yet.
const NOTIFIED: usize = 1 << 1;

/// How many events one wait collects at most; more stay queued in the kernel for the next one.
const EVENTS_CAPACITY: usize = 1024;

/// How long a worker about to block in the poller polls it first (step 3a).
const SPIN_TIME: Duration = Duration::from_micros(20);
/// How long a worker counts as on duty after it left the seat or polled without it (step 10):
/// many times the interval at which a busy worker polls.
const DUTY_LEASE: Duration = Duration::from_millis(1);
/// A poll renews the duty lease only once this much of it, in nanoseconds, has run out.
const DUTY_RENEWAL: u64 = DUTY_LEASE.as_nanos() as u64 / 2;
/// A blocking wait that ended with events within this time says spinning would have paid
/// (step 3a); one that lasted longer turns spinning off until a wait is that short again.
const SPIN_PAYS_WITHIN: Duration = Duration::from_micros(200);
/// Spin-loop hints between two polls while spinning.
const SPINS_PER_POLL: u32 = 64;

std::thread_local! {
    /// Set once this worker thread has left the seat on duty (step 10); its exit then wakes a
    /// standby thread, since it will not come back to the seat.
    static ON_DUTY: OnDuty = const { OnDuty(Cell::new(false)) };

    /// This thread's buffer for the reports of its waits: several threads may wait at once
    /// (one seated, others polling without the seat, step 10), each into its own buffer.
    static EVENTS: Cell<Option<Events>> = const { Cell::new(None) };
}

/// The process-wide reactor: a poller, its registered sources, and the pending timers.
pub(crate) struct Reactor {
    /// The OS poller (epoll or kqueue).
    poller: Poller,
    /// Who sits in the reactor (protocol steps 1 and 7).
    seat: Seat,
    /// `WAITING | NOTIFIED` (protocol steps 3 to 5).
    wake: AtomicUsize,
    /// Registered sources by poller key.
    sources: Mutex<Slab<Arc<Source>>>,
    /// Pending timers.
    timers: Timers,
    /// Threads turned away by a taken seat (protocol steps 8 and 9).
    standby: Standby,
    /// Reference point of `duty_until`.
    epoch: Instant,
    /// Nanoseconds after `epoch` until which a worker is on duty (step 10).
    duty_until: AtomicU64,
    /// Whether the seated thread's spin before a blocking wait found events lately (step 3a).
    spin_pays: AtomicBool,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("seat", &self.seat)
            .field("wake", &self.wake.load(Ordering::Relaxed))
            .field("sources", &lock(&self.sources).len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

/// This thread's event buffer, taken out of [`EVENTS`] (put it back when done).
fn take_events() -> Events {
    EVENTS
        .with(Cell::take)
        .unwrap_or_else(|| Events::with_capacity(EVENTS_CAPACITY))
}

/// A worker thread's duty flag; see [`ON_DUTY`].
struct OnDuty(Cell<bool>);

impl Drop for OnDuty {
    fn drop(&mut self) {
        if self.0.get() {
            Reactor::get().after_leaving(true);
        }
    }
}

impl Reactor {
    /// The process-wide reactor, created on first use.
    ///
    /// # Panics
    ///
    /// If the OS poller cannot be created (out of file descriptors), or does not support
    /// edge-triggered mode.
    pub(crate) fn get() -> &'static Reactor {
        // A one-time initialisation, not part of the protocol: std's `OnceLock` even under loom,
        // whose models build their own `Reactor` values instead of this global.
        static REACTOR: OnceLock<Reactor> = OnceLock::new();
        REACTOR.get_or_init(|| {
            let poller = Poller::new()
                .unwrap_or_else(|err| panic!("baton: cannot create the I/O poller: {err}"));
            Reactor {
                poller,
                seat: Seat::new(),
                wake: AtomicUsize::new(0),
                sources: Mutex::new(Slab::new()),
                timers: Timers::new(),
                standby: Standby::default(),
                epoch: Instant::now(),
                duty_until: AtomicU64::new(0),
                spin_pays: AtomicBool::new(true),
            }
        })
    }

    /// [`try_react_unless`](Reactor::try_react_unless) without a wake-up check (for tests).
    #[cfg(test)]
    #[cfg_attr(loom, allow(dead_code))] // loom models park without the reactor
    pub(crate) fn try_react(&self, timeout: Option<Duration>) -> Option<io::Result<()>> {
        self.try_react_unless(timeout, None)
    }

    /// Waits for I/O readiness or the next due timer, at most `timeout` (`None`: until an
    /// event, a timer or [`notify`](Reactor::notify)), and wakes the wakers of ready sources and
    /// due timers. For a parked worker: once seated, it does not block if `woken` reports that
    /// its wake-up already arrived.
    ///
    /// Returns `None` at once, without waiting, if another worker is already in the reactor;
    /// a `block_on` thread's seat it takes over (protocol step 7). To poll without waiting, call
    /// [`poll`](Reactor::poll), which needs no seat.
    ///
    /// The `woken` check closes a gap in the notification protocol: a notify meant for a thread
    /// that is about to take the seat may be consumed by the thread seated before it (step 3
    /// consumes any pending notification), and the thread would then block with its wake-up already
    /// delivered to its parker. Step 3 calls `woken` after its SeqCst RMW on the wake word; a waker
    /// records the wake-up under the parker's lock before its own RMW in `notify`, so either
    /// `woken` sees it, or the waker's RMW comes later and sees `WAITING`.
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

    /// Like [`try_react_unless`](Reactor::try_react_unless) for a `block_on` thread: it takes the
    /// seat softly, never takes it over, and leaves it to the workers while one is on duty (step
    /// 10): then it returns `Err` with the end of the duty lease, until which the caller parks.
    fn try_react_soft(
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

    /// When the current duty lease ends, if a worker is on duty (step 10).
    fn duty_deadline(&self) -> Option<Instant> {
        // Relaxed: the lease is a hint about who drives the reactor, ordered with nothing; a
        // stale value only shortens or lengthens one park of a `block_on` thread.
        let nanos = self.duty_until.load(Ordering::Relaxed);
        let until = self.epoch + Duration::from_nanos(nanos);
        (until > Instant::now()).then_some(until)
    }

    /// Extends the duty lease from `now`: the calling worker polls the reactor without the
    /// seat. Writes the shared word only once half of the lease has run out, so workers that
    /// poll often do not bounce its cache line.
    fn renew_duty(&self, now: Instant) {
        let until = now.saturating_duration_since(self.epoch) + DUTY_LEASE;
        let nanos = u64::try_from(until.as_nanos()).unwrap_or(u64::MAX);
        let stale = nanos.saturating_sub(DUTY_RENEWAL);
        // Relaxed: see `duty_deadline`.
        if self.duty_until.load(Ordering::Relaxed) < stale {
            self.duty_until.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// Makes a thread blocked in the reactor's seat return soon.
    ///
    /// Costs one atomic read-modify-write, and no syscall when no thread is waiting in the
    /// reactor (protocol step 4).
    pub(crate) fn notify(&self) {
        // SeqCst: pairs with the seated thread's RMWs on the same word (steps 3 and 5), so the
        // notifier's prior writes (a queued task) are visible to the thread once it wakes, and
        // with its `woken` check after step 3's RMW (see `try_react_unless`).
        let prev = self.wake.fetch_or(NOTIFIED, Ordering::SeqCst);
        if prev & WAITING != 0 && prev & NOTIFIED == 0 {
            // A failed notify leaves the waiter to its timeout; the poller's notify only fails
            // if its eventfd (or `polling`'s notifier) cannot be written, which it always can.
            let _ = self.poller.notify();
        }
    }

    /// One turn in the seat: steps 2 to 5 of the protocol. Leaves the seat before returning.
    fn react_seated(
        &self,
        sitter: Sitter,
        timeout: Option<Duration>,
        woken: Option<&dyn Fn() -> bool>,
    ) -> io::Result<()> {
        let mut wakers = Vec::new();
        let result = self.react_turn(sitter, timeout, woken, &mut wakers);
        self.seat.leave(sitter);
        // Step 8: a worker leaves on duty instead of kicking a standby thread (step 10).
        match sitter {
            Sitter::Worker if result.is_ok() => {
                ON_DUTY.with(|duty| duty.0.set(true));
                self.renew_duty(Instant::now());
            }
            _ => self.after_leaving(false),
        }
        for waker in wakers {
            waker.wake();
        }
        result
    }

    /// Steps 2 to 5, collecting the wakers to wake once the seat is left.
    fn react_turn(
        &self,
        sitter: Sitter,
        timeout: Option<Duration>,
        woken: Option<&dyn Fn() -> bool>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<()> {
        // Step 2: due timers, and how long to wait.
        let now = Instant::now();
        let next = self.timers.take_due(now, wakers);
        let mut wait = match (wakers.is_empty(), next, timeout) {
            (false, _, _) => Some(Duration::ZERO),
            (true, Some(deadline), Some(t)) => Some(t.min(deadline.saturating_duration_since(now))),
            (true, Some(deadline), None) => Some(deadline.saturating_duration_since(now)),
            (true, None, t) => t,
        };
        if wait != Some(Duration::ZERO) {
            // Record the deadline the wait ends at; a timer armed since `take_due` shortens it.
            if let Some(earlier) = self.timers.sleep(wait.and_then(|w| now.checked_add(w))) {
                wait = Some(earlier.saturating_duration_since(now));
            }
        }
        let mut events = take_events();
        // Step 3a: a worker about to block polls for a short while first, if that paid off
        // lately: an event due any moment then costs no sleep and wake-up.
        // Relaxed: only the seated thread uses `spin_pays`, and the seat orders the turns.
        let spun = sitter == Sitter::Worker
            && wait != Some(Duration::ZERO)
            && self.spin_pays.load(Ordering::Relaxed)
            && self.spin(&mut events, wait, now);
        if spun {
            wait = Some(Duration::ZERO);
        }
        // Step 3: announce the wait; a pending notification turns it into a poll.
        let blocking = wait != Some(Duration::ZERO);
        if blocking {
            // SeqCst: pairs with `notify`'s RMW (step 4), and orders the `woken` load below
            // after it (see `try_react_unless`).
            let prev = self.wake.fetch_or(WAITING, Ordering::SeqCst);
            if prev & NOTIFIED != 0 {
                // Consume the pending notification here, at the start of a wait: it may have
                // been meant for this very thread (sent while it was being handed the seat).
                // AcqRel: like the RMW above, pairs with `notify`'s RMW (step 4).
                self.wake.fetch_and(!NOTIFIED, Ordering::AcqRel);
                wait = Some(Duration::ZERO);
            } else if woken.is_some_and(|woken| woken()) {
                // This thread was woken while it took the seat: do not block.
                wait = Some(Duration::ZERO);
            }
        }
        let result = {
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
                // Step 3a: spinning pays while events follow each other closely. (Not judged on
                // a wait that step 3 turned into a poll: that says nothing about spinning.)
                let soon = !events.is_empty() && started.elapsed() <= SPIN_PAYS_WITHIN;
                self.spin_pays.store(soon, Ordering::Relaxed);
            }
            // Step 5: leave the wait, then collect the wakers of what is ready. A notification is
            // not consumed here: one that arrived after the wait returned is meant for the next
            // waiter (for instance a worker being handed the seat), which consumes it in step 3
            // with at most one spurious zero-timeout poll.
            if blocking {
                // AcqRel: pairs with `notify`'s RMW (step 4); acquiring the notifier's writes.
                self.wake.fetch_and(!WAITING, Ordering::AcqRel);
            }
            self.dispatch(&events, wakers, true);
            result
        };
        EVENTS.with(|cell| cell.set(Some(events)));
        self.timers.take_due(Instant::now(), wakers);
        result
    }

    /// Step 3a: polls without waiting for up to [`SPIN_TIME`] (less if `wait` ends sooner); true as
    /// soon as a poll collected events into `events`. A pending notification ends the spin with
    /// false, for step 3 to consume.
    fn spin(&self, events: &mut Events, wait: Option<Duration>, now: Instant) -> bool {
        let spin = wait.map_or(SPIN_TIME, |w| w.min(SPIN_TIME));
        let deadline = now + spin;
        loop {
            // Relaxed: only a hint; step 3's RMW consumes the notification and polls.
            if self.wake.load(Ordering::Relaxed) & NOTIFIED != 0 {
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

    /// Polls without waiting and without the seat (step 10): wakes the wakers of ready sources
    /// and due timers, renews the duty lease, and returns whether it woke anything.
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
            waker.wake();
        }
        result.map(|()| woke)
    }

    /// Records the readiness reported in `events` and collects the wakers of ready sources. A
    /// notification collected by a thread that is not `seated` was meant for the seated one:
    /// it is passed on if that thread still waits (step 10).
    fn dispatch(&self, events: &Events, wakers: &mut Vec<Waker>, seated: bool) {
        if events.is_empty() {
            return;
        }
        let sources = lock(&self.sources);
        for report in events.iter() {
            match report {
                Report::Source {
                    key,
                    readable,
                    writable,
                } => {
                    if let Some(source) = sources.get(key) {
                        source.set_ready(readable, writable, wakers);
                    }
                }
                // Acquire: pairs with the seated thread's RMW setting `WAITING` (step 3); if it
                // has already cleared it, the `NOTIFIED` flag reaches the next waiter instead.
                Report::Notified if !seated && self.wake.load(Ordering::Acquire) & WAITING != 0 => {
                    // A failed notify leaves the waiter to its timeout (see `notify`).
                    let _ = self.poller.notify();
                }
                Report::Notified => {}
            }
        }
    }

    /// Registers `fd` (already in non-blocking mode) edge-triggered for both directions.
    ///
    /// The caller must call [`Reactor::deregister`] before `fd` is closed.
    pub(crate) fn register(&self, fd: BorrowedFd<'_>) -> io::Result<Arc<Source>> {
        let source = {
            let mut sources = lock(&self.sources);
            let entry = sources.vacant_entry();
            let source = Arc::new(Source::new(entry.key()));
            entry.insert(source.clone());
            source
        };
        if let Err(err) = self.poller.add(fd, source.key()) {
            lock(&self.sources).remove(source.key());
            return Err(err);
        }
        Ok(source)
    }

    /// Deletes `fd` from the poller and forgets its source; wakes nobody.
    pub(crate) fn deregister(&self, source: &Source, fd: BorrowedFd<'_>) -> io::Result<()> {
        lock(&self.sources).try_remove(source.key());
        self.poller.delete(fd)
    }

    /// Arms a timer for `deadline` and returns its id; `waker` is woken once it is due.
    pub(crate) fn insert_timer(&self, deadline: Instant, waker: &Waker) -> u64 {
        let (id, notify) = self.timers.insert(deadline, waker);
        if notify {
            self.notify();
        }
        id
    }

    /// Replaces the waker of a pending timer, or arms it again if it fired; returns its id
    /// (a new one if armed again).
    pub(crate) fn update_timer(&self, deadline: Instant, id: u64, waker: &Waker) -> u64 {
        let (id, notify) = self.timers.update(deadline, id, waker);
        if notify {
            self.notify();
        }
        id
    }

    /// Moves a pending timer to `deadline`, keeping its waker, and returns its id (a new one
    /// if moved); returns `id` unchanged if the timer fired already (its waker was woken, so
    /// its owner polls again and re-arms it with [`update_timer`](Reactor::update_timer)).
    pub(crate) fn reset_timer(&self, id: u64, deadline: Instant) -> u64 {
        match self.timers.reset(id, deadline) {
            Some((moved, notify)) => {
                if notify {
                    self.notify();
                }
                moved
            }
            None => id,
        }
    }

    /// Wakes every pending timer's waker (the timers stay armed) and reports every registered
    /// source ready both ways: the last driver is gone ([`drivers`], step 2).
    fn wake_everything(&self) {
        let mut wakers = Vec::new();
        self.timers.clone_all_wakers(&mut wakers);
        let sources: Vec<Arc<Source>> =
            lock(&self.sources).iter().map(|(_, s)| s.clone()).collect();
        for source in sources {
            source.set_ready(true, true, &mut wakers);
        }
        for waker in wakers {
            waker.wake();
        }
    }

    /// Disarms a timer; a no-op if it already fired.
    pub(crate) fn remove_timer(&self, id: u64) {
        self.timers.remove(id);
    }

    /// Whether `deadline` has passed for sure, as told by a batch of timers fired after it:
    /// lets a woken `Sleep` complete without reading the clock.
    pub(crate) fn timer_fired(&self, deadline: Instant) -> bool {
        self.timers.has_fired(deadline)
    }

    /// Whether a timer is armed (for tests).
    #[cfg(test)]
    #[cfg_attr(loom, allow(dead_code))] // loom models park without the reactor
    pub(crate) fn has_timer(&self, id: u64) -> bool {
        self.timers.contains(id)
    }

    /// After a `try_react` that returned `None`, registers `waker` to be woken once the seat
    /// is vacated, so the caller can retry instead of leaving the reactor unattended (protocol
    /// step 9). Returns false, registering nothing, if the seat is already free: retry now.
    ///
    /// A thread woken for another reason before the vacancy calls
    /// [`cancel_wait_for_seat`](Reactor::cancel_wait_for_seat), so that a later vacancy wakes
    /// a thread that still waits.
    #[cfg_attr(loom, allow(dead_code))] // loom models park without the reactor
    pub(crate) fn wait_for_seat(&self, waker: &Waker) -> bool {
        self.standby_for(Sitter::Worker, waker)
    }

    /// Removes a registration made by [`wait_for_seat`](Reactor::wait_for_seat).
    #[cfg_attr(loom, allow(dead_code))] // loom models park without the reactor
    /// Returns false if the registration was gone: a thread that vacated the seat took it
    /// to wake this one, which must then take the seat or [pass the vacancy
    /// on](Reactor::pass_on_vacancy).
    pub(crate) fn cancel_wait_for_seat(&self, waker: &Waker) -> bool {
        self.standby.remove(waker)
    }

    /// Wakes a standby thread for a vacancy that the calling thread learnt of (it was woken
    /// from standby, or found the seat free) but leaves to run tasks instead of taking the
    /// seat (step 8). Without this, a worker woken from standby at the moment it was handed
    /// work (or told to exit) would swallow the wake-up, and the threads still on standby
    /// would wait for a seat nobody holds.
    #[cfg_attr(loom, allow(dead_code))] // loom models park without the reactor
    pub(crate) fn pass_on_vacancy(&self) {
        self.after_leaving(true);
    }

    /// Registers `waker` on the standby list unless the seat is free (then returns false).
    fn standby_for(&self, sitter: Sitter, waker: &Waker) -> bool {
        self.standby.push(sitter, waker);
        // SeqCst: pairs with the fence in `after_leaving`: either this load sees the seat
        // free, or that thread's load sees this entry.
        fence(Ordering::SeqCst);
        if self.seat.is_free() {
            self.standby.remove(waker);
            return false;
        }
        true
    }

    /// A worker's core was handed off from a blocking section: that worker may be the one
    /// on duty for the reactor (step 10), which left the seat without waking a standby
    /// thread, and will not poll again until its section ends. Wakes a standby thread (a
    /// worker, or a `block_on` thread if no worker waits) to take the seat, so the reactor is
    /// never stranded behind a blocked worker.
    #[cfg_attr(loom, allow(dead_code))] // loom models hand off without the reactor
    pub(crate) fn hand_over_duty(&self) {
        self.after_leaving(true);
    }

    /// Wakes a standby thread after this thread left the seat: a worker, or, if `any` (a
    /// `block_on` call that returns for good), a `block_on` thread if no worker waits.
    fn after_leaving(&self, any: bool) {
        // SeqCst: pairs with the fence in `standby_for`.
        fence(Ordering::SeqCst);
        if !self.standby.is_empty() {
            self.standby.kick(any);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Wake;

    /// A waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Runs `f` while no other test sits in the reactor, so `try_react` gets the seat.
    fn exclusive<R>(f: impl FnOnce() -> R) -> R {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
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
            // ...is consumed by the thread seated before it (step 3 of that thread's turn).
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
            // notifier's edge (step 10).
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
                // No timeout: only the notify sent by arming the timer (step 6) makes its
                // wait account for the timer; the test hangs if that notify is lost.
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
    /// the work, and the second worker must be told of the vacancy instead. Before the fix,
    /// the second worker stayed on standby with the seat free: a runtime's timers and I/O
    /// then waited for good (seen as a hang of `tests/time_timeout.rs`, when another test's
    /// runtime shut down).
    #[test]
    #[ignore = "run in its own process by a_vacancy_is_passed_on_by_a_worker_that_leaves_for_work"]
    fn vacancy_told_to_a_worker_with_work() {
        use crate::park::{Parker, Wake as Token};
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
        reactor.after_leaving(false);
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
}
