//! Looking for work beyond a core's own queues: waking an idle core to search, the last
//! look before parking, stealing from the injectors and other cores (class by class), the
//! starvation check behind mayday calls, and taking a rescuer's tasks out of the queues.

use super::{core_queues, Shared};
use crate::core::{Core, Recheck};
use crate::park::WakeFor;
use crate::queue::{self, Priority, Runnable, TaskQueue};
use crate::stats::Counters;

impl Shared {
    /// Wakes an idle online core, other than `except`, to search for work. Returns whether one
    /// woke.
    ///
    /// A core taken offline after the count was read may be woken: its worker passes the
    /// search on as it goes offline (see `Worker::go_offline`).
    pub(crate) fn wake_sibling(&self, except: usize) -> bool {
        let n = self.online();
        for offset in 1..=n {
            let index = (except + offset) % n;
            if index == except {
                continue;
            }
            let core = &self.cores[index];
            let state = core.state();
            if state.running() == 0 && state.spares() > 0 {
                self.siblings.start_searching();
                if core.wake_one(&self.siblings, WakeFor::Search) {
                    return true;
                }
                self.siblings.stop_searching();
            }
        }
        false
    }

    /// The last look of a worker of `here` about to park (after its fence), or of a handoff:
    /// whether the worker should stay up, because another core's queue or the injector has work, or
    /// because shutdown began after the worker last checked ([shutdown notes](super::shutdown),
    /// beginning: `begin_shutdown` wakes only the workers already parked when it drains the idle
    /// stacks, under the same lock the parking worker pushed itself with).
    pub(crate) fn recheck(&self, here: usize) -> Recheck {
        self.recheck_parking(here, false)
    }

    /// [`Shared::recheck`] for a worker of `here` about to park while its core has work of its
    /// own (`work_here`): then it only needs to know whether shutdown began, and skips the look
    /// at the other cores (which may wait a little on each, see `Core::next_is_stuck`).
    /// A worker of an offline core never stays up for other cores' work.
    pub(crate) fn recheck_parking(&self, here: usize, work_here: bool) -> Recheck {
        if self.is_shutdown() {
            Recheck::Stop
        } else if !work_here && self.is_online(here) && self.has_stealable_work(here, true) {
            Recheck::Elsewhere
        } else {
            Recheck::Nothing
        }
    }

    /// Whether any queue a core could steal from holds work: an injector or another core's
    /// stealable queues. `patient` (a worker about to park) counts another core's next-task
    /// slot only if that core is stuck in one poll, so that a parking worker does not stay up
    /// for a slot its owner is about to take; otherwise (a hint, on busier paths) a full slot
    /// counts at once.
    pub(crate) fn has_stealable_work(&self, except: usize, patient: bool) -> bool {
        self.has_injected_work()
            || self
                .cores
                .iter()
                .any(|core| core.index() != except && core.has_stealable_work(patient))
    }

    /// Takes a task for core `here` from the injector, moving a batch into its local queue.
    pub(crate) fn take_from_injector(&self, here: usize) -> Option<Runnable> {
        let local = &self.cores[here].classes[Priority::Normal].queue;
        queue::steal_into(self.injector_for(Priority::Normal), local)
    }

    /// Searches beyond core `here` for `High` then `Normal` work: the injectors, then the other
    /// cores' queues, taking a batch at a time; `Normal` first when `high_first` is false (the
    /// core ran its `High` burst). `Idle` work is [`Shared::search_idle`]'s.
    pub(crate) fn search(&self, here: usize, high_first: bool) -> Option<Runnable> {
        if !high_first && self.classes_used() {
            // The core ran its `High` burst: a `Normal` task first, if there is one.
            if let Some(found) = self.take_from_injector(here).or_else(|| self.steal(here)) {
                return Some(found);
            }
        }
        if self.classes_used() {
            let found = self.search_class(here, Priority::High);
            if found.is_some() {
                return found;
            }
        }
        self.take_from_injector(here).or_else(|| self.steal(here))
    }

    /// The last resort of core `here`, once nothing of a higher class is runnable on it or
    /// elsewhere: its own `Idle` tasks, then the `Idle` injector, then other cores' `Idle`
    /// queues.
    pub(crate) fn search_idle(&self, here: usize) -> Option<Runnable> {
        if !self.classes_used() {
            return None;
        }
        self.cores[here].classes[Priority::Idle]
            .pop()
            .or_else(|| self.search_class(here, Priority::Idle))
    }

    /// Takes a batch of class `priority` (not `Normal`, whose search also looks at the
    /// next-task slots) into core `here`'s queue of that class: from the class's injector, then
    /// from the other cores' queues of the class.
    fn search_class(&self, here: usize, priority: Priority) -> Option<Runnable> {
        let local = &self.cores[here].classes[priority].queue;
        queue::steal_into(self.injector_for(priority), local).or_else(|| {
            self.steal_with(here, |core| {
                queue::steal_into(&core.classes[priority].queue, local)
            })
        })
    }

    /// Steals a batch of `Normal` tasks for core `here` from the other cores' local queues, or
    /// a victim's next-task slot when its queue is empty and its worker is stuck in one poll.
    pub(crate) fn steal(&self, here: usize) -> Option<Runnable> {
        let normal = Priority::Normal;
        let dest = &self.cores[here].classes[normal].queue;
        self.steal_with(here, |victim| {
            queue::steal_into(&victim.classes[normal].queue, dest).or_else(|| victim.steal_next())
        })
    }

    /// Tries `take` on each core other than `here`, from a different victim each time so one
    /// busy core is not always robbed first.
    fn steal_with(
        &self,
        here: usize,
        take: impl Fn(&Core) -> Option<Runnable>,
    ) -> Option<Runnable> {
        let n = self.cores.len();
        let start = fastrand_index(n);
        (0..n)
            .map(|i| (start + i) % n)
            .filter(|&victim| victim != here)
            .find_map(|victim| take(&self.cores[victim]))
            .inspect(|_| Counters::add(&self.cores[here].counters.steals, 1))
    }

    /// Whether core `index` is starved: it has work queued and no worker running, parked or
    /// being started, while one is in a section (its baton passed on, and no spare could be
    /// had: a thread cap, or the OS refusing threads). Its queue then waits for a section to
    /// end. Work in the injectors counts for a core once no online core has a worker running
    /// or parked (an offline core's parked spares take none of it). The monitor calls the
    /// rescuers for a core starved past the mayday delay.
    pub(crate) fn is_starved(&self, index: usize) -> bool {
        let stuck = |core: &Core| {
            let state = core.state();
            state.running() == 0 && state.spares() == 0 && state.starting() == 0
        };
        let core = &self.cores[index];
        stuck(core)
            && core.state().in_section() > 0
            && (core.has_work()
                || (self.has_injected_work() && self.cores[..self.online()].iter().all(stuck)))
    }

    /// Whether any injector holds a task.
    pub(crate) fn has_injected_work(&self) -> bool {
        self.injectors.iter().any(|injector| !injector.is_empty())
    }

    /// Takes the tasks marked with queue `id` ([`TaskMeta::queue_id`](queue::TaskMeta)), a
    /// rescuer's queue, out of the injectors and the queues of `cores`, leaving the other tasks in
    /// their order, for the rescuer to run. Wakes the cores for what is left, in case a worker came
    /// back from its section and parked while its queue was briefly empty.
    pub(crate) fn take_marked(&self, cores: &[usize], id: u32) -> Vec<Runnable> {
        let mut taken = Vec::new();
        let scanned = self.injectors.iter().map(|q| q as &dyn TaskQueue).chain(
            cores
                .iter()
                .flat_map(|&core| core_queues(&self.cores[core])),
        );
        for queue in scanned {
            for _ in 0..queue.len() {
                let Ok(runnable) = queue.pop() else {
                    break;
                };
                if runnable.metadata().queue_id() == id {
                    taken.push(runnable);
                } else {
                    // Only the next-task slot and the `Normal` local queue are bounded; what
                    // they no longer hold goes to the injector, as on any overflow.
                    queue.put_back(runnable, self.injector_for(Priority::Normal));
                }
            }
        }
        for &core in cores {
            self.notify_here(core);
        }
        taken
    }
}

/// A cheap pseudo-random index below `n`, for spreading steals.
fn fastrand_index(n: usize) -> usize {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u32> = const { Cell::new(0x9E37_79B9) };
    }
    STATE.with(|s| {
        // xorshift32
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.set(x);
        x as usize % n.max(1)
    })
}
