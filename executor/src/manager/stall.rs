//! The stall watchdog: a core that has tasks queued and has started no poll for the stall
//! timeout is reported once, with what its workers are doing and where their tasks were
//! spawned, so that a program that stops making progress says why.
//!
//! A stall is what neither a section's handoff nor detection could prevent: every worker the
//! core may have is blocked (the thread caps, or thread creation failing), detection is off,
//! or a poll blocks for less than anything can see and then again. The monitor checks every
//! [`CHECK_INTERVAL`] while the runtime is busy; a report goes to standard error once per
//! stall (to `tracing`, as a `WARN` event, with the `tracing` feature), and the core's
//! `stalls` counter in [`Stats`](crate::Stats) counts it.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::core::Core;
use crate::scheduler::Shared;
use crate::stats::Counters;
use crate::trace;

/// How often the watchdog looks at the cores.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// What the watchdog last saw of one core.
#[derive(Clone, Copy, Debug)]
struct Seen {
    /// The turn of the core's last poll start.
    turn: u32,
    /// Since when the core has shown that turn with work queued.
    since: Instant,
    /// Whether this stall was reported.
    reported: bool,
}

/// The watchdog's memory of every core.
#[derive(Debug)]
pub(crate) struct Stalls {
    /// The stall timeout; `None` when the watchdog is off.
    timeout: Option<Duration>,
    cores: Vec<Option<Seen>>,
    next_check: Instant,
}

impl Stalls {
    /// A watchdog with `shared`'s settings.
    pub(crate) fn new(shared: &Shared) -> Stalls {
        Stalls {
            timeout: shared.config.stall_timeout,
            cores: vec![None; shared.cores.len()],
            next_check: Instant::now(),
        }
    }

    /// Looks at every core if a check is due; reports cores stalled for the timeout.
    pub(crate) fn check(&mut self, shared: &Shared, now: Instant) {
        let Some(timeout) = self.timeout else {
            return;
        };
        if now < self.next_check {
            return;
        }
        self.next_check = now.checked_add(CHECK_INTERVAL).unwrap_or(now);
        for (core, seen) in shared.cores.iter().zip(self.cores.iter_mut()) {
            if !core.has_work() {
                *seen = None;
                continue;
            }
            let turn = core.turn();
            let current = match *seen {
                Some(s) if s.turn == turn => s,
                _ => Seen {
                    turn,
                    since: now,
                    reported: false,
                },
            };
            let stalled_for = now.saturating_duration_since(current.since);
            let reported = current.reported || {
                let due = stalled_for >= timeout;
                if due {
                    Counters::add(&core.counters.stalls, 1);
                    trace::stall(core.index(), &report(core, stalled_for));
                }
                due
            };
            *seen = Some(Seen {
                reported,
                ..current
            });
        }
    }
}

/// The text of a stall report for `core`.
fn report(core: &Core, stalled_for: Duration) -> String {
    let state = core.state();
    let mut text = format!(
        "baton: core {} has started no task for {:.1} s with {} queued \
         ({} running, {} in sections, {} spares, {} workers).",
        core.index(),
        stalled_for.as_secs_f64(),
        core.stats().queue_depth,
        state.running(),
        state.in_section(),
        state.spares(),
        state.workers(),
    );
    core.for_each_word(|word| {
        if !word.is_polling() {
            return;
        }
        let what = if word.in_section() {
            "in a blocking section"
        } else {
            "in one poll"
        };
        let site = word
            .site()
            .map_or_else(|| "an unknown place".to_owned(), ToString::to_string);
        let task = match word.name() {
            Some(name) => format!("task {:?}", name.as_str()),
            None => "a task".to_owned(),
        };
        let _ = write!(text, "\n  a worker is {what} of {task} spawned at {site}");
    });
    text.push_str(
        "\n  (blocking calls in sections hand the core to a spare; see the thread caps, \
         and `Builder::stall_timeout` to change or silence this report)",
    );
    text
}
