//! What a work queue's handles and tasks share ([`Inner`]): its settings, its state under the
//! lock ([`super::state`]), its counters ([`super::counters`]), its rescuer, and the operations
//! that take the lock and act once it is released: a task finishing, flush and drain waiting,
//! priority inheritance's raise, an ordered queue's runner reporting, shutdown's cancellation.
//! Spawning (accepting, allocating, admitting a task) is in [`super::spawn`].
//!
//! # Shutdown
//!
//! Every queue registers with its runtime as a [`Frontend`]. Shutdown drops the tasks a queue
//! still holds back (and delayed tasks, through their timer tasks), so their handles report
//! cancellation; from then on the queue refuses spawns.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use event_listener::Event;

use super::counters::QueueCounters;
use super::held::Submit;
use super::live::LiveId;
use super::placement::Placement;
use super::refusal::Refusal;
use super::rescuer::Rescuer;
use super::state::{Done, QueueState};
use crate::context;
use crate::coop;
use crate::queue::{Priority, Runnable};
use crate::scheduler::{Frontend, Shared};
use crate::stats::QueueStats;
use crate::sync::{lock, Arc as SyncArc, Mutex, MutexGuard};
use crate::task::{JoinHandle, Spawn};

mod wait;

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
    name: std::sync::Arc<str>,
    shared: SyncArc<Shared>,
    max_active: usize,
    ordered: bool,
    priority: Priority,
    placement: Placement,
    state: Mutex<QueueState>,
    /// Notified when a generation empties or the queue empties (flush and drain wait on it).
    event: Event,
    counters: QueueCounters,
    /// The queue's id: unique in the process, never 0 (see [`next_id`]).
    id: u32,
    /// The queue's rescuer, if it was built with one.
    rescuer: Option<std::sync::Arc<Rescuer>>,
}

/// Ends a drain, even if its future is dropped early.
pub(super) struct DrainGuard(std::sync::Arc<Inner>);

impl DrainGuard {
    /// The queue being drained.
    pub(super) fn queue(&self) -> &Inner {
        &self.0
    }
}

impl Drop for DrainGuard {
    fn drop(&mut self) {
        lock(&self.0.state).end_drain();
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
            state: Mutex::new(QueueState::new(max_active)),
            event: Event::new(),
            counters: QueueCounters::default(),
            id,
            rescuer: rescuer.then(|| Rescuer::new(id)),
        }
    }

    /// Starts the queue's rescuer thread, if it was built with one.
    pub(super) fn start_rescuer(&self) -> std::io::Result<()> {
        match &self.rescuer {
            Some(rescuer) => rescuer.start(&self.shared),
            None => Ok(()),
        }
    }

    /// The queue's name.
    #[inline]
    pub(super) fn name(&self) -> &std::sync::Arc<str> {
        &self.name
    }

    /// The runtime the queue submits its tasks to.
    #[inline]
    pub(super) fn shared(&self) -> &SyncArc<Shared> {
        &self.shared
    }

    /// The most tasks in flight at once.
    pub(super) fn max_active(&self) -> usize {
        self.max_active
    }

    /// Whether the queue is ordered.
    #[inline]
    pub(super) fn is_ordered(&self) -> bool {
        self.ordered
    }

    /// The queue's priority class.
    #[inline]
    pub(super) fn priority(&self) -> Priority {
        self.priority
    }

    /// The queue's id.
    #[inline]
    pub(super) fn id(&self) -> u32 {
        self.id
    }

    /// The counters kept outside the lock.
    #[inline]
    pub(super) fn counters(&self) -> &QueueCounters {
        &self.counters
    }

    /// Locks the queue's state.
    #[inline]
    pub(super) fn lock(&self) -> MutexGuard<'_, QueueState> {
        lock(&self.state)
    }

    /// What a task (or a runner) is marked with when it is spawned: the queue's id if the
    /// queue has a rescuer (rescuer protocol: marking) or is ordered (so a task awaiting a later
    /// task's handle is told, see [`super::runner`]), else 0.
    #[inline]
    pub(super) fn mark(&self) -> u32 {
        if self.rescuer.is_some() || self.ordered {
            self.id
        } else {
            0
        }
    }

    /// Why a spawn now would be refused, if it would.
    pub(super) fn refusal(&self, state: &QueueState) -> Option<Refusal> {
        state.refusal(|| self.shared.is_shutdown(), || self.is_polled_here())
    }

    /// Tasks completed (panicked or aborted after they started), given the state.
    #[inline]
    fn completed(&self, state: &QueueState) -> u64 {
        state.completed(self.counters.ran())
    }

    /// Tasks accepted and not finished, delayed ones included, given the state.
    #[inline]
    fn live(&self, state: &QueueState) -> u64 {
        state.unfinished(self.counters.ran())
    }

    /// Tasks in flight now, given the state (see [`QueueState::in_flight`]).
    fn in_flight(&self, state: &QueueState) -> u64 {
        state.in_flight(self.ordered, self.counters.ran())
    }

    /// Whether this thread is polling one of this queue's tasks.
    pub(super) fn is_polled_here(&self) -> bool {
        std::ptr::eq(context::queue_handoffs(), self.counters.handoffs())
    }

    /// Submits a task (or a runner) to the runtime, placed as the queue's affinity says.
    #[inline]
    pub(super) fn submit(&self, runnable: Runnable, how: Submit) {
        self.placement.submit(&self.shared, runnable, how);
    }

    /// The core a new task is pinned to, if any.
    #[inline]
    pub(super) fn pin(&self) -> Option<usize> {
        self.placement.pin(&self.shared)
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
        state.count_ended(live, started, counted);
        let next = if !started || self.ordered {
            // Never started, or (ordered) cancelled outside the runner, which is gone
            // (shutdown): no place to pass on.
            None
        } else if self.shared.is_shutdown() {
            // Nothing starts once the runtime shuts down: `cancel_held` drops the rest,
            // so no chain of tasks dropped on submission builds up here.
            state.release(key);
            None
        } else {
            state.next_after(key, self.priority, crate::core::boost::raise_epoch())
        };
        let mut wake = counted && state.leave_generation(generation);
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
        if state.flushed(Some(target)) {
            return;
        }
        let raised = state.raise_until(target);
        drop(state);
        if raised {
            crate::core::boost::request_sweep();
        }
    }

    /// Whether the line's runner, about to start a task of `generation`, was raised by a flush
    /// that does not wait for that task: the raise ends there (see [`super::runner`]).
    pub(super) fn raise_ends_at(&self, state: &QueueState, generation: u64) -> bool {
        self.priority != Priority::High && state.raise_ends_at(generation)
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
        let wake = state
            .report(done)
            .is_some_and(|emptied| emptied | (self.live(state) == 0));
        (state.line_mut().take_resumed(), wake)
    }

    /// Wakes flush and drain waiters if `wake` (with the state lock released).
    pub(super) fn wake_waiters(&self, wake: bool) {
        if wake {
            self.event.notify(usize::MAX);
        }
    }

    /// A flush starts: opens a new generation at the call, and returns the one the flush waits
    /// for.
    pub(super) fn open_generation(&self) -> Option<u64> {
        lock(&self.state).open_generation()
    }

    /// Waits until every task of generation `target` or an earlier one ended.
    pub(super) async fn wait_flushed(&self, target: Option<u64>) {
        self.wait(|state| state.flushed(target)).await;
    }

    /// A drain starts at the call: spawns from outside the queue are refused until the guard
    /// is dropped.
    pub(super) fn start_drain(self: &std::sync::Arc<Self>) -> DrainGuard {
        lock(&self.state).start_drain();
        DrainGuard(std::sync::Arc::clone(self))
    }

    /// Waits until the queue is empty, delayed tasks included.
    pub(super) async fn wait_empty(&self) {
        self.wait(|state| self.live(state) == 0).await;
    }

    /// Refuses every spawn from now on.
    pub(super) fn close(&self) {
        lock(&self.state).close();
    }

    /// A snapshot of the queue's counters.
    pub(super) fn snapshot(&self) -> QueueStats {
        let (counts, completed, in_flight) = {
            let state = lock(&self.state);
            (
                state.counts(),
                self.completed(&state),
                self.in_flight(&state),
            )
        };
        let spawned = counts.spawned;
        let cancelled = counts.cancelled;
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
        self.counters.fill(&mut stats);
        stats.rescued = self.rescuer.as_ref().map_or(0, |r| r.rescued());
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

impl Inner {
    /// Cancels the doomed tasks (see [`QueueState::shut_down`]) on this thread, one at a time,
    /// each taken under the lock and dropped without it, since each cancellation re-enters
    /// `finished`: a destructor run by one of them that waits for the queue (see
    /// [`Inner::wait`]) cancels the rest.
    pub(super) fn cancel_doomed(&self) {
        loop {
            let next = lock(&self.state).next_doomed();
            let Some(held) = next else {
                return;
            };
            drop(held);
        }
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

impl Frontend for Inner {
    fn cancel_held(&self) {
        lock(&self.state).shut_down();
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
        self.counters.count_mayday();
        rescuer.call(cores);
    }

    fn stats(&self) -> QueueStats {
        self.snapshot()
    }
}
