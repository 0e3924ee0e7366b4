//! The scheduler: the state a runtime's threads share ([`Shared`]: cores, injectors, the task
//! registry, settings) and the worker loop that runs a core's tasks.
//!
//! - [`placement`]: where a scheduled task goes (the next-task slot, a core queue, an
//!   injector, its class's queues).
//! - [`search`]: looking for work beyond a core's own queues, stealing, starvation.
//! - [`online`]: cores that go offline and come back.
//! - [`shutdown`]: cancelling before joining.
//! - [`threads`]: worker threads, their caps and their handles.
//! - [`frontends`]: the work queues a runtime knows of.
//! - [`config`]: the settings threads are started with.
//! - [`worker`]: the worker loop itself.

use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use crate::compat::TokioRuntime;
use crate::context;
use crate::core::boost::Boosts;
use crate::core::{Core, Siblings};
use crate::queue::{self, Priority, Queue, Runnable, TaskQueue};
use crate::sites::Sites;
use crate::stats::{CoreStats, Detection, Stats};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex};
use crate::sys;
use crate::task::{self, JoinHandle, Registry, Spawn};
use crate::unbound::UnboundPool;

mod config;
mod frontends;
mod joined;
mod online;
mod placement;
mod search;
mod shutdown;
mod threads;
pub(crate) mod worker;

pub(crate) use config::Config;
pub(crate) use frontends::Frontend;
use frontends::Frontends;
pub(crate) use joined::Watched;
use placement::Place;

/// What threads of one runtime share.
pub(crate) struct Shared {
    /// Distinguishes this runtime's workers from other runtimes'.
    pub(crate) id: u64,
    /// The cores, indexed by core number.
    pub(crate) cores: Box<[Core]>,
    /// Tasks scheduled from outside the runtime's workers, one injector per class indexed by
    /// [`Priority::index`] (see [`Shared::injector_for`]); the `Normal` one also takes
    /// local-queue overflow.
    injectors: [Queue; Priority::COUNT],
    /// Set the first time a task of a class other than `Normal` is scheduled; until then
    /// workers skip the class queues.
    classes_used: AtomicBool,
    /// The raise epochs the cores' queues were swept at (priority inheritance).
    pub(crate) boosts: Boosts,
    /// Counts of idle cores and searching workers.
    pub(crate) siblings: Siblings,
    /// Live tasks, for shutdown.
    pub(crate) registry: Arc<Registry>,
    /// What has been learnt about blocking call sites.
    pub(crate) sites: Sites,
    /// How many cores are online: cores `0..online` take work (see the [`online`] module
    /// docs).
    online: AtomicUsize,
    /// Held while the online count changes, so that two resizes do not interleave.
    resizing: Mutex<()>,
    /// Set once shutdown begins.
    shutdown: AtomicBool,
    /// Tasks scheduled once shutdown began, for the shutdown thread to cancel.
    pub(crate) to_cancel: Queue,
    /// Set once shutdown has finished: nobody drains `to_cancel` any more, so a task scheduled
    /// from then on is cancelled by its scheduler.
    shutdown_done: AtomicBool,
    /// The thread that runs the shutdown, woken when a task is queued for it to cancel.
    shutdown_thread: std::sync::OnceLock<std::thread::Thread>,
    /// The `block_on` calls on threads the shutdown joins, released once the pending tasks
    /// are cancelled (see the [`joined`] module).
    pub(crate) joined: joined::JoinedWaits,
    /// Thread settings, used whenever a worker thread is started.
    pub(crate) config: Config,
    /// The tokio runtime whose context the workers enter (the `tokio` feature; else empty).
    pub(crate) tokio: TokioRuntime,
    /// Work queues built on this runtime (std `Weak`s: bookkeeping that loom need not model),
    /// and the counters of those that are gone.
    frontends: std::sync::Mutex<Frontends>,
    /// Worker threads to join at shutdown (the monitor adds spares).
    threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The pool that runs `unblock` jobs, apart from the cores (std `Arc`: its threads are
    /// plain std threads that loom models never start).
    pub(crate) unbound: std::sync::Arc<UnboundPool>,
    /// The runtime's clock: real, or paused for tests (std `Arc`: timers that outlive a poll
    /// keep it).
    pub(crate) clock: std::sync::Arc<crate::clock::Clock>,
    /// The context-switch events of the workers, once the monitor has tried to set them up
    /// (`None` inside if the kernel refused or they are off; see `crate::detect`).
    pub(crate) switches: std::sync::OnceLock<Option<std::sync::Arc<sys::SwitchWatch>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("cores", &self.cores.len())
            .field("shutdown", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Shared state for `cores` cores, with no workers yet.
    pub(crate) fn new(cores: usize, config: Config) -> Shared {
        Shared {
            id: context::next_runtime_id(),
            cores: (0..cores).map(Core::new).collect(),
            injectors: std::array::from_fn(|_| queue::unbounded_queue()),
            classes_used: AtomicBool::new(false),
            boosts: Boosts::new(cores),
            siblings: Siblings::new(cores),
            // One shard per core for spawns from workers, one for spawns from elsewhere.
            registry: Arc::new(Registry::new(cores + 1)),
            sites: Sites::new(),
            online: AtomicUsize::new(cores),
            resizing: Mutex::new(()),
            shutdown: AtomicBool::new(false),
            to_cancel: queue::unbounded_queue(),
            shutdown_done: AtomicBool::new(false),
            shutdown_thread: std::sync::OnceLock::new(),
            joined: joined::JoinedWaits::default(),
            unbound: std::sync::Arc::new(UnboundPool::new(
                config.max_unblock_threads,
                config.keep_alive,
                &config.thread_name,
                config.stack_size,
            )),
            config,
            tokio: TokioRuntime::new(),
            frontends: std::sync::Mutex::new(Frontends::default()),
            threads: std::sync::Mutex::new(Vec::new()),
            clock: std::sync::Arc::default(),
            switches: std::sync::OnceLock::new(),
        }
    }

    /// The workers' context-switch events, if the monitor set them up.
    pub(crate) fn switch_watch(&self) -> Option<&sys::SwitchWatch> {
        self.switches.get().and_then(Option::as_deref)
    }

    /// How the runtime notices polls that block without a section.
    fn detection(&self) -> Detection {
        if !self.config.detect || !cfg!(target_os = "linux") {
            Detection::Off
        } else if self.switch_watch().is_some() {
            Detection::SwitchEvents
        } else {
            Detection::Monitor
        }
    }

    /// Spawns `future`, pinned to `pin`'s core if given.
    ///
    /// (An associated function rather than a method: loom's `Arc` cannot be a `self` type.)
    pub(crate) fn spawn<F>(
        this: &Arc<Shared>,
        future: F,
        pin: Option<usize>,
        site: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn_with(
            this,
            future,
            Spawn {
                pin,
                ..Spawn::at(site)
            },
        )
    }

    /// [`Shared::spawn`] with everything a task may be spawned with (a name, a class).
    pub(crate) fn spawn_with<F>(
        this: &Arc<Shared>,
        future: F,
        how: Spawn<'_>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (runnable, handle) = Shared::spawn_unscheduled(this, future, how);
        if this.is_shutdown() && this.on_shutdown_thread() {
            // Spawned by the thread shutting the runtime down (from a destructor of a task it
            // cancels): cancelled now rather than queued for this same thread to cancel later,
            // so a destructor that waits for the handle does not wait for itself. Spawns from
            // other threads go the usual way (shutdown notes: cancelling), never dropped in
            // the spawner's call, which may be inside a `wake()`.
            task::cancel(runnable);
        } else {
            this.submit(runnable);
        }
        handle
    }

    /// Allocates a task for `future` without scheduling it: the caller runs it by passing the
    /// returned `Runnable` to [`Shared::submit`] (or drops it, which cancels the task).
    ///
    /// Work queues hold their tasks this way until `max_active` or ordering admits them.
    pub(crate) fn spawn_unscheduled<F>(
        this: &Arc<Shared>,
        future: F,
        how: Spawn<'_>,
    ) -> (Runnable, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shard = context::worker_core(this.id).unwrap_or(this.cores.len());
        let shared = Arc::clone(this);
        task::spawn(
            future,
            how,
            Some((&this.registry, shard)),
            move |runnable, info| {
                let place = if info.woken_while_running {
                    Place::Back
                } else {
                    Place::Next
                };
                shared.schedule(runnable, place);
            },
        )
    }

    /// The detection threshold, if the runtime detects polls that block outside sections.
    pub(crate) fn detection_threshold(&self) -> Option<Duration> {
        self.config
            .detect
            .then_some(self.config.detection_threshold)
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> Stats {
        let (queues, retired_queues) = self.queue_stats();
        let online = self.online();
        Stats {
            cores: self
                .cores
                .iter()
                .map(|core| CoreStats {
                    offline: core.index() >= online,
                    ..core.stats()
                })
                .collect(),
            injector_depth: self.injectors.iter().map(Queue::len).sum(),
            queues,
            retired_queues,
            sites: self.sites.detections(),
            unblock: self.unbound.stats(),
            detection: self.detection(),
        }
    }
}

/// A core's own queues, where its tasks may wait: the next-task slot, then each class's local
/// and pinned queues.
pub(crate) fn core_queues(c: &Core) -> [&dyn TaskQueue; 7] {
    [
        &c.lifo,
        &c.queue,
        &c.pinned,
        &c.high.queue,
        &c.high.pinned,
        &c.idle_class.queue,
        &c.idle_class.pinned,
    ]
}

/// Pushes onto an unbounded queue.
fn push(queue: &Queue, runnable: Runnable) {
    queue
        .push(runnable)
        .unwrap_or_else(|_| panic!("baton's unbounded queues are never closed or full"));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn take_marked_takes_the_marked_tasks_and_leaves_the_others_in_order() {
        const RESCUER: u32 = 7;
        let shared = Arc::new(Shared::new(1, Config::default()));
        let core = &shared.cores[0];
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (runnable, handle) = Shared::spawn_unscheduled(
                    &shared,
                    async move { i },
                    Spawn {
                        queue_id: if i % 2 == 0 { RESCUER } else { 0 },
                        ..Spawn::at(Location::caller())
                    },
                );
                if i == 0 {
                    core.lifo.push(runnable).expect("the slot is empty");
                } else {
                    push(&core.pinned, runnable);
                }
                handle
            })
            .collect();
        let taken = shared.take_marked(&[0], RESCUER);
        assert_eq!(taken.len(), 3);
        for runnable in taken {
            runnable.run();
        }
        let finished: Vec<bool> = handles.iter().map(JoinHandle::is_finished).collect();
        assert_eq!(finished, [true, false, true, false, true, false]);
        // The others are where they were, in their order.
        assert!(core.lifo.is_empty());
        for i in [1, 3, 5] {
            core.pinned.pop().unwrap().run();
            assert!(handles[i].is_finished(), "task {i} was not next");
        }
        assert!(!core.has_work());
    }
}
