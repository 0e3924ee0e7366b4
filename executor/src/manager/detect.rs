//! Polls that block without a section: noticing them, and telling a blocked worker from a CPU
//! hog, as the kernel's workqueues notice a sleeping worker without any annotation.
//!
//! The monitor runs a [`Detector`] look at most once per detection threshold while the
//! runtime is busy. One look:
//!
//! 1. For every worker in a poll outside any section (its poll word, see
//!    [`SectionWord`]), the detector remembers the poll, when it
//!    first saw it, and how much CPU time the worker's thread had used then.
//! 2. A poll seen at least the detection threshold after its first sight is judged by the CPU
//!    time its thread used since and by its scheduling state now:
//!    - **blocked**: it used less than half the wall time and is asleep (waiting on a lock, a
//!      read, a sleep, a page fault);
//!    - **busy**: it used at least half the wall time, or it is runnable: then other threads
//!      hold the machine's CPUs, and the poll counts as a CPU hog from the core's point of
//!      view, since it holds the core all the same.
//!
//!    Where the state cannot be read, little CPU time counts as blocked.
//! 3. A blocked poll is taken over at once: claim, uncount, publish, the same three steps as a
//!    section the monitor hands off, so a spare runs the core's queue while the poll blocks and
//!    the core protocol's `keep_working` retires one of the two workers when the poll returns.
//!    A busy poll is a CPU hog; it is taken over once it has run for [`HOG_THRESHOLD`] (the
//!    kernel's `CPU_INTENSIVE` cut-off), so the tasks queued and pinned behind it go on.
//!
//! A poll is dated from the look that first saw it, so it is never taken over early; it may be
//! up to one look late.
//!
//! # Watched polls
//!
//! Tasks spawned where a task whose poll was taken over was spawned (its spawn site, see
//! [`Sites`](crate::sites::Sites)) are watched: the worker marks their polls in its poll word
//! and rings the monitor's bell as a section entry does, and the detector looks at them at
//! every tick, reads the CPU clock at first sight, and judges them once they outlive the
//! grace period instead of the detection threshold. So a spawn site that blocks is handed off
//! almost as fast as an annotated call site.
//!
//! A spawn site enough of whose polls block (see [`crate::sites::spawn`]) is not watched but
//! handed off: its worker hands the core off as each of its polls starts, as for an eager
//! section, so nothing has to notice the poll going to sleep; the monitor and the switch
//! thread leave such polls alone (their section word shows the handoff).
//!
//! Where the kernel grants per-thread context-switch events, a watched poll is caught sooner
//! still, when its worker thread goes to sleep, by the switch thread rather than the monitor
//! (see `switches.rs`); the monitor then neither ticks for watched polls nor is rung by them,
//! and judges them at the detection threshold like other polls, for CPU hogs.

mod switches;

use std::time::{Duration, Instant};

use crate::core::{Core, SectionWord, SeenPoll};
use crate::scheduler::Shared;
use crate::stats::Counters;
use crate::sync::Arc;
use crate::sys::{self, ThreadProbe};
use crate::trace;

pub(crate) use switches::{SwitchThread, WorkerEvent};

/// How long a poll outside any section may keep its worker busy on the CPU before the monitor
/// takes its core over anyway (the kernel's 10 ms for CPU-intensive work items).
pub const HOG_THRESHOLD: Duration = Duration::from_millis(10);

/// A poll the detector has seen, and since when.
struct Watch {
    word: Arc<SectionWord>,
    seen: SeenPoll,
    since: Instant,
    /// When the worker thread's CPU time was first read during the poll, and what it was.
    cpu: Option<(Instant, Duration)>,
    /// Judged after the grace period rather than the detection threshold: the poll is watched
    /// (its spawn site blocked before), or a worker of another core flagged it as overdue.
    quick: bool,
}

/// What a poll that outlived the detection threshold was doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Mostly off the CPU: waiting on something.
    Blocked,
    /// On the CPU, or waiting for one.
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
    /// A detector with `shared`'s settings. It is on if detection is configured, from the
    /// moment this system's asymmetric barrier, which taking over a poll needs, is ready.
    pub(crate) fn new(shared: &Shared) -> Detector {
        let config = &shared.config;
        if config.detect {
            sys::prepare_heavy_barrier();
        }
        Detector {
            watches: Vec::new(),
            threshold: config.detect.then_some(config.detection_threshold),
            next_look: Instant::now(),
        }
    }

    /// How often the monitor should look while the runtime is busy, if detection is on.
    pub(crate) fn interval(&self) -> Option<Duration> {
        self.threshold
    }

    /// Looks at the workers' polls (see the module docs): watched polls at every call, the
    /// others once per detection threshold. A watched poll seen for the first time is dated
    /// from `first_seen` (when the bell that woke the monitor rang, as for sections). Returns
    /// whether a watched poll is running, so that the monitor keeps looking every tick.
    pub(crate) fn look(&mut self, shared: &Shared, now: Instant, first_seen: Instant) -> bool {
        let Some(threshold) = self.threshold else {
            return false;
        };
        if !sys::heavy_barrier_available() {
            // Registration may still be under way, or its thread could not be started: ask
            // again (a failed compare-exchange while it is under way or was refused).
            sys::prepare_heavy_barrier();
            return false;
        }
        let full = now >= self.next_look;
        if full {
            self.next_look = now.checked_add(threshold).unwrap_or(now);
        }
        let grace = shared.config.grace;
        let mut watching = false;
        let mut watches = Vec::with_capacity(self.watches.len());
        // An offline core's last polls block nothing: the core takes no work.
        for core in shared.cores[..shared.online()].iter() {
            // A worker of another core saw this core's poll outlive the threshold.
            let flagged = core.take_overdue_flag();
            core.for_each_word(|word| {
                let seen = word.look_poll();
                if !seen.is_polling_outside_section() {
                    return;
                }
                let previous = self
                    .watches
                    .iter()
                    .find(|w| Arc::ptr_eq(&w.word, word) && w.seen == seen);
                // A watched poll whose worker's context switches are watched is caught
                // blocking by the switch thread: judged here at the threshold, for hogs.
                let watched = seen.is_watched() && !switches::covers(shared, word);
                let quick = watched || flagged || previous.is_some_and(|w| w.quick);
                if !full && !quick {
                    // Not this call's business: carry the watch over unchanged.
                    if let Some(w) = previous {
                        watches.push(Watch {
                            word: Arc::clone(word),
                            ..*w
                        });
                    }
                    return;
                }
                // The CPU clock is read at a poll's first sight (a system call per worker
                // and look while the runtime is busy), so the poll can be judged at the next.
                let (since, cpu) = match previous {
                    None if quick => (first_seen, read_cpu(word, now)),
                    None => (now, read_cpu(word, now)),
                    Some(w) => (w.since, w.cpu.or_else(|| read_cpu(word, now))),
                };
                let limit = if quick { grace } else { threshold };
                let running_for = now.saturating_duration_since(since);
                let mut quick = quick;
                if running_for >= limit {
                    let verdict = match (word.probe(), cpu) {
                        (Some(probe), Some((sampled, before))) if sampled < now => {
                            judge(probe, before, now.duration_since(sampled))
                        }
                        _ => None,
                    };
                    // A hog is a poll seen busy for the hog threshold: measured from the CPU
                    // clock's first reading, since a watched poll's first sight is dated from
                    // the bell, which may have rung long before this poll began.
                    let observed = cpu.map_or(Duration::ZERO, |(sampled, _)| {
                        now.saturating_duration_since(sampled)
                    });
                    let due = match verdict {
                        Some(Verdict::Blocked) => true,
                        Some(Verdict::Busy) => observed >= HOG_THRESHOLD,
                        None => false,
                    };
                    if due && take_over(shared, core, word, seen, verdict == Some(Verdict::Blocked))
                    {
                        return;
                    }
                    // A flagged poll found busy (on the CPU, or preempted: its peer cannot tell)
                    // goes back to the threshold's pace, towards the hog threshold.
                    quick &= watched || verdict != Some(Verdict::Busy);
                }
                watching |= quick;
                watches.push(Watch {
                    word: Arc::clone(word),
                    seen,
                    since,
                    cpu,
                    quick,
                });
            });
        }
        self.watches = watches;
        watching
    }
}

/// Reads the CPU time of `word`'s worker thread, with when it was read.
fn read_cpu(word: &SectionWord, now: Instant) -> Option<(Instant, Duration)> {
    Some((now, word.probe()?.cpu_time()?))
}

/// Judges a poll that ran for `wall` on the thread `probe` since the thread had used `before`
/// of CPU time.
fn judge(probe: ThreadProbe, before: Duration, wall: Duration) -> Option<Verdict> {
    let used = probe.cpu_time()?.checked_sub(before)?;
    Some(verdict(used, wall, || probe.is_asleep()))
}

/// The verdict on a poll whose thread used `used` of CPU time in `wall`; `asleep` reads its
/// scheduling state, only when needed.
fn verdict(used: Duration, wall: Duration, asleep: impl FnOnce() -> Option<bool>) -> Verdict {
    if used * 2 < wall && asleep().unwrap_or(true) {
        Verdict::Blocked
    } else {
        Verdict::Busy
    }
}

/// Takes over the poll `seen` in the section word `word` of a worker of `core`: claim, uncount,
/// publish. Returns false if the poll ended (or entered a section) first.
///
/// The takeover is counted and reported (see [`report`]) before the spare is woken: the tasks
/// the spare runs can see it in a stats snapshot.
fn take_over(
    shared: &Shared,
    core: &Core,
    word: &SectionWord,
    seen: SeenPoll,
    blocked: bool,
) -> bool {
    let Some(claimed) = word.claim_poll(seen) else {
        return false;
    };
    report(shared, core, word, blocked, seen.is_watched());
    hand_off_claimed(shared, core, || word.publish(claimed));
    true
}

/// The rest of a takeover once the caller claimed a worker's poll or section in its section
/// word: takes the worker out of `core`'s running count (waking a spare if the core has work),
/// shows the handoff in the word (`publish`), then does what follows every handoff
/// ([`Shared::after_hand_off`]). Until the publish the worker cannot leave its poll or section,
/// so it never acts on counts that do not yet show the handoff.
pub(crate) fn hand_off_claimed(shared: &Shared, core: &Core, publish: impl FnOnce()) {
    let outcome = core.hand_off(&shared.siblings, || shared.recheck(core.index()));
    publish();
    shared.after_hand_off(core.index(), outcome);
}

/// Counts a poll of `word`'s worker that was taken over, `blocked` or a CPU hog, per core and
/// per spawn site, and tells `tracing`.
fn report(shared: &Shared, core: &Core, word: &SectionWord, blocked: bool, watched: bool) {
    let counters = &core.counters;
    Counters::add(
        if blocked {
            &counters.detected_blocks
        } else {
            &counters.cpu_hogs
        },
        1,
    );
    if watched {
        Counters::add(&counters.watched_detections, 1);
    }
    let site = word.site();
    if let Some(site) = site {
        shared.sites.record_detection(site, blocked);
    }
    let name = word.name();
    let name = name.as_ref().map(|n| n.as_str());
    trace::event(
        core.index(),
        trace::Event::Detected {
            blocked,
            site,
            name,
        },
    );
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_mostly_off_the_cpu_is_blocked_if_asleep() {
        let ms = Duration::from_millis;
        assert_eq!(verdict(ms(1), ms(10), || Some(true)), Verdict::Blocked);
        assert_eq!(verdict(ms(1), ms(10), || None), Verdict::Blocked);
        assert_eq!(
            verdict(ms(1), ms(10), || Some(false)),
            Verdict::Busy,
            "runnable but off the CPU: other threads hold the CPUs"
        );
        assert_eq!(
            verdict(ms(6), ms(10), || panic!("not asked")),
            Verdict::Busy
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_os_tells_a_sleeping_thread_from_a_running_one() {
        let (probe_tx, probe_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            probe_tx.send(ThreadProbe::current().unwrap()).unwrap();
            release_rx.recv().unwrap();
        });
        let probe = probe_rx.recv().unwrap();
        // The sleeper blocks in `recv` until released; it may take a moment to get there.
        let mut asleep = probe.is_asleep();
        for _ in 0..10_000 {
            if asleep == Some(true) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            asleep = probe.is_asleep();
        }
        assert_eq!(asleep, Some(true));
        let me = ThreadProbe::current().unwrap();
        assert_eq!(me.is_asleep(), Some(false), "the calling thread runs");
        assert!(me.cpu_time().is_some());
        release_tx.send(()).unwrap();
        sleeper.join().unwrap();
    }
}
