//! The `tracing` feature is off: nothing is recorded, and nothing here costs anything.

use std::panic::Location;

use super::Event;

/// A task's span: nothing without the feature.
#[derive(Debug, Default)]
pub(crate) struct TaskSpan;

/// What a task's schedule function needs to report a wake-up: nothing without the feature.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WakeTag;

impl TaskSpan {
    /// No span.
    #[inline(always)]
    pub(crate) fn new(
        _name: Option<&str>,
        _queue: Option<&str>,
        _site: &'static Location<'static>,
        _id: u64,
    ) -> TaskSpan {
        TaskSpan
    }

    /// Runs `poll`: no span to enter.
    #[inline(always)]
    pub(crate) fn in_span<R>(&self, poll: impl FnOnce() -> R) -> R {
        poll()
    }

    /// Nothing to tag.
    #[inline(always)]
    pub(crate) fn wake_tag(&self) -> WakeTag {
        WakeTag
    }
}

/// A wake-up: not reported.
#[inline(always)]
pub(crate) fn woken(_tag: WakeTag) {}

/// A runtime event: not reported.
#[inline(always)]
pub(crate) fn event(_core: usize, _event: Event<'_>) {}

/// A stall, on standard error.
pub(super) fn report_stall(_core: usize, report: &str) {
    eprintln!("{report}");
}
