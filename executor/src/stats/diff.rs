//! `later - &earlier`: the activity between two snapshots.
//!
//! Counters subtract (saturating at zero, should a snapshot be older than the one it is
//! subtracted from); what a row has *now* (queue depths, worker counts, tasks in flight) keeps
//! the later snapshot's value. Cores pair by index, queues and spawn sites by name; a row with
//! no partner in the earlier snapshot is kept whole.

use std::ops::Sub;

use super::{CoreStats, QueueStats, SiteStats, Stats, UnblockStats};

impl Sub<&CoreStats> for &CoreStats {
    type Output = CoreStats;

    fn sub(self, earlier: &CoreStats) -> CoreStats {
        CoreStats {
            polls: self.polls.saturating_sub(earlier.polls),
            steals: self.steals.saturating_sub(earlier.steals),
            parks: self.parks.saturating_sub(earlier.parks),
            wake_ups: self.wake_ups.saturating_sub(earlier.wake_ups),
            sections: self.sections.saturating_sub(earlier.sections),
            handoffs: self.handoffs.saturating_sub(earlier.handoffs),
            eager_handoffs: self.eager_handoffs.saturating_sub(earlier.eager_handoffs),
            retirements: self.retirements.saturating_sub(earlier.retirements),
            threads_started: self.threads_started.saturating_sub(earlier.threads_started),
            spawn_failures: self.spawn_failures.saturating_sub(earlier.spawn_failures),
            threads_reaped: self.threads_reaped.saturating_sub(earlier.threads_reaped),
            cap_hits: self.cap_hits.saturating_sub(earlier.cap_hits),
            cap_rescues: self.cap_rescues.saturating_sub(earlier.cap_rescues),
            held_sections: self.held_sections.saturating_sub(earlier.held_sections),
            deferred_tasks: self.deferred_tasks.saturating_sub(earlier.deferred_tasks),
            detected_blocks: self.detected_blocks.saturating_sub(earlier.detected_blocks),
            cpu_hogs: self.cpu_hogs.saturating_sub(earlier.cpu_hogs),
            watched_detections: self
                .watched_detections
                .saturating_sub(earlier.watched_detections),
            switch_detections: self
                .switch_detections
                .saturating_sub(earlier.switch_detections),
            eager_polls: self.eager_polls.saturating_sub(earlier.eager_polls),
            stalls: self.stalls.saturating_sub(earlier.stalls),
            ..self.clone()
        }
    }
}

impl Sub<&QueueStats> for &QueueStats {
    type Output = QueueStats;

    fn sub(self, earlier: &QueueStats) -> QueueStats {
        QueueStats {
            spawned: self.spawned.saturating_sub(earlier.spawned),
            started: self.started.saturating_sub(earlier.started),
            completed: self.completed.saturating_sub(earlier.completed),
            cancelled: self.cancelled.saturating_sub(earlier.cancelled),
            handoffs: self.handoffs.saturating_sub(earlier.handoffs),
            poll_time: self.poll_time.saturating_sub(earlier.poll_time),
            detections: self.detections.saturating_sub(earlier.detections),
            mayday_calls: self.mayday_calls.saturating_sub(earlier.mayday_calls),
            rescued: self.rescued.saturating_sub(earlier.rescued),
            ..self.clone()
        }
    }
}

impl Sub<&UnblockStats> for &UnblockStats {
    type Output = UnblockStats;

    fn sub(self, earlier: &UnblockStats) -> UnblockStats {
        UnblockStats {
            jobs: self.jobs.saturating_sub(earlier.jobs),
            threads_started: self.threads_started.saturating_sub(earlier.threads_started),
            spawn_failures: self.spawn_failures.saturating_sub(earlier.spawn_failures),
            ..self.clone()
        }
    }
}

impl Sub<&SiteStats> for &SiteStats {
    type Output = SiteStats;

    fn sub(self, earlier: &SiteStats) -> SiteStats {
        SiteStats {
            site: self.site.clone(),
            detected_blocks: self.detected_blocks.saturating_sub(earlier.detected_blocks),
            cpu_hogs: self.cpu_hogs.saturating_sub(earlier.cpu_hogs),
        }
    }
}

/// Each of `later`'s rows minus its partner in `earlier` (found by `key`), or whole.
fn pair<T: Clone, K: PartialEq>(later: &[T], earlier: &[T], key: impl Fn(&T) -> K) -> Vec<T>
where
    for<'a> &'a T: Sub<&'a T, Output = T>,
{
    later
        .iter()
        .map(|row| match earlier.iter().find(|e| key(e) == key(row)) {
            Some(before) => row - before,
            None => row.clone(),
        })
        .collect()
}

impl Sub<&Stats> for &Stats {
    type Output = Stats;

    /// The activity between `earlier` and `self` (see the module docs).
    fn sub(self, earlier: &Stats) -> Stats {
        Stats {
            cores: pair(&self.cores, &earlier.cores, |c| c.core),
            injector_depth: self.injector_depth,
            queues: pair(&self.queues, &earlier.queues, |q| q.name.clone()),
            retired_queues: &self.retired_queues - &earlier.retired_queues,
            sites: pair(&self.sites, &earlier.sites, |s| s.site.clone())
                .into_iter()
                .filter(|s| s.detected_blocks > 0 || s.cpu_hogs > 0)
                .collect(),
            unblock: &self.unblock - &earlier.unblock,
            detection: self.detection,
        }
    }
}

impl Sub<&Stats> for Stats {
    type Output = Stats;

    fn sub(self, earlier: &Stats) -> Stats {
        &self - earlier
    }
}

impl Sub for Stats {
    type Output = Stats;

    fn sub(self, earlier: Stats) -> Stats {
        &self - &earlier
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counters_subtract_and_gauges_keep_the_later_value() {
        let earlier = Stats {
            cores: vec![CoreStats {
                polls: 10,
                sections: 4,
                handoffs: 2,
                workers: 3,
                ..CoreStats::default()
            }],
            queues: vec![QueueStats {
                name: "a".into(),
                spawned: 5,
                in_flight: 2,
                ..QueueStats::default()
            }],
            ..Stats::default()
        };
        let later = Stats {
            cores: vec![CoreStats {
                polls: 25,
                sections: 9,
                handoffs: 2,
                workers: 2,
                ..CoreStats::default()
            }],
            queues: vec![
                QueueStats {
                    name: "b".into(),
                    spawned: 1,
                    ..QueueStats::default()
                },
                QueueStats {
                    name: "a".into(),
                    spawned: 8,
                    in_flight: 1,
                    ..QueueStats::default()
                },
            ],
            injector_depth: 4,
            ..Stats::default()
        };
        let delta = later.clone() - &earlier;
        let core = &delta.cores[0];
        assert_eq!((core.polls, core.sections, core.handoffs), (15, 5, 0));
        assert_eq!(core.workers, 2, "a gauge keeps the later value");
        assert_eq!(delta.injector_depth, 4);
        assert_eq!(delta.queues[0].spawned, 1, "a new queue is kept whole");
        assert_eq!((delta.queues[1].spawned, delta.queues[1].in_flight), (3, 1));
        assert_eq!((&later - &later).cores[0].polls, 0);
        assert_eq!((&earlier - &later).cores[0].polls, 0, "saturates");
    }
}
