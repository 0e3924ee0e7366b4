//! Spawning onto a work queue: a task accepted (or refused), allocated with its future wrapped
//! in a [`QueueTask`], offered to admission, and submitted once admitted; an ordered queue's
//! runner started when its line was idle; a delayed task joining when its delay expires.
//!
//! This is the top of the queue's files: it builds tasks ([`super::task`]) and runners
//! ([`super::runner`]) over the queue's state ([`super::inner`]), which knows neither.

use std::future::Future;
use std::time::Duration;

use super::held::{Held, Submit};
use super::inner::Inner;
use super::live::LiveId;
use super::refusal::SpawnError;
use super::runner::{self, Runner};
use super::state::QueueState;
use super::task::QueueTask;
use crate::queue::Runnable;
use crate::scheduler::Shared;
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
        let key = if self.is_ordered() { None } else { key };
        // One lock acquisition per spawn, held while the task is allocated: acceptance, its
        // generation and its position in the FIFO are one step, a refusal can give the future
        // back, and the spawner pulls the lock's cache line over once (measured a little
        // faster than two short critical sections around an unlocked allocation).
        let mut state = self.lock();
        if let Some(reason) = self.refusal(&state) {
            return Err(SpawnError::new(future, reason));
        }
        let generation = state.generation();
        let (held, handle) = self.allocate(&mut state, future, key, generation, delay.is_none());
        state.count_accepted(delay.is_none().then_some(generation));
        let Some(delay) = delay else {
            let start = self.admit(&mut state, held, key);
            drop(state);
            self.start(start);
            return Ok(handle);
        };
        drop(state);
        let held = held.delayed();
        let queue = std::sync::Arc::clone(self);
        let timer = async move {
            crate::time::sleep(delay).await;
            queue.expire(held);
        };
        drop(Shared::spawn(
            self.shared(),
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
        let live = if self.is_ordered() {
            LiveId::NONE
        } else {
            state.live_mut().reserve()
        };
        let wrapped = QueueTask::new(future, std::sync::Arc::clone(self), key, generation, live);
        let how = Spawn {
            pin: None,
            priority: self.priority(),
            queue: Some(self.name()),
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
            let (runnable, handle) = Shared::spawn_unscheduled(self.shared(), wrapped, how);
            state
                .live_mut()
                .fill(live, runnable.metadata(), counted.then_some(generation));
            (runnable, handle)
        };
        debug_assert_eq!(runnable.metadata().priority(), self.priority());
        (Held::new(runnable, generation, live), handle)
    }

    /// Offers an accepted task (counted in its generation) to admission, under the lock.
    fn admit(
        self: &std::sync::Arc<Self>,
        state: &mut QueueState,
        held: Held,
        key: Option<u64>,
    ) -> Option<Start> {
        if !self.is_ordered() {
            return state.admit(held, key).map(Start::Task);
        }
        let generation = held.generation();
        if !state.line_mut().push(held) {
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
            priority: self.priority(),
            queue_id: self.mark(),
            ..Spawn::at(std::panic::Location::caller())
        };
        let (runnable, handle) = Shared::spawn_unscheduled(self.shared(), runner, how);
        drop(handle);
        state.line_mut().set_runner(&runnable);
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
        let mut state = self.lock();
        // Once shutdown began, not only once it reached this queue: a task finishing meanwhile
        // frees its place without starting the next (see `Inner::finished`), so admission
        // would start this one ahead of those waiting.
        if state.is_shut_down() || self.shared().is_shutdown() {
            drop(state);
            // Dropped while still delayed: uncounted in its generation, as it never was.
            drop(held);
            return;
        }
        let waited = state.count_due(&mut held, self.priority());
        let live = held.live();
        let start = self.admit(&mut state, held, None);
        let raised = waited && state.raise_joined(live);
        drop(state);
        if raised {
            crate::core::boost::request_sweep();
        }
        self.start(start);
    }
}
