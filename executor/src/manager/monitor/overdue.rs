//! The monitor's look at the sections: dating each one, and handing off those that outlived
//! their grace period (the *hand off overdue sections* step of the [monitor's tick](super)).

use std::time::{Duration, Instant};

use crate::core::{SectionWord, Seen};
use crate::detect;
use crate::scheduler::Shared;
use crate::sync::Arc;
use crate::sys::Waits;

/// How long a held section (its call site at its learnt level, see [`crate::sites`]) runs
/// before the monitor hands it off all the same: a held section that waits for another task of
/// the runtime (a synchronous client of an async service) must not keep every core from
/// running that task. The kernel's CPU-hog threshold.
pub(super) const HELD_GRACE: Duration = Duration::from_millis(10);
/// How far ahead of a section's handoff the monitor must be to read its thread's waits (see
/// [`waited_for_cpu`]): so with a grace period below it (the default's 40 µs), sections
/// kept off the CPU are not told from blocked ones, and their sites learn from them.
const READ_WAITS_AHEAD: Duration = Duration::from_millis(1);
/// Spin-loop hints between two looks at the clock while spinning to a deadline.
const SPINS_PER_LOOK: u32 = 16;

/// A section seen by the monitor, and since when.
struct Look {
    word: Arc<SectionWord>,
    seen: Seen,
    since: Instant,
    /// How long it may run before it is handed off.
    grace: Duration,
    /// When the monitor first read the worker thread's waits during the section, and what
    /// they were (see [`waited_for_cpu`]).
    waits: Option<(Instant, Waits)>,
}

/// The sections the monitor saw running at its previous look, and since when.
#[derive(Default)]
pub(super) struct Overdue {
    looks: Vec<Look>,
}

/// What the lazy sections looked like at one look.
pub(super) struct Sections {
    /// How many are running.
    pub(super) running: usize,
    /// Whether a section seen at the previous look was still running at this one (whether or
    /// not it was handed off now).
    pub(super) outlived: bool,
    /// The first of them to reach its grace period, and when it does.
    pub(super) next: Option<Deadline>,
}

/// When the grace period of the section `seen` in the section word `word` runs out.
pub(super) struct Deadline {
    pub(super) at: Instant,
    word: Arc<SectionWord>,
    seen: Seen,
}

impl Deadline {
    /// Spins until the deadline, or until its section word no longer shows the section.
    pub(super) fn spin_until(&self) {
        while Instant::now() < self.at && self.word.look() == self.seen {
            for _ in 0..SPINS_PER_LOOK {
                std::hint::spin_loop();
            }
        }
    }
}

impl Overdue {
    /// Looks at every online worker's section word at `now`, and hands off the sections that
    /// ran for their grace period. A section seen for the first time is dated from
    /// `first_seen`.
    pub(super) fn hand_off(
        &mut self,
        shared: &Shared,
        now: Instant,
        first_seen: Instant,
    ) -> Sections {
        let grace = shared.config.grace;
        let mut looks = Vec::with_capacity(self.looks.len());
        let mut outlived = false;
        // An offline core's sections need no replacement: the core takes no work.
        for core in shared.cores[..shared.online()].iter() {
            core.for_each_word(|word| {
                let seen = word.look();
                let grace = if seen.is_in_lazy_section() {
                    grace
                } else if seen.is_in_held_section() {
                    grace.max(HELD_GRACE)
                } else {
                    return;
                };
                let before = self
                    .looks
                    .iter()
                    .find(|l| Arc::ptr_eq(&l.word, word) && l.seen == seen);
                outlived |= before.is_some();
                let since = before.map_or(first_seen, |l| l.since);
                let waits = before.and_then(|l| l.waits);
                if now.duration_since(since) < grace {
                    looks.push(Look {
                        word: Arc::clone(word),
                        seen,
                        since,
                        grace,
                        waits: waits.or_else(|| {
                            // Only with time to spare: the reads take tens of microseconds,
                            // which must not delay a handoff due sooner.
                            // A grace period too long for the clock never runs out.
                            let left = since
                                .checked_add(grace)
                                .map_or(Duration::MAX, |at| at.saturating_duration_since(now));
                            (left >= READ_WAITS_AHEAD)
                                .then(|| read_waits(word, now))
                                .flatten()
                        }),
                    });
                    return;
                }
                // Claim, uncount, publish: the worker cannot leave its section in between, so
                // it never acts on counts that do not yet show the handoff. Counted before the
                // spare is woken, so the tasks it runs see the handoff in a stats snapshot.
                if word.claim(seen) {
                    core.count_handoff(false);
                    detect::hand_off_claimed(shared, core, || word.publish(seen));
                    // Judged once the spare is on its way: reading `/proc` takes tens of
                    // microseconds. A worker that left meanwhile learnt as before.
                    if waited_for_cpu(word, waits, now) {
                        word.note_waited_for_cpu(seen);
                    }
                }
            });
        }
        let sections = Sections {
            running: looks.len(),
            outlived,
            // A grace period too long for the clock never runs out.
            next: looks
                .iter()
                .filter_map(|l| Some((l.since.checked_add(l.grace)?, l)))
                .min_by_key(|(at, _)| *at)
                .map(|(at, l)| Deadline {
                    at,
                    word: Arc::clone(&l.word),
                    seen: l.seen,
                }),
        };
        self.looks = looks;
        sections
    }
}

/// Reads what `word`'s worker thread has waited for so far, with when it was read.
fn read_waits(word: &SectionWord, now: Instant) -> Option<(Instant, Waits)> {
    Some((now, word.probe()?.waits()?))
}

/// Whether the section in `word`, whose thread had waited `before` when first read, was kept
/// off the CPU rather than blocked since: its thread never slept, and spent most of the time
/// runnable, waiting for a CPU (the machine is oversubscribed). Its handoff still goes ahead,
/// since its core made no progress either way, but its call site learns nothing from it. A
/// section that slept even once (a blocking call, however short, under any load) or that used
/// the CPU most of the time (a CPU hog) is not. False when unknown.
fn waited_for_cpu(word: &SectionWord, before: Option<(Instant, Waits)>, now: Instant) -> bool {
    let Some((read, before)) = before else {
        return false;
    };
    let Some(after) = word.probe().and_then(|probe| probe.waits()) else {
        return false;
    };
    let waited = after.run_delay.saturating_sub(before.run_delay);
    after.voluntary_switches == before.voluntary_switches
        && waited * 2 > now.saturating_duration_since(read)
}

#[cfg(all(test, not(loom), target_os = "linux"))]
mod tests {
    use super::*;
    use crate::sys;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Runs `body` on a thread whose section word carries its probe, and judges the time
    /// between `body`'s two signals (through the channel).
    fn judge_thread(body: impl FnOnce(&std::sync::mpsc::Sender<()>) + Send) -> Option<bool> {
        let word = SectionWord::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let judged = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (word, judged) = (&word, &judged);
            let thread = scope.spawn(move || {
                word.set_probe(sys::ThreadProbe::current().unwrap());
                body(&tx);
                // Alive until judged (an exited thread has no statistics), and spinning rather
                // than sleeping meanwhile, which would count.
                while !judged.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
            rx.recv().unwrap();
            let waits = read_waits(word, Instant::now());
            rx.recv().unwrap();
            let verdict = waits.map(|waits| waited_for_cpu(word, Some(waits), Instant::now()));
            judged.store(true, Ordering::Relaxed);
            thread.join().unwrap();
            verdict
        })
    }

    /// A section thread that shares one CPU with three spinning threads, and never sleeps,
    /// waits for it about three quarters of the time: kept off the CPU. One that sleeps now and
    /// then on that crowded CPU waits for it as much, but it sleeps: blocked. So does one that
    /// sleeps through.
    #[test]
    fn a_thread_kept_off_the_cpu_is_told_from_a_blocked_one() {
        let Some(cpu) = sys::allowed_cpus().and_then(|cpus| cpus.first().copied()) else {
            return;
        };
        // Where the kernel keeps no scheduler statistics there is nothing to tell.
        if sys::ThreadProbe::current()
            .and_then(|p| p.waits())
            .is_none()
        {
            return;
        }
        let stop = AtomicBool::new(false);
        let spin = |until: Duration| {
            let start = Instant::now();
            while start.elapsed() < until {
                std::hint::spin_loop();
            }
        };
        let preempted = std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    sys::pin_to_cpus(&[cpu]);
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                });
            }
            let spinning = judge_thread(|tx| {
                sys::pin_to_cpus(&[cpu]);
                tx.send(()).unwrap();
                spin(Duration::from_millis(400));
                tx.send(()).unwrap();
            });
            let sleeping = judge_thread(|tx| {
                sys::pin_to_cpus(&[cpu]);
                tx.send(()).unwrap();
                for _ in 0..100 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                tx.send(()).unwrap();
            });
            stop.store(true, Ordering::Relaxed);
            (spinning, sleeping)
        });
        assert_eq!(preempted.0, Some(true), "three spinners on its CPU");
        assert_eq!(preempted.1, Some(false), "sleeps on a crowded CPU");
        let blocked = judge_thread(|tx| {
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            tx.send(()).unwrap();
        });
        assert_eq!(blocked, Some(false), "asleep");
    }
}
