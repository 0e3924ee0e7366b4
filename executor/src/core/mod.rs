//! A core: its run queues, its workers, and the baton that says which worker may run tasks.
//!
//! # The core protocol
//!
//! This is the kernel's concurrency-managed workqueue pool, adapted. Per core, [`State`] counts
//! `running` (workers holding the baton and not in a blocking section), `spares` (workers parked on
//! the core's spare stack), `in_section` (workers whose baton passed on while they block) and
//! `workers` (all threads of the core).
//!
//! 1. **A new worker starts parked.** Its spawner reserves it first ([`Core::reserve_worker`]:
//!    it counts towards `workers` and the thread caps, not as idle, so nobody can wake it). Once
//!    its thread runs, [`Core::add_worker`] pushes its parker on the spare stack, so a thread
//!    never polls a task it was not handed, then performs the end of *parking* (the fence and a
//!    last look for work) so that work queued meanwhile is not stranded. If the OS refuses the
//!    thread, [`Core::cancel_worker`] drops the reservation and nothing else changed: no
//!    waker can have counted a worker that does not exist as running.
//! 2. **`need_more_worker`.** Whoever queues work for the core calls [`Core::notify`]: after a
//!    `fence(SeqCst)` it reads `running`; if it is zero and a spare is parked, it takes the spare
//!    stack's lock, checks again, pops the most recently parked worker (cache-hot), counts it
//!    running and unparks it. Because the check and the pop happen under the lock, two notifiers
//!    never wake two workers for one core.
//! 3. **`keep_working`.** A worker finishing a poll keeps going while `running <= 1`; when it
//!    is above one (a worker came back from a section while its replacement runs) the worker
//!    retires to the spare stack at that poll boundary ([`Core::park`]).
//! 4. **Parking.** A worker out of work pushes itself on the spare stack and counts itself a spare
//!    under the lock, then issues `fence(SeqCst)` and looks once more: first whether the runtime
//!    shuts down (then it takes itself back off the stack and does not park, whatever the queues
//!    hold), then at the core's queues. The fence pairs with the one in *`need_more_worker`*:
//!    either the notifier sees `running == 0`, or the parking worker sees the new task, so a
//!    wake-up is never lost. If it sees work it performs *`need_more_worker`* itself (which pops
//!    the top of the stack, normally itself) before parking.
//! 5. **Sections** (blocking code) move a worker from `running` to `in_section` when its baton
//!    passes on ([`Transition::HandOff`]), and back when the section ends
//!    ([`Transition::Return`]); *`keep_working`* then retires one of the two.
//!
//! Stealing between cores sits on top of this in the worker loop: a core that runs out of work
//! counts itself in [`Siblings`], and a worker that queues a task while another core is idle and no
//! core is searching wakes that core, so no task is stranded behind a busy worker.
//!
//! # Files
//!
//! - this file: [`Core`], its queues, and what other cores and the monitor read of it;
//! - [`baton`]: the steps above that move workers between running, the spare stack and
//!   sections, and the spare stack's upkeep;
//! - [`state`]: the worker counts and their [`Transition`] table;
//! - [`siblings`]: the runtime-wide counts of idle cores and searching workers;
//! - [`word`]: a worker's section word and poll word, shared with the monitor;
//! - [`bell`]: the monitor's bell; [`boost`]: the sweep of raised tasks (priority
//!   inheritance).

mod baton;
mod bell;
pub(crate) mod boost;
mod siblings;
mod state;
mod word;

use baton::Parked;
pub(crate) use baton::{HandOff, Recheck};
pub(crate) use bell::Bell;
pub(crate) use siblings::Siblings;
pub(crate) use state::{State, Transition};
pub(crate) use word::{SectionWord, Seen, SeenPoll};

use crate::queue::{self, PerClass, Priority, Queue, TaskSlot};
use crate::stats::{CoreStats, Counters};
use std::time::Duration;
#[cfg(not(loom))]
use std::time::Instant;

use crate::sync::{lock, Arc, AtomicBool, AtomicU32, Mutex, Ordering};

use state::AtomicState;

/// One scheduling slot of the runtime.
#[derive(Debug)]
pub(crate) struct Core {
    /// This core's index in the runtime.
    index: usize,
    /// The queues of each class (see [`crate::queue::Priority`]).
    pub(crate) classes: PerClass<ClassQueues>,
    /// The `Normal` task to run next: one woken by a task running on this core (a message's
    /// receiver, say), run while its data is still in cache. Part of the core, so it moves with
    /// the baton; idle cores may steal it.
    pub(crate) lifo: TaskSlot,
    /// Changes each time a worker of the core starts a poll: a stealer that sees it unchanged
    /// over a short wait knows the worker is stuck in one poll and may take its next task.
    turn: OwnLine<AtomicU32>,
    /// How many `High` tasks the core's workers ran in a row, whichever worker ran them: the
    /// core's, not a worker's, so the bound on a `High` flood holds while a section or a
    /// takeover has two workers running the core. Touched only once classes are used.
    high_streak: AtomicU32,
    /// The worker counts (see the module docs).
    state: AtomicState,
    /// Parked workers, most recently parked last, with when they parked.
    spares: Mutex<Vec<Parked>>,
    /// The section words of the core's workers, for the monitor.
    words: Mutex<Vec<Arc<SectionWord>>>,
    /// Always-on counters.
    pub(crate) counters: Counters,
    /// Set by a worker of another core that saw this core's poll run past the detection
    /// threshold; the monitor's detector takes it (see [`crate::detect`]).
    overdue: AtomicBool,
    /// How many polls apart the core's workers last chose to look at the injector (0: none
    /// yet): a worker handed the core starts from it.
    injector_interval: AtomicU32,
}

/// How long a stealer watches a core's worker stay in one poll before it takes the task in the
/// core's next-task slot.
#[cfg_attr(loom, allow(dead_code))]
const SLOT_PATIENCE: Duration = Duration::from_micros(3);

/// A value on a cache line of its own (two lines: adjacent-line prefetch), so that the worker
/// writing it every poll does not slow down other cores reading the fields around it.
#[derive(Debug)]
#[repr(align(128))]
struct OwnLine<T>(T);

/// A core's queues for one priority class. `Normal`'s local queue is bounded (it spills into
/// the `Normal` injector) and the class also has the core's next-task slot; the other classes'
/// tasks are rarer, so their local queues are unbounded.
#[derive(Debug)]
pub(crate) struct ClassQueues {
    /// Tasks queued on this core; idle cores steal from it.
    pub(crate) queue: Queue,
    /// Tasks pinned to this core (`spawn_on`); never stolen.
    pub(crate) pinned: Queue,
}

impl ClassQueues {
    fn new(priority: Priority) -> ClassQueues {
        ClassQueues {
            queue: if priority == Priority::Normal {
                queue::local_queue()
            } else {
                queue::unbounded_queue()
            },
            pinned: queue::unbounded_queue(),
        }
    }

    /// Whether either queue holds a task.
    pub(crate) fn has_work(&self) -> bool {
        !self.queue.is_empty() || !self.pinned.is_empty()
    }

    /// Takes a task, pinned ones first.
    pub(crate) fn pop(&self) -> Option<crate::queue::Runnable> {
        self.pinned.pop().or_else(|_| self.queue.pop()).ok()
    }

    fn len(&self) -> usize {
        self.queue.len() + self.pinned.len()
    }
}

impl Core {
    /// An empty core with no workers.
    pub(crate) fn new(index: usize) -> Core {
        Core {
            index,
            classes: PerClass::from_fn(ClassQueues::new),
            lifo: TaskSlot::new(),
            turn: OwnLine(AtomicU32::new(0)),
            high_streak: AtomicU32::new(0),
            state: AtomicState::new(),
            spares: Mutex::new(Vec::new()),
            words: Mutex::new(Vec::new()),
            counters: Counters::default(),
            overdue: AtomicBool::new(false),
            injector_interval: AtomicU32::new(0),
        }
    }

    /// This core's index.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The current worker counts.
    pub(crate) fn state(&self) -> State {
        self.state.load()
    }

    /// Whether the core has tasks queued that its own workers should run.
    pub(crate) fn has_work(&self) -> bool {
        !self.lifo.is_empty() || self.classes.iter().any(ClassQueues::has_work)
    }

    /// Whether the core's workers ran `limit` `High` tasks in a row (see
    /// [`Core::count_class`]).
    pub(crate) fn high_streak_reached(&self, limit: u32) -> bool {
        // Relaxed: a bound on fairness, not a synchronisation; a stale count is off by a task.
        self.high_streak.load(Ordering::Relaxed) >= limit
    }

    /// Counts a task of class `priority` that a worker of this core is about to run: `High`
    /// lengthens the streak, any other class ends it.
    pub(crate) fn count_class(&self, priority: Priority) {
        // Relaxed: see `high_streak_reached`.
        if priority == Priority::High {
            self.high_streak.fetch_add(1, Ordering::Relaxed);
        } else if self.high_streak.load(Ordering::Relaxed) != 0 {
            self.high_streak.store(0, Ordering::Relaxed);
        }
    }

    /// Whether the core has `Normal` tasks queued.
    pub(crate) fn has_normal_work(&self) -> bool {
        !self.lifo.is_empty() || self.classes[Priority::Normal].has_work()
    }

    /// Whether the core has tasks other cores may steal. The next-task slot counts only if
    /// `patient` and the core's worker is stuck in one poll ([`Core::next_is_stuck`], which
    /// spins for [`SLOT_PATIENCE`]); otherwise a full slot counts as a hint.
    pub(crate) fn has_stealable_work(&self, patient: bool) -> bool {
        self.classes.iter().any(|class| !class.queue.is_empty())
            || if patient {
                self.next_is_stuck()
            } else {
                !self.lifo.is_empty()
            }
    }

    /// Records that a worker of the core starts a poll (`turn` is the worker's own count).
    pub(crate) fn start_poll(&self, turn: u32) {
        // Relaxed: a hint for stealers, who take the task itself through the slot's queue.
        self.turn.0.store(turn, Ordering::Relaxed);
    }

    /// The interval between looks at the injector the core's workers last tuned, if any.
    pub(crate) fn injector_interval(&self) -> Option<u32> {
        // Relaxed: a hint.
        Some(self.injector_interval.load(Ordering::Relaxed)).filter(|&n| n > 0)
    }

    /// Records the interval a worker of the core just tuned.
    pub(crate) fn set_injector_interval(&self, interval: u32) {
        self.injector_interval.store(interval, Ordering::Relaxed);
    }

    /// Another core's worker saw this core's poll run past the detection threshold.
    pub(crate) fn flag_overdue_poll(&self) {
        // Relaxed: a hint for the monitor, which the bell wakes; it judges the poll itself.
        self.overdue.store(true, Ordering::Relaxed);
    }

    /// Monitor: takes the flag [`Core::flag_overdue_poll`] set.
    pub(crate) fn take_overdue_flag(&self) -> bool {
        self.overdue.swap(false, Ordering::Relaxed)
    }

    /// The turn of the poll a worker of the core started last (see [`Core::start_poll`]).
    pub(crate) fn turn(&self) -> u32 {
        self.turn.0.load(Ordering::Relaxed)
    }

    /// Takes the task in the core's next-task slot if the core's worker seems stuck in one
    /// poll (see [`Core::next_is_stuck`]).
    pub(crate) fn steal_next(&self) -> Option<queue::Runnable> {
        if self.next_is_stuck() {
            self.lifo.pop().ok()
        } else {
            None
        }
    }

    /// Whether a task waits in the next-task slot while the core's worker stays in the same
    /// poll for [`SLOT_PATIENCE`]. A worker between short polls takes its slot itself, and the
    /// task is hot in that core's cache; one in a long poll (a CPU-bound step, a hog) would
    /// leave it stranded. (Go's scheduler waits the same way before stealing `runnext`.)
    fn next_is_stuck(&self) -> bool {
        if self.lifo.is_empty() {
            return false;
        }
        let turn = self.turn.0.load(Ordering::Relaxed);
        // Loom models must be deterministic, so they leave out the wait (every interleaving of
        // the two loads is explored anyway).
        #[cfg(not(loom))]
        {
            let deadline = Instant::now() + SLOT_PATIENCE;
            while Instant::now() < deadline {
                std::hint::spin_loop();
            }
        }
        self.turn.0.load(Ordering::Relaxed) == turn && !self.lifo.is_empty()
    }

    /// Registers a worker's section word for the monitor.
    pub(crate) fn add_word(&self, word: Arc<SectionWord>) {
        lock(&self.words).push(word);
    }

    /// Unregisters a worker's section word, keeping its count of sections in the core's.
    pub(crate) fn remove_word(&self, word: &Arc<SectionWord>) {
        let mut words = lock(&self.words);
        // Under the lock `stats` sums the words with: a snapshot counts the sections once.
        Counters::add(&self.counters.sections, word.sections());
        words.retain(|w| !Arc::ptr_eq(w, word));
    }

    /// Calls `f` with each worker's section word.
    pub(crate) fn for_each_word(&self, mut f: impl FnMut(&Arc<SectionWord>)) {
        for word in lock(&self.words).iter() {
            f(word);
        }
    }

    /// A snapshot of this core's counters.
    pub(crate) fn stats(&self) -> CoreStats {
        let c = &self.counters;
        // In the reverse order of their increments (see `count_handoff`; a section is counted
        // before it can be handed off), so `eager_handoffs <= handoffs <= sections` in every
        // snapshot.
        let eager_handoffs = c.eager_handoffs.load(Ordering::Acquire);
        let handoffs = c.handoffs.load(Ordering::Acquire);
        let sections = {
            let words = lock(&self.words);
            Counters::get(&c.sections) + words.iter().map(|w| w.sections()).sum::<u64>()
        };
        let state = self.state.load();
        CoreStats {
            core: self.index,
            // The runtime knows which cores are online; it fills this in.
            offline: false,
            polls: Counters::get(&c.polls),
            steals: Counters::get(&c.steals),
            parks: Counters::get(&c.parks),
            wake_ups: Counters::get(&c.wakeups),
            queue_depth: usize::from(!self.lifo.is_empty())
                + self.classes.iter().map(ClassQueues::len).sum::<usize>(),
            running: state.running(),
            spares: state.spares(),
            in_section: state.in_section(),
            workers: state.workers(),
            sections,
            handoffs,
            eager_handoffs,
            retirements: Counters::get(&c.retirements),
            threads_started: Counters::get(&c.threads_started),
            spawn_failures: Counters::get(&c.spawn_failures),
            threads_reaped: Counters::get(&c.threads_reaped),
            cap_hits: Counters::get(&c.cap_hits),
            cap_rescues: Counters::get(&c.cap_rescues),
            held_sections: Counters::get(&c.held_sections),
            deferred_tasks: Counters::get(&c.deferred_tasks),
            detected_blocks: Counters::get(&c.detected_blocks),
            cpu_hogs: Counters::get(&c.cpu_hogs),
            watched_detections: Counters::get(&c.watched_detections),
            switch_detections: Counters::get(&c.switch_detections),
            eager_polls: Counters::get(&c.eager_polls),
            stalls: Counters::get(&c.stalls),
        }
    }
}
