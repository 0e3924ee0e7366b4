//! The ordered queue's runner protocol under loom (`workqueue/runner.rs`, `workqueue/line.rs`).
//!
//! The real `Runner` runs async-task `Runnable`s inside an `Inner` that needs a whole runtime
//! (`Shared`), so these models do not drive it: they mirror its steps, one for one, on a model of
//! the state it shares under the queue's lock (`LineModel`, the fields of `line::Line`). What each
//! step mirrors:
//!
//! - [`Ordered::resume`]: `runner::resume`, the schedule function of a task woken from
//!   elsewhere: under the lock it puts the task in `line.resumed` and clones `line.runner`,
//!   and wakes the runner after unlocking (`Then::Wake`). A wake-up during the task's own run
//!   stays on the runner's thread (`RESUMED`, as async-task defers it to the end of the run).
//! - [`RunnerModel::poll`]: `Runner::poll`: runs the task in flight again if it was resumed
//!   while it ran, else takes `line.resumed` under the lock (`Inner::report`) and, if that is
//!   empty, returns `Pending`, relying on its waker; with no task in flight it starts the next.
//! - [`RunnerModel::next`]: `Runner::next`: takes the whole line under the lock, or, if it is
//!   empty, sets `line.runner = None` and exits.
//! - [`Ordered::admit`]: `Inner::admit` (ordered): under the lock, pushes the task and starts
//!   a new runner if `line.runner` is `None`, storing the new runner's waker there.
//!
//! The runner's waker is a real `Waker` that unparks the loom thread that started the runner and
//! polls it (with `super::workqueue::block_on`), like a runner task's waker scheduling it again: a
//! wake-up while it polls makes it poll again (loom's unpark token). A task is a one-shot wait (it
//! returns `Pending` until an event fires, then completes) with async-task's
//! running/woken-while-running state. Not modelled: the runner's budget (its yield goes through the
//! same `Pending` and waker), the done-task reports for flush and drain (the flush model covers
//! their wake-up), shutdown.
//!
//! A lost wake-up shows as a loom deadlock (the runner parks forever); a task run twice, out
//! of order or beside another, or left in the line with no runner, fails an assertion.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::model;
use super::workqueue::block_on;
use crate::sync::{lock, Arc, AtomicBool, Mutex, Ordering};

/// The fields of `line::Line`, with task ids for `Runnable`s.
#[derive(Default)]
struct LineModel {
    /// Tasks accepted and not yet taken by the runner, oldest first.
    waiting: VecDeque<u32>,
    /// The runner's waker while a runner is active.
    runner: Option<Waker>,
    /// The task in flight, woken from elsewhere while the runner waits for it.
    resumed: Option<u32>,
}

/// One task: its future (a one-shot wait when `pends`) and the part of async-task's state
/// that decides where its wake-up goes, under one lock.
#[derive(Default)]
struct JobState {
    /// The task waits for `fired` (else it completes at its first poll).
    pends: bool,
    fired: bool,
    /// It returned `Pending` and its waker is registered with the event.
    listening: bool,
    /// Being run by the runner (async-task's RUNNING).
    running: bool,
    /// Woken while it was being run: the runner schedules it at the end of the run.
    woken_while_running: bool,
    polls: u32,
    done: bool,
}

/// What the model's threads share.
struct Ordered {
    line: Mutex<LineModel>,
    jobs: Vec<Mutex<JobState>>,
    /// Set while a task is polled: catches two tasks run at once.
    job_running: AtomicBool,
    /// Set while a runner polls (cleared under the lock when it gives the line up): catches
    /// two runners at once.
    runner_polling: AtomicBool,
    /// The ids of the tasks that completed, in order.
    log: Mutex<Vec<u32>>,
}

impl Ordered {
    /// A queue of `jobs` tasks (those in `pending` wait for an event), none accepted yet.
    fn new(jobs: u32, pending: &[u32]) -> Ordered {
        Ordered {
            line: Mutex::new(LineModel::default()),
            jobs: (0..jobs)
                .map(|id| {
                    Mutex::new(JobState {
                        pends: pending.contains(&id),
                        ..JobState::default()
                    })
                })
                .collect(),
            job_running: AtomicBool::new(false),
            runner_polling: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        }
    }

    /// `Inner::admit` for an ordered queue: pushes task `id` and, if the line had no runner,
    /// returns a new one, whose waker (unparking this thread, which will run it) is now the
    /// line's.
    fn admit(queue: &Arc<Self>, id: u32) -> Option<RunnerModel> {
        let mut line = lock(&queue.line);
        line.waiting.push_back(id);
        if line.runner.is_some() {
            return None;
        }
        line.runner = Some(unpark_waker());
        Some(RunnerModel::new(queue.clone()))
    }

    /// The event task `id` waits for fires, on a thread other than the runner's: wakes the
    /// task as async-task would, through `runner::resume` if it is not being run.
    fn fire(&self, id: u32) {
        let resume = {
            let mut job = lock(&self.jobs[id as usize]);
            job.fired = true;
            if !std::mem::take(&mut job.listening) {
                // Not waiting yet: its next poll sees the event.
                false
            } else if job.running {
                // async-task defers the schedule to the runner's thread (`RESUMED`).
                job.woken_while_running = true;
                false
            } else {
                true
            }
        };
        if resume {
            self.resume(id);
        }
    }

    /// `runner::resume` (with its schedule function's `Then::Wake`), off the runner's thread.
    fn resume(&self, id: u32) {
        let runner = {
            let mut line = lock(&self.line);
            let runner = line
                .runner
                .clone()
                .expect("a runner while a task is in flight");
            line.resumed = Some(id);
            runner
        };
        runner.wake();
    }

    /// What every schedule must end with: each task ran to completion once, in order, and the
    /// line is idle.
    fn check_end(&self, jobs: u32) {
        assert_eq!(
            *lock(&self.log),
            (0..jobs).collect::<Vec<_>>(),
            "each once, in order"
        );
        for (id, job) in self.jobs.iter().enumerate() {
            let job = lock(job);
            assert!(job.done, "task {id} did not complete");
            assert!(
                job.polls <= 1 + u32::from(job.pends),
                "task {id} polled without a wake-up"
            );
        }
        let line = lock(&self.line);
        assert!(line.waiting.is_empty(), "a task left in the line");
        assert!(line.runner.is_none(), "a runner left behind");
        assert!(line.resumed.is_none(), "a resumed task left behind");
    }
}

/// A waker that unparks this loom thread (the one that will poll the runner).
fn unpark_waker() -> Waker {
    /// Unparks the runner's loom thread.
    struct Unpark(loom::thread::Thread);

    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }

    Waker::from(std::sync::Arc::new(Unpark(loom::thread::current())))
}

/// The runner (`runner::Runner`), with ids for tasks.
struct RunnerModel {
    queue: Arc<Ordered>,
    /// Tasks taken from the line, not started yet.
    batch: VecDeque<u32>,
    /// The task in flight.
    current: Option<u32>,
    /// The task in flight, woken while it ran (`RESUMED`).
    resumed: Option<u32>,
}

impl RunnerModel {
    fn new(queue: Arc<Ordered>) -> RunnerModel {
        RunnerModel {
            queue,
            batch: VecDeque::new(),
            current: None,
            resumed: None,
        }
    }

    /// `Runner::next`: the next task, taking the whole line when the batch is empty; `None`
    /// once the line is empty (the runner gave it up).
    fn next(&mut self) -> Option<u32> {
        if let Some(id) = self.batch.pop_front() {
            return Some(id);
        }
        let mut line = lock(&self.queue.line);
        assert!(line.resumed.is_none(), "a task resumed with none in flight");
        if line.waiting.is_empty() {
            line.runner = None;
            // Release: pairs with the Acquire swap of the next runner's first poll (which
            // the lock orders after this anyway: it is started by an `admit` that found
            // `runner` empty).
            self.queue.runner_polling.store(false, Ordering::Release);
        } else {
            std::mem::swap(&mut self.batch, &mut line.waiting);
        }
        drop(line);
        self.batch.pop_front()
    }

    /// `Runner::run`: runs task `id` once (a poll inside async-task's RUNNING state).
    fn run(&mut self, id: u32) {
        let queue = &*self.queue;
        let job = &queue.jobs[id as usize];
        lock(job).running = true;
        // Acquire/Release: this swap pairs with the store below of the task run before;
        // exclusion itself comes from the protocol, which this checks.
        assert!(
            !queue.job_running.swap(true, Ordering::Acquire),
            "task {id} run beside another"
        );
        let done = {
            let mut job = lock(job);
            job.polls += 1;
            if !job.pends || job.fired {
                job.done = true;
                lock(&queue.log).push(id);
                true
            } else {
                job.listening = true;
                false
            }
        };
        queue.job_running.store(false, Ordering::Release);
        let woken = {
            let mut job = lock(job);
            job.running = false;
            std::mem::take(&mut job.woken_while_running)
        };
        if done {
            self.current = None;
        } else if woken {
            self.resumed = Some(id);
        }
    }
}

impl Future for RunnerModel {
    type Output = ();

    /// `Runner::poll` (without the budget).
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        // Acquire: pairs with the Release stores of the runner that polled (or exited) last.
        assert!(
            !this.queue.runner_polling.swap(true, Ordering::Acquire),
            "two runners at once"
        );
        loop {
            let id = if this.current.is_some() {
                match this.resumed.take() {
                    Some(id) => id,
                    // `Inner::report`: the task may have been resumed from elsewhere.
                    None => match lock(&this.queue.line).resumed.take() {
                        Some(id) => id,
                        None => {
                            // Release: pairs with the Acquire swap of the next poll.
                            this.queue.runner_polling.store(false, Ordering::Release);
                            // Woken from elsewhere later, through `line.resumed`.
                            return Poll::Pending;
                        }
                    },
                }
            } else {
                // `next` clears `runner_polling` if it gives the line up.
                let Some(id) = this.next() else {
                    return Poll::Ready(());
                };
                this.current = Some(id);
                id
            };
            this.run(id);
        }
    }
}

/// Starts the line's first runner on this thread's behalf: the line holds `ids` and its
/// runner's waker unparks this thread.
fn started(queue: &Arc<Ordered>, ids: &[u32]) -> RunnerModel {
    let mut runner = None;
    for &id in ids {
        if let Some(new) = Ordered::admit(queue, id) {
            runner = Some(new);
        }
    }
    runner.expect("the first spawn starts a runner")
}

#[test]
fn runner_waiting_races_a_wake_up_from_elsewhere() {
    // 20: in effect unbounded (90 schedules; a larger bound adds none).
    model(20, || {
        // Task 0 waits for an event that another thread fires, while the runner runs it,
        // finds it `Pending`, and decides whether to wait; task 1 follows it.
        let queue = Arc::new(Ordered::new(2, &[0]));
        let runner = started(&queue, &[0, 1]);
        let waker = {
            let queue = queue.clone();
            loom::thread::spawn(move || queue.fire(0))
        };
        block_on(runner);
        waker.join().unwrap();
        queue.check_end(2);
    });
}

#[test]
fn runner_exit_races_a_spawn() {
    // 20: in effect unbounded (65 schedules).
    model(20, || {
        // The runner runs task 0 and gives the line up while another thread spawns 1 and 2;
        // a spawn that finds no runner starts one, which that thread runs once it has spawned
        // (as a new runner goes to the spawner's next-task slot).
        let queue = Arc::new(Ordered::new(3, &[]));
        let runner = started(&queue, &[0]);
        let spawner = {
            let queue = queue.clone();
            loom::thread::spawn(move || {
                let started: Vec<_> = [1, 2]
                    .into_iter()
                    .filter_map(|id| Ordered::admit(&queue, id))
                    .collect();
                assert!(started.len() <= 1, "two runners started");
                for runner in started {
                    block_on(runner);
                }
            })
        };
        block_on(runner);
        spawner.join().unwrap();
        queue.check_end(3);
    });
}

#[test]
fn runner_exit_races_a_spawn_and_a_wake_up() {
    // 4 preemptions: 4,527 schedules, about 0.2 s (unbounded takes about 5 s).
    model(4, || {
        // Both races at once: task 0 waits for an event fired elsewhere, and a third thread
        // spawns task 1, which the runner runs or a new runner starts for.
        let queue = Arc::new(Ordered::new(2, &[0]));
        let runner = started(&queue, &[0]);
        let waker = {
            let queue = queue.clone();
            loom::thread::spawn(move || queue.fire(0))
        };
        let spawner = {
            let queue = queue.clone();
            loom::thread::spawn(move || {
                if let Some(runner) = Ordered::admit(&queue, 1) {
                    block_on(runner);
                }
            })
        };
        block_on(runner);
        waker.join().unwrap();
        spawner.join().unwrap();
        queue.check_end(2);
    });
}
