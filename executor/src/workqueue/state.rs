//! A work queue's mutable state, under its one lock: admission, an ordered queue's line, the
//! flush generations, the live tasks, the drain, close and shutdown flags, and the task counts.
//!
//! # Locking
//!
//! One mutex per queue guards its [`QueueState`]. A spawn takes it once, and allocates the task
//! under it (so acceptance, the task's generation and its FIFO position are one step); a
//! finishing task takes it once (an ordered queue's runner when it reports, see
//! [`super::runner`]). Lock order: the state lock, then the runtime's registry shard (inside the
//! allocation). No user code, no task drop and no wake-up runs under it: held tasks are dropped,
//! admitted ones (or a new runner) submitted, and flush and drain waiters woken after it is
//! released.
//!
//! # Counts
//!
//! The task counts (spawned, completed, cancelled) are plain integers here, under the lock every
//! spawn and finish takes anyway. `started` (`completed + in_flight`) and the live count
//! (`spawned - completed - cancelled`) are derived. An ordered queue's runner counts the tasks it
//! ran outside the lock ([`QueueCounters`](super::counters::QueueCounters)), so the derived
//! counts take that figure (`ran`) as an argument.

use std::collections::VecDeque;

use super::admission::{Admission, Generations};
use super::held::Held;
use super::line::Line;
use super::live::{LiveId, LiveTasks};
use super::refusal::Refusal;
use crate::queue::Priority;

/// A queue's mutable state, under one lock.
pub(super) struct QueueState {
    /// Who may start, for a queue that is not ordered.
    admission: Admission<Held>,
    /// An ordered queue's line of tasks and its runner.
    line: Line,
    generations: Generations,
    /// The metadata of the live tasks of a queue that is not ordered (priority inheritance).
    live: LiveTasks,
    /// The latest generation a flush awaited by a `High` task waits for, if any: its tasks
    /// are raised (priority inheritance, see [`QueueState::raise_until`]).
    raised_until: Option<u64>,
    /// The raise epoch (`core::boost::raise_epoch`) at which admission's ready FIFO held no
    /// raised task, or 0: until the epoch moves, only tasks joining it from a lane can be
    /// raised, and admission looks at those alone. A delayed task joining raised resets it.
    clean_at: u64,
    /// Drains in progress.
    draining: usize,
    /// Set by `close`.
    closed: bool,
    /// Set when shutdown cancelled the held tasks.
    shut_down: bool,
    /// Tasks that never started and are being cancelled, one at a time without the lock (see
    /// `Inner::cancel_doomed`).
    doomed: VecDeque<Held>,
    /// Delayed tasks whose delay has not expired.
    delayed: u64,
    /// Counters kept under the lock every spawn and finish takes anyway (no atomics for the
    /// producer and the finishing worker to bounce between their caches).
    counts: Counts,
}

/// Per-queue task counts, under the state lock. `started` and the live count are derived:
/// `completed + in_flight`, and `spawned - completed - cancelled`. An ordered queue's runner
/// counts the tasks it ran in [`QueueCounters`](super::counters::QueueCounters) instead.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) spawned: u64,
    pub(super) completed: u64,
    pub(super) cancelled: u64,
}

/// Tasks an ordered queue's runner finished and has not reported to the state yet (they are
/// counted at once, in `QueueCounters`).
#[derive(Default)]
pub(super) struct Done {
    /// `(generation, tasks)`, in the order they finished.
    generations: Vec<(u64, usize)>,
    /// Tasks in `generations`.
    tasks: usize,
}

impl Done {
    /// The runner finished a task of `generation`.
    pub(super) fn add(&mut self, generation: u64) {
        self.tasks += 1;
        match self.generations.last_mut() {
            Some((last, n)) if *last == generation => *n += 1,
            _ => self.generations.push((generation, 1)),
        }
    }

    /// Tasks finished and not reported yet.
    pub(super) fn len(&self) -> usize {
        self.tasks
    }
}

impl QueueState {
    /// The state of a new queue that lets `max_active` tasks run at once.
    pub(super) fn new(max_active: usize) -> QueueState {
        QueueState {
            admission: Admission::new(max_active),
            line: Line::default(),
            generations: Generations::default(),
            live: LiveTasks::default(),
            raised_until: None,
            clean_at: 0,
            draining: 0,
            closed: false,
            shut_down: false,
            doomed: VecDeque::new(),
            delayed: 0,
            counts: Counts::default(),
        }
    }

    /// An ordered queue's line.
    #[inline]
    pub(super) fn line_mut(&mut self) -> &mut Line {
        &mut self.line
    }

    /// The metadata of the live tasks (of a queue that is not ordered).
    #[inline]
    pub(super) fn live_mut(&mut self) -> &mut LiveTasks {
        &mut self.live
    }

    /// The task counts.
    pub(super) fn counts(&self) -> Counts {
        self.counts
    }

    /// Why a spawn now would be refused, if it would: `runtime_down` tells whether the runtime
    /// shut down, `inside` whether the spawn comes from one of the queue's own tasks (asked only
    /// during a drain).
    #[inline]
    pub(super) fn refusal(
        &self,
        runtime_down: impl FnOnce() -> bool,
        inside: impl FnOnce() -> bool,
    ) -> Option<Refusal> {
        if self.shut_down || runtime_down() {
            Some(Refusal::Shutdown)
        } else if self.closed {
            Some(Refusal::Closed)
        } else if self.draining > 0 && !inside() {
            Some(Refusal::Draining)
        } else {
            None
        }
    }

    /// Whether shutdown cancelled the held tasks (a delayed task that becomes due is dropped).
    #[inline]
    pub(super) fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// `close`: refuses every spawn from now on.
    pub(super) fn close(&mut self) {
        self.closed = true;
    }

    /// A drain starts: spawns from outside the queue are refused until it ends.
    pub(super) fn start_drain(&mut self) {
        self.draining += 1;
    }

    /// A drain ends (its future completed or was dropped).
    pub(super) fn end_drain(&mut self) {
        self.draining -= 1;
    }

    /// Shutdown: from now on the queue refuses spawns. The tasks it held back (admission's
    /// waiting tasks, an ordered queue's line) are doomed, for the caller to cancel once the
    /// lock is released (`Inner::cancel_doomed`).
    pub(super) fn shut_down(&mut self) {
        self.shut_down = true;
        let waiting = self.admission.take_waiting();
        self.doomed.extend(waiting);
        let line = self.line.take_all();
        self.doomed.extend(line);
    }

    /// Dooms `tasks`, which never started (an ordered runner's batch, when the runner is
    /// cancelled).
    pub(super) fn doom(&mut self, tasks: impl IntoIterator<Item = Held>) {
        self.doomed.extend(tasks);
    }

    /// The next doomed task, to cancel once the lock is released.
    pub(super) fn next_doomed(&mut self) -> Option<Held> {
        self.doomed.pop_front()
    }

    /// The generation a task accepted now counts in.
    #[inline]
    pub(super) fn generation(&self) -> u64 {
        self.generations.current()
    }

    /// A flush starts: opens a new generation, and returns the one the flush waits for (`None`:
    /// nothing to wait for).
    pub(super) fn open_generation(&mut self) -> Option<u64> {
        self.generations.open()
    }

    /// Whether every task of generation `target` or an earlier one ended.
    pub(super) fn flushed(&self, target: Option<u64>) -> bool {
        self.generations.done(target)
    }

    /// Counts an accepted task: in `generation` if it is due now, else among the delayed tasks.
    #[inline]
    pub(super) fn count_accepted(&mut self, generation: Option<u64>) {
        self.counts.spawned += 1;
        match generation {
            Some(generation) => self.generations.add(generation),
            None => self.delayed += 1,
        }
    }

    /// Offers an accepted task of a queue that is not ordered to admission; returns it if it
    /// may start now.
    #[inline]
    pub(super) fn admit(&mut self, held: Held, key: Option<u64>) -> Option<Held> {
        self.admission.push(held, key)
    }

    /// The delayed task `held` became due: it counts in its generation now, among the live tasks
    /// too. Returns whether a raising flush waits for it (then see [`QueueState::raise_joined`]).
    /// `queue`: the queue's class.
    pub(super) fn count_due(&mut self, held: &mut Held, queue: Priority) -> bool {
        self.delayed -= 1;
        let generation = held.count();
        // A flush awaited by a `High` task waits for it now: it is raised too (its runner, in
        // an ordered queue, which may be new).
        let waited = self.raise_waits_for(generation);
        self.generations.add(generation);
        self.live.count(held.live(), generation);
        if held.is_raised(queue) {
            // Raised while delayed (a `High` task awaits it): admission must look for it.
            self.clean_at = 0;
        }
        waited
    }

    /// Whether a raising flush waits for a task of `generation` that joins now (a delayed task
    /// whose delay expired), asked before the task is counted.
    fn raise_waits_for(&self, generation: u64) -> bool {
        self.raised_until
            .is_some_and(|until| generation <= until && !self.generations.done(Some(until)))
    }

    /// Raises a task that just joined and that a raising flush waits for (its entry `live`
    /// among the live tasks, or the line's runner); returns whether any was lower.
    pub(super) fn raise_joined(&self, live: LiveId) -> bool {
        self.live.raise(live) | self.line.raise_runner()
    }

    /// A task ended (its future was dropped), outside an ordered queue's runner: frees its
    /// entry `live` among the live tasks and counts it. `started`: it had a place (else it is
    /// cancelled); `counted`: it counted in its generation (every task but a delayed one whose
    /// delay had not expired).
    #[inline]
    pub(super) fn count_ended(&mut self, live: LiveId, started: bool, counted: bool) {
        self.live.free(live);
        if started {
            self.counts.completed += 1;
        } else {
            self.counts.cancelled += 1;
            self.delayed -= u64::from(!counted);
        }
    }

    /// A task of `generation` that counted in it ended: returns whether the generation emptied
    /// (flushes waiting for it may complete).
    #[inline]
    pub(super) fn leave_generation(&mut self, generation: u64) -> bool {
        self.generations.remove(generation)
    }

    /// A started task of lane `key` ended while the runtime shuts down: its place is freed, and
    /// nothing starts in it (shutdown drops the rest).
    pub(super) fn release(&mut self, key: Option<u64>) {
        self.admission.release(key);
    }

    /// A started task of lane `key` ended: returns the task admitted to its place, if any,
    /// preferring raised tasks once a task was ever raised (`epoch`, the raise epoch, is not 0).
    /// `queue`: the queue's class.
    pub(super) fn next_after(
        &mut self,
        key: Option<u64>,
        queue: Priority,
        epoch: u64,
    ) -> Option<Held> {
        match epoch {
            // No task was ever raised: none to prefer, no backlog to look through.
            0 => self.admission.finish(key),
            epoch => {
                let clean = self.clean_at == epoch;
                let (next, clean) =
                    self.admission
                        .finish_preferring(key, |held| held.is_raised(queue), clean);
                self.clean_at = if clean { epoch } else { 0 };
                next
            }
        }
    }

    /// Priority inheritance: a flush awaited by a `High` task waits for generation `target`.
    /// Raises every task of that generation or an earlier one (held back or admitted) and the
    /// line's runner; returns whether any was lower.
    pub(super) fn raise_until(&mut self, target: u64) -> bool {
        self.raised_until = self.raised_until.max(Some(target));
        self.live.raise_until(target) | self.line.raise_runner()
    }

    /// Whether the line's runner, about to start a task of `generation`, was raised by a flush
    /// that does not wait for that task.
    pub(super) fn raise_ends_at(&self, generation: u64) -> bool {
        self.line.runner_is_high() && self.raised_until.is_none_or(|until| generation > until)
    }

    /// Reports the tasks an ordered queue's runner finished (their generations, for flush and
    /// drain). `None` if there were none; else whether one of their generations emptied.
    #[inline]
    pub(super) fn report(&mut self, done: &mut Done) -> Option<bool> {
        if done.tasks == 0 {
            return None;
        }
        done.tasks = 0;
        let mut emptied = false;
        for (generation, n) in done.generations.drain(..) {
            emptied |= self.generations.remove_many(generation, n);
        }
        Some(emptied)
    }

    /// Tasks completed (panicked or aborted after they started); `ran`: those an ordered
    /// queue's runner counted.
    #[inline]
    pub(super) fn completed(&self, ran: u64) -> u64 {
        self.counts.completed + ran
    }

    /// Tasks accepted and not finished, delayed ones included.
    #[inline]
    pub(super) fn unfinished(&self, ran: u64) -> u64 {
        self.counts.spawned - self.completed(ran) - self.counts.cancelled
    }

    /// Tasks in flight now. An ordered queue's oldest unfinished task that is due has the turn:
    /// it counts as in flight (started) from its spawn, as admission counts a task of the other
    /// queues, whether or not the runner has reached it.
    pub(super) fn in_flight(&self, ordered: bool, ran: u64) -> u64 {
        if ordered {
            (self.unfinished(ran) - self.delayed).min(1)
        } else {
            self.admission.in_flight() as u64
        }
    }
}
