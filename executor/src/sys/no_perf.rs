//! Where there are no per-thread context-switch events (other systems, and loom models): the
//! same interface as `perf.rs`, refusing to open, so detection keeps to the monitor's looks.

use std::io;
use std::time::Duration;

/// A thread's context switches: never opened here.
#[derive(Debug)]
pub(crate) struct SwitchEvent(());

impl SwitchEvent {
    /// Always refuses: there are no such events here.
    pub(crate) fn for_current_thread() -> io::Result<SwitchEvent> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Never called: no event exists.
    pub(crate) fn set_enabled(&self, _on: bool) {}
}

/// What a [`SwitchWatch::wait`] returned.
#[derive(Debug, PartialEq, Eq)]
#[allow(dead_code)] // The interface of `perf.rs`; no watch exists here to wait on.
pub(crate) enum Woken {
    /// Events fired: the tokens they were added with.
    Switched(Vec<u64>),
    /// [`SwitchWatch::wake`] was called.
    Told,
    /// Neither, within the timeout.
    TimedOut,
}

/// A set of events to wait on: never made here.
#[derive(Debug)]
pub(crate) struct SwitchWatch(());

impl SwitchWatch {
    /// Always refuses: there are no such events here.
    pub(crate) fn new() -> io::Result<SwitchWatch> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Never called: no watch exists.
    pub(crate) fn add(&self, _event: &std::sync::Arc<SwitchEvent>, _token: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Never called: no watch exists.
    pub(crate) fn remove(&self, _event: &SwitchEvent, _token: u64) {}

    /// Never called: no watch exists.
    pub(crate) fn covers(&self, _token: u64) -> bool {
        false
    }

    /// Never called: no watch exists.
    pub(crate) fn is_asleep(&self, _token: u64) -> Option<bool> {
        None
    }

    /// Never called: no watch exists.
    pub(crate) fn wait(&self, _timeout: Option<Duration>) -> Woken {
        Woken::Told
    }

    /// Never called: no watch exists.
    pub(crate) fn wake(&self) {}
}
