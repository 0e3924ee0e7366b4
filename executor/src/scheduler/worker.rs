//! The worker loop: a thread of one core that runs the core's tasks while it holds the baton.
//!
//! This file holds the thread and its loop: finding the next task, searching, parking and
//! retiring. Beside it, [`poll`] runs one task (its admission, the publishing of the poll for
//! detection, watched and handed-off polls), and [`pace`] times the looks at the injector.
//!
//! # One turn of the loop
//!
//! 1. **Look outside.** Every so many polls the worker looks at the injector first, and polls the
//!    reactor without waiting if it has not for [`REACTOR_INTERVAL`], so I/O, timers and tasks from
//!    outside cannot be starved by tasks that keep waking each other. How many is retuned at each
//!    look from how long the polls since the previous look took, so that looks come about every
//!    [`INJECTOR_TARGET`] of polling: every [`INJECTOR_INTERVAL`] polls when polls are short, every
//!    [`MIN_INJECTOR_INTERVAL`] when they are long. The clock is read once per look, not once per
//!    poll. The reactor's poll is a system call (half a microsecond or so): at every look, short
//!    polls would spend a tenth of their time in it.
//! 2. **Local work.** Otherwise it takes its core's next-task slot (at most [`MAX_LIFO_STREAK`]
//!    times in a row), then pops its core's queues, alternating the pinned queue and the local
//!    queue first, so neither starves the other. A task that wakes itself went to the back of the
//!    local queue, behind everything already queued. Before all that it serves its core's `High`
//!    tasks, up to [`HIGH_BURST`] in a row while `Normal` tasks wait on the core or in the
//!    injector. The streak is the core's, counted by whichever of its workers runs the task, so the
//!    bound holds while a section or a takeover has two workers running the core, and a look at the
//!    injectors or a search honours it too. Once classes are used, a worker whose core was last
//!    swept before a task was raised (priority inheritance, see [`crate::core::boost`]) sweeps the
//!    core's lower queues first.
//! 3. **Search.** With nothing local, it searches: the injector, then the other cores' local queues
//!    (and, when their queues are empty, their next-task slots), taking a batch at a time, `High`
//!    work first. Only when all that finds nothing does it run `Idle` tasks: its own core's, then
//!    the `Idle` injector's, then other cores'.
//! 4. **Park.** With nothing anywhere, it polls the reactor once without waiting if another core
//!    runs (ready I/O is the likeliest work then), then parks on its core's spare stack (the core
//!    protocol in [`crate::core`]) and waits to be handed the baton again, in the reactor's seat if
//!    it is free.
//! 5. **Keep working.** After each poll it applies `keep_working`: if another worker of the core
//!    also runs (it came back from a blocking section while its replacement ran), one of the two
//!    retires to the spare stack.
//! 6. **Offline.** At each poll boundary, if its core went offline ([`Handle::set_cores`]), it
//!    moves the core's queued tasks on ([`Shared::evacuate`]) and parks until the core is online
//!    again.

use std::io;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::compat::WorkerContext;
use crate::context;
use crate::core::{Core, SectionWord};
use crate::detect::WorkerEvent;
use crate::handle::Handle;
use crate::park::{Parker, WakeFor};
use crate::queue::{self, Priority, Runnable};
use crate::reactor::Reactor;
use crate::scheduler::Shared;
use crate::section::WorkerHook;
use crate::stats::Counters;
use crate::sync::Arc;
use crate::sys;

mod pace;
mod poll;

use pace::InjectorPace;

/// The most polls a worker makes between looks at the injector (when polls are short).
const INJECTOR_INTERVAL: u32 = 61;
/// The fewest polls a worker makes between looks at the injector (when polls are long), so that
/// a flood of tasks from outside still leaves room for the core's own.
const MIN_INJECTOR_INTERVAL: u32 = 2;
/// How much polling time a worker aims to spend between looks at the injector: the bound, in
/// time, on how long a task from outside (or ready I/O, or a due timer) waits behind a busy
/// core's own tasks, as long as the polls since the previous look were typical.
const INJECTOR_TARGET: Duration = Duration::from_micros(200);
/// The least time between two polls of the reactor by a busy worker (at its looks at the
/// injector): the bound on how long ready I/O or a due timer waits behind short polls, on top
/// of the look's own interval.
const REACTOR_INTERVAL: Duration = Duration::from_micros(50);
/// The most tasks a worker takes from its core's next-task slot in a row before it turns to
/// the queue, so two tasks waking each other cannot starve the rest.
const MAX_LIFO_STREAK: u32 = 3;
/// The most `High` tasks a worker runs in a row while `Normal` tasks wait on its core: under a
/// flood of `High` work, `Normal` still gets one poll in every `HIGH_BURST + 1`.
pub(crate) const HIGH_BURST: u32 = 16;

/// Starts a new worker thread for `core`; once it runs, it parks on the core's spare stack.
///
/// The thread counts towards the core's workers at once (so the thread caps hold, and the
/// monitor starts no second spare meanwhile), but it can be woken only once it has parked
/// itself ([`Core::add_worker`]). If the OS refuses the thread, the counts are as they were
/// and the core's `spawn_failures` counts it. `started` is dropped by the thread once it has
/// parked itself (or found the runtime shutting down), or with the thread's closure if it was
/// refused, so whoever holds its receiver can wait for that.
pub(crate) fn spawn(
    shared: &Arc<Shared>,
    core: usize,
    started: Option<mpsc::Sender<()>>,
) -> io::Result<std::thread::JoinHandle<()>> {
    let config = &shared.config;
    let mut builder = std::thread::Builder::new().name(format!("{}-{core}", config.thread_name));
    if let Some(size) = config.stack_size {
        builder = builder.stack_size(size);
    }
    let cpus = config.placement.get(core).cloned().flatten();
    let worker = Worker {
        shared: Arc::clone(shared),
        core,
        parker: Arc::new(Parker::new()),
        word: Arc::new(SectionWord::new()),
        searching: false,
        tick: 0,
        pace: InjectorPace::new(),
        next_reactor_poll: Instant::now(),
        unflushed_polls: 0,
        lifo_streak: 0,
        peers: Vec::new(),
        named: false,
        switches: None,
        switches_refused: false,
    };
    let target = &shared.cores[core];
    target.reserve_worker();
    builder
        .spawn(move || {
            if let Some(cpus) = cpus {
                sys::pin_to_cpus(&cpus);
            }
            worker.run(started);
        })
        .inspect_err(|_| target.cancel_worker())
}

/// One worker thread's private state.
struct Worker {
    shared: Arc<Shared>,
    /// The core this worker belongs to, for its whole life.
    core: usize,
    parker: Arc<Parker>,
    /// This worker's section word, shared with the monitor.
    word: Arc<SectionWord>,
    /// Whether this worker counts in `Siblings::searching`.
    searching: bool,
    /// Turns of the loop made (for alternating the local queues, and for stealers).
    tick: u32,
    /// When to look at the injector next.
    pace: InjectorPace,
    /// When this worker polls the reactor next, at a look (see [`REACTOR_INTERVAL`]).
    next_reactor_poll: Instant,
    /// Polls not yet added to the core's counter.
    unflushed_polls: u32,
    /// Tasks taken from the next-task slot in a row.
    lifo_streak: u32,
    /// Per core, the poll turn this worker last saw there and since when (see
    /// [`Worker::watch_peers`]); empty while detection is off or the runtime has one core.
    peers: Vec<(u32, Instant)>,
    /// Whether the task this worker polled last had a name (its section word shows it).
    named: bool,
    /// This thread's context-switch event, once opened (see `crate::detect`).
    switches: Option<WorkerEvent>,
    /// Whether this worker gave up on a context-switch event (none to be had).
    switches_refused: bool,
}

impl Worker {
    fn core(&self) -> &Core {
        &self.shared.cores[self.core]
    }

    /// The thread's body. `started` is dropped once the worker has parked itself.
    fn run(mut self, started: Option<mpsc::Sender<()>>) {
        let shared = Arc::clone(&self.shared);
        let here = self.core;
        let core = &shared.cores[here];
        core.add_word(Arc::clone(&self.word));
        let joined = core.add_worker(
            &self.parker,
            &shared.siblings,
            || shared.is_shutdown(),
            || shared.recheck(here),
        );
        drop(started);
        if !joined {
            core.remove_word(&self.word);
            return;
        }
        let _worker = context::enter_worker(self.shared.id, self.core);
        let _word = context::enter_word(&self.word);
        let _handle = Handle::from_shared(Arc::clone(&self.shared)).enter();
        let hook = Rc::new(WorkerHook::new(
            Arc::clone(&self.shared),
            self.core,
            Arc::clone(&self.word),
        ));
        let _hook = baton_blocking::hook::install(hook.clone());
        if let Some(probe) = sys::ThreadProbe::current() {
            self.word.set_probe(probe);
        }
        if let Some(start) = &self.shared.config.on_thread_start {
            start();
        }
        // Other runtimes' contexts (the `tokio` feature), entered at the first wake-up.
        let mut foreign = WorkerContext::new();
        // A new worker starts parked (the core protocol in `crate::core`).
        let mut wake = Parker::park(&self.parker);
        while wake != WakeFor::Exit && !self.shared.is_shutdown() {
            foreign.ensure(&shared.tokio, || {
                Handle::from_shared(Arc::clone(&shared)).thread_start()
            });
            self.searching = wake == WakeFor::Search;
            wake = self.work(core, &hook);
        }
        self.flush();
        self.core().remove_word(&self.word);
        if let Some(stop) = &self.shared.config.on_thread_stop {
            stop();
        }
    }

    /// Runs tasks while this worker holds the baton of `core` (its own, looked up once per
    /// thread rather than at every poll); returns how it was woken after it last parked.
    fn work(&mut self, core: &Core, hook: &WorkerHook) -> WakeFor {
        self.pace.restart(core.injector_interval());
        loop {
            if self.shared.is_shutdown() {
                return WakeFor::Work;
            }
            if !self.shared.is_online(self.core) {
                return self.go_offline();
            }
            let Some(runnable) = self.next_task().or_else(|| self.look_at_io()) else {
                self.flush();
                return self.park();
            };
            self.run_task(runnable, core, hook);
            // `keep_working`: a worker back from a section retires if its replacement runs.
            if !core.state().keep_working() {
                self.flush();
                if let Some(wake) = self.retire() {
                    return wake;
                }
            }
        }
    }

    /// *Look outside*, *local work* and *search*: the next task to run, if there is one anywhere.
    fn next_task(&mut self) -> Option<Runnable> {
        if !self.shared.classes_used() {
            return self.find_task(false);
        }
        self.next_task_in_classes()
    }

    /// [`Worker::next_task`] once classes are used: sweeps raised tasks out of the lower
    /// queues if one was raised since the core's last sweep, counts the class of the task
    /// found for the `High` burst, and marks the thread with it (priority inheritance: a `High`
    /// task's waits raise what they await).
    #[inline(never)]
    fn next_task_in_classes(&mut self) -> Option<Runnable> {
        if self.shared.boosts.due(self.core) {
            self.sweep_raised();
        }
        let runnable = self.find_task(true)?;
        let priority = runnable.metadata().priority();
        self.core().count_class(priority);
        crate::task::boost::mark_polling(priority);
        Some(runnable)
    }

    /// Priority inheritance: a task was raised to `High` since this core last looked, so raised
    /// tasks queued behind lower work move to the `High` queues (see [`crate::core::boost`]).
    #[cold]
    fn sweep_raised(&self) {
        let shared = &*self.shared;
        shared.boosts.sweep(self.core(), &shared.injectors);
    }

    /// *Look outside*, *local work* and *search* for [`Worker::next_task`], which counts the class
    /// of what this returns.
    fn find_task(&mut self, classes: bool) -> Option<Runnable> {
        self.tick = self.tick.wrapping_add(1);
        let look = self.pace.turn();
        if let Some(now) = look {
            self.core().set_injector_interval(self.pace.interval);
            self.watch_peers(now);
        }
        let shared = &*self.shared;
        let core = &shared.cores[self.core];
        // `High` first, unless the core ran `HIGH_BURST` of them in a row while `Normal` work
        // waits (on this core or in the injector).
        let high_first = classes
            && !(core.high_streak_reached(HIGH_BURST)
                && (core.has_normal_work() || !shared.injector_for(Priority::Normal).is_empty()));
        if let Some(now) = look {
            if now >= self.next_reactor_poll {
                // Busy workers drive I/O and timers too, without waiting (the reactor's duty,
                // see `crate::reactor`).
                self.next_reactor_poll = now + REACTOR_INTERVAL;
                let _ = Reactor::get().poll();
            }
            let high = high_first
                .then(|| shared.injector_for(Priority::High).pop().ok())
                .flatten();
            if let Some(runnable) =
                high.or_else(|| shared.injector_for(Priority::Normal).pop().ok())
            {
                return Some(runnable);
            }
        }
        if high_first {
            if let Some(runnable) = core.classes[Priority::High].pop() {
                self.end_search();
                return Some(runnable);
            }
        }
        if self.lifo_streak < MAX_LIFO_STREAK {
            if let Some(runnable) = core.lifo.take() {
                self.lifo_streak += 1;
                self.end_search();
                return Some(runnable);
            }
        }
        self.lifo_streak = 0;
        let normal = &core.classes[Priority::Normal];
        let local = if self.tick % 2 == 0 {
            queue::pop_if_any(&normal.pinned).or_else(|| queue::pop_if_any(&normal.queue))
        } else {
            queue::pop_if_any(&normal.queue).or_else(|| queue::pop_if_any(&normal.pinned))
        };
        if let Some(runnable) = local.or_else(|| core.lifo.take()) {
            self.end_search();
            return Some(runnable);
        }
        if !self.searching {
            self.searching = true;
            shared.siblings.start_searching();
        }
        let found = shared
            .search(self.core, high_first)
            .or_else(|| shared.search_idle(self.core));
        if found.is_some() {
            self.end_search();
        }
        found
    }

    /// Detection's cheap half (see [`crate::detect`]): at each look at the injector (every
    /// [`INJECTOR_TARGET`] or so of polling), a busy worker glances at the other cores' poll
    /// turns. One whose core still runs the poll it ran at least the detection threshold ago
    /// is flagged for the monitor, whose bell rings. So while every core runs, the cores watch
    /// one another for free and the monitor need not wake every threshold to find a poll that
    /// blocks.
    fn watch_peers(&mut self, now: Instant) {
        let shared = &*self.shared;
        let Some(threshold) = shared.detection_threshold() else {
            return;
        };
        if shared.cores.len() < 2 {
            return;
        }
        if self.peers.len() != shared.cores.len() {
            self.peers = shared.cores.iter().map(|c| (c.turn(), now)).collect();
            return;
        }
        for (core, seen) in shared.cores.iter().zip(self.peers.iter_mut()) {
            if core.index() == self.core || !shared.is_online(core.index()) {
                continue;
            }
            let turn = core.turn();
            if turn != seen.0 || core.state().running() == 0 {
                *seen = (turn, now);
            } else if now.saturating_duration_since(seen.1) >= threshold {
                // Once per threshold at most, while the same poll goes on.
                seen.1 = now;
                core.flag_overdue_poll();
                shared.siblings.bell.ring();
            }
        }
    }

    /// *Park*, first half: before parking while another core runs, polls the reactor without
    /// waiting: I/O that became ready while this worker ran its queue is the likeliest work, and
    /// collecting it here saves a park and a wake-up. There is no spinning here: a worker that
    /// parks takes the reactor's seat if it is free, and the seat spins while spinning pays (the
    /// reactor's spin before a blocking wait), watching for I/O and for new tasks (a task queued
    /// for a parked worker notifies the reactor) at once.
    fn look_at_io(&mut self) -> Option<Runnable> {
        let shared = &*self.shared;
        let others_run = shared
            .cores
            .iter()
            .any(|core| core.index() != self.core && core.state().running() > 0);
        if !others_run || shared.is_shutdown() {
            return None;
        }
        match Reactor::get().poll() {
            Ok(true) => self.next_task(),
            // Nothing became ready: the search just made stands.
            Ok(false) | Err(_) => None,
        }
    }

    /// Leaves the searching state; the last searcher to find work wakes another core if work
    /// remains, so parallelism ramps up one core at a time.
    fn end_search(&mut self) {
        if !self.searching {
            return;
        }
        self.searching = false;
        if self.shared.siblings.stop_searching() && self.shared.has_stealable_work(self.core, false)
        {
            self.shared.wake_sibling(self.core);
        }
    }

    /// Adds locally counted polls to the core's counter.
    fn flush(&mut self) {
        if self.unflushed_polls > 0 {
            Counters::add(&self.core().counters.polls, u64::from(self.unflushed_polls));
            self.unflushed_polls = 0;
        }
    }

    /// Leaves the searching state without looking for more (the worker is about to park).
    fn drop_search(&mut self) {
        if self.searching {
            self.searching = false;
            self.shared.siblings.stop_searching();
        }
    }

    /// *Park*: parks until handed the baton again; returns why it was woken.
    fn park(&mut self) -> WakeFor {
        self.drop_search();
        let shared = &*self.shared;
        let here = self.core;
        shared.cores[here].park(&self.parker, &shared.siblings, |work_here| {
            shared.recheck_parking(here, work_here)
        })
    }

    /// *Offline*: the core is offline. Stops searching (passing the search on if it was the last
    /// searcher), moves the core's tasks on and parks. Parking's last look, after its fence,
    /// sees a task queued here meanwhile and wakes this worker to move it too.
    fn go_offline(&mut self) -> WakeFor {
        self.flush();
        self.end_search();
        self.shared.evacuate(self.core);
        self.park()
    }

    /// *Keep working*: retires to the spare stack if another worker of the core runs; returns why
    /// it was woken afterwards, or `None` if it keeps the baton.
    fn retire(&mut self) -> Option<WakeFor> {
        self.drop_search();
        let shared = &*self.shared;
        let here = self.core;
        shared.cores[here].retire(&self.parker, &shared.siblings, |work_here| {
            shared.recheck_parking(here, work_here)
        })
    }
}
