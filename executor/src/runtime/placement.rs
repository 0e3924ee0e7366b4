//! Where a runtime's worker threads may run: the CPU set, and how cores map onto it.
//!
//! A runtime's cores are scheduling units, not CPUs: there may be fewer cores than CPUs (a
//! cgroup quota, a runtime that shares the machine) or more (virtual cores, as in Dillon's
//! userland schedulers). [`CpuAffinity`] says whether each core's workers are locked to CPUs of
//! their own or left to the OS within the runtime's set:
//!
//! - **Locked**: with at least as many CPUs as cores, the set is split into one run of
//!   consecutive CPUs per core (one CPU each when the counts match, the kernel's per-CPU
//!   pools); with more cores than CPUs, core `i` keeps to CPU `i mod n`, so virtual cores share
//!   CPUs evenly.
//! - **Unlocked**: every worker may run on every CPU of the set, and the OS balances them.
//!
//! Without an explicit set ([`Builder::cpus`](crate::Builder::cpus)) the set is the building
//! thread's affinity mask, and locking applies only when the runtime has exactly one core per
//! CPU of it: with fewer cores (say a cgroup quota of 1.5 CPUs on a 64-CPU machine) the runtime
//! does not own those CPUs, and pinning its workers to some of them would fight whoever does.

/// How a runtime's worker threads keep to the CPUs of its set (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CpuAffinity {
    /// Each core's workers keep to CPUs of their own (the default): the spare that takes over
    /// a blocked worker starts on the CPU that worker left idle.
    #[default]
    Locked,
    /// Workers may run on any CPU of the runtime's set; the OS moves them.
    Unlocked,
}

/// The CPUs each core's workers are bound to (`None`: left as the thread that starts them
/// is), for `cores` cores over the CPU `set` (sorted, distinct, not empty). `explicit` says
/// whether the set was given ([`Builder::cpus`](crate::Builder::cpus)) rather than read from
/// the affinity mask.
pub(crate) fn place(
    cores: usize,
    set: &[usize],
    explicit: bool,
    affinity: CpuAffinity,
) -> Vec<Option<Vec<usize>>> {
    debug_assert!(!set.is_empty());
    match affinity {
        CpuAffinity::Unlocked if explicit => vec![Some(set.to_vec()); cores],
        CpuAffinity::Unlocked => vec![None; cores],
        CpuAffinity::Locked if !explicit && cores != set.len() => vec![None; cores],
        CpuAffinity::Locked if cores <= set.len() => (0..cores)
            .map(|core| {
                // Runs of consecutive CPUs, the first `set.len() % cores` one longer.
                let (base, extra) = (set.len() / cores, set.len() % cores);
                let start = core * base + core.min(extra);
                let len = base + usize::from(core < extra);
                Some(set[start..start + len].to_vec())
            })
            .collect(),
        CpuAffinity::Locked => (0..cores)
            .map(|core| Some(vec![set[core % set.len()]]))
            .collect(),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn cpus(placement: &[Option<Vec<usize>>]) -> Vec<Vec<usize>> {
        placement
            .iter()
            .map(|p| p.clone().expect("bound"))
            .collect()
    }

    #[test]
    fn locked_gives_each_core_a_cpu_when_the_counts_match() {
        let p = place(4, &[0, 1, 2, 3], false, CpuAffinity::Locked);
        assert_eq!(cpus(&p), [[0], [1], [2], [3]]);
        let p = place(2, &[4, 6], true, CpuAffinity::Locked);
        assert_eq!(cpus(&p), [[4], [6]]);
    }

    #[test]
    fn locked_splits_more_cpus_into_runs_per_core() {
        let p = place(3, &[0, 1, 2, 3, 4, 5, 6, 7], true, CpuAffinity::Locked);
        assert_eq!(
            cpus(&p),
            [vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]],
            "every CPU used once, the runs as even as they can be"
        );
    }

    #[test]
    fn locked_shares_cpus_evenly_among_virtual_cores() {
        let p = place(8, &[2, 3, 5, 7], true, CpuAffinity::Locked);
        assert_eq!(cpus(&p), [[2], [3], [5], [7], [2], [3], [5], [7]]);
    }

    #[test]
    fn without_an_explicit_set_locking_needs_one_core_per_cpu() {
        assert_eq!(
            place(2, &[0, 1, 2, 3], false, CpuAffinity::Locked),
            [None, None]
        );
        assert_eq!(place(8, &[0, 1], false, CpuAffinity::Locked), vec![None; 8]);
    }

    #[test]
    fn unlocked_binds_to_the_whole_set_only_when_one_was_given() {
        let p = place(3, &[1, 2], true, CpuAffinity::Unlocked);
        assert_eq!(cpus(&p), [[1, 2], [1, 2], [1, 2]]);
        assert_eq!(
            place(2, &[0, 1], false, CpuAffinity::Unlocked),
            [None, None]
        );
    }
}
