//! The monitor's look at the sections: dating each one, and handing off those that outlived
//! their grace period (the *hand off overdue sections* step of the [monitor's tick](super)).

use std::time::{Duration, Instant};

use crate::core::{SectionWord, Seen};
use crate::detect;
use crate::scheduler::Shared;
use crate::sync::Arc;

/// How long a held section (its call site at its learnt level, see [`crate::sites`]) runs
/// before the monitor hands it off all the same: a held section that waits for another task of
/// the runtime (a synchronous client of an async service) must not keep every core from
/// running that task. The kernel's CPU-hog threshold.
pub(super) const HELD_GRACE: Duration = Duration::from_millis(10);
/// Spin-loop hints between two looks at the clock while spinning to a deadline.
const SPINS_PER_LOOK: u32 = 16;

/// A section seen by the monitor, and since when.
struct Look {
    word: Arc<SectionWord>,
    seen: Seen,
    since: Instant,
    /// How long it may run before it is handed off.
    grace: Duration,
    /// When the monitor first read the worker thread's wait for a CPU during the section, and
    /// what it was (see [`waited_for_cpu`]).
    delay: Option<(Instant, Duration)>,
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
                let delay = before.and_then(|l| l.delay);
                if now.duration_since(since) < grace {
                    looks.push(Look {
                        word: Arc::clone(word),
                        seen,
                        since,
                        grace,
                        delay: delay.or_else(|| read_delay(word, now)),
                    });
                    return;
                }
                // Claim, uncount, publish: the worker cannot leave its section in between, so
                // it never acts on counts that do not yet show the handoff. Counted before the
                // spare is woken, so the tasks it runs see the handoff in a stats snapshot.
                if word.claim(seen) {
                    if waited_for_cpu(word, delay, now) {
                        word.note_waited_for_cpu();
                    }
                    core.count_handoff(false);
                    detect::hand_off_claimed(shared, core, || word.publish(seen));
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

/// Reads how long `word`'s worker thread has waited for a CPU, with when it was read.
fn read_delay(word: &SectionWord, now: Instant) -> Option<(Instant, Duration)> {
    Some((now, word.probe()?.run_delay()?))
}

/// Whether the section in `word`, whose thread had waited `delay` for a CPU when first read,
/// spent most of the time since waiting for a CPU: its thread was preempted (the machine is
/// oversubscribed), not blocked. Its handoff still goes ahead, since its core made no progress
/// either way, but its call site learns nothing from it. False when unknown.
fn waited_for_cpu(word: &SectionWord, delay: Option<(Instant, Duration)>, now: Instant) -> bool {
    let Some((read, before)) = delay else {
        return false;
    };
    let Some(after) = word.probe().and_then(|probe| probe.run_delay()) else {
        return false;
    };
    after.saturating_sub(before) * 2 > now.saturating_duration_since(read)
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
        let (judged_tx, judged_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let word = &word;
            let thread = scope.spawn(move || {
                word.set_probe(sys::ThreadProbe::current().unwrap());
                body(&tx);
                // Alive until judged: an exited thread has no statistics to read.
                let _ = judged_rx.recv();
            });
            rx.recv().unwrap();
            let delay = read_delay(word, Instant::now());
            rx.recv().unwrap();
            let judged = delay.map(|delay| waited_for_cpu(word, Some(delay), Instant::now()));
            drop(judged_tx);
            thread.join().unwrap();
            judged
        })
    }

    /// A section thread that shares one CPU with three spinning threads waits for it about
    /// three quarters of the time; one that sleeps does not wait at all.
    #[test]
    fn a_thread_kept_off_the_cpu_is_told_from_a_blocked_one() {
        let Some(cpu) = sys::allowed_cpus().and_then(|cpus| cpus.first().copied()) else {
            return;
        };
        // Where the kernel keeps no scheduler statistics there is nothing to tell.
        if sys::ThreadProbe::current()
            .and_then(|p| p.run_delay())
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
            let judged = judge_thread(|tx| {
                sys::pin_to_cpus(&[cpu]);
                tx.send(()).unwrap();
                spin(Duration::from_millis(400));
                tx.send(()).unwrap();
            });
            stop.store(true, Ordering::Relaxed);
            judged
        });
        assert_eq!(preempted, Some(true), "three spinners on its CPU");
        let blocked = judge_thread(|tx| {
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            tx.send(()).unwrap();
        });
        assert_eq!(blocked, Some(false), "asleep");
    }
}
