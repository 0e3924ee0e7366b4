//! Building a work queue: its settings, their validation, and the error that reports.

use std::error::Error;
use std::fmt;

use super::WorkQueue;
use crate::handle::Handle;
use crate::queue::Priority;

/// `max_active` when the builder is not told otherwise: the Linux kernel's default
/// (`WQ_DFL_ACTIVE`).
pub const DEFAULT_MAX_ACTIVE: usize = 256;

/// The largest `max_active` a queue accepts: the Linux kernel's `WQ_MAX_ACTIVE`.
pub const MAX_ACTIVE_LIMIT: usize = 2048;

/// Where a work queue's tasks run.
///
/// # Examples
///
/// ```
/// use baton::{Affinity, WorkQueue};
/// let rt = baton::Runtime::builder().cores(2).build()?;
/// let q = WorkQueue::builder("pinned").affinity(Affinity::Core(1)).build(&rt.handle())?;
/// assert_eq!(rt.block_on(q.spawn(async { baton::current_core() }))?, Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Affinity {
    /// The queue of the core the task is submitted from (the spawning core, or for a task that
    /// waited its turn, the core where the task before it finished); idle cores may steal it.
    /// The same placement as [`spawn`](crate::spawn). Off the runtime's workers, any core.
    #[default]
    Local,
    /// Only this core, never stolen. While it is offline
    /// ([`Handle::set_cores`](crate::Handle::set_cores)`(n)`), core `core % n`, as for
    /// [`Handle::spawn_on`](crate::Handle::spawn_on).
    Core(usize),
    /// One core of this set per task, never stolen: the spawning core if it is in the set,
    /// otherwise the set's cores in turn. Cores of the set that are offline
    /// ([`Handle::set_cores`](crate::Handle::set_cores)) are passed over; while every core of
    /// the set is offline, each task goes to the core that stands in for the one whose turn it
    /// is (core `k % n` for core `k`, with `n` cores online), as for
    /// [`Handle::spawn_on`](crate::Handle::spawn_on).
    Cores(Vec<usize>),
    /// Whichever core looks first (through the runtime's shared injector).
    Any,
}

/// Settings for a [`WorkQueue`], from [`WorkQueue::builder`].
///
/// The defaults: [`DEFAULT_MAX_ACTIVE`] tasks in flight at once, not ordered,
/// [`Priority::Normal`], [`Affinity::Local`], no rescuer. What the settings mean for the
/// queue's tasks, `flush` and `drain` is listed under [the queue's rules](WorkQueue#rules).
///
/// # Examples
///
/// ```
/// use baton::{Priority, WorkQueue};
/// let rt = baton::Runtime::new()?;
/// let q = WorkQueue::builder("io")
///     .max_active(16)
///     .priority(Priority::High)
///     .build(&rt.handle())?;
/// assert_eq!(q.name(), "io");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct WorkQueueBuilder {
    pub(super) name: String,
    pub(super) max_active: Option<usize>,
    pub(super) ordered: bool,
    pub(super) priority: Priority,
    pub(super) affinity: Affinity,
    pub(super) rescuer: bool,
}

impl WorkQueueBuilder {
    pub(super) fn new(name: impl Into<String>) -> WorkQueueBuilder {
        WorkQueueBuilder {
            name: name.into(),
            max_active: None,
            ordered: false,
            priority: Priority::Normal,
            affinity: Affinity::Local,
            rescuer: false,
        }
    }

    /// The most tasks of the queue in flight at once, 1 to [`MAX_ACTIVE_LIMIT`] (default
    /// [`DEFAULT_MAX_ACTIVE`]). Tasks beyond it wait, in submission order.
    ///
    /// A task is in flight from the moment it is submitted to the runtime until it completes,
    /// panics or is cancelled, including while it waits for I/O or sits in a blocking section.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let err = baton::WorkQueue::builder("q").max_active(0).build(&rt.handle());
    /// assert!(err.unwrap_err().is_max_active());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_active(mut self, n: usize) -> Self {
        self.max_active = Some(n);
        self
    }

    /// Runs the queue's tasks strictly one at a time, in submission order, across all cores:
    /// the next task starts only after the one before it completed, was aborted or panicked,
    /// even if that one yields, waits for I/O or blocks in a section. Keys of
    /// [`WorkQueue::spawn_keyed`] are ignored (everything is one lane).
    ///
    /// Implies `max_active(1)`; combining it with a larger `max_active` is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("journal").ordered().build(&rt.handle())?;
    /// assert!(q.is_ordered());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// The priority class of the queue's tasks (default [`Priority::Normal`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::{Priority, WorkQueue};
    /// let rt = baton::Runtime::new()?;
    /// let q = WorkQueue::builder("gc").priority(Priority::Idle).build(&rt.handle())?;
    /// rt.block_on(q.spawn(async {}))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Where the queue's tasks run (default [`Affinity::Local`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::{Affinity, WorkQueue};
    /// let rt = baton::Runtime::builder().cores(2).build()?;
    /// let err = WorkQueue::builder("q").affinity(Affinity::Core(5)).build(&rt.handle());
    /// assert!(err.unwrap_err().is_core());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn affinity(mut self, affinity: Affinity) -> Self {
        self.affinity = affinity;
        self
    }

    /// Gives the queue a rescuer: a thread of its own, started with the queue, that runs the
    /// queue's tasks when the cores they wait on cannot get a worker (the kernel's
    /// `WQ_MEM_RECLAIM`).
    ///
    /// A core whose workers all block in sections hands its queue to a spare; at a thread cap,
    /// or when the OS refuses threads (`RLIMIT_NPROC`, a cgroup's `pids.max`), there is none,
    /// and the core's queued tasks wait for a section to end. If those sections wait for the
    /// queue's tasks (a client blocking on a reply that a task of this queue produces), nothing
    /// ends. With a rescuer, once a core has been starved for
    /// [`MAYDAY_DELAY`](crate::MAYDAY_DELAY) the runtime sends a mayday call and the rescuer
    /// polls the queue's tasks queued there, so the chain completes. A blocking section on the
    /// rescuer is a plain call. [`QueueStats`](crate::QueueStats) counts the calls
    /// (`mayday_calls`) and the rescuer's polls (`rescued`).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("writeback").rescuer().build(&rt.handle())?;
    /// assert_eq!(rt.block_on(q.spawn(async { 7 }))?, 7);
    /// assert_eq!(q.stats().mayday_calls, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rescuer(mut self) -> Self {
        self.rescuer = true;
        self
    }

    /// Builds the queue on `handle`'s runtime.
    ///
    /// # Errors
    ///
    /// Fails with a [`QueueBuildError`] if `max_active` is 0 or above [`MAX_ACTIVE_LIMIT`],
    /// if `ordered` is combined with `max_active` above 1, if a core of the affinity does not
    /// exist, if the affinity's core set is empty, or if the OS refuses to start the queue's
    /// rescuer thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").build(&rt.handle())?;
    /// assert_eq!(rt.block_on(q.spawn(async { 5 }))?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self, handle: &Handle) -> Result<WorkQueue, QueueBuildError> {
        let max_active = match (self.ordered, self.max_active) {
            (_, Some(n)) if n == 0 || n > MAX_ACTIVE_LIMIT => {
                return Err(QueueBuildError::new(
                    Kind::MaxActive,
                    format!("max_active({n}): must be 1 to {MAX_ACTIVE_LIMIT}"),
                ))
            }
            (true, Some(n)) if n > 1 => {
                return Err(QueueBuildError::new(
                    Kind::Ordered,
                    format!(
                        "ordered() with max_active({n}): an ordered queue runs one task at a time"
                    ),
                ))
            }
            (true, _) => 1,
            (false, n) => n.unwrap_or(DEFAULT_MAX_ACTIVE),
        };
        let cores = handle.cores();
        let check = |core: usize| {
            if core < cores {
                Ok(())
            } else {
                Err(QueueBuildError::new(
                    Kind::Core,
                    format!(
                        "core {core} does not exist; this runtime has cores 0 to {}",
                        cores - 1
                    ),
                ))
            }
        };
        match &self.affinity {
            Affinity::Core(core) => check(*core)?,
            Affinity::Cores(set) if set.is_empty() => {
                return Err(QueueBuildError::new(
                    Kind::EmptyCores,
                    "Affinity::Cores with no core".to_owned(),
                ))
            }
            Affinity::Cores(set) => set.iter().try_for_each(|&core| check(core))?,
            Affinity::Local | Affinity::Any => {}
        }
        WorkQueue::from_builder(self, max_active, handle).map_err(|err| {
            QueueBuildError::new(
                Kind::ThreadSpawn,
                format!("cannot start the rescuer thread: {err}"),
            )
        })
    }
}

/// Why [`WorkQueueBuilder::build`] failed.
///
/// # Examples
///
/// ```
/// let rt = baton::Runtime::new()?;
/// let err = baton::WorkQueue::builder("q")
///     .ordered()
///     .max_active(4)
///     .build(&rt.handle())
///     .unwrap_err();
/// assert!(err.is_ordered());
/// assert!(err.to_string().contains("ordered"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct QueueBuildError {
    kind: Kind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MaxActive,
    Ordered,
    Core,
    EmptyCores,
    ThreadSpawn,
}

impl QueueBuildError {
    fn new(kind: Kind, message: String) -> QueueBuildError {
        QueueBuildError { kind, message }
    }

    /// Whether `max_active` was 0 or above [`MAX_ACTIVE_LIMIT`].
    pub fn is_max_active(&self) -> bool {
        self.kind == Kind::MaxActive
    }

    /// Whether `ordered` was combined with a `max_active` above 1.
    pub fn is_ordered(&self) -> bool {
        self.kind == Kind::Ordered
    }

    /// Whether the affinity named a core the runtime does not have.
    pub fn is_core(&self) -> bool {
        self.kind == Kind::Core
    }

    /// Whether the affinity's core set was empty.
    pub fn is_empty_cores(&self) -> bool {
        self.kind == Kind::EmptyCores
    }

    /// Whether the OS refused to start the queue's rescuer thread.
    pub fn is_thread_spawn(&self) -> bool {
        self.kind == Kind::ThreadSpawn
    }
}

impl fmt::Display for QueueBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid work queue configuration: {}", self.message)
    }
}

impl Error for QueueBuildError {}
