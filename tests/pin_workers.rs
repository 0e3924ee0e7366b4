//! With one core per CPU, each core's workers keep to their own CPU (unless turned off).

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
