//! Priority inheritance, the cores' half: moving raised tasks out of the lower classes' queues.
//!
//! A task raised to `High` ([`TaskMeta::raise`](crate::queue::TaskMeta::raise)) is queued in
//! its new class from its next wake-up on. One already queued behind `Normal` or `Idle` work
//! cannot be taken out of the middle of a queue by whoever raised it, so the raise counts a
//! runtime-independent *raise epoch* ([`request_sweep`]), and each core's worker, at its next
//! look at its queues, sees that its core was last swept at an older epoch and sweeps it: it
//! pops every task of its `Normal` and `Idle` queues once, moving the raised ones to the
//! core's `High` queues and pushing the others back in order. The first core to see a new
//! epoch sweeps the runtime's `Normal` and `Idle` injectors too.
//!
//! The cost is paid by raises only: a worker compares two numbers per turn once classes are
//! in use ([`Boosts::due`]), and nothing at all before. Every task a sweep pops is pushed
//! exactly once, to a `High` queue or back where it came from (or to the overflow injector if
//! its bounded queue filled meanwhile), so nothing is lost or run twice; stealers popping the
//! same queues meanwhile only see them shorter.
//!
//! A wake-up that read the task's class just before the raise and queues it just after the
//! sweep leaves it one run in its old class (documented on [`Priority`]): closing that window
//! would cost every wake-up a fence.

use crate::queue::{self, PerClass, Priority, Queue, Runnable};
use crate::sync::{AtomicU64, Ordering};

use super::Core;

/// Raises that may have left a task queued in a lower class, process-wide (a task may be
/// raised from another runtime's thread): a core whose last sweep saw an older value sweeps.
static EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A task was raised: every core sweeps its lower queues at its next look.
pub(crate) fn request_sweep() {
    // Release: pairs with the Acquire load in `Boosts::sweep`, so a sweeper that sees this
    // epoch sees the raise that came before it.
    EPOCH.fetch_add(1, std::sync::atomic::Ordering::Release);
}

/// The raise epoch: how many raises may have left a task queued in a lower class, 0 while
/// no task was ever raised in this process. Work queues prefer raised tasks when they admit
/// the next one, and look for them again only once the epoch moved (a raise bumps it after it
/// wrote the task's class).
pub(crate) fn raise_epoch() -> u64 {
    // Relaxed: a hint; a raise seen late costs one admission its preference.
    EPOCH.load(std::sync::atomic::Ordering::Relaxed)
}

/// A runtime's record of the raise epochs its queues were swept at.
#[derive(Debug)]
pub(crate) struct Boosts {
    /// Per core, the epoch at which its queues were last swept.
    cores: Box<[AtomicU64]>,
    /// The epoch at which the injectors were last swept.
    injectors: AtomicU64,
}

/// The classes a raised task may still be queued in.
const LOWER: [Priority; 2] = [Priority::Normal, Priority::Idle];

impl Boosts {
    /// A record for `cores` cores, none of which needs a sweep.
    pub(crate) fn new(cores: usize) -> Boosts {
        Boosts {
            cores: (0..cores).map(|_| AtomicU64::new(0)).collect(),
            injectors: AtomicU64::new(0),
        }
    }

    /// Whether core `here` was last swept before the latest raise.
    pub(crate) fn due(&self, here: usize) -> bool {
        // Relaxed, both: a hint; `sweep` claims the epoch with an Acquire load.
        self.cores[here].load(Ordering::Relaxed) != EPOCH.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sweeps `core`'s lower queues (and the injectors, if no core did since the latest raise):
    /// raised tasks move to the `High` queues. Called by a worker holding `core`'s baton.
    #[cold]
    #[inline(never)]
    pub(crate) fn sweep(&self, core: &Core, injectors: &PerClass<Queue>) {
        // Acquire: pairs with the Release increment in `request_sweep`: the tasks raised before
        // it read as `High` below.
        let epoch = EPOCH.load(std::sync::atomic::Ordering::Acquire);
        // Relaxed: claims the sweep among the core's own workers (two may run the core while
        // one is in a section); the queues themselves order the tasks.
        if self.cores[core.index()].swap(epoch, Ordering::Relaxed) != epoch {
            sweep_core(core, injectors);
        }
        if self.injectors.swap(epoch, Ordering::Relaxed) != epoch {
            for lower in LOWER {
                let injector = &injectors[lower];
                move_raised(injector, &injectors[Priority::High], |r| push(injector, r));
            }
        }
    }
}

/// Moves the raised tasks of `core`'s `Normal` and `Idle` queues (its next-task slot too) to
/// its `High` queues, pinned ones to the pinned `High` queue. What no longer fits a bounded
/// local queue spills into its class's injector.
fn sweep_core(core: &Core, injectors: &PerClass<Queue>) {
    let high = &core.classes[Priority::High];
    if let Ok(next) = core.lifo.pop() {
        if is_raised(&next) {
            push(&high.queue, next);
        } else if let Err(
            concurrent_queue::PushError::Full(r) | concurrent_queue::PushError::Closed(r),
        ) = core.lifo.push(next)
        {
            // The slot was refilled meanwhile: the task waits at the back of the queue.
            let normal = Priority::Normal;
            queue::push_or_spill(&core.classes[normal].queue, &injectors[normal], r);
        }
    }
    for lower in LOWER {
        let class = &core.classes[lower];
        move_raised(&class.queue, &high.queue, |r| {
            queue::push_or_spill(&class.queue, &injectors[lower], r)
        });
        move_raised(&class.pinned, &high.pinned, |r| push(&class.pinned, r));
    }
}

/// Pops each task `src` holds now once: raised ones go to `high`, the others to `back` (the
/// back of `src`, so their order stays). Returns how many moved.
fn move_raised(src: &Queue, high: &Queue, back: impl Fn(Runnable)) -> usize {
    let mut moved = 0;
    for _ in 0..src.len() {
        let Ok(runnable) = src.pop() else { break };
        if is_raised(&runnable) {
            push(high, runnable);
            moved += 1;
        } else {
            back(runnable);
        }
    }
    moved
}

/// Whether a task found in a lower class's queue was raised.
fn is_raised(runnable: &Runnable) -> bool {
    runnable.metadata().priority() == Priority::High
}

/// Pushes onto an unbounded queue.
fn push(queue: &Queue, runnable: Runnable) {
    queue
        .push(runnable)
        .unwrap_or_else(|_| panic!("baton's unbounded queues are never closed or full"));
}
