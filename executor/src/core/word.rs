//! A worker's section word: whether the worker is in a blocking section, and whether its baton
//! was passed on; and its poll word: which poll the worker is in, if any.
//!
//! The section word packs a 2-bit state and a 30-bit epoch that the worker bumps at every
//! section entry, so the monitor can tell "the same section, still running" from "another
//! section" between two looks without reading a clock on the worker's side.
//!
//! This file holds the section word and its handoff (a section entered, left, claimed and
//! published by the monitor) and what the worker records for reports; [`poll`] holds the poll
//! word and the monitor's takeover of a poll that blocks outside any section.

mod poll;
#[cfg(all(test, not(loom)))]
mod tests;

use std::panic::Location;

use crate::queue::Name;
use crate::sync::{AtomicU32, Ordering};
use crate::sys;

pub(crate) use poll::SeenPoll;

/// Not in a section.
const NONE: u32 = 0;
/// In a section that still counts as running (the baton has not passed on).
const IN: u32 = 1;
/// In a section whose baton passed on: the core's running count no longer includes this worker.
const HANDED: u32 = 2;
/// In a section the monitor has claimed and is handing off: it is changing the core's counts
/// and will publish `HANDED` next. A worker leaving its section waits this state out.
const HANDING: u32 = 3;
/// Mask of the state bits.
const STATE_MASK: u32 = 0b11;
/// Set beside `IN` in a section that keeps its baton: its call site has reached its learnt
/// level of concurrency (see [`crate::sites`]), so it gets no replacement at once, none after
/// the grace period, and its poll is not taken over; only a held section that runs far longer
/// (`monitor::HELD_GRACE`) is handed off, in case it waits for another task of the runtime.
const HELD: u32 = 0b100;
/// Shift of the epoch.
const EPOCH_SHIFT: u32 = 3;

/// A snapshot of a section word, as the monitor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen(u32);

impl Seen {
    /// Whether the worker was in a section that still counts as running and may be handed
    /// off.
    pub(crate) fn is_in_lazy_section(self) -> bool {
        self.0 & STATE_MASK == IN && self.0 & HELD == 0
    }

    /// Whether the worker was in a held section (it still counts as running): the monitor
    /// hands it off only after a longer wait, see `monitor::HELD_GRACE`.
    pub(crate) fn is_in_held_section(self) -> bool {
        self.0 & STATE_MASK == IN && self.0 & HELD != 0
    }
}

/// How a section enters its word.
#[derive(Clone, Copy, Debug)]
enum Entry {
    /// Hands off at once.
    Eager,
    /// Hands off if the monitor sees it outlive the grace period.
    Lazy,
    /// Never hands off.
    Held,
}

/// One worker's section word and poll word.
#[derive(Debug, Default)]
pub(crate) struct SectionWord {
    word: AtomicU32,
    /// The poll word, laid out in [`poll`]: during a poll, the worker's poll count with the
    /// flags `POLLING` and (for a watched poll) `WATCHED`; `BETWEEN_POLLS` otherwise.
    poll: AtomicU32,
    /// The spawn site of the task the worker polls or polled last, for stall reports (std's
    /// atomic even under loom: a hint, not synchronisation).
    site: std::sync::atomic::AtomicPtr<Location<'static>>,
    /// The name of the task the worker polls or polled last, if it has one, for reports.
    name: std::sync::Mutex<Option<Name>>,
    /// Sections this worker entered (counted at entry, by the worker alone: a load and a store,
    /// no read-modify-write). Std's atomic even under loom: a statistic.
    sections: std::sync::atomic::AtomicU64,
    /// What the OS tells of the worker thread, once the thread has started.
    probe: std::sync::OnceLock<sys::ThreadProbe>,
    /// Set by the monitor after it handed off a section that spent most of its time waiting
    /// for a CPU rather than blocked: the section's epoch plus one (0: none). Taken by the
    /// worker as it leaves a handed-off section, and heeded only if the epoch is that
    /// section's: a mark set after the worker left is stale, and the next take discards it.
    /// Std's atomic even under loom: a hint for learning, not synchronisation.
    waited_for_cpu: std::sync::atomic::AtomicU32,
}

impl SectionWord {
    /// A slot for a worker that is not in a section.
    pub(crate) fn new() -> SectionWord {
        SectionWord::default()
    }

    /// Worker: a section starts; returns the word to pass to [`SectionWord::leave`].
    ///
    /// An `eager` section passes its baton on at once: the slot calls `hand_off` (which takes
    /// the worker out of its core's running count) between marking the word `HANDING` and
    /// publishing `HANDED`, so the monitor never sees `HANDED` ahead of the core's count. If
    /// the monitor already took over the poll this section runs in, the baton has passed on
    /// already and `hand_off` is not called.
    pub(crate) fn enter(&self, eager: bool, hand_off: impl FnOnce()) -> u32 {
        self.enter_as(if eager { Entry::Eager } else { Entry::Lazy }, hand_off)
    }

    /// Worker: a section starts that keeps its baton whatever happens (its site reached its
    /// level); returns the word to pass to [`SectionWord::leave`]. If the monitor already took
    /// over the poll it runs in, its baton has passed on already, as for [`SectionWord::enter`].
    pub(crate) fn enter_held(&self) -> u32 {
        self.enter_as(Entry::Held, || {
            unreachable!("a held section never hands off")
        })
    }

    fn enter_as(&self, entry: Entry, hand_off: impl FnOnce()) -> u32 {
        let mut current = self.word.load(Ordering::Relaxed);
        loop {
            let epoch = ((current >> EPOCH_SHIFT).wrapping_add(1)) << EPOCH_SHIFT;
            let (next, ours) = match current & STATE_MASK {
                NONE => match entry {
                    Entry::Eager => (epoch | HANDING, true),
                    Entry::Lazy => (epoch | IN, false),
                    Entry::Held => (epoch | IN | HELD, false),
                },
                // The monitor took over this poll: the section starts with its baton passed on.
                HANDED => (epoch | HANDED, false),
                HANDING => {
                    // The monitor is claiming this poll; wait for its verdict.
                    crate::sync::yield_now();
                    current = self.word.load(Ordering::Relaxed);
                    continue;
                }
                _ => panic!("section entered inside a section: word {current:#x}"),
            };
            // AcqRel: Acquire pairs with the monitor's Release publish of a poll takeover (its
            // change to the core's counts is visible before this worker acts on `HANDED`);
            // Release orders nothing that matters but keeps the word's history simple.
            match self.word.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if ours {
                        hand_off();
                        // Release: pairs with the Acquire in `leave` (the same thread) and in
                        // the monitor's looks (which only ignore non-lazy words).
                        self.word.store(epoch | HANDED, Ordering::Release);
                    }
                    return epoch;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Worker: the section ends. Returns whether its baton had passed on (by `enter(true)` or
    /// by the monitor), in which case `count_back` has counted the worker running again.
    ///
    /// `count_back` runs while the word still shows the handoff, before the word says the
    /// worker is out of its section: from then on the monitor may see the worker polling
    /// outside any section and take its poll over, which must find it counted running (only
    /// this worker changes a word that shows a handoff; the monitor claims only words of
    /// lazy sections and of polls outside sections).
    pub(crate) fn leave(&self, epoch: u32, count_back: impl FnOnce()) -> bool {
        // Acquire: pairs with the monitor's Release publish of HANDED, so its change to the
        // core's counts is visible before this worker counts itself back.
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            match current & STATE_MASK {
                HANDING => {
                    // The monitor is between its claim and its publish (a few instructions
                    // and a wake-up): wait for `HANDED`, so the core's counts are final first.
                    crate::sync::yield_now();
                    current = self.word.load(Ordering::Acquire);
                }
                HANDED => {
                    count_back();
                    // Release: the count above happens before the monitor's look at this word.
                    self.word.store(epoch | NONE, Ordering::Release);
                    return true;
                }
                // AcqRel: as the load above, should the word change under us.
                _ => match self.word.compare_exchange_weak(
                    current,
                    epoch | NONE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return false,
                    Err(actual) => current = actual,
                },
            }
        }
    }

    /// Monitor: the word now.
    pub(crate) fn look(&self) -> Seen {
        Seen(self.word.load(Ordering::Relaxed))
    }

    /// Monitor: claims the section `seen` earlier for a handoff, if it is still the same
    /// section and still counts as running. On success the caller takes the worker out of the
    /// core's running count and then calls [`SectionWord::publish`]; until then the worker
    /// cannot leave its section.
    pub(crate) fn claim(&self, seen: Seen) -> bool {
        debug_assert!(seen.is_in_lazy_section() || seen.is_in_held_section());
        let handing = (seen.0 & !STATE_MASK) | HANDING;
        // Acquire: pairs with the worker's Release compare-exchange in `enter`, so the
        // section's count (`count_section`, before it) happens before the handoff's count.
        // The claim publishes nothing; `publish` does.
        self.word
            .compare_exchange(seen.0, handing, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Monitor: publishes a claimed handoff once the core's counts reflect it.
    pub(crate) fn publish(&self, seen: Seen) {
        // Release: pairs with the Acquire in `leave`, `enter` and `end_poll`.
        self.word
            .store((seen.0 & !STATE_MASK) | HANDED, Ordering::Release);
    }

    /// The spawn site of the task the worker polls or polled last, if it polled any.
    pub(crate) fn site(&self) -> Option<&'static Location<'static>> {
        let site = self.site.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the pointer is null or was made from a `&'static Location` in `start_poll`,
        // so it points to a location that lives for the whole program and is never written.
        unsafe { site.as_ref() }
    }

    /// Worker: the task about to be polled is named `name` (or has no name). Returns whether
    /// it has one; a worker whose last named task is followed by unnamed ones calls this once
    /// more to clear it, and not again until a named task comes.
    pub(crate) fn set_name(&self, name: Option<&Name>) -> bool {
        *self.name.lock().unwrap_or_else(|p| p.into_inner()) = name.cloned();
        name.is_some()
    }

    /// The name of the task the worker polls or polled last, if it has one.
    pub(crate) fn name(&self) -> Option<Name> {
        self.name.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Worker: counts a section entered, before the section word shows it (so any handoff of
    /// it is counted after it).
    pub(crate) fn count_section(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        // Only this worker writes it: no read-modify-write needed. Relaxed: the section
        // word's compare-exchange (Release) that follows publishes it to the monitor.
        self.sections
            .store(self.sections.load(Relaxed) + 1, Relaxed);
    }

    /// Sections this worker entered.
    pub(crate) fn sections(&self) -> u64 {
        // Acquire: see `Core::stats`, which reads handoffs before sections.
        self.sections.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the worker is in a section (a section word other than "none").
    pub(crate) fn in_section(&self) -> bool {
        self.word.load(Ordering::Relaxed) & STATE_MASK != NONE
    }

    /// Records how to probe the worker thread (the worker, once, when it starts).
    pub(crate) fn set_probe(&self, probe: sys::ThreadProbe) {
        let _ = self.probe.set(probe);
    }

    /// Monitor, after it handed off the section `seen` (off the handoff's critical path):
    /// the section mostly waited for a CPU (see [`SectionWord::take_waited_for_cpu`]).
    pub(crate) fn note_waited_for_cpu(&self, seen: Seen) {
        self.waited_for_cpu
            .store(epoch_mark(seen.0), std::sync::atomic::Ordering::Relaxed);
    }

    /// Worker, leaving a section the monitor handed off (`epoch`, as given to
    /// [`SectionWord::leave`]): whether the monitor found that it mostly waited for a CPU, so
    /// that its handoff says nothing of its call site. Clears the mark, whichever section's.
    pub(crate) fn take_waited_for_cpu(&self, epoch: u32) -> bool {
        self.waited_for_cpu
            .swap(0, std::sync::atomic::Ordering::Relaxed)
            == epoch_mark(epoch)
    }

    /// How to probe the worker thread, once it has started.
    pub(crate) fn probe(&self) -> Option<sys::ThreadProbe> {
        self.probe.get().copied()
    }
}

/// The mark of the section whose word (or epoch) is `word`: its epoch plus one, never 0.
fn epoch_mark(word: u32) -> u32 {
    (word >> EPOCH_SHIFT) + 1
}
