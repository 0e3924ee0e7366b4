//! The concurrency manager: what keeps a core's tasks running while some of its code blocks.
//!
//! - [`section`]: the blocking-section hook a worker installs (entering, leaving, the handoff).
//! - [`sites`]: what the runtime learns per call site (known to block, the concurrency level past
//!   which throughput stops rising).
//! - [`detect`]: detection of blocking nobody annotated, by the monitor's looks or by
//!   context-switch events.
//! - [`monitor`]: the background thread that hands off overdue sections, starts spares and calls
//!   rescuers.
//! - [`stall`]: the stall watchdog.
//! - [`unbound`]: the pool that runs `unblock` jobs, apart from the cores.

pub(crate) mod detect;
pub(crate) mod monitor;
pub(crate) mod section;
pub(crate) mod sites;
pub(crate) mod stall;
pub(crate) mod unbound;
