//! What baton tells `tracing`, behind the `tracing` feature: one span per task, shaped as
//! tokio-console's `console-subscriber` reads them, waker events, and events for what the
//! runtime does about blocking.
//!
//! # What a subscriber sees
//!
//! - **A span per task**, named `runtime.spawn` (target `baton::task`, level `TRACE`, no parent),
//!   with the fields `kind` (`task`), `task.name` (the name given to
//!   [`task::Builder`](crate::task::Builder), if any), `task.id`, `loc.file`, `loc.line` and
//!   `loc.col` (the spawn site), and `queue`, the name of the work queue the task belongs to: a
//!   work queue's job is its task. The span is entered for every poll of the task and closed when
//!   its future is dropped.
//! - **Waker events**, target `runtime::waker`, fields `op = "waker.wake_by_ref"` and
//!   `task.id` (the span's id): one per wake-up that schedules the task.
//! - **Runtime events**, target `baton::runtime`, field `event` naming it, `core`, and more
//!   per event: `handoff` (with `eager`), `retirement`, `spare_started`, `spares_reaped`
//!   (with `count`), `spawn_failure`, `cap_hit`, `detected_block` and `cpu_hog` (with the
//!   task's `site` and `task.name`) at `DEBUG`, and `stall` (with the report) at `WARN`.
//!
//! Without the feature nothing here is compiled in: every type is zero-sized and every
//! function empty, so the hot paths are the same code as without this module.

#[cfg(not(feature = "tracing"))]
mod off;
#[cfg(feature = "tracing")]
mod on;

#[cfg(not(feature = "tracing"))]
pub(crate) use off::*;
#[cfg(feature = "tracing")]
pub(crate) use on::*;

use std::panic::Location;

/// Something the runtime did that a subscriber may want to see.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) enum Event<'a> {
    /// A section's core was handed to another worker; `eager` when at once.
    Handoff { eager: bool },
    /// A worker back from a section retired to the spare stack.
    Retirement,
    /// A worker thread started for the core.
    SpareStarted,
    /// Surplus spares exited after their keep-alive.
    SparesReaped { count: u64 },
    /// The OS refused a worker thread.
    SpawnFailure,
    /// A handoff found no spare, and the thread caps forbid another.
    CapHit,
    /// A poll outside any section, of a task spawned at `site` and named `name`, was taken
    /// over: found `blocked`, or else busy past the hog threshold (a CPU hog).
    Detected {
        blocked: bool,
        site: Option<&'static Location<'static>>,
        name: Option<&'a str>,
    },
}

/// Reports a stall: through `tracing` (a `WARN` event) with the feature, else on standard
/// error.
pub(crate) fn stall(core: usize, report: &str) {
    report_stall(core, report);
}
