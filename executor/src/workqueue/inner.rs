//! A work queue's shared state and its operations: accepting a task, a task finishing, a
//! delayed task becoming due, waiting for flush and drain, shutdown's cancellation. The
//! locking and counting rules are in the [module docs](super).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::Waker;
use std::time::Duration;

use event_listener::Event;

use super::admission::{Admission, Generations};
use super::held::{Held, Submit};
use super::live::{LiveId, LiveTasks};
use super::refusal::Refusal;
use super::rescuer::Rescuer;
use crate::context;
use crate::coop;
use crate::queue::{Priority, Runnable, TaskMeta};
use crate::scheduler::{Frontend, Shared};
use crate::stats::QueueStats;
use crate::sync::{lock, Arc as SyncArc, Mutex};
use crate::task::{JoinHandle, Spawn};

/// The next queue id (see [`next_id`]).
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A fresh queue id: unique in the process, never 0 (the id of "no queue" in a task's
/// metadata).
fn next_id() -> u32 {
    // Relaxed: ids only need to be unique.
    let id = NEXT_ID.fetch_add(1, Relaxed);
    assert_ne!(id, 0, "work queue ids ran out");
    id
}

/// What a queue's handles and tasks share.
pub(crate) struct Inner {
    /// The queue's name, shared with its tasks' handles (their errors name it).
    pub(super) name: std::sync::Arc<str>,
    pub(super) shared: SyncArc<Shared>,
    pub(super) max_active: usize,
    pub(super) ordered: bool,
    pub(super) priority: Priority,
    placement: Placement,
    pub(super) state: Mutex<QueueState>,
    /// Notified when a generation empties or the queue empties (flush and drain wait on it).
    event: Event,
    pub(super) stats: QueueCounters,
    /// The queue's id: unique in the process, never 0 (see [`next_id`]).
    pub(super) id: u32,
    /// The queue's rescuer, if it was built with one.
    pub(super) rescuer: Option<std::sync::Arc<Rescuer>>,
}

/// Where each task (or an ordered queue's runner) is placed.
pub(super) enum Placement {
    /// Like any spawned task: the submitting core ([`Affinity::Local`](super::Affinity::Local)).
    Local,
    /// Through the injector: whichever core looks first ([`Affinity::Any`](super::Affinity::Any)).
    Any,
    Core(usize),
    Cores {
        set: Box<[usize]>,
        next: AtomicUsize,
    },
}

/// A queue's mutable state, under one lock.
pub(super) struct QueueState {
    /// Who may start, for a queue that is not ordered.
    pub(super) admission: Admission<Held>,
    /// An ordered queue's line of tasks and its runner.
    pub(super) line: Line,
    pub(super) generations: Generations,
    /// The metadata of the live tasks of a queue that is not ordered (priority inheritance).
    pub(super) live: LiveTasks,
    /// The latest generation a flush awaited by a `High` task waits for, if any: its tasks
    /// are raised (priority inheritance, see [`Inner::raise_until`]).
    pub(super) raised_until: Option<u64>,
    /// The raise epoch (`core::boost::raise_epoch`) at which admission's ready FIFO held no
    /// raised task, or 0: until the epoch moves, only tasks joining it from a lane can be
    /// raised, and admission looks at those alone. A delayed task joining raised resets it.
    pub(super) clean_at: u64,
    /// Drains in progress.
    pub(super) draining: usize,
    /// Set by `close`.
    pub(super) closed: bool,
    /// Set when shutdown cancelled the held tasks.
    pub(super) shut_down: bool,
    /// Tasks that never started and are being cancelled (see [`Inner::cancel_doomed`]).
    pub(super) doomed: VecDeque<Held>,
    /// Delayed tasks whose delay has not expired.
    pub(super) delayed: u64,
    /// Counters kept under the lock every spawn and finish takes anyway (no atomics for the
    /// producer and the finishing worker to bounce between their caches).
    pub(super) counts: Counts,
}

/// An ordered queue's tasks: those waiting for the runner, and the runner's state.
#[derive(Default)]
pub(super) struct Line {
    /// Tasks accepted and not yet taken by the runner, oldest first.
    pub(super) waiting: VecDeque<Held>,
    /// The runner while one is active (it runs until the line is empty).
    pub(super) runner: Option<LineRunner>,
    /// The task in flight, woken from elsewhere while the runner waits for it.
    pub(super) resumed: Option<Runnable>,
}

/// An active runner, as its line knows it.
pub(super) struct LineRunner {
    /// Wakes it (and keeps its allocation alive).
    pub(super) waker: Waker,
    /// Its metadata, in the header of the allocation `waker` keeps alive.
    meta: std::ptr::NonNull<TaskMeta>,
}

// SAFETY: `Waker` is `Send`; `TaskMeta` is `Sync` (atomics, and fields never written after the
// spawn) and the pointer is only read while `waker` keeps its allocation alive.
unsafe impl Send for LineRunner {}

impl LineRunner {
    /// The line's record of the runner `runnable`.
    pub(super) fn new(runnable: &Runnable) -> LineRunner {
        LineRunner {
            waker: runnable.waker(),
            meta: std::ptr::NonNull::from(runnable.metadata()),
        }
    }

    /// The runner's metadata.
    fn meta(&self) -> &TaskMeta {
        // SAFETY: the metadata lies in the header of the runner's allocation, which does not
        // move, and `self.waker` holds a reference to that allocation.
        unsafe { self.meta.as_ref() }
    }
}

/// Per-queue task counts, under the state lock. `started` and the live count are derived:
/// `completed + in_flight`, and `spawned - completed - cancelled`. An ordered queue's runner
/// counts the tasks it ran in [`QueueCounters`] instead (see [`Inner::completed`]).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) spawned: u64,
    pub(super) completed: u64,
    pub(super) cancelled: u64,
}

/// Per-queue counters updated outside the lock, relaxed: statistics, not synchronisation.
#[derive(Default)]
pub(super) struct QueueCounters {
    /// Sections of the queue's tasks whose core was handed off. Also marks the thread as
    /// polling one of the queue's tasks (`context::set_queue_handoffs`).
    pub(super) handoffs: AtomicU64,
    /// Tasks an ordered queue's runner ran to the end (completed, panicked or aborted).
    pub(super) ran: AtomicU64,
    /// Mayday calls the queue sent its rescuer.
    pub(super) mayday_calls: AtomicU64,
    /// Nanoseconds spent polling the queue's tasks (an ordered queue's runner's whole runs).
    pub(super) poll_nanos: AtomicU64,
    /// Polls of the queue's tasks that the monitor took over.
    pub(super) detections: AtomicU64,
}

/// Tasks an ordered queue's runner finished and has not reported to the state yet (they are
/// counted at once, in `QueueCounters::ran`).
#[derive(Default)]
pub(super) struct Done {
    /// `(generation, tasks)`, in the order they finished.
    pub(super) generations: Vec<(u64, usize)>,
    /// Tasks in `generations`.
    pub(super) tasks: usize,
}

impl QueueState {
    /// Whether a raising flush waits for a task of `generation` that joins now (a delayed task
    /// whose delay expired), asked before the task is counted.
    pub(super) fn raise_waits_for(&self, generation: u64) -> bool {
        self.raised_until
            .is_some_and(|until| generation <= until && !self.generations.done(Some(until)))
    }
}

impl Line {
    /// Raises the runner, if one is active; returns whether it was lower.
    pub(super) fn raise_runner(&self) -> bool {
        self.runner.as_ref().is_some_and(|r| r.meta().raise())
    }

    /// Whether the active runner's class is `High`.
    fn runner_is_high(&self) -> bool {
        self.runner
            .as_ref()
            .is_some_and(|r| r.meta().priority() == Priority::High)
    }
}

impl Done {
    pub(super) fn add(&mut self, generation: u64) {
        self.tasks += 1;
        match self.generations.last_mut() {
            Some((last, n)) if *last == generation => *n += 1,
            _ => self.generations.push((generation, 1)),
        }
    }
}

/// Ends a drain, even if its future is dropped early.
pub(super) struct DrainGuard(pub(super) std::sync::Arc<Inner>);

impl Drop for DrainGuard {
    fn drop(&mut self) {
        lock(&self.0.state).draining -= 1;
    }
}

impl Inner {
    /// A new queue's state, as built, with a rescuer (its thread not started yet) if
    /// `rescuer`.
    pub(super) fn new(
        name: std::sync::Arc<str>,
        shared: SyncArc<Shared>,
        max_active: usize,
        ordered: bool,
        priority: Priority,
        placement: Placement,
        rescuer: bool,
    ) -> Inner {
        let id = next_id();
        Inner {
            name,
            shared,
            max_active,
            ordered,
            priority,
            placement,
            state: Mutex::new(QueueState {
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
            }),
            event: Event::new(),
            stats: QueueCounters::default(),
            id,
            rescuer: rescuer.then(|| Rescuer::new(id)),
        }
    }

    /// Why a spawn now would be refused, if it would.
    pub(super) fn refusal(&self, state: &QueueState) -> Option<Refusal> {
        if state.shut_down || self.shared.is_shutdown() {
            Some(Refusal::Shutdown)
        } else if state.closed {
            Some(Refusal::Closed)
        } else if state.draining > 0 && !self.is_polled_here() {
            Some(Refusal::Draining)
        } else {
            None
        }
    }

    /// Tasks completed (panicked or aborted after they started), given the state.
    pub(super) fn completed(&self, state: &QueueState) -> u64 {
        state.counts.completed + self.stats.ran.load(Relaxed)
    }

    /// Tasks accepted and not finished, delayed ones included, given the state.
    pub(super) fn live(&self, state: &QueueState) -> u64 {
        state.counts.spawned - self.completed(state) - state.counts.cancelled
    }

    /// Tasks in flight now, given the state. An ordered queue's oldest unfinished task that is
    /// due has the turn: it counts as in flight (started) from its spawn, as admission counts
    /// a task of the other queues, whether or not the runner has reached it.
    fn in_flight(&self, state: &QueueState) -> u64 {
        if self.ordered {
            (self.live(state) - state.delayed).min(1)
        } else {
            state.admission.in_flight() as u64
        }
    }

    /// Whether this thread is polling one of this queue's tasks.
    pub(super) fn is_polled_here(&self) -> bool {
        std::ptr::eq(context::queue_handoffs(), &self.stats.handoffs)
    }

    /// Submits a task (or a runner) to the runtime, placed as the queue's affinity says.
    pub(super) fn submit(&self, runnable: Runnable, how: Submit) {
        match (&self.placement, how) {
            (Placement::Any, _) => self.shared.submit_anywhere(runnable),
            (_, Submit::Next) => self.shared.submit_next(runnable),
            (_, Submit::Spawned) => self.shared.submit(runnable),
        }
    }

    /// A handle for a refused task: reports cancellation (its future is dropped at once, on
    /// this thread).
    pub(super) fn cancelled<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let how = Spawn {
            priority: self.priority,
            queue: Some(&self.name),
            ..Spawn::at(std::panic::Location::caller())
        };
        // Never scheduled: it is cancelled before anything could wake it.
        let (runnable, handle) = crate::task::spawn(future, how, None, |runnable, _| {
            crate::task::cancel(runnable)
        });
        crate::task::cancel(runnable);
        handle
    }

    /// The core a new task is pinned to, if any.
    pub(super) fn pin(&self) -> Option<usize> {
        match &self.placement {
            Placement::Local | Placement::Any => None,
            Placement::Core(core) => Some(*core),
            Placement::Cores { set, next } => {
                // Only the set's online cores, while it has any (`Handle::set_cores`).
                let online = self.shared.online();
                let here = context::worker_core(self.shared.id)
                    .filter(|here| *here < online && set.contains(here));
                here.or_else(|| {
                    let start = next.fetch_add(1, Relaxed);
                    let turn = (0..set.len()).map(|i| set[(start + i) % set.len()]);
                    // Every core of the set offline: the first in turn, which the scheduler
                    // maps to an online core as for any task pinned to an offline core.
                    turn.clone()
                        .find(|&core| core < online)
                        .or(turn.take(1).next())
                })
            }
        }
    }

    /// A task's future was dropped, outside an ordered queue's runner. `started`: it had a
    /// place; `counted`: it counted in its generation (every task but a delayed one whose delay
    /// had not expired); `live`: its entry among the live tasks.
    pub(super) fn finished(
        &self,
        key: Option<u64>,
        generation: u64,
        live: LiveId,
        started: bool,
        counted: bool,
    ) {
        let mut state = lock(&self.state);
        state.live.free(live);
        let next = if !started {
            state.counts.cancelled += 1;
            state.delayed -= u64::from(!counted);
            None
        } else {
            state.counts.completed += 1;
            if self.ordered {
                // Cancelled outside the runner, which is gone (shutdown).
                None
            } else if self.shared.is_shutdown() {
                // Nothing starts once the runtime shuts down: `cancel_held` drops the rest,
                // so no chain of tasks dropped on submission builds up here.
                state.admission.release(key);
                None
            } else {
                match crate::core::boost::raise_epoch() {
                    // No task was ever raised: none to prefer, no backlog to look through.
                    0 => state.admission.finish(key),
                    epoch => {
                        let queue = self.priority;
                        let clean = state.clean_at == epoch;
                        let (next, clean) = state.admission.finish_preferring(
                            key,
                            |held| held.is_raised(queue),
                            clean,
                        );
                        state.clean_at = if clean { epoch } else { 0 };
                        next
                    }
                }
            }
        };
        let mut wake = counted && state.generations.remove(generation);
        wake |= self.live(&state) == 0;
        drop(state);
        if let Some(next) = next {
            self.submit(next.take(), Submit::Next);
        }
        self.wake_waiters(wake);
    }

    /// Priority inheritance: a flush waiting for generation `target` is awaited by a `High`
    /// task. Raises every task of that generation or an earlier one, held back or admitted (an
    /// ordered queue's runner, which runs them), and has the cores move those already queued
    /// behind lower work.
    pub(super) fn raise_until(&self, target: u64) {
        if self.priority == Priority::High {
            return;
        }
        let mut state = lock(&self.state);
        if state.generations.done(Some(target)) {
            return;
        }
        state.raised_until = state.raised_until.max(Some(target));
        let raised = state.live.raise_until(target) | state.line.raise_runner();
        drop(state);
        if raised {
            crate::core::boost::request_sweep();
        }
    }

    /// Whether the line's runner, about to start a task of `generation`, was raised by a flush
    /// that does not wait for that task: the raise ends there (see [`super::runner`]).
    pub(super) fn raise_ends_at(&self, state: &QueueState, generation: u64) -> bool {
        self.priority != Priority::High
            && state.line.runner_is_high()
            && state.raised_until.is_none_or(|until| generation > until)
    }

    /// The runner reports the tasks it finished (their generations, for flush and drain).
    /// Returns the in-flight task if it was woken from elsewhere meanwhile.
    pub(super) fn report(&self, done: &mut Done) -> Option<Runnable> {
        let (resumed, wake) = self.report_locked(&mut lock(&self.state), done);
        self.wake_waiters(wake);
        resumed
    }

    /// [`Inner::report`] under the lock: returns the in-flight task if it was resumed, and
    /// whether flush and drain waiters must be woken, which the caller does with
    /// [`Inner::wake_waiters`] once the lock is released (a waiter may be a task of this very
    /// queue, whose wake-up takes the lock).
    pub(super) fn report_locked(
        &self,
        state: &mut QueueState,
        done: &mut Done,
    ) -> (Option<Runnable>, bool) {
        let mut wake = false;
        if done.tasks > 0 {
            done.tasks = 0;
            for (generation, n) in done.generations.drain(..) {
                wake |= state.generations.remove_many(generation, n);
            }
            wake |= self.live(state) == 0;
        }
        (state.line.resumed.take(), wake)
    }

    /// Wakes flush and drain waiters if `wake` (with the state lock released).
    pub(super) fn wake_waiters(&self, wake: bool) {
        if wake {
            self.event.notify(usize::MAX);
        }
    }

    /// Waits until `done` holds for the state.
    ///
    /// The waiter's waker is woken through [`wake_quietly`](crate::task::wake_quietly): it is
    /// woken from inside `event-listener`'s notify, in the drop of one of the queue's tasks,
    /// where a waker that panics would break the listener list and report its panic as that
    /// task's outcome.
    pub(super) async fn wait_until(&self, done: impl Fn(&QueueState) -> bool) {
        if self.shared.on_shutdown_thread() {
            self.wait_on_shutdown_thread(done);
            return;
        }
        let mut wait = std::pin::pin!(wait_until(&self.state, &self.event, done));
        // The caller's waker, and the one that wakes it quietly, made again only if it changes.
        let mut quiet: Option<(Waker, Waker)> = None;
        std::future::poll_fn(|cx| {
            let quiet = match quiet.take() {
                Some((caller, wrapper)) if caller.will_wake(cx.waker()) => {
                    quiet.insert((caller, wrapper))
                }
                _ => {
                    let wrapper = Waker::from(std::sync::Arc::new(Quiet(cx.waker().clone())));
                    quiet.insert((cx.waker().clone(), wrapper))
                }
            };
            wait.as_mut()
                .poll(&mut std::task::Context::from_waker(&quiet.1))
        })
        .await;
    }

    /// [`Inner::wait_until`] on the thread shutting the runtime down: a destructor of a task
    /// that shutdown cancels waits for the queue (a flush or drain in a `block_on`). The tasks
    /// it waits for are cancelled by this very thread, after the destructor returns, so it
    /// cancels them now instead (the queue's held tasks first, then, if that is not enough,
    /// everything shutdown has yet to cancel, whose destructors run inside this one), and
    /// blocks only for those whose poll is running on a worker: once their poll ends, shutdown
    /// queues them for this thread and unparks it.
    fn wait_on_shutdown_thread(&self, done: impl Fn(&QueueState) -> bool) {
        let unpark = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
        let is_done = || done(&lock(&self.state));
        loop {
            if is_done() {
                return;
            }
            self.cancel_held();
            if is_done() {
                return;
            }
            self.shared.cancel_pending();
            let mut listener = std::pin::pin!(self.event.listen());
            // Checked again after listening: a notification in between is not missed.
            if is_done() {
                return;
            }
            let mut cx = std::task::Context::from_waker(&unpark);
            if listener.as_mut().poll(&mut cx).is_pending() {
                // Unparked by the notification, or by a task queued for cancellation.
                std::thread::park();
            }
        }
    }

    /// Cancels the tasks in [`QueueState::doomed`] on this thread, one at a time, each taken
    /// under the lock and dropped without it: a destructor run by one of these cancellations
    /// that waits for the queue (see [`Inner::wait_on_shutdown_thread`]) cancels the rest.
    pub(super) fn cancel_doomed(&self) {
        loop {
            let Some(held) = lock(&self.state).doomed.pop_front() else {
                return;
            };
            // Each cancellation re-enters `finished`.
            drop(held);
        }
    }

    pub(super) fn snapshot(&self) -> QueueStats {
        let (counts, completed, in_flight) = {
            let state = lock(&self.state);
            (state.counts, self.completed(&state), self.in_flight(&state))
        };
        let Counts {
            spawned, cancelled, ..
        } = counts;
        let mut stats = QueueStats::default();
        stats.name = self.name.to_string();
        stats.spawned = spawned;
        stats.started = completed + in_flight;
        stats.completed = completed;
        stats.cancelled = cancelled;
        stats.in_flight = in_flight;
        stats.waiting = spawned
            .saturating_sub(stats.started)
            .saturating_sub(cancelled);
        stats.handoffs = self.stats.handoffs.load(Relaxed);
        stats.mayday_calls = self.stats.mayday_calls.load(Relaxed);
        stats.rescued = self.rescuer.as_ref().map_or(0, |r| r.rescued());
        stats.poll_time = Duration::from_nanos(self.stats.poll_nanos.load(Relaxed));
        stats.detections = self.stats.detections.load(Relaxed);
        stats
    }
}

/// Waits until `done` holds for the state behind `mutex`, woken by `event`, which whoever
/// changes the state notifies after releasing the lock (a free function, so the loom model
/// drives this very code).
///
/// Each check spends a unit of the task's [cooperative budget](crate::coop) if `done` holds,
/// so a loop of flushes that are done at once still yields.
pub(crate) async fn wait_until<S>(mutex: &Mutex<S>, event: &Event, done: impl Fn(&S) -> bool) {
    loop {
        let charge = coop::proceed().await;
        if done(&lock(mutex)) {
            charge.made_progress();
            return;
        }
        let listener = event.listen();
        // Checked again after listening: a notification in between is not missed.
        if done(&lock(mutex)) {
            charge.made_progress();
            return;
        }
        drop(charge);
        listener.await;
    }
}

impl Drop for Inner {
    /// Stops the queue's rescuer, and leaves the runtime's live queues for its retired ones,
    /// with its last counters.
    fn drop(&mut self) {
        if let Some(rescuer) = &self.rescuer {
            rescuer.stop();
        }
        let last = self.snapshot();
        self.shared
            .retire_frontend(std::ptr::from_ref(self).cast::<()>(), &last);
    }
}

/// Wakes a flush or drain's waker without letting a panic of its `wake` escape (see
/// [`Inner::wait_until`]).
struct Quiet(Waker);

impl std::task::Wake for Quiet {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        crate::task::wake_quietly(self.0.clone());
    }
}

/// Unparks a thread blocked in [`Inner::wait_on_shutdown_thread`].
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

impl Frontend for Inner {
    fn cancel_held(&self) {
        {
            let mut state = lock(&self.state);
            state.shut_down = true;
            let held = state.admission.take_waiting();
            let line = std::mem::take(&mut state.line.waiting);
            state.doomed.extend(held);
            state.doomed.extend(line);
        }
        if let Some(rescuer) = &self.rescuer {
            rescuer.stop();
        }
        // Cancelled without the lock, on the shutdown thread.
        self.cancel_doomed();
    }

    fn mayday(&self, cores: &[usize]) {
        let Some(rescuer) = &self.rescuer else {
            return;
        };
        // Only a queue with tasks started and not finished may have some queued on the cores.
        if self.in_flight(&lock(&self.state)) == 0 {
            return;
        }
        self.stats.mayday_calls.fetch_add(1, Relaxed);
        rescuer.call(cores);
    }

    fn stats(&self) -> QueueStats {
        self.snapshot()
    }
}
