//! A worker's section word: whether the worker is in a blocking section, and whether its baton
//! was passed on; and its poll word: which poll the worker is in, if any.
//!
//! The section word packs a 2-bit state and a 30-bit epoch that the worker bumps at every
//! section entry, so the monitor can tell "the same section, still running" from "another
//! section" between two looks without reading a clock on the worker's side.
//!
//! # Taking over a poll that blocks without a section
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

use crate::queue::Name;
use crate::sync::{AtomicU32, Ordering};
use crate::sys;

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
    /// During a poll, the worker's poll count shifted left by [`TURN_SHIFT`], with [`POLLING`]
    /// set, and [`WATCHED`] too during a watched one; [`BETWEEN_POLLS`] otherwise.
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
    /// Set by the monitor between its claim and its publish when the section it hands off
    /// spent most of its time waiting for a CPU rather than blocked; taken by the worker as it
    /// leaves that section. Ordered by the claim, the publish and the worker's leave (std's
    /// atomic even under loom: a hint for learning, not synchronisation).
    waited_for_cpu: std::sync::atomic::AtomicBool,
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

    /// Whether the worker is inside a poll.
    pub(crate) fn is_polling(&self) -> bool {
        self.poll.load(Ordering::Relaxed) & POLLING != 0
    }

    /// Records how to probe the worker thread (the worker, once, when it starts).
    pub(crate) fn set_probe(&self, probe: sys::ThreadProbe) {
        let _ = self.probe.set(probe);
    }

    /// Monitor, between its claim of a section and its publish: the section mostly waited
    /// for a CPU (see [`SectionWord::take_waited_for_cpu`]).
    pub(crate) fn note_waited_for_cpu(&self) {
        self.waited_for_cpu
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Worker, leaving a section the monitor handed off: whether the section mostly waited
    /// for a CPU, so that its handoff says nothing of its call site; clears the mark.
    pub(crate) fn take_waited_for_cpu(&self) -> bool {
        self.waited_for_cpu
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// How to probe the worker thread, once it has started.
    pub(crate) fn probe(&self) -> Option<sys::ThreadProbe> {
        self.probe.get().copied()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_section_not_handed_off_leaves_cheaply() {
        let slot = SectionWord::new();
        let epoch = slot.enter(false, || unreachable!());
        assert!(slot.look().is_in_lazy_section());
        assert!(!slot.leave(epoch, || {}));
        assert!(!slot.look().is_in_lazy_section());
    }

    #[test]
    fn a_held_section_is_not_lazy_and_its_poll_is_not_taken_over() {
        let slot = SectionWord::new();
        slot.start_poll(1, false, Location::caller());
        let epoch = slot.enter_held();
        assert!(
            !slot.look().is_in_lazy_section(),
            "the monitor leaves it alone"
        );
        assert!(
            !slot.look_poll().is_polling_outside_section(),
            "its poll is in a section: no takeover either"
        );
        assert!(!slot.leave(epoch, || {}), "its baton never passed on");
        assert!(!slot.end_poll(|| false));
        // The next section of the worker is lazy again.
        let epoch = slot.enter(false, || unreachable!());
        assert!(slot.look().is_in_lazy_section());
        assert!(!slot.leave(epoch, || {}));
    }

    #[test]
    fn the_monitor_hands_off_only_the_section_it_saw() {
        let slot = SectionWord::new();
        let epoch = slot.enter(false, || unreachable!());
        let seen = slot.look();
        assert!(slot.claim(seen));
        assert!(!slot.look().is_in_lazy_section());
        slot.publish(seen);
        assert!(
            slot.leave(epoch, || {}),
            "the worker learns its baton passed on"
        );

        // A newer section is not handed off on the strength of an old look.
        let epoch = slot.enter(false, || unreachable!());
        assert!(!slot.claim(seen));
        assert!(!slot.leave(epoch, || {}));
    }

    #[test]
    fn an_eager_section_reports_its_handoff() {
        let slot = SectionWord::new();
        let mut handed = false;
        let epoch = slot.enter(true, || handed = true);
        assert!(handed, "an eager section passes its baton on");
        assert!(!slot.look().is_in_lazy_section());
        assert!(slot.leave(epoch, || {}));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_monitor_takes_over_only_the_poll_it_saw() {
        assert!(
            sys::wait_for_heavy_barrier(),
            "membarrier is available on Linux"
        );
        let slot = SectionWord::new();
        slot.start_poll(1, false, Location::caller());
        let seen = slot.look_poll();
        assert!(seen.is_polling_outside_section());
        let claimed = slot.claim_poll(seen).expect("the poll is still running");
        slot.publish(claimed);
        assert!(
            slot.end_poll(|| false),
            "the worker learns its poll was taken over"
        );
        assert!(!slot.end_poll(|| false), "and only once");

        // A claim on a poll that has ended is given back.
        slot.start_poll(2, false, Location::caller());
        let seen = slot.look_poll();
        assert!(!slot.end_poll(|| false));
        slot.start_poll(3, false, Location::caller());
        assert!(slot.claim_poll(seen).is_none());
        assert!(!slot.end_poll(|| false));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_section_inside_a_taken_over_poll_starts_handed_off() {
        assert!(
            sys::wait_for_heavy_barrier(),
            "membarrier is available on Linux"
        );
        let slot = SectionWord::new();
        slot.start_poll(1, false, Location::caller());
        let claimed = slot.claim_poll(slot.look_poll()).unwrap();
        slot.publish(claimed);
        let epoch = slot.enter(true, || panic!("the baton has passed on already"));
        assert!(!slot.look_poll().is_polling_outside_section());
        assert!(
            slot.leave(epoch, || {}),
            "the section returns the baton it found passed on"
        );
        assert!(
            !slot.end_poll(|| false),
            "and the poll's end has nothing more to return"
        );
    }
}
