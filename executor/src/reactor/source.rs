//! A registered I/O source: its readiness word and the wakers waiting on it.
//!
//! Sources are registered edge-triggered, so the poller reports a direction only when it
//! *becomes* ready. The reactor records each report in the readiness word: the direction's bit,
//! and a tick that counts reports. An operation that fails with `WouldBlock` clears the bit,
//! but only if the tick has not moved since it read the word before the operation
//! ([`Source::clear_readiness`]); a report that came in between leaves the bit set, so the
//! task retries instead of waiting for an edge that already passed (tokio's `ScheduledIo`
//! scheme).

use super::drivers::assert_driven;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::sync::{lock, AtomicUsize, Mutex, Ordering};

/// Readiness bit: the source was reported readable since the last `WouldBlock` read.
const READABLE: usize = 1 << 0;
/// Readiness bit: the source was reported writable since the last `WouldBlock` write.
const WRITABLE: usize = 1 << 1;
/// The tick (count of readiness reports) sits above the two bits.
const TICK_SHIFT: u32 = 2;

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

    /// The direction's index in `Source::wakers`.
    fn index(self) -> usize {
        match self {
            Direction::Read => 0,
            Direction::Write => 1,
        }
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
    /// Wakers of `readable()` / `writable()` / `read_with` futures, one slot per future.
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
    pub(super) fn set_ready(&self, readable: bool, writable: bool, wakers: &mut Vec<Waker>) {
        let bits = if readable { READABLE } else { 0 } | if writable { WRITABLE } else { 0 };
        if bits == 0 {
            return;
        }
        // Relaxed: RMWs on this word are totally ordered among themselves, which is all
        // `clear_readiness` relies on; waiters read it under the `wakers` lock taken below.
        let _ = self
            .readiness
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
                let tick = (word >> TICK_SHIFT).wrapping_add(1);
                Some(tick << TICK_SHIFT | word & (READABLE | WRITABLE) | bits)
            });
        let mut waiters = lock(&self.wakers);
        if readable {
            waiters[Direction::Read.index()].drain_into(wakers);
        }
        if writable {
            waiters[Direction::Write.index()].drain_into(wakers);
        }
    }

    /// Clears `dir`'s bit after an attempt failed with `WouldBlock`, unless a report came in
    /// since `seen` was read.
    pub(crate) fn clear_readiness(&self, dir: Direction, seen: Readiness) {
        // Relaxed: see `set_ready`; a CAS loop so a concurrent report is never lost.
        let _ = self
            .readiness
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
                (Readiness(word).tick() == seen.tick() && word & dir.bit() != 0)
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

    /// Like [`Source::poll_ready`], for a future that owns a waker slot (`*slot`, allocated on
    /// first use and released by [`Source::release_slot`]).
    pub(crate) fn poll_ready_slot(
        &self,
        dir: Direction,
        slot: &mut Option<usize>,
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
        match slot.and_then(|i| futures.get_mut(i)) {
            Some(Some(waker)) if waker.will_wake(cx.waker()) => {}
            Some(entry) => *entry = Some(cx.waker().clone()),
            None => *slot = Some(futures.insert(Some(cx.waker().clone()))),
        }
        drop(waiters);
        assert_driven("a baton socket");
        Poll::Pending
    }

    /// Releases a waker slot allocated by [`Source::poll_ready_slot`].
    pub(crate) fn release_slot(&self, dir: Direction, slot: &mut Option<usize>) {
        if let Some(index) = slot.take() {
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
        source.set_ready(true, false, &mut wakers);
        let seen = source.readiness();
        assert!(seen.is_ready(Direction::Read));
        assert!(!seen.is_ready(Direction::Write));
        // A report arrives while the attempt runs: the clear must not erase it.
        source.set_ready(true, false, &mut wakers);
        source.clear_readiness(Direction::Read, seen);
        assert!(source.readiness().is_ready(Direction::Read));
        // With no report in between, the clear takes effect.
        let seen = source.readiness();
        source.clear_readiness(Direction::Read, seen);
        assert!(!source.readiness().is_ready(Direction::Read));
    }

    #[test]
    fn report_wakes_only_its_direction() {
        // `poll_ready` checks a driver lives (as a runtime would be): whether another test's
        // runtime happens to be alive meanwhile must not decide this test.
        let _driver = super::super::drivers::Driver::start();
        let source = Source::new(0);
        for dir in [Direction::Read, Direction::Write] {
            source.clear_readiness(dir, source.readiness());
        }
        let reader = Arc::new(Count(StdCount::new(0)));
        let writer = Arc::new(Count(StdCount::new(0)));
        let reader_waker = Waker::from(reader.clone());
        let writer_waker = Waker::from(writer.clone());
        let mut slot = None;
        assert!(source
            .poll_ready(Direction::Read, &mut Context::from_waker(&reader_waker))
            .is_pending());
        assert!(source
            .poll_ready_slot(
                Direction::Write,
                &mut slot,
                &mut Context::from_waker(&writer_waker)
            )
            .is_pending());
        let mut wakers = Vec::new();
        source.set_ready(true, false, &mut wakers);
        wakers.into_iter().for_each(Waker::wake);
        assert_eq!(reader.0.load(SeqCst), 1);
        assert_eq!(writer.0.load(SeqCst), 0);
        let mut wakers = Vec::new();
        source.set_ready(false, true, &mut wakers);
        wakers.into_iter().for_each(Waker::wake);
        assert_eq!(writer.0.load(SeqCst), 1);
        source.release_slot(Direction::Write, &mut slot);
        assert!(slot.is_none());
        assert!(lock(&source.wakers)[1].futures.is_empty());
    }
}
