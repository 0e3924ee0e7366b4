//! Spawning onto a work queue: a task accepted (or refused), allocated with its future wrapped
//! in a [`QueueTask`], offered to admission, and submitted once admitted; an ordered queue's
//! runner started when its line was idle; a delayed task joining when its delay expires.
//!
//! This is the top of the queue's files: it builds tasks ([`super::task`]) and runners
//! ([`super::runner`]) over the queue's state ([`super::inner`]), which knows neither.

use std::future::Future;
use std::time::Duration;

use super::held::{Held, Submit};
use super::inner::{Inner, LineRunner, QueueState};
use super::live::LiveId;
use super::refusal::SpawnError;
use super::runner::{self, Runner};
use super::task::QueueTask;
use crate::queue::Runnable;
use crate::scheduler::Shared;
use crate::sync::lock;
use crate::task::{JoinHandle, Spawn};

/// What to submit once the state lock is released.
enum Start {
    /// A task admitted (a queue that is not ordered).
    Task(Held),
    /// A new runner for an ordered queue whose line was empty.
    Runner(Runnable),
}

impl Inner {
    /// Accepts a task (lane `key`), to join the queue now or after `delay`; or refuses it.
    /// The caller's location is the task's spawn site.
    #[track_caller]
    pub(super) fn accept<F>(
        self: &std::sync::Arc<Self>,
        future: F,
        key: Option<u64>,
        delay: Option<Duration>,
    ) -> Result<JoinHandle<F::Output>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let key = if self.ordered { None } else { key };
        // One lock acquisition per spawn, held while the task is allocated: acceptance, its
        // generation and its position in the FIFO are one step, a refusal can give the future
        // back, and the spawner pulls the lock's cache line over once (measured a little
        // faster than two short critical sections around an unlocked allocation).
        let mut state = lock(&self.state);
        if let Some(reason) = self.refusal(&state) {
            return Err(SpawnError::new(future, reason));
        }
        let generation = state.generations.current();
        let (held, handle) = self.allocate(&mut state, future, key, generation, delay.is_none());
        state.counts.spawned += 1;
        let Some(delay) = delay else {
            state.generations.add(generation);
            let start = self.admit(&mut state, held, key);
            drop(state);
            self.start(start);
            return Ok(handle);
        };
        state.delayed += 1;
        drop(state);
        let held = held.delayed();
        let queue = std::sync::Arc::clone(self);
        let timer = async move {
            crate::time::sleep(delay).await;
            queue.expire(held);
        };
        drop(Shared::spawn(
            &self.shared,
            timer,
            None,
            std::panic::Location::caller(),
        ));
        Ok(handle)
    }

    /// Allocates a task of this queue, not yet submitted, spawned at the caller's location,
    /// and keeps its metadata among the live tasks (unless the queue is ordered). `counted`:
    /// it counts in `generation` at once (it is not delayed).
    #[track_caller]
    fn allocate<F>(
        self: &std::sync::Arc<Self>,
        state: &mut QueueState,
        future: F,
        key: Option<u64>,
        generation: u64,
        counted: bool,
    ) -> (Held, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = std::panic::Location::caller();
        let live = if self.ordered {
            LiveId::NONE
        } else {
            state.live.reserve()
        };
        let wrapped = QueueTask::new(future, std::sync::Arc::clone(self), key, generation, live);
        let how = Spawn {
            pin: None,
            priority: self.priority,
            queue: Some(&self.name),
            queue_id: self.mark(),
            site,
            name: None,
        };
        let (runnable, handle) = if live == LiveId::NONE {
            // Run by the queue's runner, never scheduled on the cores: not in the registry
            // (the runner and `cancel_held` cancel what shutdown must reach).
            let schedule = runner::schedule_fn(self);
            crate::task::spawn(wrapped, how, None, schedule)
        } else {
            let how = Spawn {
                pin: self.pin(),
                ..how
            };
            let (runnable, handle) = Shared::spawn_unscheduled(&self.shared, wrapped, how);
            state
                .live
                .fill(live, runnable.metadata(), counted.then_some(generation));
            (runnable, handle)
        };
        debug_assert_eq!(runnable.metadata().priority(), self.priority);
        (Held::new(runnable, generation, live), handle)
    }

    /// What a task (or a runner) is marked with when it is spawned: the queue's id if the
    /// queue has a rescuer (rescuer protocol: marking) or is ordered (so a task awaiting a later
    /// task's handle is told, see [`runner`]), else 0.
    fn mark(&self) -> u32 {
        if self.rescuer.is_some() || self.ordered {
            self.id
        } else {
            0
        }
    }

    /// Offers an accepted task (counted in its generation) to admission, under the lock.
    fn admit(
        self: &std::sync::Arc<Self>,
        state: &mut QueueState,
        held: Held,
        key: Option<u64>,
    ) -> Option<Start> {
        if !self.ordered {
            return state.admission.push(held, key).map(Start::Task);
        }
        let generation = held.generation();
        state.line.waiting.push_back(held);
        if state.line.runner.is_some() {
            return None;
        }
        // The line was idle: a new runner takes it.
        Some(Start::Runner(self.new_runner(state, generation)))
    }

    /// A new runner for the line, whose first task counts in `generation`: allocated under
    /// the lock, like a task, with the queue's class; the line keeps it.
    pub(super) fn new_runner(
        self: &std::sync::Arc<Self>,
        state: &mut QueueState,
        generation: u64,
    ) -> Runnable {
        let runner = Runner::new(std::sync::Arc::clone(self), generation);
        let how = Spawn {
            pin: self.pin(),
            priority: self.priority,
            queue_id: self.mark(),
            ..Spawn::at(std::panic::Location::caller())
        };
        let (runnable, handle) = Shared::spawn_unscheduled(&self.shared, runner, how);
        drop(handle);
        state.line.runner = Some(LineRunner::new(&runnable));
        runnable
    }

    /// Submits a new runner (from [`Inner::new_runner`]), after the lock is released.
    pub(super) fn start_runner(&self, runnable: Runnable) {
        self.start(Some(Start::Runner(runnable)));
    }

    /// Submits what admission started, after the lock is released.
    fn start(&self, start: Option<Start>) {
        match start {
            None => {}
            Some(Start::Task(held)) => self.submit(held.take(), Submit::Spawned),
            Some(Start::Runner(runnable)) => self.submit(runnable, Submit::Spawned),
        }
    }

    /// A delayed task's delay expired: it joins the queue (or is dropped after shutdown).
    pub(super) fn expire(self: &std::sync::Arc<Self>, mut held: Held) {
        let mut state = lock(&self.state);
        // Once shutdown began, not only once it reached this queue: a task finishing meanwhile
        // frees its place without starting the next (see `Inner::finished`), so admission
        // would start this one ahead of those waiting.
        if state.shut_down || self.shared.is_shutdown() {
            drop(state);
            // Dropped while still delayed: uncounted in its generation, as it never was.
            drop(held);
            return;
        }
        state.delayed -= 1;
        let generation = held.count();
        // A flush awaited by a `High` task waits for it now: it is raised too (its runner, in
        // an ordered queue, which may be new).
        let waited = state.raise_waits_for(generation);
        state.generations.add(generation);
        let live = held.live();
        state.live.count(live, generation);
        if held.is_raised(self.priority) {
            // Raised while delayed (a `High` task awaits it): admission must look for it.
            state.clean_at = 0;
        }
        let start = self.admit(&mut state, held, None);
        let raised = waited && (state.live.raise(live) | state.line.raise_runner());
        drop(state);
        if raised {
            crate::core::boost::request_sweep();
        }
        self.start(start);
    }
}
