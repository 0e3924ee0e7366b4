//! Passing the baton: the steps of the core protocol that move a core's workers between
//! running, parked on the spare stack, and in a handed-off section (see the [module
//! docs](super)): *a new worker starts parked*, *`need_more_worker`*, *`keep_working`*,
//! *parking*, *sections* (handoffs and returns), and the spare stack's upkeep
//! (waking every spare at shutdown, reaping surplus spares).

use std::time::{Duration, Instant};

use super::{Core, Siblings, State, Transition};
use crate::park::{Parker, WakeFor};
use crate::stats::Counters;
use crate::sync::{fence, lock, Arc, Ordering};
use crate::trace;

/// A parked worker on a core's spare stack.
#[derive(Debug)]
pub(super) struct Parked {
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
    /// The core had no work queued; the next task queued wakes a spare (*`need_more_worker`*).
    NoWork,
    /// The core has work but no spare is parked: one must be started.
    NoSpare,
}

impl Core {
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

    /// *Sections*: the calling worker enters a section whose baton passes on now (eager), or the
    /// monitor hands off a worker's section. If the core has work (or `recheck` finds work
    /// elsewhere that the core should take), a spare is woken to run it.
    pub(crate) fn hand_off(
        &self,
        siblings: &Siblings,
        recheck: impl FnOnce() -> Recheck,
    ) -> HandOff {
        self.transition(Transition::HandOff, siblings);
        // SeqCst: pairs with the fence in `notify`, as *parking* does: either a
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

    /// *Sections*, the end: a worker whose baton passed on leaves its section (or the monitor
    /// undoes a handoff it could not publish) and counts as running again.
    pub(crate) fn return_from_section(&self, siblings: &Siblings) {
        self.transition(Transition::Return, siblings);
    }

    /// Counts a section of this core handed to another worker (`eager`: at once, by the section's
    /// own worker). Call it after the section was counted ([`SectionWord`](super::SectionWord)).
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

    /// *A new worker starts parked*, the spawner: counts a worker thread about to be started for
    /// this core. Follow it with the thread's own [`Core::add_worker`], or with
    /// [`Core::cancel_worker`] if the thread could not be started.
    pub(crate) fn reserve_worker(&self) {
        self.state.apply(Transition::Reserve);
    }

    /// *A new worker starts parked*, the spawner: the OS refused the thread reserved by
    /// [`Core::reserve_worker`]; counted as a spawn failure.
    pub(crate) fn cancel_worker(&self) {
        self.state.apply(Transition::Unreserve);
        Counters::add(&self.counters.spawn_failures, 1);
        trace::event(self.index, trace::Event::SpawnFailure);
    }

    /// *A new worker starts parked*, the new thread: parks its worker (reserved by
    /// [`Core::reserve_worker`]) on the spare stack, unless `stopping` (checked under the spare
    /// stack's lock) says the runtime shuts down, in which case it drops the reservation and
    /// returns false: the thread must exit.
    ///
    /// Then, as a parking worker does (*parking*), it issues the fence and looks for work queued
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

    /// *`need_more_worker`*, the fast path: after queueing work for this core, wakes a worker if
    /// none runs.
    ///
    /// Costs a fence and a load when the core is running.
    pub(crate) fn notify(&self, siblings: &Siblings) -> bool {
        // SeqCst: pairs with the fence in `park` (*parking*) so that either this load sees the
        // parking worker's `running` decrement, or that worker's re-check sees our task.
        fence(Ordering::SeqCst);
        let state = self.state.load();
        if state.need_more_worker(true) && state.spares() > 0 {
            self.wake_one(siblings, WakeFor::Work)
        } else {
            false
        }
    }

    /// *`need_more_worker`*, the slow path: pops the most recently parked worker and hands it the
    /// baton, unless a worker already runs. `wake` tells the worker why.
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

    /// *Parking*: the calling worker, which counts as running, parks on the spare stack until it
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

    /// *`keep_working`*: at a poll boundary, parks the calling worker if another worker of the core
    /// also runs (it came back from a section while its replacement ran). Returns `None`, having
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

    /// The end of *`keep_working`* and *parking*: the fence, the last look for work, and the wait.
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
}
