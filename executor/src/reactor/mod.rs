//! The reactor: I/O readiness (epoll, or `polling` elsewhere) and timers, driven by idle threads.
//!
//! There is one reactor per process, like async-io's. No thread is dedicated to it: an idle
//! worker (or a thread in [`block_on`](fn@block_on)) *sits in* the reactor, waiting in the
//! poller until a source is ready, a timer is due or someone calls [`Reactor::notify`]; busy
//! workers poll it without waiting every few dozen task polls, so I/O and timers progress
//! under load.
//!
//! - [`poller`]: the OS poller, one backend per platform family.
//! - [`source`]: a registered file descriptor, its readiness word and its wakers.
//! - [`timers`]: pending timers, in one shard per core.
//! - [`wheel`]: the hierarchical timer wheel of one shard.
//! - [`seat`]: who sits in the reactor, and how a runtime worker takes the seat from a
//!   `block_on` thread.
//! - [`wake`]: the wake word, and [`Reactor::notify`].
//! - [`turn`]: a turn in the seat, split into the steps below, and the poll without the seat.
//! - [`duty`]: the duty lease of workers that left the seat, and the standby list's protocol
//!   (the list itself is [`standby`]).
//! - [`drivers`]: who drives the reactor, so that a timer polled when nobody does panics.
//! - [`block_on`](mod@block_on): running a future on the current thread, waiting in the reactor
//!   when the seat is free.
//!
//! # The protocol
//!
//! The *seat* is the right to call the poller's `wait`; the *wake word* holds two flags,
//! `WAITING` (the seated thread is in, or about to enter, a wait that may block) and `NOTIFIED`
//! (a [`Reactor::notify`] has not been consumed yet).
//!
//! 1. **Take the seat.** A thread takes the seat with one compare-and-swap ([`Seat::try_take`]). A
//!    runtime worker takes it *hard*, a `block_on` thread *soft*. If the seat is taken,
//!    [`Reactor::try_react_unless`] returns `None` at once and the caller parks on its own parker,
//!    with one exception: a worker takes a *soft* seat over (*take over*). (A busy worker's poll
//!    without waiting, [`Reactor::poll`], needs no seat: *stay on duty*.)
//! 2. **Compute the wait.** Seated, the thread removes the due timers and computes the wait: the
//!    caller's timeout, shortened to the next timer, or zero if any timer was due (its waker has
//!    work to do). With no timer pending and no caller timeout the wait has no timeout: an idle
//!    runtime has no periodic wake-ups. It then records the deadline it will sleep until, and
//!    shortens the wait if a timer was armed meanwhile, so that arming an earlier timer knows to
//!    call `notify` (*arm an earlier timer*, and see [`timers`]).
//!
//!    *The spin.* A worker about to block first polls without waiting for up to
//!    [`SPIN_TIME`](turn::SPIN_TIME): under load the next event is usually microseconds away,
//!    and a sleep and wake-up in the poller cost more than that. A pending notification ends
//!    the spin. It spins only while that pays: a blocking wait that outlasts
//!    [`SPIN_PAYS_WITHIN`](turn::SPIN_PAYS_WITHIN) turns spinning off until a wait is that short
//!    again, so a quiet or slow-paced runtime does not burn CPU. Comments cite it as "the spin".
//! 3. **Announce the wait.** Before a wait that may block, the thread sets `WAITING` with one
//!    read-modify-write on the wake word. If that RMW sees `NOTIFIED`, a notification came before
//!    the wait: the thread consumes it (clears the flag) and the wait becomes a zero-timeout poll.
//! 4. **Notify.** [`Reactor::notify`] sets `NOTIFIED` with one RMW on the same word, and calls the
//!    poller's notify (a syscall) only if that RMW saw `WAITING` and not `NOTIFIED`. Both sides act
//!    on one atomic word, so their RMWs are totally ordered: either the notifier's comes first and
//!    *announce the wait* sees `NOTIFIED`, or the seated thread's comes first and the notifier sees
//!    `WAITING` and wakes the poller. No wake-up is lost, and a notify with nobody waiting costs
//!    one RMW and no syscall. A notification that nobody consumes makes the next wait return at
//!    once: a spurious return, never a missed one.
//! 5. **End the wait.** After the wait the thread clears `WAITING` only: a notification that
//!    arrived after its wait returned belongs to the next waiter, which consumes it when it
//!    announces its wait. It records the readiness of each reported source (a tick-stamped word,
//!    see [`source`]), removes the timers that became due, leaves the seat, and only then wakes the
//!    collected wakers, so another idle thread can take the seat while the woken tasks are
//!    scheduled.
//! 6. **Arm an earlier timer.** Arming a timer earlier than the deadline recorded by *compute
//!    the wait* calls `notify`, so the seated thread recomputes its wait; a later timer costs no
//!    wake-up.
//! 7. **Take over.** A worker that finds a `block_on` thread seated marks the seat (one CAS, so
//!    only one worker waits for it), calls `notify`, and waits on the seat's handoff latch. The
//!    `block_on` thread leaves its wait (*notify*), and on leaving passes the seat straight to the
//!    worker. So the thread that drives I/O under load is a worker, whose wakes stay on its own
//!    core, and not the thread that waits for the runtime's result.
//! 8. **Stand by.** A thread turned away by a taken seat registers a waker on the *standby* list,
//!    then re-checks the seat after a `SeqCst` fence; a thread leaving the seat checks the list
//!    after a fence too, so one of them sees the other and no vacancy is missed. A `block_on`
//!    thread leaving the seat (or a worker whose poller failed) wakes the oldest standby *worker*,
//!    which retries the seat and so takes it if nobody else did ([`Reactor::wait_for_seat`]); a
//!    worker leaving the seat stays on duty instead (*stay on duty*). A worker told of a vacancy
//!    (its entry kicked, or the seat found free) that leaves with a token instead, for work or to
//!    exit, passes the vacancy on to the next standby thread ([`Reactor::hand_over_duty`]):
//!    otherwise the kick would be swallowed, and the threads still on standby would wait for a seat
//!    that nobody holds. A `block_on` thread on standby is woken when a `block_on` call returns (it
//!    will not come back to the seat) and no worker waits, and of course by its future's waker.
//!    Waking `block_on` threads on every turn would make the thread waiting for the runtime's
//!    result take the seat from the workers at each of their turns.
//! 9. **Never strand the reactor.** The runtime's duty: busy workers poll with a zero
//!    timeout every few dozen task polls, and once more when they run out of work while
//!    another core runs; a parking worker calls [`Reactor::try_react_unless`] with no
//!    timeout, and when that returns `None` it calls [`Reactor::wait_for_seat`] with a waker
//!    that makes its park retry the reactor (and [`Reactor::cancel_wait_for_seat`] when it is
//!    woken for work instead). Then a worker that leaves the seat to run tasks that block in a
//!    section, or a runtime that shuts down while its worker sits, hands the seat to a waiting
//!    thread of any runtime in the process.
//!
//! 10. **Stay on duty.** Zero-timeout polls need no seat: a busy worker polls into its own buffer
//!     while another thread may block in the poller (epoll allows it; elsewhere `polling` turns
//!     such a poll into a no-op). A notification edge collected by such a poll was meant for the
//!     blocked thread, so it is re-sent while `WAITING` is set. So a worker that leaves the seat to
//!     run tasks stays *on duty* instead of waking a standby thread for the seat (a futex wake and
//!     a sleep in the poller on every turn): it polls every few dozen task polls, and comes back to
//!     the seat when it parks. A worker thread that ever left on duty wakes a standby thread when
//!     it exits. Leaving the seat or polling without it renews a *duty lease*
//!     ([`DUTY_LEASE`](duty::DUTY_LEASE)); while it runs, a `block_on` thread does not take the
//!     seat (it would catch the workers' events and wake their tasks from outside the runtime) but
//!     parks until its future is woken or the lease ends, then tries again.
//!
//! # Caveats
//!
//! Sources are registered edge-triggered: with epoll directly on Linux and Android, through
//! `polling` on kqueue (macOS, the BSDs); see [`poller`]. Other platforms are not supported:
//! [`Reactor::get`] panics there.
//!
//! A worker on duty (*stay on duty*) whose section is handed off wakes a standby thread for the
//! seat ([`Reactor::hand_over_duty`]), also at the thread cap, where no spare replaces it on its
//! core. One that blocks in an unannotated call (outside any section) hands the seat over the same
//! way once the monitor takes its poll over ([`crate::detect`]): until then, about one to two
//! detection thresholds, the I/O and timers of idle cores wait.

mod block_on;
mod drivers;
mod duty;
mod poller;
mod seat;
mod source;
mod standby;
mod timers;
mod turn;
mod wake;
mod wheel;

pub(crate) use block_on::block_on;
pub(crate) use drivers::{assert_driven, Driver};
pub(crate) use source::{Direction, Source};

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::OnceLock;
use std::task::Waker;
use std::time::Instant;

use slab::Slab;

use crate::sync::{lock, Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};

use poller::Poller;
use seat::Seat;
use standby::Standby;
use timers::Timers;

/// The process-wide reactor: a poller, its registered sources, and the pending timers.
pub(crate) struct Reactor {
    /// The OS poller (epoll or kqueue).
    poller: Poller,
    /// Who sits in the reactor (the *take the seat* and *take over* steps).
    seat: Seat,
    /// `WAITING | NOTIFIED` (the *announce the wait*, *notify* and *end the wait* steps).
    wake: AtomicUsize,
    /// Registered sources by poller key.
    sources: Mutex<Slab<Arc<Source>>>,
    /// Pending timers.
    timers: Timers,
    /// Threads turned away by a taken seat (the *stand by* and *never strand the reactor* steps).
    standby: Standby,
    /// Reference point of `duty_until`.
    epoch: Instant,
    /// Nanoseconds after `epoch` until which a worker is on duty (*stay on duty*).
    duty_until: AtomicU64,
    /// Whether the seated thread's spin found events lately (the spin).
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
    /// source ready both ways: the last driver is gone ([`drivers`], *wake everything*).
    fn wake_everything(&self) {
        let mut wakers = Vec::new();
        self.timers.clone_all_wakers(&mut wakers);
        let sources: Vec<Arc<Source>> =
            lock(&self.sources).iter().map(|(_, s)| s.clone()).collect();
        for source in sources {
            source.set_ready(source::Event::BOTH, &mut wakers);
        }
        for waker in wakers {
            crate::task::wake_quietly(waker);
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
    #[cfg(all(test, not(loom)))]
    pub(crate) fn has_timer(&self, id: u64) -> bool {
        self.timers.contains(id)
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
