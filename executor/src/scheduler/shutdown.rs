//! Shutdown of the scheduler: stopping intake, cancelling what is pending, and cancelling
//! what is scheduled after the end.
//!
//! # Shutdown
//!
//! Shutdown cancels before it joins, and never drops a task inside the `wake()` that scheduled
//! it: the waker's caller may hold a lock that the drop needs (event-listener and async-channel
//! wake their listeners under their list locks, and a listener's drop takes that lock).
//!
//! 1. **Beginning**: [`Shared::begin_shutdown`] sets the flag, closes the registry (a task
//!    run from then on is cancelled instead of polled, whoever runs it) and wakes every parked
//!    worker; workers exit at their next poll boundary. From then on `schedule` puts every task
//!    it is given in the `to_cancel` queue, without dropping it, and wakes the shutdown thread.
//! 2. **Cancelling**: [`Shared::cancel_pending`] cancels, on the shutdown thread, every task
//!    that is not running: the tasks the work queues hold back, every queued task, and every
//!    registered one (woken, so that `schedule` queues it). A cancelled task's future is
//!    dropped in place, catching a panic ([`task::cancel`]). Dropping a future may wake or
//!    spawn other tasks, so it repeats until a round finds nothing to cancel.
//! 3. **Joining**: the runtime joins the workers, cancelling what is queued meanwhile
//!    ([`Shared::cancel_queued`]): a running task may be waiting for one of those to go (a
//!    section blocked on a channel whose sender a pending task holds).
//! 4. **Finishing**: [`Shared::finish_shutdown`] cancels what is left, marks shutdown done and
//!    cancels once more. A task scheduled after that (the task of a worker whose poll outlived
//!    `shutdown_timeout`, or of the worker that dropped the runtime from inside a task) is
//!    cancelled at its scheduler's request: a scheduler queues the task, fences and checks the
//!    done flag, while shutdown sets the flag, fences and cancels the queued tasks, so one of
//!    the two always sees the task. Nobody is left to drain the queue then, and a task left in
//!    it would keep `Shared` alive (its schedule function holds an `Arc` of it). The scheduler
//!    may be a `wake()` that began before shutdown did, its caller holding a lock, so it
//!    starts a thread that cancels the queued tasks.

use std::cell::Cell;

use super::{core_queues, push, Shared};
use crate::queue::{Runnable, TaskQueue};
use crate::sync::{fence, Ordering};
use crate::task;

std::thread_local! {
    /// The id of the runtime this thread is shutting down (`Runtime`'s drop or
    /// `shutdown_timeout`), while it does.
    static SHUTTING_DOWN: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Marks this thread as the one shutting `runtime` down until dropped (see
/// [`Shared::on_shutdown_thread`]).
pub(crate) struct ShutdownThread(Option<u64>);

impl Drop for ShutdownThread {
    fn drop(&mut self) {
        // `try_with`: a runtime kept in a thread-local drops while the thread-locals go.
        let _ = SHUTTING_DOWN.try_with(|s| s.set(self.0));
    }
}

impl Shared {
    /// Marks this thread as the one that shuts the runtime down, until the guard drops.
    pub(crate) fn shutdown_thread_guard(&self) -> ShutdownThread {
        ShutdownThread(
            SHUTTING_DOWN
                .try_with(|s| s.replace(Some(self.id)))
                .ok()
                .flatten(),
        )
    }

    /// Whether this thread is shutting the runtime down: a task it spawns meanwhile (from a
    /// destructor of a task it cancels) is cancelled at once, since this thread is the one
    /// that would cancel it later, and its spawner may wait for its handle.
    pub(crate) fn on_shutdown_thread(&self) -> bool {
        SHUTTING_DOWN
            .try_with(|s| s.get() == Some(self.id))
            .unwrap_or(false)
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_shutdown(&self) -> bool {
        // Acquire: pairs with the SeqCst store in `begin_shutdown`.
        self.shutdown.load(Ordering::Acquire)
    }

    /// Whether shutdown has finished (loom models check who cancels a task).
    #[cfg(all(test, loom))]
    pub(crate) fn is_shutdown_done(&self) -> bool {
        // Acquire: pairs with the SeqCst store in `finish_shutdown`.
        self.shutdown_done.load(Ordering::Acquire)
    }

    /// Begins shutdown on this thread (shutdown notes: beginning): sets the flag, closes the
    /// registry and wakes every parked worker.
    pub(crate) fn begin_shutdown(&self) {
        let _ = self.shutdown_thread.set(std::thread::current());
        // SeqCst: pairs with the Acquire load in `is_shutdown`, and takes part in the fence
        // handshake below.
        self.shutdown.store(true, Ordering::SeqCst);
        self.registry.close();
        // SeqCst: pairs with the fence a scheduler issues after its push
        // (`queued_for_shutdown`), and with the fence of `Core::park` (a parking worker sees
        // the flag in its recheck).
        fence(Ordering::SeqCst);
        self.wake_all_workers();
        self.siblings.bell.ring();
    }

    /// Wakes every parked worker (shutdown).
    pub(crate) fn wake_all_workers(&self) {
        for core in self.cores.iter() {
            core.wake_all();
        }
    }

    /// Queues a task scheduled during shutdown for the shutdown thread to cancel, outside the
    /// `wake()` that scheduled it; once shutdown is done, cancels it here.
    pub(super) fn cancel_later(&self, runnable: Runnable) {
        push(&self.to_cancel, runnable);
        self.queued_for_shutdown();
    }

    /// A task was queued during shutdown: wakes the shutdown thread to cancel it, or, once
    /// shutdown is done, has every queued task cancelled elsewhere, since nobody else will
    /// (shutdown notes: finishing).
    pub(super) fn queued_for_shutdown(&self) {
        // SeqCst: pairs with the fence in `finish_shutdown`: either this thread sees the done
        // flag below, or shutdown's last pass sees the task queued before this fence.
        fence(Ordering::SeqCst);
        // Acquire: pairs with the SeqCst store in `finish_shutdown` (ordered by the fences).
        if self.shutdown_done.load(Ordering::Acquire) {
            self.cancel_elsewhere();
        } else if let Some(thread) = self.shutdown_thread.get() {
            thread.unpark();
        }
    }

    /// Once shutdown is done: cancels every queued task on a thread of its own. This thread
    /// may be inside a `wake()` (one that began before shutdown did) whose caller holds a lock
    /// the tasks' drops need, and no thread of the runtime is left to do it; a task left queued
    /// would keep `Shared` alive. If no thread can be started, the tasks are dropped here.
    fn cancel_elsewhere(&self) {
        let mut tasks = Vec::new();
        for queue in self.queues() {
            tasks.extend(std::iter::from_fn(|| queue.pop().ok()));
        }
        if !tasks.is_empty() {
            let cancel = move || tasks.into_iter().for_each(task::cancel);
            // On error the closure, and with it the tasks, were dropped.
            let _ = crate::sync::spawn_detached("baton-cancel", cancel);
        }
    }

    /// Cancels every task that is not running, on this thread (shutdown notes: cancelling):
    /// the work queues' held tasks, every queued or deferred task and every registered task,
    /// round after round until a round finds nothing more to cancel.
    pub(crate) fn cancel_pending(&self) {
        for frontend in self.frontends() {
            frontend.cancel_held();
        }
        loop {
            let mut cancelled = self.cancel_queued() + self.cancel_deferred();
            // A task that is not running is scheduled by its wake (into `to_cancel`); a running
            // one is scheduled when its poll ends.
            for waker in self.registry.wakers() {
                waker.wake();
            }
            cancelled += self.cancel_queued();
            if cancelled == 0 {
                return;
            }
        }
    }

    /// Ends shutdown, once the workers were joined (or given up on): cancels what is left,
    /// marks shutdown done, and cancels what was queued meanwhile. From then on a scheduler
    /// cancels the task it is given itself (shutdown notes: finishing).
    pub(crate) fn finish_shutdown(&self) {
        self.cancel_pending();
        self.shutdown_done.store(true, Ordering::SeqCst);
        // SeqCst: pairs with the fence in `queued_for_shutdown`: either this pass sees a task
        // queued before that fence, or its scheduler sees the done flag and cancels it.
        fence(Ordering::SeqCst);
        self.cancel_queued();
    }

    /// Cancels the tasks waiting for their call site's turn (`crate::sites::defer`); returns
    /// how many.
    fn cancel_deferred(&self) -> usize {
        let deferred = self.sites.take_deferred();
        let cancelled = deferred.len();
        deferred.into_iter().for_each(task::cancel);
        cancelled
    }

    /// Cancels every queued task on this thread ([`task::cancel`]); returns how many.
    pub(crate) fn cancel_queued(&self) -> usize {
        let mut cancelled = 0;
        for queue in self.queues() {
            while let Ok(runnable) = queue.pop() {
                task::cancel(runnable);
                cancelled += 1;
            }
        }
        cancelled
    }

    /// Every queue a task may wait in.
    fn queues(&self) -> impl Iterator<Item = &dyn TaskQueue> {
        std::iter::once(&self.to_cancel as &dyn TaskQueue)
            .chain(self.injectors.iter().map(|q| q as &dyn TaskQueue))
            .chain(self.cores.iter().flat_map(core_queues))
    }
}
