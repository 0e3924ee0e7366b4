//! A work queue's rescuer: a thread reserved for the queue, which runs the queue's tasks when
//! the cores they wait on cannot get a worker (the *rescue* rule of docs/architecture.md, after the
//! kernel's rescuers for `WQ_MEM_RECLAIM` workqueues).
//!
//! # Why
//!
//! A core whose workers all block in sections hands its queue to a spare; at the thread cap, or
//! when the OS refuses threads (`RLIMIT_NPROC`, `pids.max`), there is none, and the core's queued
//! tasks wait for a section to end. If those sections wait for one of the queued tasks (a
//! dependency chain: a client blocking on a reply that a server task must produce), nothing
//! ends: the core is starved for good. A queue built with
//! [`rescuer()`](super::WorkQueueBuilder::rescuer) gets a thread of its own at build time, so
//! its tasks still run.
//!
//! # Protocol
//!
//! 1. **Marking**: every task of the queue (and an ordered queue's runner) carries the
//!    rescuer's id in its metadata, set before the task is first submitted.
//! 2. **Mayday**: the monitor finds a core *starved* ([`Shared::is_starved`]: work queued, no
//!    worker running, none parked, none being started, at least one in a section) for
//!    [`MAYDAY_DELAY`](crate::MAYDAY_DELAY), and calls every queue with a rescuer that has
//!    tasks in flight, naming the starved cores (counted in the queue's `mayday_calls`). It
//!    calls again every [`MAYDAY_INTERVAL`](crate::MAYDAY_INTERVAL) while a core stays starved.
//! 3. **Rescue**: the rescuer takes its own tasks from the named cores' queues and the
//!    injectors, leaving the others in order ([`Shared::take_marked`]), and polls each once on
//!    its thread (counted in `rescued`), outside the core protocol: a section there is a plain
//!    call. A rescued task woken again is scheduled as usual (through the injector, since the
//!    rescuer is no worker). The rescuer takes and polls again while a named core stays
//!    starved and its tasks are found, then waits for the next call.
//! 4. **End**: the thread exits when the queue is dropped or the runtime shuts down (shutdown
//!    joins it with the workers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::handle::Handle;
use crate::queue::Runnable;
use crate::scheduler::Shared;
use crate::sync::Arc as SyncArc;

/// What a queue and its rescuer thread share. Plain std synchronisation, like the unbound
/// pool's: loom models never start a rescuer.
#[derive(Debug)]
pub(super) struct Rescuer {
    /// The queue's id, marked on its tasks.
    id: u32,
    calls: Mutex<Calls>,
    /// Rung by a mayday call and by `stop`.
    rung: Condvar,
    /// Polls of the queue's tasks (or of an ordered queue's runner) this rescuer made.
    rescued: AtomicU64,
}

/// Calls not yet answered.
#[derive(Debug, Default)]
struct Calls {
    /// The starved cores named by the calls since the rescuer last looked.
    cores: Vec<usize>,
    /// Set when the queue is dropped or the runtime shuts down.
    stop: bool,
}

impl Rescuer {
    /// The rescuer of queue `id`, its thread not started yet.
    pub(super) fn new(id: u32) -> Arc<Rescuer> {
        Arc::new(Rescuer {
            id,
            calls: Mutex::new(Calls::default()),
            rung: Condvar::new(),
            rescued: AtomicU64::new(0),
        })
    }

    /// Starts the rescuer's thread on `shared`'s runtime; shutdown joins it. The thread holds
    /// the runtime until it is stopped (the *end* step), which the queue's drop and shutdown
    /// both do.
    pub(super) fn start(self: &Arc<Self>, shared: &SyncArc<Shared>) -> std::io::Result<()> {
        let mut builder =
            std::thread::Builder::new().name(format!("{}-rescuer", shared.config.thread_name));
        if let Some(size) = shared.config.stack_size {
            builder = builder.stack_size(size);
        }
        let rescuer = Arc::clone(self);
        let runtime = SyncArc::clone(shared);
        let thread = builder.spawn(move || rescuer.run(&runtime))?;
        shared.add_thread(thread);
        Ok(())
    }

    /// Polls of the queue's tasks this rescuer made (the queue's `rescued`).
    pub(super) fn rescued(&self) -> u64 {
        self.rescued.load(Ordering::Relaxed)
    }

    /// The *mayday* step: a call naming the starved `cores`.
    pub(super) fn call(&self, cores: &[usize]) {
        let mut calls = self.lock();
        for &core in cores {
            if !calls.cores.contains(&core) {
                calls.cores.push(core);
            }
        }
        drop(calls);
        self.rung.notify_one();
    }

    /// The *end* step: the thread exits once it is done with what it runs now.
    pub(super) fn stop(&self) {
        self.lock().stop = true;
        self.rung.notify_one();
    }

    /// The thread's body.
    fn run(&self, shared: &SyncArc<Shared>) {
        let _runtime = Handle::from_shared(SyncArc::clone(shared)).enter();
        while let Some(cores) = self.wait() {
            // The *rescue* step.
            while !shared.is_shutdown() && !self.lock().stop {
                let tasks = shared.take_marked(&cores, self.id);
                if tasks.is_empty() {
                    break;
                }
                self.rescued
                    .fetch_add(tasks.len() as u64, Ordering::Relaxed);
                for runnable in tasks {
                    run(runnable);
                }
                if !cores.iter().any(|&core| shared.is_starved(core)) {
                    break;
                }
            }
        }
    }

    /// Waits for a mayday call; returns the cores it named, or `None` once told to stop.
    fn wait(&self) -> Option<Vec<usize>> {
        let mut calls = self.lock();
        loop {
            if calls.stop {
                return None;
            }
            if !calls.cores.is_empty() {
                return Some(std::mem::take(&mut calls.cores));
            }
            calls = self.rung.wait(calls).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Polls a rescued task once on the rescuer's thread (an aborted task's poll drops its
/// future instead), as a worker would, with the task's cooperative budget.
fn run(runnable: Runnable) {
    crate::coop::budget(|| runnable.run());
}
