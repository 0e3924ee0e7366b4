//! How a [`Stats`] snapshot prints: one aligned table per kind of row (cores, work queues,
//! spawn sites), headed by the field names, and a one-line legend.
//!
//! Each table is a list of columns, each a field name and how to read it from a row, so a new
//! counter is one more line here.

use std::fmt;

use super::{CoreStats, QueueStats, SiteStats, Stats, UnblockStats};

/// One column: the field's name, and its value in a row.
type Column<T> = (&'static str, fn(&T) -> String);

/// The columns of the cores' table.
const CORE_COLUMNS: &[Column<CoreStats>] = &[
    ("core", |c| c.core.to_string()),
    ("offline", |c| {
        if c.offline { "yes" } else { "no" }.to_owned()
    }),
    ("polls", |c| c.polls.to_string()),
    ("steals", |c| c.steals.to_string()),
    ("parks", |c| c.parks.to_string()),
    ("wake_ups", |c| c.wake_ups.to_string()),
    ("queue_depth", |c| c.queue_depth.to_string()),
    ("running", |c| c.running.to_string()),
    ("spares", |c| c.spares.to_string()),
    ("in_section", |c| c.in_section.to_string()),
    ("workers", |c| c.workers.to_string()),
    ("sections", |c| c.sections.to_string()),
    ("handoffs", |c| c.handoffs.to_string()),
    ("eager_handoffs", |c| c.eager_handoffs.to_string()),
    ("retirements", |c| c.retirements.to_string()),
    ("threads_started", |c| c.threads_started.to_string()),
    ("threads_reaped", |c| c.threads_reaped.to_string()),
    ("spawn_failures", |c| c.spawn_failures.to_string()),
    ("cap_hits", |c| c.cap_hits.to_string()),
    ("cap_rescues", |c| c.cap_rescues.to_string()),
    ("held_sections", |c| c.held_sections.to_string()),
    ("deferred_tasks", |c| c.deferred_tasks.to_string()),
    ("detected_blocks", |c| c.detected_blocks.to_string()),
    ("cpu_hogs", |c| c.cpu_hogs.to_string()),
    ("watched_detections", |c| c.watched_detections.to_string()),
    ("switch_detections", |c| c.switch_detections.to_string()),
    ("eager_polls", |c| c.eager_polls.to_string()),
    ("stalls", |c| c.stalls.to_string()),
];

/// The columns of the work queues' table.
const QUEUE_COLUMNS: &[Column<QueueStats>] = &[
    ("queue", |q| q.name.clone()),
    ("spawned", |q| q.spawned.to_string()),
    ("started", |q| q.started.to_string()),
    ("completed", |q| q.completed.to_string()),
    ("cancelled", |q| q.cancelled.to_string()),
    ("in_flight", |q| q.in_flight.to_string()),
    ("waiting", |q| q.waiting.to_string()),
    ("poll_time", |q| duration(q.poll_time)),
    ("handoffs", |q| q.handoffs.to_string()),
    ("detections", |q| q.detections.to_string()),
    ("mayday_calls", |q| q.mayday_calls.to_string()),
    ("rescued", |q| q.rescued.to_string()),
];

/// The columns of the `unblock` pool's one-row table.
const UNBLOCK_COLUMNS: &[Column<UnblockStats>] = &[
    ("unblock", |_| "pool".to_owned()),
    ("threads", |u| u.threads.to_string()),
    ("idle", |u| u.idle.to_string()),
    ("queued", |u| u.queued.to_string()),
    ("jobs", |u| u.jobs.to_string()),
    ("threads_started", |u| u.threads_started.to_string()),
    ("spawn_failures", |u| u.spawn_failures.to_string()),
];

/// The columns of the spawn sites' table.
const SITE_COLUMNS: &[Column<SiteStats>] = &[
    ("site", |s| s.site.clone()),
    ("detected_blocks", |s| s.detected_blocks.to_string()),
    ("cpu_hogs", |s| s.cpu_hogs.to_string()),
];

/// A duration to a tenth of its unit, or `0`.
fn duration(d: std::time::Duration) -> String {
    if d.is_zero() {
        "0".to_owned()
    } else {
        format!("{d:.1?}")
    }
}

/// The legend printed under the tables.
const LEGEND: &str =
    "legend: offline, queue_depth, running, spares, in_section, workers, in_flight, \
                      waiting, threads, idle and queued are now; every other column counts since \
                      the start (or since the earlier snapshot, in a difference); see baton's \
                      docs/observability.md";

/// Writes `rows` as a table: the first column left-aligned, the others right-aligned, each as
/// wide as its widest cell.
fn write_table<T>(f: &mut fmt::Formatter<'_>, columns: &[Column<T>], rows: &[&T]) -> fmt::Result {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|(_, value)| value(row)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            cells
                .iter()
                .map(|row| row[i].len())
                .fold(name.len(), usize::max)
        })
        .collect();
    let names: Vec<String> = columns.iter().map(|(name, _)| (*name).to_owned()).collect();
    for line in std::iter::once(&names).chain(&cells) {
        for (i, (cell, width)) in line.iter().zip(&widths).enumerate() {
            if i == 0 {
                write!(f, "{cell:<width$}")?;
            } else {
                write!(f, "  {cell:>width$}")?;
            }
        }
        writeln!(f)?;
    }
    Ok(())
}

impl fmt::Display for Stats {
    /// The cores' table, the injector's depth, the work queues' table (live queues, then the
    /// retired ones' total if any), the spawn sites' table if any, and the legend.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_table(f, CORE_COLUMNS, &self.cores.iter().collect::<Vec<_>>())?;
        writeln!(f, "injector_depth: {}", self.injector_depth)?;
        writeln!(f, "detection: {}", self.detection.name())?;
        let mut queues: Vec<&QueueStats> = self.queues.iter().collect();
        if self.retired_queues.spawned > 0 {
            queues.push(&self.retired_queues);
        }
        if !queues.is_empty() {
            writeln!(f)?;
            write_table(f, QUEUE_COLUMNS, &queues)?;
        }
        if !self.sites.is_empty() {
            writeln!(f)?;
            write_table(f, SITE_COLUMNS, &self.sites.iter().collect::<Vec<_>>())?;
        }
        if self.unblock.threads_started > 0 || self.unblock.spawn_failures > 0 {
            writeln!(f)?;
            write_table(f, UNBLOCK_COLUMNS, &[&self.unblock])?;
        }
        write!(f, "{LEGEND}")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_heading_is_a_field_name_and_columns_line_up() {
        let mut stats = Stats::default();
        stats.cores.push(CoreStats {
            core: 0,
            polls: 123_456_789,
            ..CoreStats::default()
        });
        stats.cores.push(CoreStats {
            core: 1,
            ..CoreStats::default()
        });
        let text = stats.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let headings: Vec<&str> = lines[0].split_whitespace().collect();
        let debug = format!("{:?}", stats.cores[0]);
        for heading in &headings {
            assert!(
                debug.contains(&format!("{heading}: ")),
                "{heading} is not a field of CoreStats"
            );
        }
        assert_eq!(headings.len(), CORE_COLUMNS.len());
        // Every row as long as the headings, and each value ends where its heading ends.
        assert_eq!(lines[1].len(), lines[0].len());
        assert_eq!(lines[2].len(), lines[0].len());
        let polls_end = lines[0].find("polls").unwrap() + "polls".len();
        assert_eq!(lines[1].find("123456789").unwrap() + 9, polls_end);
        assert!(text.ends_with(LEGEND));
    }

    #[test]
    fn queues_and_sites_get_their_own_tables() {
        let mut stats = Stats::default();
        stats.queues.push(QueueStats {
            name: "journal".into(),
            spawned: 7,
            ..QueueStats::default()
        });
        stats.retired_queues = QueueStats {
            name: QueueStats::RETIRED.into(),
            spawned: 3,
            ..QueueStats::default()
        };
        stats.sites.push(SiteStats {
            site: "src/main.rs:3:5".into(),
            detected_blocks: 2,
            cpu_hogs: 0,
        });
        let text = stats.to_string();
        assert!(text.contains("\nqueue      spawned"), "{text}");
        assert!(text.contains("\njournal          7"), "{text}");
        assert!(text.contains("\n(retired)        3"), "{text}");
        assert!(
            text.contains("\nsite             detected_blocks  cpu_hogs\n"),
            "{text}"
        );
    }
}
