//! How the runtime treats the sections of a site whose level it learnt (the *managed concurrency*
//! rule of docs/architecture.md): the learner is taught with a fake clock, so the level is known,
//! and real sections on a one-core runtime show what it does to them.
//!
//! The runtimes here have a grace period of minutes and no detection of polls that block
//! outside sections: the monitor hands a held section off only after the longer of the grace
//! period and the held grace, and takes no poll over, so on a loaded machine nothing is handed
//! off behind the test's back, and nothing depends on timing.

use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use baton_testing::{Gate, HANG};
use futures::channel::oneshot;
use std::time::{Duration, Instant};

use crate::scheduler::Shared;
use crate::sites::level::{MAX_LEVEL, START_LEVEL};
use crate::sites::Managed;
use crate::{CoreStats, Runtime};

/// Far longer than any test here: the monitor never hands a section off by itself.
const GRACE: Duration = Duration::from_secs(600);
/// One section's duration when it runs alone, in the figures the learner is taught.
const UNIT: Duration = Duration::from_micros(500);

fn runtime() -> Runtime {
    Runtime::builder()
        .cores(1)
        .grace_period(GRACE)
        // No poll outside a section is taken over either (a loaded machine may keep one of
        // the tests' polls off the CPU past the detection threshold).
        .detect_blocking(false)
        .build()
        .unwrap()
}

fn core(rt: &Runtime) -> CoreStats {
    rt.stats().cores[0].clone()
}

/// Runs `f` (if any) in a section at the call site of whoever calls this, and returns that
/// site: each caller below is one call site, whose location a test can learn without
/// running it.
#[track_caller]
fn section_at(f: Option<&dyn Fn()>) -> &'static Location<'static> {
    if let Some(f) = f {
        baton_blocking::section(f);
    }
    Location::caller()
}

/// A call site whose calls wait for one another (behind one lock, in the figures taught).
fn lock_bound(f: Option<&dyn Fn()>) -> &'static Location<'static> {
    section_at(f)
}

/// A call site whose calls do not wait for one another.
fn independent(f: Option<&dyn Fn()>) -> &'static Location<'static> {
    section_at(f)
}

/// A call site nothing was taught about.
fn fresh(f: Option<&dyn Fn()>) -> &'static Location<'static> {
    section_at(f)
}

/// The managed record of `site` after one of its sections blocked, as the monitor records it.
fn learnt<'a>(shared: &'a Shared, site: &'static Location<'static>) -> &'a Managed {
    shared.sites.record_blocked(site);
    shared
        .sites
        .managed(site)
        .expect("a site that blocked is managed")
}

/// Teaches `managed` a second of a site's sections, with `in_flight(round)` of them at once in
/// each round and each taking `took(level)`, on a fake clock running from now (the learner
/// was made just before). The sections the tests then run all start before any of them ends,
/// so the learner takes no further step before the tests have looked.
fn teach(managed: &Managed, in_flight: impl Fn(u32) -> u32, took: impl Fn(u32) -> Duration) {
    let start = Instant::now();
    let mut now = start;
    for round in 1.. {
        let level = in_flight(round).max(1);
        let took = took(level);
        now += took;
        if now > start + Duration::from_secs(1) {
            break;
        }
        for _ in 0..level {
            managed.learn(now, level as usize, took);
        }
    }
}

/// Spawns `n` tasks that each wait at `gate` in a section at `site`, and waits (yielding) until
/// all of them are in their sections, handed off; returns their handles.
async fn blocked_at(
    rt: &crate::Handle,
    n: usize,
    site: fn(Option<&dyn Fn()>) -> &'static Location<'static>,
    gate: &Arc<Gate>,
) -> Vec<crate::JoinHandle<()>> {
    let tasks = (0..n)
        .map(|_| {
            let gate = Arc::clone(gate);
            crate::spawn(async move {
                site(Some(&|| gate.wait()));
            })
        })
        .collect();
    // And until the core has a spare again: the monitor starts one in the background when a
    // handoff took the last, and no thread start may overlap what the tests look at next.
    let deadline = Instant::now() + HANG;
    loop {
        let core = rt.stats().cores[0].clone();
        if core.in_section >= n as u64 && core.spares >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sections never all handed off: {core:?}"
        );
        crate::yield_now().await;
    }
    tasks
}

/// The core's counters just before a section beyond `site`'s level, inside it, and after it.
struct Beyond {
    before: CoreStats,
    during: CoreStats,
    after: CoreStats,
}

/// Runs `level` sections at `site` that wait at a gate (each with a replacement), then one more
/// in this task, beyond the level, which opens the gate; returns the core's counters around it
/// once every section completed.
fn one_beyond_the_level(
    rt: &Runtime,
    site: fn(Option<&dyn Fn()>) -> &'static Location<'static>,
    level: usize,
) -> Beyond {
    let handle = rt.handle();
    rt.block_on(rt.spawn(async move {
        let gate = Arc::new(Gate::default());
        let tasks = blocked_at(&handle, level, site, &gate).await;
        let before = handle.stats().cores[0].clone();
        let during = Mutex::new(None);
        site(Some(&|| {
            *during.lock().unwrap() = Some(handle.stats().cores[0].clone());
            gate.open();
        }));
        let after = handle.stats().cores[0].clone();
        for task in tasks {
            task.await.unwrap();
        }
        let during = during.into_inner().unwrap().expect("the section ran");
        Beyond {
            before,
            during,
            after,
        }
    }))
    .unwrap()
}

/// Checks that the section beyond the level of [`one_beyond_the_level`] was held: it kept its
/// core (no handoff, no spare woken, no thread started for it), and was counted as held.
fn assert_held(
    Beyond {
        before,
        during,
        after,
    }: &Beyond,
    level: usize,
) {
    assert_eq!(before.in_section, level as u64, "{before:?}");
    assert_eq!(
        (during.running, during.in_section),
        (1, level as u64),
        "the section beyond the level passed its core on: {during:?}"
    );
    assert_eq!(during.held_sections, before.held_sections + 1, "{during:?}");
    assert_eq!(
        (during.handoffs, during.eager_handoffs),
        (before.handoffs, before.eager_handoffs),
        "the section beyond the level was handed off: {during:?}"
    );
    assert_eq!(
        (during.spares, during.threads_started),
        (before.spares, before.threads_started),
        "a spare was woken or a thread started for the section beyond the level: {during:?}"
    );
    assert_eq!(after.handoffs, before.handoffs, "{after:?}");
}

/// A runtime whose `lock_bound` site learnt the low level of calls behind one lock; returns
/// it and that level.
fn lock_bound_runtime() -> (Runtime, usize) {
    let rt = runtime();
    let shared = Arc::clone(rt.handle().shared());
    let managed = learnt(&shared, lock_bound(None));
    // Behind one lock: a section takes as long as the sections in flight with it.
    teach(managed, |round| round.min(8), |level| UNIT * level);
    let level = managed.admitted();
    assert!(level <= 2, "a lock-bound site learnt a level of {level}");
    (rt, level)
}

#[test]
fn a_section_beyond_a_lock_bound_sites_level_is_held_and_still_completes() {
    let (rt, level) = lock_bound_runtime();
    let beyond = one_beyond_the_level(&rt, lock_bound, level);
    assert_held(&beyond, level);
}

#[test]
fn a_fresh_sites_first_burst_gets_replacements_up_to_its_start_level_only() {
    let rt = runtime();
    let shared = Arc::clone(rt.handle().shared());
    let managed = learnt(&shared, fresh(None));
    let level = START_LEVEL as usize;
    assert_eq!(managed.admitted(), level);
    // No section of the burst has ended yet: the ramp has no figures to double the level.
    let beyond = one_beyond_the_level(&rt, fresh, level);
    assert_held(&beyond, level);
}

#[test]
fn an_independent_sites_sections_keep_their_replacements() {
    let rt = runtime();
    let shared = Arc::clone(rt.handle().shared());
    let managed = learnt(&shared, independent(None));
    // Calls that do not wait for each other: the same duration however many run at once.
    teach(managed, |round| round.min(24), |_| UNIT);
    assert_eq!(managed.admitted(), MAX_LEVEL as usize, "it learnt a limit");

    // More at once than a fresh site starts with: each hands its core on.
    let n = START_LEVEL as usize + 2;
    let handle = rt.handle();
    let gate = Arc::new(Gate::default());
    let before = core(&rt);
    let during = rt
        .block_on(rt.spawn({
            let handle = handle.clone();
            async move {
                let tasks = blocked_at(&handle, n, independent, &gate).await;
                let during = handle.stats().cores[0].clone();
                gate.open();
                for task in tasks {
                    task.await.unwrap();
                }
                during
            }
        }))
        .unwrap();
    assert_eq!(during.in_section, n as u64, "{during:?}");
    assert_eq!(during.held_sections, before.held_sections, "{during:?}");
    assert_eq!(
        during.eager_handoffs,
        before.eager_handoffs + n as u64,
        "{during:?}"
    );
}

/// Spawns a task that enters a quick section at `site`, then waits for `go` and sets `polled`;
/// waits (yielding) until its section is over, and returns its handle and the sender of `go`.
async fn entered_then_waiting(
    site: fn(Option<&dyn Fn()>) -> &'static Location<'static>,
    polled: &Arc<AtomicBool>,
    after: impl FnOnce() + Send + 'static,
) -> (crate::JoinHandle<()>, oneshot::Sender<()>) {
    let (go, wait) = oneshot::channel();
    let entered = Arc::new(AtomicBool::new(false));
    let task = crate::spawn({
        let (entered, polled) = (Arc::clone(&entered), Arc::clone(polled));
        async move {
            site(Some(&|| {}));
            entered.store(true, Ordering::SeqCst);
            wait.await.unwrap();
            polled.store(true, Ordering::SeqCst);
            after();
        }
    });
    let deadline = Instant::now() + HANG;
    while !entered.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the task never entered its section"
        );
        crate::yield_now().await;
    }
    (task, go)
}

/// Yields until the core counts `n` deferred tasks more than `before`.
async fn until_deferred(handle: &crate::Handle, before: &CoreStats, n: u64) {
    let deadline = Instant::now() + HANG;
    loop {
        let core = handle.stats().cores[0].clone();
        if core.deferred_tasks >= before.deferred_tasks + n {
            return;
        }
        assert!(Instant::now() < deadline, "no task was deferred: {core:?}");
        crate::yield_now().await;
    }
}

#[test]
fn a_task_of_a_site_at_its_level_waits_for_a_turn_instead_of_holding_its_core() {
    let (rt, level) = lock_bound_runtime();
    let handle = rt.handle();
    let polled = Arc::new(AtomicBool::new(false));
    let (before, during) = rt
        .block_on(rt.spawn({
            let (handle, polled) = (handle.clone(), Arc::clone(&polled));
            async move {
                // A task whose last poll entered the site, woken while the site has all the
                // sections in flight its level admits.
                let (task, go) = entered_then_waiting(lock_bound, &polled, || {}).await;
                let gate = Arc::new(Gate::default());
                let tasks = blocked_at(&handle, level, lock_bound, &gate).await;
                let before = handle.stats().cores[0].clone();
                go.send(()).unwrap();
                until_deferred(&handle, &before, 1).await;
                assert!(
                    !polled.load(Ordering::SeqCst),
                    "the deferred task was polled while the site was at its level"
                );
                let during = handle.stats().cores[0].clone();
                gate.open();
                for task in tasks {
                    task.await.unwrap();
                }
                task.await.unwrap();
                (before, during)
            }
        }))
        .unwrap();
    assert!(
        polled.load(Ordering::SeqCst),
        "a section's end let the task go"
    );
    assert_eq!(
        (during.held_sections, during.running),
        (before.held_sections, 1),
        "the deferred task held its core: {during:?}"
    );
}

#[test]
fn tasks_deferred_at_a_site_whose_sections_wait_on_them_are_let_go() {
    let (rt, level) = lock_bound_runtime();
    let handle = rt.handle();
    let polled = Arc::new(AtomicBool::new(false));
    rt.block_on(rt.spawn({
        let (handle, polled) = (handle.clone(), Arc::clone(&polled));
        async move {
            // The sections in flight wait for the deferred task itself (several kinds of calls
            // share one site): only the monitor's look can let it go.
            let gate = Arc::new(Gate::default());
            let (task, go) = entered_then_waiting(lock_bound, &polled, {
                let gate = Arc::clone(&gate);
                move || gate.open()
            })
            .await;
            let tasks = blocked_at(&handle, level, lock_bound, &gate).await;
            let before = handle.stats().cores[0].clone();
            go.send(()).unwrap();
            until_deferred(&handle, &before, 1).await;
            for task in tasks {
                task.await.unwrap();
            }
            task.await.unwrap();
        }
    }))
    .unwrap();
    assert!(polled.load(Ordering::SeqCst));
}
