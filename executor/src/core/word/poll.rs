//! A worker's poll word: which poll the worker is in, if any, and how the monitor takes over
//! a poll that blocks without a section.
//!
//! The monitor may also hand off a worker whose poll runs too long outside any section
//! ([`crate::detect`]). The poll word costs the worker two relaxed stores per poll and one
//! relaxed load of the section word at the poll's end, with no read-modify-write, so the
//! handshake is asymmetric (the kernel's `membarrier`, see [`crate::sys::heavy_barrier`]):
//!
//! 1. **The claim.** The monitor claims the section word (`NONE` to `HANDING`, keeping its epoch),
//!    issues the heavy barrier, then reads the poll word once more.
//! 2. **The poll's end.** The worker ends a poll by storing the poll word, issuing the light
//!    barrier, then loading the section word.
//! 3. **One sees the other.** The barriers order both store-then-load pairs: either the monitor
//!    sees the poll ended and gives the claim back (`HANDING` to `NONE`), or the worker sees the
//!    claim and waits for it to be published (`HANDED`), after which it counts itself running
//!    again, as at the end of a handed-off section. Both may see each other; then the worker waits
//!    out the claim and finds it given back.
//! 4. **No claim on a section.** Section entry is a compare-exchange, so a section starting inside
//!    a claimed poll finds its baton already passed on, and a claim never lands on a section.

use std::panic::Location;

use super::{SectionWord, Seen, HANDED, HANDING, NONE, STATE_MASK};
use crate::sync::Ordering;
use crate::sys;

/// The poll word between polls: no flag set, and no poll count either, so that ending a poll
/// stores a constant (the count only has to tell one poll from the next while they run).
const BETWEEN_POLLS: u32 = 0;
/// Set in the poll word while the worker is inside a poll.
const POLLING: u32 = 1;
/// Set in the poll word while the poll is watched closely (its task's spawn site blocked
/// before).
const WATCHED: u32 = 2;
/// Shift of the poll count in the poll word.
const TURN_SHIFT: u32 = 2;

/// A snapshot of a worker's poll word and section word, as the monitor sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SeenPoll {
    poll: u32,
    section: u32,
}

impl SeenPoll {
    /// Whether the worker was inside a poll and outside any section, holding its baton: a
    /// poll the monitor may take over if it runs too long.
    pub(crate) fn is_polling_outside_section(self) -> bool {
        self.poll & POLLING != 0 && self.section & STATE_MASK == NONE
    }

    /// Whether the poll is watched closely.
    pub(crate) fn is_watched(self) -> bool {
        self.poll & WATCHED != 0
    }
}

impl SectionWord {
    /// Worker: poll number `turn` of a task spawned at `site` starts, `watched` closely or not.
    pub(crate) fn start_poll(&self, turn: u32, watched: bool, site: &'static Location<'static>) {
        // Relaxed: read only for stall reports.
        self.site.store(
            std::ptr::from_ref(site).cast_mut(),
            std::sync::atomic::Ordering::Relaxed,
        );
        let watched = if watched { WATCHED } else { 0 };
        // Relaxed: the monitor only compares the word between its looks; the handshake at the
        // poll's end is `end_poll`'s.
        self.poll
            .store((turn << TURN_SHIFT) | watched | POLLING, Ordering::Relaxed);
    }

    /// Worker: the poll ends. Returns whether the monitor took the poll over (*one sees the other*
    /// in the module docs), in which case the worker must count itself running again, as at the end
    /// of a handed-off section.
    ///
    /// With a section still open (a guard kept across an `.await`, which `section_open` tells),
    /// the section word is the section's: a takeover of the poll passed to the section when it
    /// started, and the section's end returns it.
    pub(crate) fn end_poll(&self, section_open: impl FnOnce() -> bool) -> bool {
        self.poll.store(BETWEEN_POLLS, Ordering::Relaxed);
        // Pairs with the heavy barrier in `claim_poll`: either the monitor's read of the poll
        // word after its barrier sees this store, or the load below sees its claim.
        sys::light_barrier();
        if self.word.load(Ordering::Relaxed) & STATE_MASK == NONE || section_open() {
            return false;
        }
        self.take_back_poll()
    }

    /// The slow end of a poll the monitor claimed: waits for its verdict.
    #[cold]
    fn take_back_poll(&self) -> bool {
        let mut current = self.word.load(Ordering::Relaxed);
        loop {
            match current & STATE_MASK {
                NONE => return false,
                HANDING => {
                    crate::sync::yield_now();
                    current = self.word.load(Ordering::Relaxed);
                }
                // AcqRel: Acquire pairs with the monitor's Release publish of `HANDED`.
                HANDED => match self.word.compare_exchange_weak(
                    current,
                    current & !STATE_MASK,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(actual) => current = actual,
                },
                _ => panic!("a poll ended inside a section: word {current:#x}"),
            }
        }
    }

    /// Monitor: the poll word and the section word now.
    pub(crate) fn look_poll(&self) -> SeenPoll {
        SeenPoll {
            poll: self.poll.load(Ordering::Relaxed),
            section: self.word.load(Ordering::Relaxed),
        }
    }

    /// Monitor: claims the poll `seen` earlier (*the claim* in the module docs), if the worker is
    /// still in it and outside any section. On success the caller takes the worker out of the
    /// core's running count and then calls [`SectionWord::publish`] with the returned word;
    /// until then the worker cannot end the poll or enter a section.
    pub(crate) fn claim_poll(&self, seen: SeenPoll) -> Option<Seen> {
        debug_assert!(seen.is_polling_outside_section());
        let handing = (seen.section & !STATE_MASK) | HANDING;
        // Acquire: pairs with the Release store in `leave` that ends a handed-off section, so
        // the worker's count back as running happens before this claim's uncount (the heavy
        // barrier below would order it too, but only where the barrier exists). The claim
        // publishes nothing; the barrier orders it before the re-read.
        if self
            .word
            .compare_exchange(seen.section, handing, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        // Pairs with the light barrier in `end_poll`. Without it the handshake does not hold,
        // so the claim is given back (the monitor does not claim polls then anyway).
        let ordered = sys::heavy_barrier();
        if !ordered || self.poll.load(Ordering::Relaxed) != seen.poll {
            // The poll ended meanwhile: give the claim back. Release: pairs with the worker's
            // loads that wait the claim out (they act on nothing it published, but keep the
            // word's history in order).
            self.word.store(seen.section, Ordering::Release);
            return None;
        }
        Some(Seen(seen.section))
    }

    /// Whether the worker is inside a poll.
    pub(crate) fn is_polling(&self) -> bool {
        self.poll.load(Ordering::Relaxed) & POLLING != 0
    }
}
