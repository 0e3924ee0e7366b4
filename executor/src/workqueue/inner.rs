//! A work queue's shared state and its operations: accepting a task, a task finishing, a
//! delayed task becoming due, waiting for flush and drain, shutdown's cancellation. The
//! locking and counting rules are in the [module docs](super).

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use event_listener::Event;

use super::admission::{Admission, Generations};
use super::builder::{Refusal, SpawnError};
use super::task::{self, Held, QueueTask, Submit};
use crate::context;
use crate::queue::Priority;
use crate::shared::{Frontend, Shared};
use crate::stats::QueueStats;
use crate::sync::{lock, Arc as SyncArc, Mutex};
use crate::task::JoinHandle;

/// What a queue's handles and tasks share.
pub(crate) struct Inner {
    pub(super) name: String,
    pub(super) shared: SyncArc<Shared>,
    pub(super) max_active: usize,
    pub(super) ordered: bool,
    pub(super) priority: Priority,
    pub(super) placement: Placement,
    /// Submit through the injector ([`Affinity::Any`](super::Affinity::Any)).
    pub(super) any_core: bool,
    pub(super) state: Mutex<State>,
    /// Notified when a generation empties or the queue empties (flush and drain wait on it).
    pub(super) event: Event,
    pub(super) stats: Counters,
}

/// Where each task is pinned.
pub(super) enum Placement {
    Anywhere,
    Core(usize),
    Cores {
        set: Box<[usize]>,
        next: AtomicUsize,
    },
}

/// A queue's mutable state, under one lock.
pub(super) struct State {
    pub(super) admission: Admission<Held>,
    pub(super) generations: Generations,
    /// Tasks accepted and not finished, delayed ones included.
    pub(super) live: usize,
    /// Drains in progress.
    pub(super) draining: usize,
    /// Set by `close`.
    pub(super) closed: bool,
    /// Set when shutdown cancelled the held tasks.
    pub(super) shut_down: bool,
    /// Counters kept under the lock every spawn and finish takes anyway (no atomics for the
    /// producer and the finishing worker to bounce between their caches).
    pub(super) counts: Counts,
}

/// Per-queue task counts, under the state lock.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) spawned: u64,
    pub(super) started: u64,
    pub(super) completed: u64,
    pub(super) cancelled: u64,
}

/// Per-queue counters updated outside the lock, relaxed: statistics, not synchronisation.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) handoffs: AtomicU64,
}

/// Ends a drain, even if its future is dropped early.
pub(super) struct DrainGuard(pub(super) std::sync::Arc<Inner>);

impl Drop for DrainGuard {
    fn drop(&mut self) {
        lock(&self.0.state).draining -= 1;
    }
}

impl Inner {
    /// Why a spawn now would be refused, if it would.
    pub(super) fn refusal(&self, state: &State) -> Option<Refusal> {
        if state.shut_down || self.shared.is_shutdown() {
            Some(Refusal::Shutdown)
        } else if state.closed {
            Some(Refusal::Closed)
        } else if state.draining > 0 && !task::polling_queue(self as *const Inner as usize) {
            Some(Refusal::Draining)
        } else {
            None
        }
    }

    /// Accepts a task (lane `key`), or refuses it.
    pub(super) fn spawn<F>(
        self: &std::sync::Arc<Self>,
        future: F,
        key: Option<u64>,
    ) -> Result<JoinHandle<F::Output>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let key = if self.ordered { None } else { key };
        // One lock acquisition per spawn, held while the task is allocated: acceptance, its
        // generation and its place in the FIFO are one step, a refusal can give the future
        // back, and the spawner pulls the lock's cache line over once (measured a little
        // faster than two short critical sections around an unlocked allocation).
        let mut state = lock(&self.state);
        if let Some(reason) = self.refusal(&state) {
            return Err(SpawnError::new(future, reason));
        }
        let generation = state.generations.current();
        let (held, handle) = self.allocate(future, key, generation);
        state.counts.spawned += 1;
        state.generations.add(generation);
        state.live += 1;
        let now = state.admission.push(held, key);
        state.counts.started += u64::from(now.is_some());
        drop(state);
        if let Some(held) = now {
            task::submit(self, held, Submit::Spawned);
        }
        Ok(handle)
    }

    /// Allocates a task of this queue, not yet submitted.
    pub(super) fn allocate<F>(
        self: &std::sync::Arc<Self>,
        future: F,
        key: Option<u64>,
        generation: u64,
    ) -> (Held, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let wrapped = QueueTask::new(future, std::sync::Arc::clone(self), key, generation);
        let (runnable, handle) =
            Shared::spawn_unscheduled(&self.shared, wrapped, self.pin(), self.priority);
        debug_assert_eq!(runnable.metadata().priority(), self.priority);
        (Held::new(runnable), handle)
    }

    /// A handle for a refused task: reports cancellation.
    pub(super) fn cancelled<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (runnable, handle) =
            Shared::spawn_unscheduled(&self.shared, future, None, self.priority);
        drop(runnable);
        handle
    }

    /// The core a new task is pinned to, if any.
    pub(super) fn pin(&self) -> Option<usize> {
        match &self.placement {
            Placement::Anywhere => None,
            Placement::Core(core) => Some(*core),
            Placement::Cores { set, next } => {
                match context::worker_core(self.shared.id).filter(|here| set.contains(here)) {
                    Some(here) => Some(here),
                    None => Some(set[next.fetch_add(1, Relaxed) % set.len()]),
                }
            }
        }
    }

    /// A delayed task's delay expired: it joins the queue (or is dropped after shutdown).
    pub(super) fn expire(self: &std::sync::Arc<Self>, mut held: Held) {
        let mut state = lock(&self.state);
        if state.shut_down {
            drop(state);
            // Dropped while still delayed: uncounted, as it was never counted.
            drop(held);
            return;
        }
        state.generations.add(held.count());
        let now = state.admission.push(held, None);
        state.counts.started += u64::from(now.is_some());
        drop(state);
        if let Some(held) = now {
            task::submit(self, held, Submit::Spawned);
        }
    }

    /// A task's future was dropped. `started`: it had a slot; `counted`: it counted in its
    /// generation (every task but a delayed one whose delay had not expired).
    pub(super) fn finished(
        self: &std::sync::Arc<Self>,
        key: Option<u64>,
        generation: u64,
        started: bool,
        counted: bool,
    ) {
        let mut state = lock(&self.state);
        let next = if started {
            state.counts.completed += 1;
            state.admission.finish(key)
        } else {
            state.counts.cancelled += 1;
            None
        };
        state.counts.started += u64::from(next.is_some());
        let mut wake = counted && state.generations.remove(generation);
        state.live -= 1;
        wake |= state.live == 0;
        drop(state);
        if let Some(next) = next {
            task::submit(self, next, Submit::Next);
        }
        if wake {
            self.event.notify(usize::MAX);
        }
    }

    /// Waits until `done` holds for the state.
    pub(super) async fn wait_until(&self, done: impl Fn(&State) -> bool) {
        loop {
            if done(&lock(&self.state)) {
                return;
            }
            let listener = self.event.listen();
            // Checked again after listening: a notification in between is not missed.
            if done(&lock(&self.state)) {
                return;
            }
            listener.await;
        }
    }

    pub(super) fn snapshot(&self) -> QueueStats {
        let Counts {
            spawned,
            started,
            completed,
            cancelled,
        } = lock(&self.state).counts;
        let mut stats = QueueStats::default();
        stats.name.clone_from(&self.name);
        stats.spawned = spawned;
        stats.started = started;
        stats.completed = completed;
        stats.cancelled = cancelled;
        stats.in_flight = started.saturating_sub(completed);
        stats.waiting = spawned.saturating_sub(started).saturating_sub(cancelled);
        stats.handoffs = self.stats.handoffs.load(Relaxed);
        stats
    }
}

impl Frontend for Inner {
    fn cancel_held(&self) {
        let held = {
            let mut state = lock(&self.state);
            state.shut_down = true;
            state.admission.take_waiting()
        };
        // Dropped without the lock: each drop re-enters `finished`.
        drop(held);
    }

    fn stats(&self) -> QueueStats {
        self.snapshot()
    }
}
