//! How the monitor thread sleeps, and how workers wake it without paying for it when it is
//! already awake.
//!
//! The monitor is in one of three modes:
//!
//! 1. **Fast**: sections were seen recently; it looks every tick (half the grace period), or
//!    less often while the sections it sees all turn out short (the monitor's pace).
//! 2. **Slow**: no section for a while; it backs off, doubling its interval up to a limit.
//! 3. **Asleep**: the runtime is idle (no worker runs, none is in a section); it waits with no
//!    timeout (or until a surplus spare's keep-alive expires), so an idle runtime has no
//!    periodic wake-ups.
//!
//! A section entry rings the bell unless the monitor is fast; a worker starting to run on an
//! idle core rings it only if the monitor is asleep. Either ring switches the mode to fast with
//! a swap, so only the first ringer of an episode pays for the wake-up; everyone else pays a
//! relaxed load.
//!
//! A ring also notes when it happened, and the monitor's wait returns that time: the ring marks
//! the start of the activity the monitor is to look at (a section, or a core that starts
//! running and may enter one), so the monitor dates the grace period of a section it then sees
//! for the first time from the ring, not from its own, later look.
//!
//! Going to sleep is a store-then-load handshake: the monitor stores `Asleep`, fences, then
//! checks every core for activity; a worker's transition to running (a SeqCst read-modify-write
//! of its core's state) is followed by a SeqCst load of the mode. One of the two sees the other.

use std::time::{Duration, Instant};

use crate::sync::{fence, lock, AtomicU8, Condvar, Mutex, Ordering};

const FAST: u8 = 0;
const SLOW: u8 = 1;
const ASLEEP: u8 = 2;

/// The monitor's mode and its wake-up.
#[derive(Debug, Default)]
pub(crate) struct Bell {
    mode: AtomicU8,
    /// When the bell was rung, if it was since the monitor's last wait; consumed by the wait.
    rung: Mutex<Option<Instant>>,
    cvar: Condvar,
}

impl Bell {
    /// A bell for a monitor in fast mode.
    pub(crate) fn new() -> Bell {
        Bell::default()
    }

    /// A section started: make sure the monitor looks soon.
    pub(crate) fn section_started(&self) {
        if self.mode.load(Ordering::Relaxed) != FAST {
            self.ring();
        }
    }

    /// A core started running: wake the monitor if it sleeps.
    pub(crate) fn core_started(&self) {
        // SeqCst: pairs with the fence in `sleep` (see the module docs).
        if self.mode.load(Ordering::SeqCst) == ASLEEP {
            self.ring();
        }
    }

    /// Wakes the monitor and switches it to fast mode (used directly for shutdown too).
    pub(crate) fn ring(&self) {
        if self.mode.swap(FAST, Ordering::SeqCst) != FAST {
            // The clock is read on this path only: it ends in a wake-up system call anyway.
            lock(&self.rung).get_or_insert_with(Instant::now);
            self.cvar.notify_one();
        }
    }

    /// Monitor: waits `interval` in fast or slow mode (`slow` says which). Returns when the
    /// bell was rung, if it was.
    pub(crate) fn tick(&self, interval: Duration, slow: bool) -> Option<Instant> {
        self.mode
            .store(if slow { SLOW } else { FAST }, Ordering::Relaxed);
        self.wait(Some(interval))
    }

    /// Monitor: sleeps until rung, or until `timeout` if given, unless `active` (checked after
    /// the mode is published) reports activity. Returns when the bell was rung, if it was.
    pub(crate) fn sleep(
        &self,
        timeout: Option<Duration>,
        active: impl FnOnce() -> bool,
    ) -> Option<Instant> {
        self.mode.store(ASLEEP, Ordering::SeqCst);
        // SeqCst: pairs with the SeqCst load in `core_started`.
        fence(Ordering::SeqCst);
        if active() {
            self.mode.store(FAST, Ordering::Relaxed);
            return None;
        }
        self.wait(timeout)
    }

    /// Waits until rung or until `timeout` passes, then consumes the ring and returns its time.
    fn wait(&self, timeout: Option<Duration>) -> Option<Instant> {
        let mut rung = lock(&self.rung);
        if rung.is_none() {
            rung = match timeout {
                Some(t) => {
                    self.cvar
                        .wait_timeout(rung, t)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.cvar.wait(rung).unwrap_or_else(|p| p.into_inner()),
            };
        }
        rung.take()
    }
}
