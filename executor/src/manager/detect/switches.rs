//! Watched polls taken over the moment their worker thread goes to sleep, told by the kernel
//! (per-thread context-switch events, see [`SwitchEvent`]) instead of seen at the monitor's
//! next look.
//!
//! 1. **Start.** The monitor, the first time it sees a watched poll (so a runtime where nothing
//!    blocks unannotated pays no thread and no descriptor), makes a [`SwitchWatch`] and tries to
//!    open an event on its own thread. If both work, it starts the switch thread, which waits on
//!    the watch; if the kernel refuses, or [`Builder::detect_with_perf_events`] turned it off, the
//!    runtime keeps to the monitor's looks ([`Detection::Monitor`]).
//! 2. **Watch a worker.** A worker about to poll a task of a watched spawn site opens its own event
//!    the first time (once per worker thread; it is closed when the worker exits) and adds it to
//!    the watch, keyed by its section word. The event is on only during the worker's watched polls:
//!    the worker turns it on as such a poll starts and off as it ends, so its other context
//!    switches (parks, retirements, other polls) do not wake the switch thread. From then on its
//!    watched polls ring no bell and do not keep the monitor ticking: the monitor judges them at
//!    the detection threshold like any other poll (for CPU hogs), and the switch thread catches
//!    them blocking.
//! 3. **Take over.** The event fires at every context switch of the worker thread; the switch
//!    thread then looks at the worker's poll word. If the worker is in a watched poll outside any
//!    section and its thread is asleep (not merely preempted: it would be runnable), the poll is
//!    taken over as the monitor takes over a blocked poll: claim, uncount, publish, with the same
//!    counters, plus [`CoreStats::switch_detections`]. Switches out of unwatched polls, sections
//!    and parks are ignored: the monitor's looks handle the first two, and a parked worker has
//!    nothing to take over.
//!
//! An event costs the worker nothing while it runs: the kernel counts at each context switch,
//! and the switch thread wakes only then.
//!
//! [`Builder::detect_with_perf_events`]: crate::Builder::detect_with_perf_events
//! [`Detection::Monitor`]: crate::Detection::Monitor
//! [`CoreStats::switch_detections`]: crate::CoreStats::switch_detections

use std::io;

use crate::core::SectionWord;
use crate::scheduler::Shared;
use crate::stats::Counters;
use crate::sync::Arc;
use crate::sys::{SwitchEvent, SwitchWatch, Woken};

/// The switch thread of a runtime, started by the monitor.
#[derive(Debug)]
pub(crate) struct SwitchThread {
    watch: std::sync::Arc<SwitchWatch>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SwitchThread {
    /// Sets up `shared`'s context-switch events (the *start* step of the [module docs](self)), if
    /// its settings ask for them and the kernel grants them; records the outcome in
    /// `shared.switches` either way.
    pub(crate) fn start(shared: &Arc<Shared>) -> Option<SwitchThread> {
        let started = if shared.config.detect && shared.config.perf_events {
            SwitchThread::try_start(shared).ok()
        } else {
            None
        };
        let watch = started.as_ref().map(|s| std::sync::Arc::clone(&s.watch));
        let _ = shared.switches.set(watch);
        started
    }

    fn try_start(shared: &Arc<Shared>) -> io::Result<SwitchThread> {
        // The probe: a kernel that grants the monitor's thread an event grants the workers'.
        drop(SwitchEvent::for_current_thread()?);
        let watch = std::sync::Arc::new(SwitchWatch::new()?);
        let thread = std::thread::Builder::new()
            .name(format!("{}-switches", shared.config.thread_name))
            .spawn({
                let shared = Arc::clone(shared);
                let watch = std::sync::Arc::clone(&watch);
                move || run(&shared, &watch)
            })?;
        Ok(SwitchThread {
            watch,
            thread: Some(thread),
        })
    }

    /// Stops the switch thread and waits for it (the monitor, once shutdown began).
    pub(crate) fn stop(mut self) {
        self.watch.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The switch thread's body: waits for events until the runtime shuts down.
fn run(shared: &Shared, watch: &SwitchWatch) {
    loop {
        let woken = watch.wait(None);
        if shared.is_shutdown() {
            return;
        }
        if let Woken::Switched(tokens) = woken {
            for token in tokens {
                switched(shared, watch, token);
            }
        }
    }
}

/// The token of a worker's event: its section word's address (compared, never dereferenced).
pub(crate) fn token(word: &Arc<SectionWord>) -> u64 {
    std::ptr::from_ref::<SectionWord>(word) as usize as u64
}

/// The worker whose event has `token` left its CPU: the *take over* step of the
/// [module docs](self).
fn switched(shared: &Shared, watch: &SwitchWatch, token: u64) {
    for core in shared.cores.iter() {
        core.for_each_word(|word| {
            if self::token(word) != token {
                return;
            }
            let seen = word.look_poll();
            if !seen.is_polling_outside_section() || !seen.is_watched() {
                return;
            }
            // Where the state cannot be read, a switch in a watched poll counts as blocked.
            if watch.is_asleep(token) == Some(false) {
                return;
            }
            if super::take_over(shared, core, word, seen, true) {
                Counters::add(&core.counters.switch_detections, 1);
            }
        });
    }
}

/// A worker's event, added to the runtime's watch; removed and closed on drop.
#[derive(Debug)]
pub(crate) struct WorkerEvent {
    event: std::sync::Arc<SwitchEvent>,
    token: u64,
    shared: Arc<Shared>,
}

impl WorkerEvent {
    /// Opens an event for the calling worker thread, whose section word is `word`, and adds it to
    /// `shared`'s watch (the *watch a worker* step of the [module docs](self)). `None` if there is
    /// no watch (not yet, or not here) or the kernel refuses.
    pub(crate) fn open(shared: &Arc<Shared>, word: &Arc<SectionWord>) -> Option<WorkerEvent> {
        let watch = shared.switch_watch()?;
        let event = std::sync::Arc::new(SwitchEvent::for_current_thread().ok()?);
        let token = token(word);
        watch.add(&event, token).ok()?;
        Some(WorkerEvent {
            event,
            token,
            shared: Arc::clone(shared),
        })
    }
}

impl WorkerEvent {
    /// Turns the event on for a watched poll, off at its end: a worker's other context
    /// switches (parks, retirements, plain polls and polls handed off at their start) wake
    /// nobody.
    pub(crate) fn set_enabled(&self, on: bool) {
        self.event.set_enabled(on);
    }
}

impl Drop for WorkerEvent {
    fn drop(&mut self) {
        if let Some(watch) = self.shared.switch_watch() {
            watch.remove(&self.event, self.token);
        }
    }
}

/// Whether the worker of `word` has its event on `shared`'s watch, so that the switch thread
/// catches its watched polls blocking.
pub(crate) fn covers(shared: &Shared, word: &Arc<SectionWord>) -> bool {
    shared
        .switch_watch()
        .is_some_and(|watch| watch.covers(token(word)))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::scheduler::Config;

    fn shared(perf_events: bool) -> Arc<Shared> {
        let config = Config {
            perf_events,
            ..Config::default()
        };
        Arc::new(Shared::new(1, config))
    }

    #[test]
    fn the_switch_thread_starts_where_the_kernel_grants_events() {
        let granted = SwitchEvent::for_current_thread();
        let shared = shared(true);
        let started = SwitchThread::start(&shared);
        assert_eq!(
            started.is_some(),
            granted.is_ok(),
            "the monitor uses events exactly where this thread may open one: {granted:?}"
        );
        assert_eq!(shared.switch_watch().is_some(), granted.is_ok());
        if let Err(e) = granted {
            println!("events refused here ({e}): checked the fallback only");
        }
        if let Some(started) = started {
            // The switch thread stops once shutdown began, woken by the watch.
            shared.begin_shutdown();
            started.stop();
        }
    }

    #[test]
    fn turned_off_no_switch_thread_starts() {
        let shared = shared(false);
        assert!(SwitchThread::start(&shared).is_none());
        assert!(shared.switches.get().is_some(), "the decision is recorded");
        assert!(shared.switch_watch().is_none());
    }
}
