//! Polls that block without a section: noticing them, and telling a blocked worker from a CPU
//! hog, as the kernel's workqueues notice a sleeping worker without any annotation.
//!
//! The monitor runs a [`Detector`] look at most once per detection threshold while the
//! runtime is busy. One look:
//!
//! 1. For every worker in a poll outside any section (its poll word, see
//!    [`SectionSlot`](crate::core::SectionSlot)), the detector remembers the poll and, the first
//!    time it sees it, when that was and how much CPU time the worker's thread had used.
//! 2. A poll seen again at least the detection threshold later is judged by the CPU time its
//!    thread used meanwhile: less than half the wall time means the thread was mostly off the
//!    CPU, so the poll is **blocked**; otherwise it is **busy**.
//! 3. A blocked poll is taken over at once: claim, uncount, publish, the same three steps as a
//!    section the monitor hands off, so a spare runs the core's queue while the poll blocks and
//!    the core protocol's `keep_working` retires one of the two workers when the poll returns.
//!    A busy poll is a CPU hog; it is taken over once it has run for [`HOG_THRESHOLD`] (the
//!    kernel's `CPU_INTENSIVE` cut-off), so the tasks queued and pinned behind it go on.
//!
//! A poll is dated from the look that first saw it, so it is never taken over early; it may be
//! up to one look late.

use std::time::{Duration, Instant};

use crate::core::{Core, SectionSlot, SeenPoll};
use crate::shared::Shared;
use crate::stats::Counters;
use crate::sync::Arc;
use crate::sys;

/// How long a poll outside any section may keep its worker busy on the CPU before the monitor
/// takes its core over anyway (the kernel's 10 ms for CPU-intensive work items).
pub const HOG_THRESHOLD: Duration = Duration::from_millis(10);

/// A poll the detector has seen, and since when.
struct Watch {
    slot: Arc<SectionSlot>,
    seen: SeenPoll,
    since: Instant,
    /// The worker thread's CPU time when the poll was first seen, if it could be read.
    cpu: Option<Duration>,
}

/// What a poll that outlived the detection threshold was doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Mostly off the CPU: waiting on something.
    Blocked,
    /// Mostly on the CPU.
    Busy,
}

/// The monitor's watch over polls that run outside sections.
pub(crate) struct Detector {
    watches: Vec<Watch>,
    /// The detection threshold; `None` when detection is off or unavailable here.
    threshold: Option<Duration>,
    /// When the next look is due.
    next_look: Instant,
}

impl Detector {
    /// A detector with `shared`'s settings. It stays off unless detection is configured and
    /// this system offers the asymmetric barrier that taking over a poll needs.
    pub(crate) fn new(shared: &Shared) -> Detector {
        let config = &shared.config;
        let on = config.detect && sys::heavy_barrier_available();
        Detector {
            watches: Vec::new(),
            threshold: on.then_some(config.detection_threshold),
            next_look: Instant::now(),
        }
    }

    /// How often the monitor should look while the runtime is busy, if detection is on.
    pub(crate) fn interval(&self) -> Option<Duration> {
        self.threshold
    }

    /// Looks at every worker's poll if a look is due (see the module docs).
    pub(crate) fn look(&mut self, shared: &Shared, now: Instant) {
        let Some(threshold) = self.threshold else {
            return;
        };
        if now < self.next_look {
            return;
        }
        self.next_look = now.checked_add(threshold).unwrap_or(now);
        let mut watches = Vec::with_capacity(self.watches.len());
        for core in shared.cores.iter() {
            core.for_each_slot(|slot| {
                let seen = slot.look_poll();
                if !seen.is_polling_outside_section() {
                    return;
                }
                let (since, cpu) = self
                    .watches
                    .iter()
                    .find(|w| Arc::ptr_eq(&w.slot, slot) && w.seen == seen)
                    .map_or_else(|| (now, slot.cpu_time()), |w| (w.since, w.cpu));
                let running_for = now.saturating_duration_since(since);
                if running_for >= threshold {
                    let verdict = judge(cpu, slot.cpu_time(), running_for);
                    let due = match verdict {
                        Some(Verdict::Blocked) => true,
                        Some(Verdict::Busy) => running_for >= HOG_THRESHOLD,
                        None => false,
                    };
                    if due && take_over(shared, core, slot, seen) {
                        let counter = match verdict {
                            Some(Verdict::Blocked) => &core.counters.detected_blocks,
                            _ => &core.counters.cpu_hogs,
                        };
                        Counters::add(counter, 1);
                        return;
                    }
                }
                watches.push(Watch {
                    slot: Arc::clone(slot),
                    seen,
                    since,
                    cpu,
                });
            });
        }
        self.watches = watches;
    }
}

/// Judges a poll that has run for `wall` from its thread's CPU time then (`before`) and now.
fn judge(before: Option<Duration>, now: Option<Duration>, wall: Duration) -> Option<Verdict> {
    let used = now?.checked_sub(before?)?;
    Some(if used * 2 < wall {
        Verdict::Blocked
    } else {
        Verdict::Busy
    })
}

/// Takes over the poll `seen` on `slot`, a worker of `core`: claim, uncount, publish. Returns
/// false if the poll ended (or entered a section) first.
fn take_over(shared: &Shared, core: &Core, slot: &SectionSlot, seen: SeenPoll) -> bool {
    let Some(claimed) = slot.claim_poll(seen) else {
        return false;
    };
    let outcome = core.hand_off(&shared.idle, || shared.recheck(core.index()));
    slot.publish(claimed);
    Counters::add(&core.counters.handoffs, 1);
    shared.after_hand_off(core.index(), outcome);
    true
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_mostly_off_the_cpu_is_blocked() {
        let ms = Duration::from_millis;
        assert_eq!(
            judge(Some(ms(5)), Some(ms(6)), ms(10)),
            Some(Verdict::Blocked)
        );
        assert_eq!(judge(Some(ms(5)), Some(ms(14)), ms(10)), Some(Verdict::Busy));
        assert_eq!(judge(None, Some(ms(14)), ms(10)), None, "no clock, no verdict");
    }
}
