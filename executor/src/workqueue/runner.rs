//! An ordered queue's runner: one task that runs the queue's tasks one after another, inline,
//! as a channel consumer would, while each keeps its own [`JoinHandle`](crate::JoinHandle)
//! (output, abort, panics reported through `JoinError`).
//!
//! # How it works
//!
//! An ordered queue's tasks are allocated like any task but never scheduled on the cores:
//! their schedule function hands them to the runner. Spawning onto an idle line starts a
//! runner (a normal task with the queue's class and placement); the runner takes the whole
//! line at once under the state lock, runs the first task's `Runnable` in its own poll, and
//! goes on with the next only once that task's future was dropped (it completed, panicked or
//! was aborted); an aborted task is dropped instead of run, as a worker does. A task that
//! returns `Pending` keeps the turn:
//!
//! - if it woke itself while it ran (a yield), the runner runs it again at its next turn: the
//!   runner's budget ([`BUDGET`] runs or [`SLICE`] per poll, or the task's [cooperative
//!   budget](crate::coop), which its jobs share), not each yield, lets the core's other tasks
//!   run (like tokio's cooperative budget; measured: yielding the runner at every task's yield
//!   sends it through the core queue, and to the other core, once per task);
//! - otherwise the runner waits: whoever wakes the task puts its `Runnable` in the line's
//!   `resumed` slot and wakes the runner. The runner keeps the waiting task's waker (cloned
//!   in its wrapper's poll when it returns `Pending`, so a task that completes at once costs
//!   no clone), to cancel it if the runner is dropped.
//!
//! When the line is empty the runner reports and exits; the next spawn starts another.
//!
//! The runner keeps the core protocol's one running worker per core at task boundaries, as a
//! worker does at poll boundaries: once a task's section was handed off in this poll and the
//! core's replacement worker runs too, it starts no further task and ends its poll (rescheduled
//! at the back of the queue), so one of the two workers retires.
//!
//! Per task this costs the allocation, one `Arc` count and the spawner's lock: no registry
//! entry, no run-queue push, no lock on the way out. A new runner is placed like a spawned
//! task (the spawner's next-task slot, when free): it starts once the spawner yields.
//!
//! Finished tasks are counted at once (`QueueCounters::ran`) and reported to the state (their
//! generations for `flush`, the live count for `drain`) when the runner waits, takes a new
//! line or exits, before it starts a task of a later generation than the finished ones (a
//! flush opens a new generation, so a flush never waits for a task spawned after it), and at
//! the latest every [`BUDGET`] tasks. Flush and drain waiters are woken after the state lock
//! is released: a waiter may be a task of this queue, whose wake-up takes the lock.
//!
//! # Priority inheritance
//!
//! A flush awaited by a `High` task raises the runner (through the line, which keeps its
//! metadata), and with it every task it runs: they are polled as `High`, so what they await is
//! raised in turn. The raise ends where the flushed tasks end: when the runner comes to a task
//! of a generation the raising flush does not wait for, it gives its line back, that task
//! first, to a new runner of the queue's class and exits, so the queue's later work does not
//! stay `High` for as long as the line never empties. Only generation changes are checked,
//! under the lock the report there takes anyway: nothing per task.
//!
//! # Shutdown
//!
//! The runner is in the registry like any task, so shutdown reaches it; once shutdown began it
//! runs no more tasks, and when it is cancelled before its line is done it cancels the tasks it
//! took (their handles report it) and wakes the task in flight. Its tasks are not in the
//! registry: a task in flight woken once the runner is gone (by the runner's drop, or by
//! another thread, say the reactor or a channel's sender under its lock) is not dropped by its
//! waker but handed to the runtime, marked aborted, to be cancelled the way shutdown cancels
//! any task scheduled during shutdown. Its `Arc` of the queue keeps everything it touches
//! alive.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_task::ScheduleInfo;

use super::held::Held;
use super::inner::Inner;
use super::marks::{Marked, Timed};
use super::state::Done;
use crate::context;
use crate::queue::Runnable;
use crate::scheduler::Shared;
use crate::sync::Arc as SyncArc;

/// Tasks the runner runs in one poll before it yields to the core's other tasks (unless
/// [`SLICE`] passes first). Each yield lets an idle core steal the runner, which costs the
/// move more than the yield: measured with ~1 µs tasks, a budget of 128 cost about 8% over
/// 1024.
const BUDGET: usize = 1024;

/// The longest the runner goes on in one poll before it yields, checked every [`CHECK_EVERY`]
/// tasks: longer tasks get fewer runs per poll.
const SLICE: Duration = Duration::from_millis(1);

/// Tasks run between two looks at the clock.
const CHECK_EVERY: usize = 64;

thread_local! {
    /// The task the runner is running on this thread, woken while it ran.
    static RESUMED: Cell<Option<Runnable>> = const { Cell::new(None) };
    /// Set when the task the runner is running on this thread finished (its future dropped).
    static JOB_DONE: Cell<bool> = const { Cell::new(false) };
    /// The waker of the task the runner is running on this thread, if it returned `Pending`.
    static PENDING: Cell<Option<Waker>> = const { Cell::new(None) };
}

/// The task being run on this thread by its queue's runner returned `Pending` (called by its
/// wrapper's poll): the runner keeps its waker, to cancel it if the runner is dropped first.
pub(super) fn job_pending(waker: &Waker) {
    PENDING.with(|p| {
        let current = p.take();
        p.set(Some(match current {
            Some(current) if current.will_wake(waker) => current,
            _ => waker.clone(),
        }));
    });
}

/// The task being run on this thread by its queue's runner finished (called by its wrapper's
/// drop).
pub(super) fn job_done() {
    JOB_DONE.with(|d| d.set(true));
}

/// For the runner, after a task's run: whether it finished ([`job_done`]), and its waker if it
/// returned `Pending` ([`job_pending`]). Resets both.
pub(super) fn take_job_outcome() -> (bool, Option<Waker>) {
    (
        JOB_DONE.with(|d| d.replace(false)),
        PENDING.with(Cell::take),
    )
}

/// Sets the waker the runner keeps for the task it runs on this thread (see [`job_pending`]).
pub(super) fn keep_pending(waker: Option<Waker>) {
    PENDING.with(|p| p.set(waker));
}

/// The address of a queue's `Inner`, for the schedule function of its tasks.
#[derive(Clone, Copy)]
struct QueueRef(*const Inner);

// SAFETY: `Inner` is `Send + Sync`; the pointer is only dereferenced as `&Inner` while the
// queue is alive (see `schedule_fn`).
unsafe impl Send for QueueRef {}
// SAFETY: as for `Send`.
unsafe impl Sync for QueueRef {}

/// The schedule function of an ordered queue's tasks: hands a woken task to the runner.
///
/// It holds the queue by address, not by `Arc` (one reference count less per task): async-task
/// calls a schedule function only while the task's future is alive (a completed or closed task
/// is never scheduled), with a `Runnable` that keeps it alive, and the future (a `QueueTask`)
/// holds an `Arc` of the queue. So the queue is alive while [`resume`] runs, which only
/// borrows it; what may free it (dropping the `Runnable`, after which the runner may finish
/// the task on another thread and the queue's last handle go) happens after that borrow ends.
pub(super) fn schedule_fn(inner: &Arc<Inner>) -> impl Fn(Runnable, ScheduleInfo) + Send + Sync {
    let queue = QueueRef(Arc::as_ptr(inner));
    move |runnable, _| {
        let queue = queue;
        // SAFETY: `runnable` keeps the task's future, and with it an `Arc` of the queue, alive
        // until `resume` returns (see above); the reference does not outlive that call.
        let then = resume(unsafe { &*queue.0 }, runnable);
        match then {
            Then::Nothing => {}
            Then::Cancel(runnable, shared) => {
                runnable.metadata().abort();
                shared.submit_anywhere(runnable);
            }
            Then::Wake(runner) => runner.wake(),
        }
    }
}

/// What the schedule function does once it no longer borrows the queue.
enum Then {
    Nothing,
    /// Cancel the task (its queue's runner is gone: shutdown), through the runtime: never
    /// inside this `wake()`, whose caller may hold a lock the task's drop needs.
    Cancel(Runnable, SyncArc<Shared>),
    /// Wake the runner, which takes the task from the line's `resumed` slot.
    Wake(Waker),
}

/// A task of `inner`'s line, in flight, was woken: it goes to the runner.
fn resume(inner: &Inner, runnable: Runnable) -> Then {
    if inner.is_polled_here() {
        // Woken while the runner runs it here (itself, or from another thread during the
        // poll, which async-task defers to the end of the poll).
        RESUMED.with(|r| r.set(Some(runnable)));
        return Then::Nothing;
    }
    match inner.lock().line_mut().resume(runnable) {
        Ok(runner) => Then::Wake(runner),
        // No runner (it was cancelled by shutdown): the task is cancelled.
        Err(runnable) => Then::Cancel(runnable, SyncArc::clone(inner.shared())),
    }
}

/// The task in flight.
struct Current {
    /// Wakes it, to cancel it if the runner is dropped while it waits (taken when it first
    /// returns `Pending`: a task that completes at once costs no waker clone).
    waker: Option<Waker>,
    generation: u64,
}

/// The runner of an ordered queue (a task of its own, in the registry).
pub(super) struct Runner {
    inner: Arc<Inner>,
    /// Tasks taken from the line, not started yet.
    batch: VecDeque<Held>,
    current: Option<Current>,
    /// The task in flight, woken while it ran: it runs at the runner's next poll.
    resumed: Option<Runnable>,
    done: Done,
    /// The line was empty and the runner gave it up, or it handed the line over.
    exited: bool,
    /// The generation of the task started last (or to start first).
    generation: u64,
}

impl Runner {
    /// A runner for `inner`'s line, whose first task counts in `generation`.
    pub(super) fn new(inner: Arc<Inner>, generation: u64) -> Runner {
        Runner {
            inner,
            batch: VecDeque::new(),
            current: None,
            resumed: None,
            done: Done::default(),
            exited: false,
            generation,
        }
    }

    /// The next task to start, taking the whole line when the batch is empty; `None` once the
    /// line is empty (the runner then exits).
    fn next(&mut self) -> Option<Held> {
        if let Some(held) = self.batch.pop_front() {
            return Some(held);
        }
        let mut state = self.inner.lock();
        let (resumed, wake) = self.inner.report_locked(&mut state, &mut self.done);
        debug_assert!(resumed.is_none(), "a task resumed with none in flight");
        if !state.line_mut().take_waiting(&mut self.batch) {
            self.exited = true;
        }
        drop(state);
        self.inner.wake_waiters(wake);
        self.batch.pop_front()
    }

    /// Runs the task in flight once (cancels it if it was aborted, as a worker does). Returns
    /// whether it finished.
    fn run(&mut self, runnable: Runnable) -> bool {
        // The waker kept from the task's last `Pending`, so `job_pending` can keep it.
        let kept = self
            .current
            .as_mut()
            .and_then(|current| current.waker.take());
        keep_pending(kept);
        {
            let _marked = Marked::enter(self.inner.counters());
            // An aborted task's poll drops its future instead.
            runnable.run();
        }
        let (finished, pending) = take_job_outcome();
        if finished {
            if let Some(current) = self.current.take() {
                self.done.add(current.generation);
            }
            return true;
        }
        self.resumed = RESUMED.with(Cell::take);
        if let Some(current) = &mut self.current {
            current.waker = pending;
        }
        false
    }
}

impl Future for Runner {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Once per poll, not per task: a task awaiting a later task's handle is told.
        let _line = OrderedMark::enter(self.inner.id());
        let start = Instant::now();
        let poll = self.turns(cx, start);
        // The queue's poll time: the runner's whole poll, which runs the queue's tasks back to
        // back (one look at the clock per poll rather than two per task).
        drop(Timed::since(self.inner.counters(), start));
        poll
    }
}

impl Runner {
    /// The runner's poll, which began at `start`.
    fn turns(&mut self, cx: &mut Context<'_>, start: Instant) -> Poll<()> {
        let this = self;
        // A poll the monitor took over (a task blocked outside any section) no longer holds
        // the core: run nothing in it (so every task starts in a poll not taken over, and
        // counts a takeover seen after its poll as its own).
        if context::poll_taken_over() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        for turn in 1..=BUDGET {
            if turn % CHECK_EVERY == 0 && start.elapsed() >= SLICE {
                break;
            }
            if this.inner.shared().is_shutdown() {
                // No task runs once shutdown began: the runner is cancelled at its next turn
                // (its registry is closed), and cancels its tasks then.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let runnable = if this.current.is_some() {
                match this.resumed.take() {
                    Some(runnable) => runnable,
                    None => match this.inner.report(&mut this.done) {
                        Some(runnable) => runnable,
                        // Woken from elsewhere later, through the line's `resumed` slot.
                        None => return Poll::Pending,
                    },
                }
            } else {
                let Some(held) = this.next() else {
                    return Poll::Ready(());
                };
                let generation = held.generation();
                let held = if generation == this.generation {
                    held
                } else {
                    this.generation = generation;
                    match this.enter_generation(held) {
                        Some(held) => held,
                        // Handed over: the line goes on in a new runner.
                        None => return Poll::Ready(()),
                    }
                };
                let runnable = held.take();
                this.current = Some(Current {
                    waker: None,
                    generation,
                });
                runnable
            };
            // A task that yielded (woke itself) runs again at the next turn of this loop: the
            // budget, not each yield, lets the core's other tasks run, as tokio's
            // cooperative budget does.
            this.run(runnable);
            // The core protocol's `keep_working`, at a task boundary: once a section of this
            // poll was handed off, another worker may run the core; if one does, go no further
            // than the task whose poll this worker was finishing, and end the poll so that one
            // of the two retires at the poll boundary.
            if context::take_handed_off() && !keeps_working(this.inner.shared()) {
                break;
            }
            // A poll the monitor took over (a task blocked outside any section) no longer
            // holds the core: run nothing more in it.
            if context::poll_taken_over() {
                break;
            }
            // The jobs share the runner's cooperative budget (see `coop`): once one spent it,
            // every leaf future would yield at once, so the runner yields to the core instead.
            if !crate::coop::has_budget_remaining() {
                break;
            }
        }
        if this.done.len() >= BUDGET {
            let resumed = this.inner.report(&mut this.done);
            debug_assert!(resumed.is_none() || this.resumed.is_none());
            this.resumed = this.resumed.take().or(resumed);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Runner {
    /// About to start `held`, of another generation than the task started before it: a flush
    /// lies between the two (a flush opens a new generation). Reports the tasks finished so
    /// far, so the flush does not wait for `held`, which may block or wait for the flusher.
    ///
    /// If a flush awaited by a `High` task raised this runner and does not wait for `held`,
    /// the raise ends here: the rest of the line, `held` first, goes to a new runner of the
    /// queue's class, and this one exits (returns `None`). A raised runner thus runs as `High`
    /// only the tasks such a flush waits for and those ahead of them in the line.
    fn enter_generation(&mut self, held: Held) -> Option<Held> {
        let inner = Arc::clone(&self.inner);
        let mut state = inner.lock();
        let (resumed, wake) = inner.report_locked(&mut state, &mut self.done);
        debug_assert!(resumed.is_none(), "a task resumed with none in flight");
        if !inner.raise_ends_at(&state, held.generation()) {
            drop(state);
            inner.wake_waiters(wake);
            return Some(held);
        }
        let generation = held.generation();
        let mut line = std::mem::take(&mut self.batch);
        line.push_front(held);
        state.line_mut().give_back(line);
        let runner = inner.new_runner(&mut state, generation);
        self.exited = true;
        drop(state);
        inner.wake_waiters(wake);
        inner.start_runner(runner);
        None
    }
}

/// Marks this thread as running the tasks of an ordered queue until dropped (also by
/// unwinding): polling the handle of one of that queue's unfinished tasks then panics, since
/// that task starts only once the one polling it ended (see [`JoinHandle`](crate::JoinHandle)).
struct OrderedMark(u32);

impl OrderedMark {
    fn enter(id: u32) -> OrderedMark {
        OrderedMark(context::set_ordered_queue(id))
    }
}

impl Drop for OrderedMark {
    fn drop(&mut self) {
        context::set_ordered_queue(self.0);
    }
}

/// Whether the calling worker is its core's only running worker (the core protocol's
/// `keep_working`); true off the runtime's workers, where there is no core to share.
fn keeps_working(shared: &Shared) -> bool {
    context::worker_core(shared.id).is_none_or(|core| shared.cores[core].state().keep_working())
}

impl Drop for Runner {
    fn drop(&mut self) {
        if self.exited {
            return;
        }
        // Cancelled before its line was done (shutdown, or a bug that panicked): report, give
        // the line up, cancel what it took and the task in flight, on this thread.
        let (resumed, wake) = {
            let mut state = self.inner.lock();
            let reported = self.inner.report_locked(&mut state, &mut self.done);
            state.line_mut().clear_runner();
            state.doom(self.batch.drain(..));
            reported
        };
        self.inner.wake_waiters(wake);
        for runnable in [resumed, self.resumed.take()].into_iter().flatten() {
            crate::task::cancel(runnable);
        }
        self.inner.cancel_doomed();
        if let Some(waker) = self.current.take().and_then(|current| current.waker) {
            waker.wake();
        }
    }
}
