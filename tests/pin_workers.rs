//! Where workers run: with one core per CPU, each core's workers keep to their own CPU
//! (unless turned off); a runtime bound to a CPU set (`Builder::cpus`) keeps its workers in it,
//! locked per core or unlocked, with as many cores as CPUs by default or any other number.

#![cfg(target_os = "linux")]

/// The calling thread's allowed CPUs, as the kernel lists them (for example "0-1" or "1").
fn allowed_cpus() -> String {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The allowed CPUs of a worker of each core of a runtime with one core per CPU.
fn worker_cpus(pin: bool) -> Vec<String> {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let rt = baton::Runtime::builder()
        .cores(cpus)
        .pin_workers(pin)
        .build()
        .unwrap();
    (0..cpus)
        .map(|core| {
            rt.block_on(rt.handle().spawn_on(core, async { allowed_cpus() }))
                .unwrap()
        })
        .collect()
}

#[test]
fn each_core_keeps_to_its_own_cpu() {
    let cpus = worker_cpus(true);
    for list in &cpus {
        assert!(
            list.parse::<usize>().is_ok(),
            "a pinned worker may run on one CPU only: {cpus:?}"
        );
    }
    let distinct: std::collections::HashSet<_> = cpus.iter().collect();
    assert_eq!(
        distinct.len(),
        cpus.len(),
        "two cores share a CPU: {cpus:?}"
    );
}

#[test]
fn pinning_can_be_turned_off() {
    let all = allowed_cpus();
    for list in worker_cpus(false) {
        assert_eq!(list, all);
    }
}

/// The CPUs this process may run on, by number.
fn allowed_cpu_numbers() -> Vec<usize> {
    let list = allowed_cpus();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The allowed CPUs of a worker of each core of `rt`.
fn cpus_of_cores(rt: &baton::Runtime) -> Vec<String> {
    (0..rt.stats().cores.len())
        .map(|core| {
            rt.block_on(rt.handle().spawn_on(core, async { allowed_cpus() }))
                .unwrap()
        })
        .collect()
}

#[test]
fn virtual_cores_share_the_cpus_of_their_set() {
    let cpu = allowed_cpu_numbers()[0];
    let rt = baton::Runtime::builder()
        .cpus([cpu])
        .cores(3)
        .build()
        .unwrap();
    assert_eq!(cpus_of_cores(&rt), vec![cpu.to_string(); 3]);
}

#[test]
fn a_cpu_set_gives_the_default_core_count_and_keeps_workers_in_it() {
    let cpu = *allowed_cpu_numbers().last().unwrap();
    let rt = baton::Runtime::builder().cpus([cpu]).build().unwrap();
    assert_eq!(rt.stats().cores.len(), 1, "one core per CPU of the set");
    assert_eq!(cpus_of_cores(&rt), [cpu.to_string()]);
}

#[test]
fn unlocked_workers_may_run_anywhere_in_the_set() {
    let cpus = allowed_cpu_numbers();
    let rt = baton::Runtime::builder()
        .cpus(cpus.iter().copied())
        .cores(3)
        .affinity(baton::CpuAffinity::Unlocked)
        .build()
        .unwrap();
    assert_eq!(cpus_of_cores(&rt), vec![allowed_cpus(); 3]);
}

#[test]
fn fewer_cores_than_cpus_lock_each_core_to_a_run_of_cpus() {
    let cpus = allowed_cpu_numbers();
    if cpus.len() < 2 {
        return; // One CPU: nothing to split.
    }
    let rt = baton::Runtime::builder()
        .cpus(cpus.iter().copied())
        .cores(1)
        .build()
        .unwrap();
    assert_eq!(
        cpus_of_cores(&rt),
        [allowed_cpus()],
        "the one core has every CPU"
    );
}

#[test]
fn runtimes_on_disjoint_sets_keep_apart() {
    let cpus = allowed_cpu_numbers();
    if cpus.len() < 2 {
        return; // One CPU: no two disjoint sets.
    }
    let (a, b) = (cpus[0], cpus[1]);
    let first = baton::Runtime::builder().cpus([a]).build().unwrap();
    let second = baton::Runtime::builder().cpus([b]).build().unwrap();
    assert_eq!(cpus_of_cores(&first), [a.to_string()]);
    assert_eq!(cpus_of_cores(&second), [b.to_string()]);
}

#[test]
fn a_cpu_set_outside_the_affinity_mask_is_rejected() {
    let err = baton::Runtime::builder().cpus([]).build().unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    assert!(err.to_string().contains("at least one CPU"), "{err}");
    let outside = (0..4096)
        .find(|c| !allowed_cpu_numbers().contains(c))
        .unwrap();
    let err = baton::Runtime::builder()
        .cpus([outside])
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    assert!(err.to_string().contains(&format!("CPU {outside}")), "{err}");
}
