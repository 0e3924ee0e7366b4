//! Run queues: what they hold, the per-core local queue, the next-task slot, and stealing
//! between queues.
//!
//! A core's local queue is a bounded ring ([`ring`]), pushed and popped by whichever worker
//! holds the core's baton and, from the same FIFO, by idle cores that steal; the unbounded
//! queues (injectors, pinned and class queues) are [`ConcurrentQueue`]s. The next-task slot
//! holds one task and is a [`TaskSlot`], one pointer swapped in and out.

use std::sync::atomic::{AtomicU32, Ordering};

use std::panic::Location;

use concurrent_queue::{ConcurrentQueue, PopError, PushError};

use crate::origin::Origin;

mod ring;
mod slot;

use ring::Ring;
pub(crate) use slot::{put_in_slot, TaskQueue, TaskSlot};

/// Capacity of a core's local queue; overflow goes to the runtime's injector.
#[cfg(not(loom))]
pub(crate) const LOCAL_QUEUE_CAPACITY: usize = 256;
/// Loom builds shrink the local queue so models reach the overflow path.
#[cfg(loom)]
pub(crate) const LOCAL_QUEUE_CAPACITY: usize = 2;

/// The most tasks a worker moves from the injector or from another core in one go.
const MAX_BATCH: usize = 32;

/// The bits of the metadata word that hold the pin.
const PIN_BITS: u32 = (1 << 16) - 1;
/// The pin value of a task with no core pin.
const NOT_PINNED: u32 = PIN_BITS;
// Every core a runtime can have fits in the pin bits, below `NOT_PINNED`.
const _: () = assert!(crate::runtime::MAX_CORES < NOT_PINNED as usize);
/// Where the site hint sits in the metadata word, and its bits (see [`TaskMeta::site_hint`]).
const HINT_SHIFT: u32 = 16;
const HINT_BITS: u32 = ((1 << 13) - 1) << HINT_SHIFT;
/// The largest site hint the word holds.
pub(crate) const MAX_SITE_HINT: u32 = HINT_BITS >> HINT_SHIFT;
/// Where the priority class sits in the metadata word.
const PRIORITY_SHIFT: u32 = 29;
/// The bits of the metadata word that hold the priority class.
const CLASS_BITS: u32 = 0b11 << PRIORITY_SHIFT;
/// The flag bit set by `JoinHandle::abort`.
const ABORTED: u32 = 1 << 31;

/// A task's priority class. Each core serves `High` before `Normal` before `Idle`.
///
/// Tasks spawned with [`spawn`](crate::spawn) are `Normal`; a
/// [`WorkQueue`](crate::WorkQueue) may choose another class for its tasks.
///
/// # Priority inheritance
///
/// A `High` task that waits for lower work raises that work to `High`, so that it does not wait
/// behind the very tasks it was meant to go before (GCD's QoS override):
///
/// - awaiting a [`JoinHandle`](crate::JoinHandle) whose task has not finished raises that task;
/// - awaiting [`WorkQueue::flush`](crate::WorkQueue::flush) raises every task the flush waits
///   for: those the queue holds back and those it already admitted, queued, running or waiting
///   (an ordered queue's runner, for its tasks; see there).
///
/// A raised task stays `High` until it completes, whether or not anyone still waits for it: a
/// `High` task that gives up waiting (a timeout, a `select!`) does not lower it again. (An
/// ordered queue's runner is the exception: it is raised only until the flushed tasks are
/// done.) A raised task counts as `High` when it awaits in turn, so a chain of tasks awaiting
/// one another is raised link by link; one raised while it already waits raises what it awaits
/// at its next poll. A raised task already queued behind `Normal` or `Idle` tasks moves to its
/// core's `High` queue at that core's next look at its queues; one running keeps its class
/// until that poll ends, and every later wake-up queues it as `High`; a wake-up that queued it
/// in the very instant of the raise may leave it one run in its old class.
/// Only the awaiting of a task polled as `High` raises anything: a program that uses no
/// classes pays nothing for this. `Normal` tasks polled inside a `High` task's poll (those of
/// a [`LocalSet`](crate::task::LocalSet) it drives) count as `High` too.
///
/// # Examples
///
/// ```
/// use baton::{Priority, WorkQueue};
/// let rt = baton::Runtime::new()?;
/// let urgent = WorkQueue::builder("urgent")
///     .priority(Priority::High)
///     .build(&rt.handle())?;
/// let answer = rt.block_on(async move {
///     let normal = baton::spawn(async { 42 });
///     // Awaited by a `High` task, `normal` runs as `High` from then on.
///     urgent.spawn(async move { normal.await.unwrap() }).await
/// })?;
/// assert_eq!(answer, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Served before everything else on its core, up to a bound that keeps `Normal` going.
    High,
    /// The default class.
    #[default]
    Normal,
    /// Runs only when nothing else is runnable on its core, locally or by stealing.
    Idle,
}

impl Priority {
    /// How many classes there are: a [`PerClass`] holds one item per class, indexed by
    /// [`Priority::index`].
    pub(crate) const COUNT: usize = 3;

    /// Every class, in the order of their indices.
    pub(crate) const ALL: [Priority; Priority::COUNT] =
        [Priority::High, Priority::Normal, Priority::Idle];

    /// The class's index: 0 for `High`, 1 for `Normal`, 2 for `Idle`.
    #[inline]
    pub(crate) fn index(self) -> usize {
        match self {
            Priority::High => 0,
            Priority::Normal => 1,
            Priority::Idle => 2,
        }
    }

    fn from_bits(bits: u32) -> Priority {
        match bits {
            0 => Priority::High,
            2 => Priority::Idle,
            _ => Priority::Normal,
        }
    }
}

/// One `T` per priority class, indexed by [`Priority`]: a core's queues of each class, the
/// runtime's injectors.
#[derive(Debug)]
pub(crate) struct PerClass<T>([T; Priority::COUNT]);

impl<T> PerClass<T> {
    /// `f(class)` for each class.
    pub(crate) fn from_fn(f: impl FnMut(Priority) -> T) -> PerClass<T> {
        PerClass(Priority::ALL.map(f))
    }

    /// The items, in the order of the classes' indices.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<T> std::ops::Index<Priority> for PerClass<T> {
    type Output = T;

    #[inline]
    fn index(&self, priority: Priority) -> &T {
        &self.0[priority.index()]
    }
}

/// A task's name, as given to [`task::Builder::name`](crate::task::Builder::name): one pointer
/// in the task's header (and none for a task without a name: `Option<Name>` is one pointer
/// too), shared with the errors and reports that name the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Name(std::sync::Arc<Box<str>>);

impl Name {
    /// A name.
    pub(crate) fn new(name: impl Into<String>) -> Name {
        Name(std::sync::Arc::new(name.into().into_boxed_str()))
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-task data kept in the task's header, readable from both its `Runnable` and its handle:
/// an atomic word, and the spawn site, name and work queue mark in one pointer aligned to 4
/// bytes (see [`Origin`]), so that an idle task costs as little memory as possible: 12 bytes,
/// which with async-task's flag byte fill its header's last word.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    /// Where the task was spawned (`#[track_caller]` through the spawn functions): the key of
    /// what the runtime learns about tasks that block without a section; the task's name, if
    /// it was given one; and the id of the task's work queue if that queue has a rescuer or is
    /// ordered, else 0 (see `workqueue`): a rescuer takes its queue's tasks out of the cores'
    /// queues by it, and an ordered queue's task that awaits a later task of its queue is told
    /// by it.
    origin: Origin,
    /// The low 16 bits: the core the task must run on (`spawn_on`), or `NOT_PINNED`. The next
    /// 13: the site hint (see [`TaskMeta::site_hint`]). The next two: the priority class's
    /// index. The top bit: set by `JoinHandle::abort`, after which
    /// the task is dropped instead of polled the next time it is picked to run.
    word: AtomicU32,
}

impl TaskMeta {
    /// Metadata for a task of class `priority` that may run on `pin`'s core only, or anywhere,
    /// spawned at `site`, named `name`, and marked with work queue `queue_id` (if not 0).
    pub(crate) fn new(
        pin: Option<usize>,
        priority: Priority,
        site: &'static Location<'static>,
        name: Option<Name>,
        queue_id: u32,
    ) -> TaskMeta {
        let pin = pin.map_or(NOT_PINNED, |core| {
            u32::try_from(core)
                .ok()
                .filter(|&c| c < NOT_PINNED)
                .expect("core index below 2^16 - 1")
        });
        // `index` is at most 2, so the cast is lossless.
        let class = (priority.index() as u32) << PRIORITY_SHIFT;
        TaskMeta {
            origin: Origin::new(site, name, queue_id),
            word: AtomicU32::new(pin | class),
        }
    }

    /// The id of the work queue that marked the task, or 0.
    #[inline]
    pub(crate) fn queue_id(&self) -> u32 {
        self.origin.queue_id()
    }

    /// Where the task was spawned.
    #[inline]
    pub(crate) fn site(&self) -> &'static Location<'static> {
        self.origin.site()
    }

    /// The task's name, if it has one.
    #[inline]
    pub(crate) fn name(&self) -> Option<&Name> {
        self.origin.name()
    }

    /// The core the task is pinned to, if any.
    pub(crate) fn pin(&self) -> Option<usize> {
        let pin = self.word.load(Ordering::Relaxed) & PIN_BITS;
        (pin != NOT_PINNED).then_some(pin as usize)
    }

    /// The task's priority class (raised to `High` if a `High` task awaited it, see
    /// [`TaskMeta::raise`]).
    pub(crate) fn priority(&self) -> Priority {
        Priority::from_bits((self.word.load(Ordering::Relaxed) >> PRIORITY_SHIFT) & 0b11)
    }

    /// The call site whose sections the task's polls entered lately, if any: a number the site
    /// table gave it (`crate::sites`), or 0. Tasks of a site that has all the sections in flight
    /// it can use wait for their turn before their next poll (see `crate::sites::defer`).
    pub(crate) fn site_hint(&self) -> u32 {
        (self.word.load(Ordering::Relaxed) & HINT_BITS) >> HINT_SHIFT
    }

    /// Sets the site hint (0: none). Hints above [`MAX_SITE_HINT`] are not kept.
    pub(crate) fn set_site_hint(&self, hint: u32) {
        if hint > MAX_SITE_HINT {
            return;
        }
        // Relaxed: a hint read by whichever worker takes the task next, published to it by the
        // queue the task goes through; the abort flag's writers touch other bits.
        let _ = self
            .word
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
                Some(word & !HINT_BITS | hint << HINT_SHIFT)
            });
    }

    /// Raises the task's class to `High` for the rest of its life (priority inheritance, see
    /// [`Priority`]); returns whether it was lower.
    pub(crate) fn raise(&self) -> bool {
        // `High` is class 0: raising clears the class bits. Relaxed: whoever queues the task
        // next reads its class from this word; a wake-up racing the raise may still read the
        // old class (the documented last run in it), and the sweep that moves queued tasks
        // learns of the raise through its own Release/Acquire pair (`core::boost`).
        if self.word.load(Ordering::Relaxed) & CLASS_BITS == 0 {
            return false;
        }
        self.word.fetch_and(!CLASS_BITS, Ordering::Relaxed) & CLASS_BITS != 0
    }

    /// Whether cancellation was requested.
    pub(crate) fn is_aborted(&self) -> bool {
        self.word.load(Ordering::Relaxed) & ABORTED != 0
    }

    /// Requests cancellation at the task's next turn.
    pub(crate) fn abort(&self) {
        // Relaxed: the flag is published to the worker by the wake that follows it (the task's
        // state word in async-task orders the two).
        self.word.fetch_or(ABORTED, Ordering::Relaxed);
    }
}

/// A scheduled task, ready to be polled.
pub(crate) type Runnable = async_task::Runnable<TaskMeta>;

/// A queue of runnable tasks: a core's bounded local queue, or an unbounded one.
#[derive(Debug)]
pub(crate) struct Queue(Kind);

/// What a [`Queue`] is underneath.
#[derive(Debug)]
enum Kind {
    /// A core's local queue.
    Local(Ring),
    /// An injector, a pinned queue or a class's queue.
    Unbounded(ConcurrentQueue<Runnable>),
}

impl Queue {
    /// Pushes at the back; hands the task back if the queue is full (only a local queue
    /// fills up).
    #[inline]
    pub(crate) fn push(&self, runnable: Runnable) -> Result<(), PushError<Runnable>> {
        match &self.0 {
            Kind::Local(ring) => ring.push(runnable),
            Kind::Unbounded(queue) => queue.push(runnable),
        }
    }

    /// Pops from the front.
    #[inline]
    pub(crate) fn pop(&self) -> Result<Runnable, PopError> {
        match &self.0 {
            Kind::Local(ring) => ring.pop(),
            Kind::Unbounded(queue) => queue.pop(),
        }
    }

    /// How many tasks it holds.
    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            Kind::Local(ring) => ring.len(),
            Kind::Unbounded(queue) => queue.len(),
        }
    }

    /// Whether it holds no task.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        match &self.0 {
            Kind::Local(ring) => ring.is_empty(),
            Kind::Unbounded(queue) => queue.is_empty(),
        }
    }

    /// How many tasks it holds at most, if bounded.
    pub(crate) fn capacity(&self) -> Option<usize> {
        match &self.0 {
            Kind::Local(ring) => Some(ring.capacity()),
            Kind::Unbounded(_) => None,
        }
    }
}

/// A core's local queue.
pub(crate) fn local_queue() -> Queue {
    Queue(Kind::Local(Ring::new(LOCAL_QUEUE_CAPACITY)))
}

/// Pops `queue`'s first task, if it looks non-empty.
///
/// A worker's own queues are mostly empty when it looks at them (the pinned queue almost
/// always, the next-task slot after each task it takes), and `ConcurrentQueue::pop` on an empty
/// queue costs a full fence (bounded, unbounded) or a failed compare-exchange (one slot);
/// `is_empty` costs two plain loads. A task pushed as this looks may be missed, as by a pop
/// racing the push: parking's fence and last look find it.
#[inline]
pub(crate) fn pop_if_any(queue: &Queue) -> Option<Runnable> {
    if queue.is_empty() {
        None
    } else {
        queue.pop().ok()
    }
}

/// The runtime's injector (and each core's pinned queue): unbounded.
pub(crate) fn unbounded_queue() -> Queue {
    Queue(Kind::Unbounded(ConcurrentQueue::unbounded()))
}

/// Pushes onto `queue`, spilling into `overflow` when it is full.
///
/// # Panics
///
/// Panics if `overflow` is closed: baton never closes its queues.
pub(crate) fn push_or_spill(queue: &Queue, overflow: &Queue, runnable: Runnable) {
    if let Err(PushError::Full(runnable) | PushError::Closed(runnable)) = queue.push(runnable) {
        overflow
            .push(runnable)
            .unwrap_or_else(|_| panic!("baton's injector queue was closed"));
    }
}

/// Moves a share of `src`'s tasks into `dest` and returns one of them to run now.
///
/// Takes half of `src` (at least one, at most `MAX_BATCH`), sized so that `dest` does not
/// overflow. Every task taken is either returned or pushed to `dest`, so each runs exactly once.
pub(crate) fn steal_into(src: &Queue, dest: &Queue) -> Option<Runnable> {
    let first = src.pop().ok()?;
    let room = dest.capacity().unwrap_or(usize::MAX) - dest.len();
    let share = (src.len() / 2).min(MAX_BATCH).min(room);
    for _ in 0..share {
        match src.pop() {
            Ok(runnable) => {
                if let Err(PushError::Full(r) | PushError::Closed(r)) = dest.push(runnable) {
                    // Another thread filled `dest` meanwhile: give the task back.
                    push_back(src, r);
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(first)
}

/// Returns a task to the queue it came from.
fn push_back(src: &Queue, runnable: Runnable) {
    if let Err(PushError::Full(runnable) | PushError::Closed(runnable)) = src.push(runnable) {
        // The source filled up meanwhile too: run it soon by waking it again through the
        // scheduler, which always finds room (the injector is unbounded).
        runnable.schedule();
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
