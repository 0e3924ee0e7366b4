//! A worker's section word: whether the worker is in a blocking section, and whether its baton
//! was passed on.
//!
//! The word packs a 2-bit state and a 30-bit epoch that the worker bumps at every section entry,
//! so the monitor can tell "the same section, still running" from "another section" between two
//! looks without reading a clock on the worker's side.

use crate::sync::{AtomicU32, Ordering};

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
/// Shift of the epoch.
const EPOCH_SHIFT: u32 = 2;

/// A snapshot of a section word, as the monitor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen(u32);

impl Seen {
    /// Whether the worker was in a section that still counts as running.
    pub(crate) fn is_in_lazy_section(self) -> bool {
        self.0 & STATE_MASK == IN
    }
}

/// One worker's section word.
#[derive(Debug, Default)]
pub(crate) struct SectionSlot(AtomicU32);

impl SectionSlot {
    /// A slot for a worker that is not in a section.
    pub(crate) fn new() -> SectionSlot {
        SectionSlot(AtomicU32::new(NONE))
    }

    /// Worker: a section starts; returns the word to pass to [`SectionSlot::leave`].
    ///
    /// `handed` is true when the worker already passed its baton on (an eager handoff), which it
    /// must do *before* this call so that the monitor never sees `HANDED` ahead of the core's
    /// count.
    pub(crate) fn enter(&self, handed: bool) -> u32 {
        // Only this worker changes the epoch, so a load and a store suffice.
        let epoch = (self.0.load(Ordering::Relaxed) >> EPOCH_SHIFT).wrapping_add(1);
        let word = (epoch << EPOCH_SHIFT) | if handed { HANDED } else { IN };
        // Relaxed: the monitor acts on the word only through the compare-exchange in `claim`,
        // which is ordered with `leave`'s compare-exchange by the word itself.
        self.0.store(word, Ordering::Relaxed);
        word & !STATE_MASK
    }

    /// Worker: the section ends. Returns whether its baton had passed on (by `enter(true)` or
    /// by the monitor), in which case the worker must count itself running again.
    pub(crate) fn leave(&self, epoch: u32) -> bool {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            if current & STATE_MASK == HANDING {
                // The monitor is between its claim and its publish (a few instructions and a
                // wake-up): wait for `HANDED`, so the core's counts are final before we act.
                crate::sync::yield_now();
                current = self.0.load(Ordering::Relaxed);
                continue;
            }
            // AcqRel: Acquire pairs with the monitor's Release publish of HANDED, so its
            // change to the core's counts is visible before this worker counts itself back.
            match self.0.compare_exchange_weak(
                current,
                epoch | NONE,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return current & STATE_MASK == HANDED,
                Err(actual) => current = actual,
            }
        }
    }

    /// Monitor: the word now.
    pub(crate) fn look(&self) -> Seen {
        Seen(self.0.load(Ordering::Relaxed))
    }

    /// Monitor: claims the section `seen` earlier for a handoff, if it is still the same
    /// section and still counts as running. On success the caller takes the worker out of the
    /// core's running count and then calls [`SectionSlot::publish`]; until then the worker
    /// cannot leave its section.
    pub(crate) fn claim(&self, seen: Seen) -> bool {
        debug_assert!(seen.is_in_lazy_section());
        let handing = (seen.0 & !STATE_MASK) | HANDING;
        // Relaxed: the claim publishes nothing; `publish` does.
        self.0
            .compare_exchange(seen.0, handing, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Monitor: publishes a claimed handoff once the core's counts reflect it.
    pub(crate) fn publish(&self, seen: Seen) {
        // Release: pairs with the Acquire in `leave`.
        self.0
            .store((seen.0 & !STATE_MASK) | HANDED, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_section_not_handed_off_leaves_cheaply() {
        let slot = SectionSlot::new();
        let epoch = slot.enter(false);
        assert!(slot.look().is_in_lazy_section());
        assert!(!slot.leave(epoch));
        assert!(!slot.look().is_in_lazy_section());
    }

    #[test]
    fn the_monitor_hands_off_only_the_section_it_saw() {
        let slot = SectionSlot::new();
        let epoch = slot.enter(false);
        let seen = slot.look();
        assert!(slot.claim(seen));
        assert!(!slot.look().is_in_lazy_section());
        slot.publish(seen);
        assert!(slot.leave(epoch), "the worker learns its baton passed on");

        // A newer section is not handed off on the strength of an old look.
        let epoch = slot.enter(false);
        assert!(!slot.claim(seen));
        assert!(!slot.leave(epoch));
    }

    #[test]
    fn an_eager_section_reports_its_handoff() {
        let slot = SectionSlot::new();
        let epoch = slot.enter(true);
        assert!(!slot.look().is_in_lazy_section());
        assert!(slot.leave(epoch));
    }
}
