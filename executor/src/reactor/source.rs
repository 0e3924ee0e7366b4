//! A registered I/O source: its readiness word and the wakers waiting on it.
//!
//! Sources are registered edge-triggered, so the poller reports a direction only when it
//! *becomes* ready. The reactor records each report in the readiness word: the direction's bit,
//! and a tick that counts reports. An operation that fails with `WouldBlock` clears the bit,
//! but only if the tick has not moved since it read the word before the operation
//! ([`Source::clear_readiness`]); a report that came in between leaves the bit set, so the
//! task retries instead of waiting for an edge that already passed (tokio's `ScheduledIo`
//! scheme).
//!
//! A read or write on a stream socket that moved fewer bytes than asked for, but some, proves
//! the socket drained (or its send buffer full) at that moment, so it clears the bit the same
//! way ([`Source::clear_drained`]) and the next attempt waits for the next edge instead of
//! failing with `WouldBlock` first. That needs to know when a direction is closed for good (the
//! peer shut its side down, the connection hung up or failed): a short read may return the
//! last bytes before an end of stream that was reported together with them, and no further
//! edge comes. So a report also records a *closed* bit per direction, which stays set, and a
//! direction known closed is never cleared by a short transfer.

use super::drivers::assert_driven;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::sync::{lock, AtomicUsize, Mutex, Ordering};

/// Readiness bit: the source was reported readable since the last `WouldBlock` read.
const READABLE: usize = 1 << 0;
/// Readiness bit: the source was reported writable since the last `WouldBlock` write.
const WRITABLE: usize = 1 << 1;
/// Sticky bit: a report said the read side may be closed for good.
const READ_CLOSED: usize = 1 << 2;
/// Sticky bit: a report said the write side may be closed for good.
const WRITE_CLOSED: usize = 1 << 3;
/// The tick (count of readiness reports) sits above the four bits.
const TICK_SHIFT: u32 = 4;

/// A direction of I/O on a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Reading (or accepting).
    Read,
    /// Writing (or connecting).
    Write,
}

impl Direction {
    /// The direction's readiness bit.
    fn bit(self) -> usize {
        match self {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        }
    }

    /// The direction's sticky closed bit.
    fn closed_bit(self) -> usize {
        match self {
            Direction::Read => READ_CLOSED,
            Direction::Write => WRITE_CLOSED,
        }
    }

    /// The direction's index in `Source::wakers`.
    fn index(self) -> usize {
        match self {
            Direction::Read => 0,
            Direction::Write => 1,
        }
    }
}

/// What one poller report says about a source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    /// It became readable (or hung up, or failed).
    pub(crate) readable: bool,
    /// It became writable (or hung up, or failed).
    pub(crate) writable: bool,
    /// Its read side may be closed for good: the peer shut down its writing, or the
    /// connection hung up or failed. A poller that cannot tell says yes with every read report.
    pub(crate) read_closed: bool,
    /// Its write side may be closed for good: the connection hung up or failed. A poller that
    /// cannot tell says yes with every write report.
    pub(crate) write_closed: bool,
}

impl Event {
    /// Ready both ways.
    pub(crate) const BOTH: Event = Event {
        readable: true,
        writable: true,
        read_closed: false,
        write_closed: false,
    };

    /// The readiness word's bits for this report; a closed bit comes only with its
    /// direction's readiness.
    fn bits(self) -> usize {
        let bit = |set: bool, bit: usize| if set { bit } else { 0 };
        bit(self.readable, READABLE)
            | bit(self.writable, WRITABLE)
            | bit(self.readable && self.read_closed, READ_CLOSED)
            | bit(self.writable && self.write_closed, WRITE_CLOSED)
    }
}

/// A snapshot of a source's readiness word, taken before an I/O attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Readiness(usize);

impl Readiness {
    /// Whether `dir` was ready in this snapshot.
    pub(crate) fn is_ready(self, dir: Direction) -> bool {
        self.0 & dir.bit() != 0
    }

    /// The report count in this snapshot.
    fn tick(self) -> usize {
        self.0 >> TICK_SHIFT
    }
}

/// The tasks waiting on one direction of a source.
#[derive(Debug, Default)]
struct Waiters {
    /// The waker of the `poll_read` / `poll_write` path (one per direction, like async-io).
    waker: Option<Waker>,
    /// Wakers of `readable()` / `writable()` / `read_with` futures, one entry per future.
    futures: Slab<Option<Waker>>,
}

impl Waiters {
    /// Moves every waker out into `wakers`.
    fn drain_into(&mut self, wakers: &mut Vec<Waker>) {
        wakers.extend(self.waker.take());
        wakers.extend(self.futures.iter_mut().filter_map(|(_, w)| w.take()));
    }
}

/// A registered file descriptor, as the reactor sees it.
#[derive(Debug)]
pub(crate) struct Source {
    /// Its key in the reactor's slab and in the poller.
    key: usize,
    /// `tick << TICK_SHIFT | WRITABLE? | READABLE?`.
    readiness: AtomicUsize,
    /// Waiters for reading and writing.
    wakers: Mutex<[Waiters; 2]>,
}

impl Source {
    /// A new source, optimistically ready both ways: the first attempt tells.
    pub(super) fn new(key: usize) -> Source {
        Source {
            key,
            readiness: AtomicUsize::new(READABLE | WRITABLE),
            wakers: Mutex::new(Default::default()),
        }
    }

    /// Its key in the poller.
    pub(super) fn key(&self) -> usize {
        self.key
    }

    /// Reads the readiness word, to pass to [`Source::clear_readiness`] after an attempt.
    pub(crate) fn readiness(&self) -> Readiness {
        // Relaxed: a stale snapshot only makes `clear_readiness` keep a bit set (a retry); the
        // handoff of wakers is ordered by the `wakers` mutex.
        Readiness(self.readiness.load(Ordering::Relaxed))
    }

    /// Records a readiness report and moves the wakers of the ready directions into `wakers`.
    pub(super) fn set_ready(&self, event: Event, wakers: &mut Vec<Waker>) {
        let bits = event.bits();
        if bits == 0 {
            return;
        }
        // Relaxed: RMWs on this word are totally ordered among themselves, which is all
        // `clear_readiness` relies on; waiters read it under the `wakers` lock taken below.
        let _ = self
            .readiness
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
                let tick = (word >> TICK_SHIFT).wrapping_add(1);
                Some(tick << TICK_SHIFT | word & ((1 << TICK_SHIFT) - 1) | bits)
            });
        let mut waiters = lock(&self.wakers);
        if event.readable {
            waiters[Direction::Read.index()].drain_into(wakers);
        }
        if event.writable {
            waiters[Direction::Write.index()].drain_into(wakers);
        }
    }

    /// Clears `dir`'s bit after an attempt failed with `WouldBlock`, unless a report came in
    /// since `seen` was read.
    pub(crate) fn clear_readiness(&self, dir: Direction, seen: Readiness) {
        self.clear_unless(dir, seen, 0);
    }

    /// Clears `dir`'s bit after a transfer on a stream socket moved fewer bytes than asked for
    /// (but some), which proves the socket drained (reading) or its buffer full (writing):
    /// unless a report came in since `seen` was read, or a report said `dir` may be closed for
    /// good (then no further edge would come, and the next attempt must see the end).
    pub(crate) fn clear_drained(&self, dir: Direction, seen: Readiness) {
        self.clear_unless(dir, seen, dir.closed_bit());
    }

    /// Clears `dir`'s bit unless the tick moved since `seen` or a bit of `keep` is set.
    fn clear_unless(&self, dir: Direction, seen: Readiness, keep: usize) {
        // Relaxed: see `set_ready`; a CAS loop so a concurrent report is never lost.
        let _ = self
            .readiness
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
                (Readiness(word).tick() == seen.tick() && word & dir.bit() != 0 && word & keep == 0)
                    .then_some(word & !dir.bit())
            });
    }

    /// Registers the task's waker for the `poll_read` / `poll_write` path of `dir`, unless
    /// `dir` is ready.
    pub(crate) fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>) -> Poll<()> {
        if self.readiness().is_ready(dir) {
            return Poll::Ready(());
        }
        let mut waiters = lock(&self.wakers);
        // Checked again under the lock: `set_ready` writes the word before taking it.
        if self.readiness().is_ready(dir) {
            return Poll::Ready(());
        }
        let slot = &mut waiters[dir.index()].waker;
        match slot {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        drop(waiters);
        assert_driven("a baton socket");
        Poll::Pending
    }

    /// Like [`Source::poll_ready`], for a future that owns a waker entry (`*key`, allocated on
    /// first use and released by [`Source::release_entry`]).
    pub(crate) fn poll_ready_entry(
        &self,
        dir: Direction,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if self.readiness().is_ready(dir) {
            return Poll::Ready(());
        }
        let mut waiters = lock(&self.wakers);
        if self.readiness().is_ready(dir) {
            return Poll::Ready(());
        }
        let futures = &mut waiters[dir.index()].futures;
        match key.and_then(|i| futures.get_mut(i)) {
            Some(Some(waker)) if waker.will_wake(cx.waker()) => {}
            Some(stale) => *stale = Some(cx.waker().clone()),
            None => *key = Some(futures.insert(Some(cx.waker().clone()))),
        }
        drop(waiters);
        assert_driven("a baton socket");
        Poll::Pending
    }

    /// Releases a waker entry allocated by [`Source::poll_ready_entry`].
    pub(crate) fn release_entry(&self, dir: Direction, key: &mut Option<usize>) {
        if let Some(index) = key.take() {
            lock(&self.wakers)[dir.index()].futures.try_remove(index);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize as StdCount, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(StdCount);

    /// A report of readability alone.
    const READ: Event = Event {
        readable: true,
        writable: false,
        read_closed: false,
        write_closed: false,
    };
    /// A report of writability alone.
    const WRITE: Event = Event {
        readable: false,
        writable: true,
        read_closed: false,
        write_closed: false,
    };

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn report_during_an_attempt_keeps_the_bit() {
        let source = Source::new(0);
        source.clear_readiness(Direction::Write, source.readiness());
        let mut wakers = Vec::new();
        source.set_ready(READ, &mut wakers);
        let seen = source.readiness();
        assert!(seen.is_ready(Direction::Read));
        assert!(!seen.is_ready(Direction::Write));
        // A report arrives while the attempt runs: the clear must not erase it.
        source.set_ready(READ, &mut wakers);
        source.clear_readiness(Direction::Read, seen);
        assert!(source.readiness().is_ready(Direction::Read));
        // With no report in between, the clear takes effect.
        let seen = source.readiness();
        source.clear_readiness(Direction::Read, seen);
        assert!(!source.readiness().is_ready(Direction::Read));
    }

    #[test]
    fn a_short_transfer_clears_unless_closed_or_reported_since() {
        let source = Source::new(0);
        let mut wakers = Vec::new();
        source.set_ready(READ, &mut wakers);
        let seen = source.readiness();
        source.set_ready(READ, &mut wakers);
        source.clear_drained(Direction::Read, seen);
        assert!(
            source.readiness().is_ready(Direction::Read),
            "a report since"
        );
        source.clear_drained(Direction::Read, source.readiness());
        assert!(!source.readiness().is_ready(Direction::Read));
        // A report of a hang-up: the side stays readable for good.
        let closed = Event {
            read_closed: true,
            ..READ
        };
        source.set_ready(closed, &mut wakers);
        source.set_ready(READ, &mut wakers);
        source.clear_drained(Direction::Read, source.readiness());
        assert!(source.readiness().is_ready(Direction::Read), "closed");
        // `WouldBlock` still clears it (the operation said so), and the write side is apart.
        source.clear_readiness(Direction::Read, source.readiness());
        assert!(!source.readiness().is_ready(Direction::Read));
        source.clear_drained(Direction::Write, source.readiness());
        assert!(!source.readiness().is_ready(Direction::Write));
    }

    #[test]
    fn report_wakes_only_its_direction() {
        // Waiting on a source asserts that something drives the reactor: count as a driver,
        // whether or not another test runs a runtime meanwhile.
        let _driver = crate::reactor::Driver::start();
        let source = Source::new(0);
        for dir in [Direction::Read, Direction::Write] {
            source.clear_readiness(dir, source.readiness());
        }
        let reader = Arc::new(Count(StdCount::new(0)));
        let writer = Arc::new(Count(StdCount::new(0)));
        let reader_waker = Waker::from(reader.clone());
        let writer_waker = Waker::from(writer.clone());
        let mut key = None;
        assert!(source
            .poll_ready(Direction::Read, &mut Context::from_waker(&reader_waker))
            .is_pending());
        assert!(source
            .poll_ready_entry(
                Direction::Write,
                &mut key,
                &mut Context::from_waker(&writer_waker)
            )
            .is_pending());
        let mut wakers = Vec::new();
        source.set_ready(READ, &mut wakers);
        wakers.into_iter().for_each(Waker::wake);
        assert_eq!(reader.0.load(SeqCst), 1);
        assert_eq!(writer.0.load(SeqCst), 0);
        let mut wakers = Vec::new();
        source.set_ready(WRITE, &mut wakers);
        wakers.into_iter().for_each(Waker::wake);
        assert_eq!(writer.0.load(SeqCst), 1);
        source.release_entry(Direction::Write, &mut key);
        assert!(key.is_none());
        assert!(lock(&source.wakers)[1].futures.is_empty());
    }
}
