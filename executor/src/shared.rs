//! The state a runtime's threads share: cores, the injector, the task registry, and the rules
//! for where a woken task goes.
//!
//! # Where a task goes when it is scheduled
//!
//! 1. A task pinned to a core (`spawn_on`) goes to that core's pinned queue, and that core is
//!    notified.
//! 2. A task spawned or woken on one of this runtime's workers by the task that worker is
//!    polling (not by itself: a task that yields goes to the back of the queue) goes to the
//!    core's next-task slot; a task it displaces moves to the back of the core queue. Idle
//!    cores steal from the slot too, once the queue is empty, so a task there is not stranded
//!    behind one long poll. Otherwise it goes to that worker's core queue (spilling
//!    into the injector when full). Its own core is notified only if nobody runs it (the waker
//!    may be an idle worker serving I/O, or a task in a blocking section whose baton passed
//!    on); an idle core is woken to steal if no core is searching. Only a task scheduled from
//!    a poll outside any blocking section skips that notify for the slot: its worker takes the
//!    slot at its next poll boundary.
//! 3. Any other wake (another thread, another runtime) goes to the injector, and an idle core
//!    is woken.
//! 4. Tasks of the `High` and `Idle` classes follow the same rules in their classes' own
//!    queues (a core queue, a pinned queue and an injector per class), and never take the
//!    next-task slot. Workers look at those queues only once such a task was ever scheduled.
//!
//! # Cores that go offline and come back
//!
//! [`Handle::set_cores`](crate::Handle::set_cores) keeps a prefix of the cores online: cores
//! `0..n` take work, the others are offline. Nothing is lost or run twice:
//!
//! 1. **Pinned tasks.** A task pinned to core `k` goes to core `k % n` (`k` itself while it is
//!    online). After pushing it the scheduler issues `fence(SeqCst)` (the one in
//!    `Core::notify`) and reads `n` again; if its core went offline meanwhile it moves the
//!    core's tasks on itself ([`Shared::evacuate`]). The resizer stores the new `n`, issues
//!    the same fence and then evacuates the cores it took offline, so one of the two sees the
//!    task.
//! 2. **Tasks scheduled on a worker of an offline core** (its last poll, or a section) go to
//!    the injector; a race with the resize is closed as in step 1 (`notify_here`). A task the
//!    polling worker put in its own next-task slot is that worker's to move.
//! 3. **The offline core's workers** finish their polls and sections; at the next poll
//!    boundary the worker holding the baton evacuates the core's queues (the next-task slot,
//!    the local, pinned and class queues: unpinned tasks to the injectors, pinned ones by
//!    step 1) and parks. It stays a parked spare of its core, which no sibling wake, spare
//!    refill or detection visits until the core is online again. Its workers never search
//!    other cores, but online cores still steal from its stealable queues, so a task a straggler
//!    left there is never stranded.
//! 4. **A core coming online** gets one of its spares woken to search at once; from then on it
//!    takes pinned tasks and wakes like any core.
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

use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use crate::compat::TokioRuntime;
use crate::context::{self, Polling};
use crate::core::boost::Boosts;
use crate::core::{Core, HandOff, Idle, Recheck};
use crate::park::Wake;
use crate::queue::Priority;
use concurrent_queue::PushError;

use crate::queue::{self, Queue, Runnable};
use crate::sites::Sites;
use crate::stats::{CoreStats, Counters, Detection, QueueStats, Stats};
use crate::sync::{fence, lock, Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::sys;
use crate::task::{self, JoinHandle, Registry, Spawn};
use crate::unbound::UnboundPool;

/// What threads of one runtime share.
pub(crate) struct Shared {
    /// Distinguishes this runtime's workers from other runtimes'.
    pub(crate) id: u64,
    /// The cores, indexed by core number.
    pub(crate) cores: Box<[Core]>,
    /// Tasks scheduled from outside the runtime's workers, and local-queue overflow.
    pub(crate) injector: Queue,
    /// `High` tasks scheduled from outside the runtime's workers.
    pub(crate) injector_high: Queue,
    /// `Idle` tasks scheduled from outside the runtime's workers.
    pub(crate) injector_low: Queue,
    /// Set the first time a task of a class other than `Normal` is scheduled; until then
    /// workers skip the class queues.
    classes_used: AtomicBool,
    /// The raise epochs the cores' queues were swept at (priority inheritance).
    pub(crate) boosts: Boosts,
    /// Counts of idle cores and searching workers.
    pub(crate) idle: Idle,
    /// Live tasks, for shutdown.
    pub(crate) registry: Arc<Registry>,
    /// What has been learnt about blocking call sites.
    pub(crate) sites: Sites,
    /// How many cores are online: cores `0..online` take work (see the module docs on cores
    /// that go offline).
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

/// Where a task scheduled from inside a poll on one of the runtime's workers goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// The back of the core queue (a task that woke itself: a yield).
    Back,
    /// The next-task slot, moving a task already there to the back of the queue (a wake).
    Next,
    /// The next-task slot if it is free, else the back of the queue (a new task).
    NextIfFree,
    /// The injector of its class (or its core, if pinned), wherever it is scheduled from.
    Anywhere,
}

/// What the runtime needs from a work queue that holds tasks back (`max_active`, ordering,
/// delays): their cancellation at shutdown, and the queue's counters.
pub(crate) trait Frontend: Send + Sync {
    /// Cancels every task the queue holds back (not yet submitted), so their handles report
    /// cancellation, and refuses spawns from then on; tells its rescuer, if any, to exit.
    /// Called by shutdown on its own thread, before it joins the workers.
    fn cancel_held(&self);
    /// A mayday call: `cores` are starved ([`Shared::is_starved`]). A queue with a rescuer
    /// sends it to run the queue's tasks queued there.
    fn mayday(&self, cores: &[usize]);
    /// A snapshot of the queue's counters.
    fn stats(&self) -> QueueStats;
}

/// The work queues of a runtime, live and retired.
#[derive(Default)]
struct Frontends {
    /// Every queue built and not yet retired. An entry that no longer upgrades is a queue
    /// being dropped: its `Drop` retires it (see [`Shared::retire_frontend`]) in a moment.
    live: Vec<std::sync::Weak<dyn Frontend>>,
    /// The counters of the retired queues, added up.
    retired: QueueStats,
}

/// A callback run on worker threads.
pub(crate) type Callback = std::sync::Arc<dyn Fn() + Send + Sync + 'static>;

/// Settings for the runtime's threads.
#[derive(Clone)]
pub(crate) struct Config {
    /// Worker thread name prefix.
    pub(crate) thread_name: String,
    /// Worker thread stack size, if set.
    pub(crate) stack_size: Option<usize>,
    /// Run on each worker thread when it starts.
    pub(crate) on_thread_start: Option<Callback>,
    /// Run on each worker thread before it exits.
    pub(crate) on_thread_stop: Option<Callback>,
    /// Worker threads each core starts with (its active worker and its spares).
    pub(crate) workers_per_core: usize,
    /// How long a lazy section may run before its core is handed to a spare.
    pub(crate) grace: Duration,
    /// How long a surplus spare stays parked before it exits.
    pub(crate) keep_alive: Duration,
    /// The most worker threads one core may have.
    pub(crate) max_threads_per_core: usize,
    /// The most worker threads the runtime may have.
    pub(crate) max_threads: usize,
    /// The most threads of the pool that runs `unblock` jobs.
    pub(crate) max_unblock_threads: usize,
    /// How the workers keep to the CPUs of the runtime's set.
    pub(crate) affinity: crate::runtime::CpuAffinity,
    /// The runtime's CPU set, if one was given.
    pub(crate) cpus: Option<Vec<usize>>,
    /// Per core, the CPUs its workers are bound to, if any (computed when the runtime is
    /// built, see `runtime::placement`).
    pub(crate) placement: Vec<Option<Vec<usize>>>,
    /// Whether the monitor takes over polls that block without a section.
    pub(crate) detect: bool,
    /// How long a poll may run outside a section before the monitor checks it.
    pub(crate) detection_threshold: Duration,
    /// Whether detection may use per-thread context-switch events where the kernel allows.
    pub(crate) perf_events: bool,
    /// How long a core with work may start no poll before the stall is reported, if at all.
    pub(crate) stall_timeout: Option<Duration>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("thread_name", &self.thread_name)
            .field("stack_size", &self.stack_size)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .field("workers_per_core", &self.workers_per_core)
            .field("grace", &self.grace)
            .field("keep_alive", &self.keep_alive)
            .field("max_threads_per_core", &self.max_threads_per_core)
            .field("max_threads", &self.max_threads)
            .field("max_unblock_threads", &self.max_unblock_threads)
            .field("affinity", &self.affinity)
            .field("cpus", &self.cpus)
            .field("detect", &self.detect)
            .field("detection_threshold", &self.detection_threshold)
            .field("perf_events", &self.perf_events)
            .field("stall_timeout", &self.stall_timeout)
            .finish()
    }
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
            injector: queue::unbounded_queue(),
            injector_high: queue::unbounded_queue(),
            injector_low: queue::unbounded_queue(),
            classes_used: AtomicBool::new(false),
            boosts: Boosts::new(cores),
            idle: Idle::new(cores),
            // One shard per core for spawns from workers, one for spawns from elsewhere.
            registry: Arc::new(Registry::new(cores + 1)),
            sites: Sites::new(),
            online: AtomicUsize::new(cores),
            resizing: Mutex::new(()),
            shutdown: AtomicBool::new(false),
            to_cancel: queue::unbounded_queue(),
            shutdown_done: AtomicBool::new(false),
            shutdown_thread: std::sync::OnceLock::new(),
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
        this.submit(runnable);
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

    /// Schedules a task for its first run, as if the current task woke it: spawned from a
    /// task, it runs next on this core (from the next-task slot, where idle cores may steal
    /// it); otherwise it goes where its pin or class sends it.
    pub(crate) fn submit(&self, runnable: Runnable) {
        self.schedule(runnable, Place::NextIfFree);
    }

    /// Schedules a task for its first run as if woken by the task this worker is polling: to
    /// the core's next-task slot. A work queue's task admitted because the one being polled
    /// finished (ordered queues) runs next, cache-hot, like a chained wake.
    pub(crate) fn submit_next(&self, runnable: Runnable) {
        self.schedule(runnable, Place::Next);
    }

    /// Schedules a task for its first run through the injector, so whichever core looks first
    /// runs it (a work queue with no core affinity). Pinned tasks still go to their core.
    pub(crate) fn submit_anywhere(&self, runnable: Runnable) {
        self.schedule(runnable, Place::Anywhere);
    }

    /// Registers a work queue's front end, for stats and for shutdown to cancel the tasks it
    /// holds back, until the queue retires it as it is dropped ([`Shared::retire_frontend`]).
    pub(crate) fn add_frontend(&self, frontend: std::sync::Weak<dyn Frontend>) {
        self.lock_frontends().live.push(frontend);
    }

    /// A work queue (the front end at `frontend`) is being dropped: its last counters `last`
    /// join the retired queues' total, in the same step as it leaves the live ones, so a
    /// snapshot counts it once (see [`Shared::stats`]).
    pub(crate) fn retire_frontend(&self, frontend: *const (), last: &QueueStats) {
        let mut frontends = self.lock_frontends();
        frontends
            .live
            .retain(|f| !std::ptr::eq(f.as_ptr().cast::<()>(), frontend));
        frontends.retired.absorb(last);
    }

    fn lock_frontends(&self) -> std::sync::MutexGuard<'_, Frontends> {
        self.frontends.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live work queue front ends.
    pub(crate) fn frontends(&self) -> Vec<std::sync::Arc<dyn Frontend>> {
        self.lock_frontends()
            .live
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect()
    }

    /// Snapshots of the live work queues, and the retired queues' total. A queue caught
    /// between its last handle and its retirement is waited for (its `Drop` is running), so
    /// that it is counted exactly once.
    fn queue_stats(&self) -> (Vec<QueueStats>, QueueStats) {
        loop {
            let (live, retired, dying) = {
                let frontends = self.lock_frontends();
                let live: Vec<_> = frontends
                    .live
                    .iter()
                    .filter_map(std::sync::Weak::upgrade)
                    .collect();
                let dying = frontends.live.len() - live.len();
                (live, frontends.retired.clone(), dying)
            };
            if dying == 0 {
                let mut retired = retired;
                retired.name = QueueStats::RETIRED.to_owned();
                return (live.iter().map(|f| f.stats()).collect(), retired);
            }
            // Dropped after the lock is released: a last handle here retires its queue.
            drop(live);
            std::thread::yield_now();
        }
    }

    /// Queues a woken task (see the module docs for where it goes).
    ///
    /// `place` says whether a task scheduled from inside a poll may take the next-task slot.
    fn schedule(&self, runnable: Runnable, place: Place) {
        if self.is_shutdown() {
            self.cancel_later(runnable);
            return;
        }
        let priority = runnable.metadata().priority();
        self.note_class(priority);
        let here = match place {
            Place::Anywhere => None,
            _ => context::worker_core(self.id),
        };
        match (runnable.metadata().pin(), here) {
            (Some(pin), _) => {
                let target = self.stand_in(pin);
                let core = &self.cores[target];
                push(core.pinned_queue(priority), runnable);
                // `notify` issues the fence the resize check needs.
                core.notify(&self.idle);
                self.move_if_offline(target);
            }
            (None, Some(here)) => self.schedule_here(here, runnable, priority, place),
            (None, None) => self.inject(self.injector_for(priority), runnable),
        }
        // Shutdown racing this push: a task queued once shutdown began is cancelled by the
        // shutdown thread's last pass, or here if shutdown is already done (see
        // `queued_for_shutdown`).
        if self.is_shutdown() {
            self.queued_for_shutdown();
        }
    }

    /// Queues a task scheduled during shutdown for the shutdown thread to cancel, outside the
    /// `wake()` that scheduled it; once shutdown is done, cancels it here.
    fn cancel_later(&self, runnable: Runnable) {
        push(&self.to_cancel, runnable);
        self.queued_for_shutdown();
    }

    /// A task was queued during shutdown: wakes the shutdown thread to cancel it, or, once
    /// shutdown is done, has every queued task cancelled elsewhere, since nobody else will
    /// (shutdown notes: finishing).
    fn queued_for_shutdown(&self) {
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
            tasks.extend(queue.try_iter());
        }
        if !tasks.is_empty() {
            let cancel = move || tasks.into_iter().for_each(task::cancel);
            // On error the closure, and with it the tasks, were dropped.
            let _ = crate::sync::spawn_detached("baton-cancel", cancel);
        }
    }

    /// `schedule` for an unpinned task on a worker of core `here`: the next-task slot for a
    /// `Normal` task scheduled from inside a poll (unless `place` is `Back`), else the back of
    /// the core's queue of its class.
    ///
    /// Only a poll outside any blocking section may skip the notify protocol: inside a
    /// section the baton may have passed on (or pass on at any moment), so the task is queued
    /// like any other and the core notified.
    fn schedule_here(&self, here: usize, runnable: Runnable, priority: Priority, place: Place) {
        if !self.is_online(here) {
            // The last poll of an offline core, or a section on it.
            self.inject(self.injector_for(priority), runnable);
            return;
        }
        let core = &self.cores[here];
        let polling = context::polling();
        if polling == Polling::Section {
            // For the learning of held sections (see `Managed::hold_failed`).
            context::note_woke_in_section();
        }
        let runnable =
            if priority == Priority::Normal && place != Place::Back && polling != Polling::No {
                match place_next(core, &self.injector, runnable, place) {
                    // Outside a section, no fence and no notify for the slot: this worker holds
                    // the baton and looks at the slot at its next poll boundary, before it could
                    // park (and if it retires there instead, the worker that keeps the baton runs
                    // the core).
                    Ok(false) if polling == Polling::Baton && !context::poll_taken_over() => return,
                    Ok(true) if polling == Polling::Baton && !context::poll_taken_over() => {
                        // A task moved to the back of the queue, which other cores may want.
                        fence(Ordering::SeqCst);
                        if self.idle.should_wake_sibling() {
                            self.wake_sibling(here);
                        }
                        self.move_if_offline(here);
                        return;
                    }
                    // Inside a section, or in a poll the monitor took over: the notify protocol.
                    Ok(_) => {
                        self.notify_here(here);
                        return;
                    }
                    // The slot was taken (a new task): to the back of the queue, below.
                    Err(runnable) => runnable,
                }
            } else {
                runnable
            };
        match core.class(priority) {
            Some(class) => push(&class.queue, runnable),
            None => queue::push_or_spill(&core.queue, &self.injector, runnable),
        }
        self.notify_here(here);
    }

    /// After queueing a task on core `here` (its own worker's core): wakes a worker of the
    /// core if none runs, otherwise an idle core to steal it if nobody searches.
    ///
    /// The fence in `Core::notify` pairs with the one a worker issues as it parks and with the
    /// one in `Core::hand_off`: either the core's count shows no running worker here, or the
    /// parking worker (or the handoff) sees the task.
    ///
    /// The same fence orders the look at the online count (see the module docs on cores that
    /// go offline): a core taken offline meanwhile has its tasks moved on here.
    fn notify_here(&self, here: usize) {
        // `notify` issues the fence that also orders the sibling check below.
        if !self.cores[here].notify(&self.idle) && self.idle.should_wake_sibling() {
            self.wake_sibling(here);
        }
        self.move_if_offline(here);
    }

    /// How many cores are online: cores `0..online()` take work.
    pub(crate) fn online(&self) -> usize {
        // Acquire: pairs with the SeqCst store in `set_online`. A stale count is corrected by
        // the fence handshake of the module docs, not by this load.
        self.online.load(Ordering::Acquire)
    }

    /// Whether core `core` is online.
    pub(crate) fn is_online(&self, core: usize) -> bool {
        core < self.online()
    }

    /// The core that runs tasks pinned to `core` now: `core` itself while it is online, else
    /// `core % online` (see the module docs on cores that go offline).
    fn stand_in(&self, core: usize) -> usize {
        let online = self.online();
        // No division on the common path.
        if core < online {
            core
        } else {
            core % online
        }
    }

    /// After a `fence(SeqCst)` that follows a push onto one of `core`'s queues: if the core is
    /// offline, moves its tasks on, since its evacuation may have missed that push.
    fn move_if_offline(&self, core: usize) {
        if !self.is_online(core) {
            self.evacuate(core);
        }
    }

    /// Sets how many cores are online (`1..=cores.len()`, checked by the caller): stores the
    /// count, evacuates the cores taken offline and wakes a worker of each core brought
    /// online to search (see the module docs on cores that go offline).
    pub(crate) fn set_online(&self, n: usize) {
        assert!(
            (1..=self.cores.len()).contains(&n),
            "set_online({n}) with {} cores",
            self.cores.len()
        );
        let _resizing = lock(&self.resizing);
        // SeqCst: pairs with the Acquire load in `online`, and takes part in the fence below.
        let before = self.online.swap(n, Ordering::SeqCst);
        // SeqCst: pairs with the fence a scheduler issues after pushing onto a core's queue
        // (`move_if_offline`): either it sees the new count, or the evacuation below sees its
        // task.
        fence(Ordering::SeqCst);
        for core in n..before {
            self.evacuate(core);
            // A worker holding the baton there evacuates what it queues itself, at its next
            // poll boundary; a parked one has nothing to do.
        }
        for core in before..n {
            let core = &self.cores[core];
            self.idle.start_searching();
            if !core.wake_one(&self.idle, Wake::Search) {
                self.idle.stop_searching();
                // No spare parked (all in sections, or reaped): it gets one from the monitor.
                self.idle.bell.ring();
            }
        }
    }

    /// Moves every task queued on core `core` elsewhere, if the core is offline: unpinned ones
    /// to their class's injector, pinned ones to the core that stands in for theirs. Called by
    /// the resizer, by a worker of the core at its poll boundary, and by a scheduler that
    /// raced a resize; concurrent calls share the tasks out, each task being popped once.
    pub(crate) fn evacuate(&self, core: usize) {
        for queue in core_queues(&self.cores[core]) {
            // At most what is there now: a core brought online again meanwhile gets its own
            // pinned tasks back, and popping them again would not end.
            for _ in 0..queue.len() {
                if self.is_online(core) {
                    return;
                }
                let Ok(runnable) = queue.pop() else {
                    break;
                };
                self.schedule(runnable, Place::Anywhere);
            }
        }
    }

    /// Called before a task of class `priority` is queued: from the first one not `Normal`
    /// on, workers look at the class queues.
    fn note_class(&self, priority: Priority) {
        // Acquire: pairs with the Release store below (only a shortcut: a stale `false` just
        // stores again).
        if priority != Priority::Normal && !self.classes_used.load(Ordering::Acquire) {
            // Release, before the push: a worker that sees the task (acquiring the queue's
            // push) sees the flag too, and so looks at the class queues.
            self.classes_used.store(true, Ordering::Release);
        }
    }

    /// The injector for tasks of class `priority`.
    fn injector_for(&self, priority: Priority) -> &Queue {
        match priority {
            Priority::High => &self.injector_high,
            Priority::Normal => &self.injector,
            Priority::Idle => &self.injector_low,
        }
    }

    /// Pushes onto one of the injectors and wakes an idle core if nobody searches.
    fn inject(&self, injector: &Queue, runnable: Runnable) {
        push(injector, runnable);
        // SeqCst: pairs with the fence in `Idle::stop_searching` and `Core::park`.
        fence(Ordering::SeqCst);
        if self.idle.should_wake_sibling() {
            self.wake_sibling(self.cores.len());
        }
    }

    /// Whether a task of a class other than `Normal` was ever scheduled.
    pub(crate) fn classes_used(&self) -> bool {
        // Acquire: pairs with the Release store in `note_class`.
        self.classes_used.load(Ordering::Acquire)
    }

    /// Wakes an idle online core, other than `except`, to search for work. Returns whether one
    /// woke.
    ///
    /// A core taken offline after the count was read may be woken: its worker passes the
    /// search on as it goes offline (see `Worker::go_offline`).
    pub(crate) fn wake_sibling(&self, except: usize) -> bool {
        let n = self.online();
        for offset in 1..=n {
            let index = (except + offset) % n;
            if index == except {
                continue;
            }
            let core = &self.cores[index];
            let state = core.state();
            if state.running() == 0 && state.idle() > 0 {
                self.idle.start_searching();
                if core.wake_one(&self.idle, Wake::Search) {
                    return true;
                }
                self.idle.stop_searching();
            }
        }
        false
    }

    /// The last look of a worker of `here` about to park (after its fence), or of a handoff:
    /// whether the worker should stay up, because another core's queue or the injector has
    /// work, or because shutdown began after the worker last checked (shutdown notes, step 1:
    /// `begin_shutdown` wakes only the workers already parked when it drains the idle stacks,
    /// under the same lock the parking worker pushed itself with).
    pub(crate) fn recheck(&self, here: usize) -> Recheck {
        self.recheck_parking(here, false)
    }

    /// [`Shared::recheck`] for a worker of `here` about to park while its core has work of its
    /// own (`work_here`): then it only needs to know whether shutdown began, and skips the look
    /// at the other cores (which may wait a little on each, see `Core::next_is_stuck`).
    /// A worker of an offline core never stays up for other cores' work.
    pub(crate) fn recheck_parking(&self, here: usize, work_here: bool) -> Recheck {
        if self.is_shutdown() {
            Recheck::Stop
        } else if !work_here && self.is_online(here) && self.has_stealable_work(here, true) {
            Recheck::Elsewhere
        } else {
            Recheck::Nothing
        }
    }

    /// Whether any queue a core could steal from holds work: an injector or another core's
    /// stealable queues. `patient` (a worker about to park) counts another core's next-task
    /// slot only if that core is stuck in one poll, so that a parking worker does not stay up
    /// for a slot its owner is about to take; otherwise (a hint, on busier paths) a full slot
    /// counts at once.
    pub(crate) fn has_stealable_work(&self, except: usize, patient: bool) -> bool {
        !self.injector.is_empty()
            || !self.injector_high.is_empty()
            || !self.injector_low.is_empty()
            || self
                .cores
                .iter()
                .any(|core| core.index() != except && core.has_stealable_work(patient))
    }

    /// Takes a task for core `here` from the injector, moving a batch into its local queue.
    pub(crate) fn take_from_injector(&self, here: usize) -> Option<Runnable> {
        queue::steal_into(&self.injector, &self.cores[here].queue)
    }

    /// Searches beyond core `here` for `High` then `Normal` work: the injectors, then the other
    /// cores' queues, taking a batch at a time; `Normal` first when `high_first` is false (the
    /// core ran its `High` burst). `Idle` work is [`Shared::search_idle`]'s.
    pub(crate) fn search(&self, here: usize, high_first: bool) -> Option<Runnable> {
        if !high_first && self.classes_used() {
            // The core ran its `High` burst: a `Normal` task first, if there is one.
            if let Some(found) = self.take_from_injector(here).or_else(|| self.steal(here)) {
                return Some(found);
            }
        }
        if self.classes_used() {
            let high = &self.cores[here].high.queue;
            let found = queue::steal_into(&self.injector_high, high).or_else(|| {
                self.steal_with(here, |core| queue::steal_into(&core.high.queue, high))
            });
            if found.is_some() {
                return found;
            }
        }
        self.take_from_injector(here).or_else(|| self.steal(here))
    }

    /// The last resort of core `here`, once nothing of a higher class is runnable on it or
    /// elsewhere: its own `Idle` tasks, then the `Idle` injector, then other cores' `Idle`
    /// queues.
    pub(crate) fn search_idle(&self, here: usize) -> Option<Runnable> {
        if !self.classes_used() {
            return None;
        }
        let low = &self.cores[here].low;
        low.pop()
            .or_else(|| queue::steal_into(&self.injector_low, &low.queue))
            .or_else(|| {
                self.steal_with(here, |core| queue::steal_into(&core.low.queue, &low.queue))
            })
    }

    /// Steals a batch of `Normal` tasks for core `here` from the other cores' local queues, or
    /// a victim's next-task slot when its queue is empty and its worker is stuck in one poll.
    pub(crate) fn steal(&self, here: usize) -> Option<Runnable> {
        let dest = &self.cores[here].queue;
        self.steal_with(here, |victim| {
            queue::steal_into(&victim.queue, dest).or_else(|| victim.steal_next())
        })
    }

    /// Tries `take` on each core other than `here`, from a different victim each time so one
    /// busy core is not always robbed first.
    fn steal_with(
        &self,
        here: usize,
        take: impl Fn(&Core) -> Option<Runnable>,
    ) -> Option<Runnable> {
        let n = self.cores.len();
        let start = fastrand_index(n);
        (0..n)
            .map(|i| (start + i) % n)
            .filter(|&victim| victim != here)
            .find_map(|victim| take(&self.cores[victim]))
            .inspect(|_| Counters::add(&self.cores[here].counters.steals, 1))
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
        self.idle.bell.ring();
    }

    /// Wakes every parked worker (shutdown).
    pub(crate) fn wake_all_workers(&self) {
        for core in self.cores.iter() {
            core.wake_all();
        }
    }

    /// After a section's handoff on `core` (eager or by the monitor): if no spare was there,
    /// see [`Shared::no_spare`]; and the reactor's duty passes on, since the blocked worker
    /// may be the one that drives it ([`Reactor::hand_over_duty`]).
    pub(crate) fn after_hand_off(&self, core: usize, outcome: HandOff) {
        if outcome == HandOff::NoSpare {
            self.no_spare(core);
        }
        #[cfg(not(loom))]
        crate::reactor::Reactor::get().hand_over_duty();
    }

    /// A handoff found no spare on `core`: count a cap hit if the caps forbid another thread,
    /// otherwise ring the monitor so it starts one.
    fn no_spare(&self, core: usize) {
        let core = &self.cores[core];
        if self.at_thread_cap(core) {
            Counters::add(&core.counters.cap_hits, 1);
            crate::trace::event(core.index(), crate::trace::Event::CapHit);
        } else {
            self.idle.bell.ring();
        }
    }

    /// The detection threshold, if the runtime detects polls that block outside sections.
    pub(crate) fn detection_threshold(&self) -> Option<Duration> {
        self.config
            .detect
            .then_some(self.config.detection_threshold)
    }

    /// Whether `core` may not have another worker thread.
    pub(crate) fn at_thread_cap(&self, core: &Core) -> bool {
        let total: u64 = self.cores.iter().map(|c| c.state().workers()).sum();
        core.state().workers() >= self.config.max_threads_per_core as u64
            || total >= self.config.max_threads as u64
    }

    /// Keeps a worker thread's handle to join at shutdown.
    pub(crate) fn add_thread(&self, thread: std::thread::JoinHandle<()>) {
        self.threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(thread);
    }

    /// Joins the worker threads that have exited (reaped spares).
    pub(crate) fn join_finished_threads(&self) {
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        let (finished, running): (Vec<_>, Vec<_>) =
            threads.drain(..).partition(|t| t.is_finished());
        *threads = running;
        drop(threads);
        for thread in finished {
            let _ = thread.join();
        }
    }

    /// Takes every worker thread handle, for shutdown to join.
    pub(crate) fn take_threads(&self) -> Vec<std::thread::JoinHandle<()>> {
        std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Cancels every task that is not running, on this thread (shutdown notes: cancelling):
    /// the work queues' held tasks, every queued task and every registered task, round after
    /// round until a round finds nothing more to cancel.
    pub(crate) fn cancel_pending(&self) {
        for frontend in self.frontends() {
            frontend.cancel_held();
        }
        loop {
            let mut cancelled = self.cancel_queued();
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
    fn queues(&self) -> impl Iterator<Item = &Queue> {
        let injectors = [
            &self.to_cancel,
            &self.injector,
            &self.injector_high,
            &self.injector_low,
        ];
        injectors
            .into_iter()
            .chain(self.cores.iter().flat_map(core_queues))
    }

    /// Whether core `index` is starved: it has work queued and no worker running, parked or
    /// being started, while one is in a section (its baton passed on, and no spare could be
    /// had: a thread cap, or the OS refusing threads). Its queue then waits for a section to
    /// end. Work in the injectors counts for a core once no online core has a worker running
    /// or parked (an offline core's parked spares take none of it). The monitor calls the
    /// rescuers for a core starved past the mayday delay.
    pub(crate) fn is_starved(&self, index: usize) -> bool {
        let stuck = |core: &Core| {
            let state = core.state();
            state.running() == 0 && state.idle() == 0 && state.starting() == 0
        };
        let core = &self.cores[index];
        stuck(core)
            && core.state().in_section() > 0
            && (core.has_work()
                || (self.has_injected_work() && self.cores[..self.online()].iter().all(stuck)))
    }

    /// Whether any injector holds a task.
    fn has_injected_work(&self) -> bool {
        !self.injector.is_empty() || !self.injector_high.is_empty() || !self.injector_low.is_empty()
    }

    /// Takes the tasks marked with queue `id` ([`TaskMeta::queue_id`](queue::TaskMeta)), a
    /// rescuer's queue, out of the injectors and the queues of `cores`, leaving the other tasks in their order, for the
    /// rescuer to run. Wakes the cores for what is left, in case a worker came back from its
    /// section and parked while its queue was briefly empty.
    pub(crate) fn take_marked(&self, cores: &[usize], id: u32) -> Vec<Runnable> {
        let mut taken = Vec::new();
        let injectors = [&self.injector_high, &self.injector, &self.injector_low];
        let scanned = injectors.into_iter().chain(
            cores
                .iter()
                .flat_map(|&core| core_queues(&self.cores[core])),
        );
        for queue in scanned {
            for _ in 0..queue.len() {
                let Ok(runnable) = queue.pop() else {
                    break;
                };
                if runnable.metadata().queue_id() == id {
                    taken.push(runnable);
                } else {
                    // Only the next-task slot and the `Normal` local queue are bounded; what
                    // they no longer hold goes to the injector, as on any overflow.
                    queue::push_or_spill(queue, &self.injector, runnable);
                }
            }
        }
        for &core in cores {
            self.notify_here(core);
        }
        taken
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
            injector_depth: self.injector.len()
                + self.injector_high.len()
                + self.injector_low.len(),
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
pub(crate) fn core_queues(c: &Core) -> [&Queue; 7] {
    [
        &c.lifo,
        &c.queue,
        &c.pinned,
        &c.high.queue,
        &c.high.pinned,
        &c.low.queue,
        &c.low.pinned,
    ]
}

/// Pushes onto an unbounded queue.
fn push(queue: &Queue, runnable: Runnable) {
    queue
        .push(runnable)
        .unwrap_or_else(|_| panic!("baton's unbounded queues are never closed or full"));
}

/// Puts a task scheduled from inside a poll in `core`'s next-task slot: a new task
/// (`NextIfFree`) only if the slot is free (else it is handed back, `Err`, for the back of the
/// queue, so tasks spawned in a row keep their order); a woken one (`Next`) always, moving a
/// task already there to the back of the queue (spilling into `overflow`). Returns whether a
/// task was moved.
fn place_next(
    core: &Core,
    overflow: &Queue,
    runnable: Runnable,
    place: Place,
) -> Result<bool, Runnable> {
    if place == Place::NextIfFree {
        match core.lifo.push(runnable) {
            Ok(()) => Ok(false),
            Err(PushError::Full(r) | PushError::Closed(r)) => Err(r),
        }
    } else {
        Ok(queue::put_in_slot(
            &core.lifo,
            &core.queue,
            overflow,
            runnable,
        ))
    }
}

/// A cheap pseudo-random index below `n`, for spreading steals.
fn fastrand_index(n: usize) -> usize {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u32> = const { Cell::new(0x9E37_79B9) };
    }
    STATE.with(|s| {
        // xorshift32
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.set(x);
        x as usize % n.max(1)
    })
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
                    Spawn::at(Location::caller()),
                );
                if i % 2 == 0 {
                    runnable.metadata().set_queue_id(RESCUER);
                }
                push(if i == 0 { &core.lifo } else { &core.pinned }, runnable);
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
