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
//!    never polls a task it was not handed, then performs the end of step 4 (the fence and a
//!    last look for work) so that work queued meanwhile is not stranded. If the OS refuses the
//!    thread, [`Core::cancel_worker`] drops the reservation and nothing else changed: no
//!    waker can have counted a worker that does not exist as running.
//! 2. **`need_more_worker`.** Whoever queues work for the core calls [`Core::notify`]: after a
//!    `fence(SeqCst)` it reads `running`; if it is zero and a spare is parked, it takes the
//!    spare stack's lock, checks again, pops the most recently parked worker (cache-hot), counts
//!    it running and unparks it. Because the check and the pop happen under the lock, two notifiers never
//!    wake two workers for one core.
//! 3. **`keep_working`.** A worker finishing a poll keeps going while `running <= 1`; when it
//!    is above one (a worker came back from a section while its replacement runs) the worker
//!    retires to the spare stack at that poll boundary ([`Core::park`]).
//! 4. **Parking.** A worker out of work pushes itself on the spare stack and counts itself a spare
//!    under the lock, then issues `fence(SeqCst)` and looks once more: first whether the
//!    runtime shuts down (then it takes itself back off the stack and does not park, whatever
//!    the queues hold), then at the core's queues. The fence pairs with the one in step 2:
//!    either the notifier sees `running == 0`, or the parking worker sees the new task, so a
//!    wake-up is never lost. If it sees work it performs step 2 itself (which pops the top of
//!    the stack, normally itself) before parking.
//! 5. **Sections** (blocking code) move a worker from `running` to `in_section` when its baton
//!    passes on ([`Transition::HandOff`]), and back when the section ends
//!    ([`Transition::Return`]); step 3 then retires one of the two.
//!
//! Stealing between cores sits on top of this in the worker loop: a core that runs out of work
//! counts itself in [`Siblings`], and a worker that queues a task while another core is idle and no
//! core is searching wakes that core, so no task is stranded behind a busy worker.

mod bell;
pub(crate) mod boost;
mod state;
mod word;

pub(crate) use bell::Bell;
pub(crate) use state::{State, Transition};
pub(crate) use word::{SectionWord, Seen, SeenPoll};

use crate::park::{Parker, WakeFor};
use crate::queue::{self, Priority, Queue, TaskSlot};
use crate::stats::{CoreStats, Counters};
use crate::trace;
use std::time::{Duration, Instant};

use crate::sync::{fence, lock, Arc, AtomicBool, AtomicU32, AtomicUsize, Mutex, Ordering};

use state::AtomicState;

/// One scheduling slot of the runtime.
#[derive(Debug)]
pub(crate) struct Core {
    /// This core's index in the runtime.
    index: usize,
    /// Tasks queued on this core; idle cores steal from it.
    pub(crate) queue: Queue,
    /// The task to run next: one woken by a task running on this core (a message's receiver,
    /// say), run while its data is still in cache. Part of the core, so it moves with the
    /// baton; idle cores may steal it.
    pub(crate) lifo: TaskSlot,
    /// Tasks pinned to this core (`spawn_on`); never stolen.
    pub(crate) pinned: Queue,
    /// Changes each time a worker of the core starts a poll: a stealer that sees it unchanged
    /// over a short wait knows the worker is stuck in one poll and may take its next task.
    turn: OwnLine<AtomicU32>,
    /// `High` tasks queued on this core (see [`crate::queue::Priority`]).
    pub(crate) high: ClassQueues,
    /// How many `High` tasks the core's workers ran in a row, whichever worker ran them: the
    /// core's, not a worker's, so the bound on a `High` flood holds while a section or a
    /// takeover has two workers running the core. Touched only once classes are used.
    high_streak: AtomicU32,
    /// `Idle` tasks queued on this core.
    pub(crate) idle_class: ClassQueues,
    /// The worker counts (see the module docs).
    state: AtomicState,
    /// Parked workers, most recently parked last, with when they parked.
    spares: Mutex<Vec<Parked>>,
    /// The section words of the core's workers, for the monitor.
    slots: Mutex<Vec<Arc<SectionWord>>>,
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

/// A core's queues for one priority class other than `Normal`, whose tasks are rarer and so
/// need neither a bounded local queue nor a next-task slot.
#[derive(Debug)]
pub(crate) struct ClassQueues {
    /// Tasks queued on this core; idle cores steal from it.
    pub(crate) queue: Queue,
    /// Tasks pinned to this core; never stolen.
    pub(crate) pinned: Queue,
}

impl ClassQueues {
    fn new() -> ClassQueues {
        ClassQueues {
            queue: queue::unbounded_queue(),
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

/// A parked worker on a core's spare stack.
#[derive(Debug)]
struct Parked {
    parker: Arc<Parker>,
    since: Instant,
}

impl Parked {
    fn now(parker: Arc<Parker>) -> Parked {
        Parked {
            parker,
            since: Instant::now(),
        }
    }
}

/// A parking worker's last look beyond its own core, after its fence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recheck {
    /// Nothing to do: park.
    Nothing,
    /// Another core or the injector has work: stay up to search.
    Elsewhere,
    /// The runtime shuts down: do not park at all.
    Stop,
}

/// What a handoff did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HandOff {
    /// A spare was woken to run the core's queued work.
    Woke,
    /// The core had no work queued; the next task queued wakes a spare (step 2).
    NoWork,
    /// The core has work but no spare is parked: one must be started.
    NoSpare,
}

/// Runtime-wide counts that let busy cores find idle ones cheaply.
#[derive(Debug)]
pub(crate) struct Siblings {
    /// Cores with no running worker.
    idle_cores: AtomicUsize,
    /// Workers looking for work in other cores' queues or the injector.
    searching: AtomicUsize,
    /// Wakes the monitor when a core starts running while it sleeps.
    pub(crate) bell: Bell,
}

impl Siblings {
    /// Counts for a runtime whose cores all start idle.
    pub(crate) fn new(cores: usize) -> Siblings {
        Siblings {
            idle_cores: AtomicUsize::new(cores),
            searching: AtomicUsize::new(0),
            bell: Bell::new(),
        }
    }

    /// Whether a task queued now should wake an idle core to steal it: some core is idle and
    /// nobody is already searching (a searcher will find the task).
    ///
    /// The caller has issued `fence(SeqCst)` after queueing; it pairs with the fence a searcher
    /// issues in [`Siblings::stop_searching`] before its last look.
    pub(crate) fn should_wake_sibling(&self) -> bool {
        self.searching.load(Ordering::Relaxed) == 0 && self.idle_cores.load(Ordering::Relaxed) > 0
    }

    /// A worker starts looking for work beyond its core (or a waker counts the worker it wakes
    /// with [`WakeFor::Search`]).
    pub(crate) fn start_searching(&self) {
        self.searching.fetch_add(1, Ordering::Relaxed);
    }

    /// A worker stops looking for work beyond its core; returns whether it was the last one.
    ///
    /// The decrement is followed by `fence(SeqCst)`: it pairs with the fence of a thread that
    /// queued a task and then read `searching`. Either that thread sees no searcher and wakes a
    /// core, or the last searcher, looking once more after this call, sees the task.
    pub(crate) fn stop_searching(&self) -> bool {
        let last = self.searching.fetch_sub(1, Ordering::SeqCst) == 1;
        fence(Ordering::SeqCst);
        last
    }
}

impl Core {
    /// An empty core with no workers.
    pub(crate) fn new(index: usize) -> Core {
        Core {
            index,
            queue: queue::local_queue(),
            lifo: TaskSlot::new(),
            pinned: queue::unbounded_queue(),
            turn: OwnLine(AtomicU32::new(0)),
            high_streak: AtomicU32::new(0),
            high: ClassQueues::new(),
            idle_class: ClassQueues::new(),
            state: AtomicState::new(),
            spares: Mutex::new(Vec::new()),
            slots: Mutex::new(Vec::new()),
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
        self.has_normal_work() || self.high.has_work() || self.idle_class.has_work()
    }

    /// Whether the core has `Normal` tasks queued.
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

    pub(crate) fn has_normal_work(&self) -> bool {
        !self.lifo.is_empty() || !self.queue.is_empty() || !self.pinned.is_empty()
    }

    /// The queues of class `priority`, or `None` for `Normal`, whose queues are the core's own
    /// fields (`queue`, `lifo`, `pinned`).
    pub(crate) fn class(&self, priority: Priority) -> Option<&ClassQueues> {
        match priority {
            Priority::High => Some(&self.high),
            Priority::Normal => None,
            Priority::Idle => Some(&self.idle_class),
        }
    }

    /// The queue for tasks of class `priority` pinned to this core.
    pub(crate) fn pinned_queue(&self, priority: Priority) -> &Queue {
        self.class(priority)
            .map_or(&self.pinned, |class| &class.pinned)
    }

    /// Whether the core has tasks other cores may steal. The next-task slot counts only if
    /// `patient` and the core's worker is stuck in one poll ([`Core::next_is_stuck`], which
    /// spins for [`SLOT_PATIENCE`]); otherwise a full slot counts as a hint.
    pub(crate) fn has_stealable_work(&self, patient: bool) -> bool {
        !self.queue.is_empty()
            || !self.high.queue.is_empty()
            || !self.idle_class.queue.is_empty()
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

    /// Applies a transition that may move `running` across zero, keeping the runtime's count of
    /// idle cores in step.
    fn transition(&self, transition: Transition, siblings: &Siblings) -> State {
        let before = self.state.apply(transition);
        match transition {
            Transition::HandOff | Transition::Park if before.running() == 1 => {
                siblings.idle_cores.fetch_add(1, Ordering::Relaxed);
            }
            Transition::Return | Transition::Wake if before.running() == 0 => {
                siblings.idle_cores.fetch_sub(1, Ordering::Relaxed);
                siblings.bell.core_started();
            }
            _ => {}
        }
        before
    }

    /// Step 5: the calling worker enters a section whose baton passes on now (eager), or the
    /// monitor hands off a worker's section. If the core has work (or `recheck` finds work
    /// elsewhere that the core should take), a spare is woken to run it.
    pub(crate) fn hand_off(
        &self,
        siblings: &Siblings,
        recheck: impl FnOnce() -> Recheck,
    ) -> HandOff {
        self.transition(Transition::HandOff, siblings);
        // SeqCst: pairs with the fence in `notify`, as parking does (step 4): either a
        // notifier sees `running == 0`, or we see its task here.
        fence(Ordering::SeqCst);
        let woke = if self.has_work() {
            self.wake_one(siblings, WakeFor::Work)
        } else if recheck() == Recheck::Elsewhere {
            siblings.start_searching();
            let woke = self.wake_one(siblings, WakeFor::Search);
            if !woke {
                siblings.stop_searching();
            }
            woke
        } else {
            return HandOff::NoWork;
        };
        if woke || self.state.load().running() > 0 {
            HandOff::Woke
        } else {
            HandOff::NoSpare
        }
    }

    /// Step 5, the end: a worker whose baton passed on leaves its section (or the monitor undoes
    /// a handoff it could not publish) and counts as running again.
    pub(crate) fn return_from_section(&self, siblings: &Siblings) {
        self.transition(Transition::Return, siblings);
    }

    /// Counts a section of this core handed to another worker (`eager`: at once, by the
    /// section's own worker). Call it after the section was counted ([`SectionWord`]).
    pub(crate) fn count_handoff(&self, eager: bool) {
        // Release, both: pairs with the Acquire loads in `stats`, which reads `eager_handoffs`,
        // then `handoffs`, then the sections, so each snapshot shows
        // `eager_handoffs <= handoffs <= sections`.
        self.counters.handoffs.fetch_add(1, Ordering::Release);
        if eager {
            self.counters.eager_handoffs.fetch_add(1, Ordering::Release);
        }
        trace::event(self.index, trace::Event::Handoff { eager });
    }

    /// Registers a worker's section word for the monitor.
    pub(crate) fn add_slot(&self, slot: Arc<SectionWord>) {
        lock(&self.slots).push(slot);
    }

    /// Unregisters a worker's section word, keeping its count of sections in the core's.
    pub(crate) fn remove_slot(&self, slot: &Arc<SectionWord>) {
        let mut slots = lock(&self.slots);
        // Under the lock `stats` sums the slots with: a snapshot counts the sections once.
        Counters::add(&self.counters.sections, slot.sections());
        slots.retain(|s| !Arc::ptr_eq(s, slot));
    }

    /// Calls `f` with each worker's section word.
    pub(crate) fn for_each_slot(&self, mut f: impl FnMut(&Arc<SectionWord>)) {
        for slot in lock(&self.slots).iter() {
            f(slot);
        }
    }

    /// Step 1, the spawner: counts a worker thread about to be started for this core. Follow
    /// it with the thread's own [`Core::add_worker`], or with [`Core::cancel_worker`] if the
    /// thread could not be started.
    pub(crate) fn reserve_worker(&self) {
        self.state.apply(Transition::Reserve);
    }

    /// Step 1, the spawner: the OS refused the thread reserved by [`Core::reserve_worker`];
    /// counted as a spawn failure.
    pub(crate) fn cancel_worker(&self) {
        self.state.apply(Transition::Unreserve);
        Counters::add(&self.counters.spawn_failures, 1);
        trace::event(self.index, trace::Event::SpawnFailure);
    }

    /// Step 1, the new thread: parks its worker (reserved by [`Core::reserve_worker`]) on the
    /// spare stack, unless `stopping` (checked under the spare stack's lock) says the runtime
    /// shuts down, in which case it drops the reservation and returns false: the thread must
    /// exit.
    ///
    /// Then, as a parking worker does (step 4), it issues the fence and looks for work queued
    /// on the core (or, through `recheck`, elsewhere) by notifiers that found no idle worker
    /// to wake, and wakes a worker for it (normally this one). The caller then waits on
    /// `parker`.
    pub(crate) fn add_worker(
        &self,
        parker: &Arc<Parker>,
        siblings: &Siblings,
        stopping: impl FnOnce() -> bool,
        recheck: impl FnOnce() -> Recheck,
    ) -> bool {
        {
            let mut spares = lock(&self.spares);
            // Shutdown drains the spare stacks under this lock after setting its flag: either
            // that drain comes later and wakes this worker, or the flag is seen here.
            if stopping() {
                self.state.apply(Transition::Unreserve);
                return false;
            }
            spares.push(Parked::now(Arc::clone(parker)));
            self.state.apply(Transition::Start);
        }
        Counters::add(&self.counters.threads_started, 1);
        trace::event(self.index, trace::Event::SpareStarted);
        // SeqCst: pairs with the fence in `notify` (see `park`): either a notifier sees this
        // worker idle, or this look sees its task.
        fence(Ordering::SeqCst);
        if self.has_work() {
            self.wake_one(siblings, WakeFor::Work);
        } else if recheck() == Recheck::Elsewhere {
            // Counted on the woken worker's behalf, as `WakeFor::Search` promises.
            siblings.start_searching();
            if !self.wake_one(siblings, WakeFor::Search) {
                siblings.stop_searching();
            }
        }
        true
    }

    /// Step 2, the fast path: after queueing work for this core, wakes a worker if none runs.
    ///
    /// Costs a fence and a load when the core is running.
    pub(crate) fn notify(&self, siblings: &Siblings) -> bool {
        // SeqCst: pairs with the fence in `park` (step 4) so that either this load sees the
        // parking worker's `running` decrement, or that worker's re-check sees our task.
        fence(Ordering::SeqCst);
        let state = self.state.load();
        if state.need_more_worker(true) && state.spares() > 0 {
            self.wake_one(siblings, WakeFor::Work)
        } else {
            false
        }
    }

    /// Step 2, the slow path: pops the most recently parked worker and hands it the baton,
    /// unless a worker already runs. `wake` tells the worker why.
    pub(crate) fn wake_one(&self, siblings: &Siblings, wake: WakeFor) -> bool {
        let mut spares = lock(&self.spares);
        // The lock keeps the spare stack and the spares count in step; the running count can
        // still move under us (a worker back from a section), so the check and the count
        // are one compare-exchange.
        if spares.is_empty() || !self.state.wake_if_none_running() {
            return false;
        }
        let Some(Parked { parker, .. }) = spares.pop() else {
            unreachable!("the spare stack was not empty under its lock");
        };
        // `running` went from zero to one, as `transition` counts for `Wake`.
        siblings.idle_cores.fetch_sub(1, Ordering::Relaxed);
        siblings.bell.core_started();
        drop(spares);
        Counters::add(&self.counters.wakeups, 1);
        parker.unpark(wake);
        true
    }

    /// Step 4: the calling worker, which counts as running, parks on the spare stack until it
    /// is handed the baton again. Returns at once (the worker running again) if work arrived
    /// meanwhile, or if `recheck` reports work elsewhere or that the worker must not park.
    ///
    /// `recheck` runs after the fence, so it sees every task whose notifier missed us. It is
    /// told whether the core has work of its own: then only `Recheck::Stop` matters, and it
    /// need not look at other cores.
    pub(crate) fn park(
        &self,
        parker: &Arc<Parker>,
        siblings: &Siblings,
        recheck: impl FnOnce(bool) -> Recheck,
    ) -> WakeFor {
        {
            let mut spares = lock(&self.spares);
            spares.push(Parked::now(Arc::clone(parker)));
            self.transition(Transition::Park, siblings);
        }
        Counters::add(&self.counters.parks, 1);
        self.recheck_and_park(parker, siblings, recheck)
    }

    /// Step 3: at a poll boundary, parks the calling worker if another worker of the core also
    /// runs (it came back from a section while its replacement ran). Returns `None`, having
    /// done nothing, when the caller is the only running worker and keeps the baton.
    pub(crate) fn retire(
        &self,
        parker: &Arc<Parker>,
        siblings: &Siblings,
        recheck: impl FnOnce(bool) -> Recheck,
    ) -> Option<WakeFor> {
        {
            let mut spares = lock(&self.spares);
            if !self.state.retire_if_surplus() {
                return None;
            }
            spares.push(Parked::now(Arc::clone(parker)));
        }
        Counters::add(&self.counters.retirements, 1);
        trace::event(self.index, trace::Event::Retirement);
        Some(self.recheck_and_park(parker, siblings, recheck))
    }

    /// The end of steps 3 and 4: the fence, the last look for work, and the wait.
    ///
    /// `recheck` is called whatever the core's queues hold, and a `Recheck::Stop` acted on
    /// first, so that a runtime shutting down is always seen: during shutdown the queues may
    /// hold work that no worker will run, and waking one for it can fail because a worker still
    /// counts as running, while the shutdown's wake-up of parked workers may already have gone
    /// out before this worker pushed itself.
    fn recheck_and_park(
        &self,
        parker: &Arc<Parker>,
        siblings: &Siblings,
        recheck: impl FnOnce(bool) -> Recheck,
    ) -> WakeFor {
        // SeqCst: pairs with the fence in `notify` (see there).
        fence(Ordering::SeqCst);
        let work_here = self.has_work();
        match recheck(work_here) {
            Recheck::Stop => {
                if self.take_back(parker, siblings) {
                    return WakeFor::Work;
                }
                // Already popped by a waker: its token is on the way.
            }
            _ if work_here => {
                self.wake_one(siblings, WakeFor::Work);
            }
            Recheck::Elsewhere => {
                // Counted on the woken worker's behalf, as `WakeFor::Search` promises.
                siblings.start_searching();
                if !self.wake_one(siblings, WakeFor::Search) {
                    siblings.stop_searching();
                }
            }
            Recheck::Nothing => {}
        }
        Parker::park(parker)
    }

    /// Takes the calling worker back off the spare stack, counting it running; false if a
    /// waker popped it first.
    fn take_back(&self, parker: &Arc<Parker>, siblings: &Siblings) -> bool {
        let mut spares = lock(&self.spares);
        let Some(i) = spares.iter().position(|p| Arc::ptr_eq(&p.parker, parker)) else {
            return false;
        };
        spares.remove(i);
        self.transition(Transition::Wake, siblings);
        true
    }

    /// Shutdown: wakes every parked worker so it can see the runtime is shutting down and exit.
    pub(crate) fn wake_all(&self) {
        let parked: Vec<_> = std::mem::take(&mut *lock(&self.spares));
        for p in parked {
            p.parker.unpark(WakeFor::Work);
        }
    }

    /// Tells surplus spares parked for longer than `keep_alive` to exit, oldest first, keeping
    /// at least one spare and at least `min_workers` threads. Returns how many were told.
    pub(crate) fn reap(&self, keep_alive: Duration, min_workers: u64, now: Instant) -> u64 {
        let mut reaped = Vec::new();
        {
            let mut spares = lock(&self.spares);
            // A keep-alive too long for the clock never runs out.
            while spares.len() > 1
                && self.state.load().workers() > min_workers
                && spares[0]
                    .since
                    .checked_add(keep_alive)
                    .is_some_and(|end| end <= now)
            {
                reaped.push(spares.remove(0).parker);
                self.state.apply(Transition::Exit);
            }
        }
        for parker in &reaped {
            parker.unpark(WakeFor::Exit);
        }
        let n = reaped.len() as u64;
        Counters::add(&self.counters.threads_reaped, n);
        if n > 0 {
            trace::event(self.index, trace::Event::SparesReaped { count: n });
        }
        n
    }

    /// When the oldest surplus spare's keep-alive runs out, if the core has one and the
    /// keep-alive is not too long for the clock.
    pub(crate) fn next_reap(&self, keep_alive: Duration, min_workers: u64) -> Option<Instant> {
        let spares = lock(&self.spares);
        (spares.len() > 1 && self.state.load().workers() > min_workers)
            .then(|| spares[0].since.checked_add(keep_alive))
            .flatten()
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
            let slots = lock(&self.slots);
            Counters::get(&c.sections) + slots.iter().map(|s| s.sections()).sum::<u64>()
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
                + self.queue.len()
                + self.pinned.len()
                + self.high.len()
                + self.idle_class.len(),
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
