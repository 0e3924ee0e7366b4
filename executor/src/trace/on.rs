//! The `tracing` feature is on: spans and events as the module docs describe.

use std::panic::Location;

use tracing::{debug, trace, trace_span, warn, Span};

use super::Event;

/// The target of runtime events.
const TARGET: &str = "baton::runtime";

/// A task's `runtime.spawn` span, boxed, and only if a subscriber wants it: a task costs one
/// pointer more, and nothing else, while nobody listens.
#[derive(Debug)]
pub(crate) struct TaskSpan(Option<Box<Span>>);

impl Drop for TaskSpan {
    /// Inline, the check for no span; the span is closed out of line.
    #[inline]
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            close(span);
        }
    }
}

/// Runs `poll` with `span` entered.
#[cold]
#[inline(never)]
fn in_entered<R>(span: &Span, poll: impl FnOnce() -> R) -> R {
    let _entered = span.enter();
    poll()
}

/// Closes a task's span (dropping its last handle).
#[cold]
#[inline(never)]
fn close(span: Box<Span>) {
    drop(span);
}

/// The id of a task's span, for its wake-up events (`None` when no subscriber took the span).
#[derive(Clone, Copy, Debug)]
pub(crate) struct WakeTag(Option<std::num::NonZeroU64>);

impl TaskSpan {
    /// The span of a task spawned at `site`: a root span, whatever span the spawner is in.
    ///
    /// Inline, the one check that settles it while no subscriber wants `TRACE` (the check the
    /// span macro begins with: one relaxed load); the span itself is built out of line, so
    /// that the spawn path around it compiles as it does without the feature.
    #[inline]
    pub(crate) fn new(
        name: Option<&str>,
        queue: Option<&str>,
        site: &'static Location<'static>,
        id: u64,
    ) -> TaskSpan {
        if tracing::level_enabled!(tracing::Level::TRACE) {
            TaskSpan::build(name, queue, site, id)
        } else {
            TaskSpan(None)
        }
    }

    /// The span, if a subscriber takes it.
    #[cold]
    #[inline(never)]
    fn build(
        name: Option<&str>,
        queue: Option<&str>,
        site: &'static Location<'static>,
        id: u64,
    ) -> TaskSpan {
        let span = trace_span!(
            target: "baton::task",
            parent: None,
            "runtime.spawn",
            kind = "task",
            task.name = name,
            task.id = id,
            queue,
            loc.file = site.file(),
            loc.line = site.line(),
            loc.col = site.column(),
        );
        TaskSpan((!span.is_disabled()).then(|| Box::new(span)))
    }

    /// Runs `poll` (one poll of the task) inside the span, entered for it. Inline, only the
    /// check for no span: the poll with a span entered is out of line.
    #[inline]
    pub(crate) fn in_span<R>(&self, poll: impl FnOnce() -> R) -> R {
        match &self.0 {
            None => poll(),
            Some(span) => in_entered(span, poll),
        }
    }

    /// The span's id, for wake-up events.
    #[inline]
    pub(crate) fn wake_tag(&self) -> WakeTag {
        WakeTag(
            self.0
                .as_ref()
                .and_then(|span| span.id())
                .map(|id| id.into_non_zero_u64()),
        )
    }
}

/// A wake-up scheduled the task tagged `tag`.
#[inline]
pub(crate) fn woken(tag: WakeTag) {
    if let Some(id) = tag.0 {
        woken_span(id);
    }
}

/// The wake-up event of a task whose span a subscriber took.
#[cold]
#[inline(never)]
fn woken_span(id: std::num::NonZeroU64) {
    trace!(target: "runtime::waker", op = "waker.wake_by_ref", task.id = id.get());
}

/// Reports a runtime event of core `core`. Inline, the check the event macros begin with
/// (does any subscriber want `DEBUG`?); the events out of line.
#[inline]
pub(crate) fn event(core: usize, event: Event<'_>) {
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        report_event(core, event);
    }
}

/// Reports a runtime event, if a subscriber takes it.
#[cold]
#[inline(never)]
fn report_event(core: usize, event: Event<'_>) {
    match event {
        Event::Handoff { eager } => debug!(target: TARGET, event = "handoff", core, eager),
        Event::Retirement => debug!(target: TARGET, event = "retirement", core),
        Event::SpareStarted => debug!(target: TARGET, event = "spare_started", core),
        Event::SparesReaped { count } => {
            debug!(target: TARGET, event = "spares_reaped", core, count);
        }
        Event::SpawnFailure => debug!(target: TARGET, event = "spawn_failure", core),
        Event::CapHit => debug!(target: TARGET, event = "cap_hit", core),
        Event::Detected {
            blocked,
            site,
            name,
        } => debug!(
            target: TARGET,
            event = if blocked { "detected_block" } else { "cpu_hog" },
            core,
            site = site.map(tracing::field::display),
            task.name = name,
        ),
    }
}

/// A stall, as a `WARN` event.
pub(super) fn report_stall(core: usize, report: &str) {
    warn!(target: TARGET, event = "stall", core, "{report}");
}

/// One `INFO` event per core and per work queue that did something in `delta`.
pub(crate) fn stats(delta: &crate::Stats) {
    for c in &delta.cores {
        if c.polls + c.sections + c.parks == 0 {
            continue;
        }
        tracing::info!(
            target: "baton::stats",
            core = c.core,
            offline = c.offline,
            polls = c.polls,
            steals = c.steals,
            parks = c.parks,
            wake_ups = c.wake_ups,
            queue_depth = c.queue_depth,
            running = c.running,
            spares = c.spares,
            in_section = c.in_section,
            workers = c.workers,
            sections = c.sections,
            handoffs = c.handoffs,
            eager_handoffs = c.eager_handoffs,
            retirements = c.retirements,
            threads_started = c.threads_started,
            threads_reaped = c.threads_reaped,
            spawn_failures = c.spawn_failures,
            cap_hits = c.cap_hits,
            cap_rescues = c.cap_rescues,
            detected_blocks = c.detected_blocks,
            cpu_hogs = c.cpu_hogs,
            stalls = c.stalls,
        );
    }
    for q in &delta.queues {
        if q.spawned + q.completed == 0 && q.in_flight == 0 {
            continue;
        }
        tracing::info!(
            target: "baton::stats",
            queue = %q.name,
            spawned = q.spawned,
            started = q.started,
            completed = q.completed,
            cancelled = q.cancelled,
            in_flight = q.in_flight,
            waiting = q.waiting,
            poll_time = ?q.poll_time,
            handoffs = q.handoffs,
            detections = q.detections,
        );
    }
}
