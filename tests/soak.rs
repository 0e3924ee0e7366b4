//! A soak of everything a task can do at once, across plain spawns and every kind of work
//! queue, with instrumented checks of the runtime's promises:
//!
//! - one running worker per core: no task starts a poll on a core while another task polls
//!   there outside a section (a task gives up its claim on the core when it enters a section,
//!   since its baton may pass on, and does not take it back before its poll ends); checked in
//!   the rounds without blocking detection, since a poll that detection takes over goes on
//!   while its core is handed on;
//! - every future is dropped exactly once, whether it completed, panicked, was aborted, had a
//!   panicking destructor, or was still pending when the runtime was dropped;
//! - every kept handle resolves, with the outcome its task chose.
//!
//! The mix: yields, sections (lazy, long, guard; some block), a section that waits on a reply
//! from another task, aborts, panics, destructors that panic, dropped handles, and tasks that
//! never finish (cancelled by the runtime's drop). Rounds of [`DEFAULT_TASKS`] tasks
//! (`BATON_SOAK_TASKS`), each on a new runtime, run for [`DEFAULT_SECS`] seconds
//! (`BATON_SOAK_SECS`); each round's seed is printed so a failure can be replayed with
//! `BATON_SOAK_SEED` (one round), and `BATON_SOAK_SECTION` (`none`, `quick`, `blocking`,
//! `long`, `guard`, `await`) gives every task one kind of section, to narrow a failure down;
//! `BATON_SOAK_DETECT` (`on`, `off`) runs every round with or without detection.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;

use baton::{Affinity, JoinHandle, Priority, WorkQueue};

/// Tasks per round unless `BATON_SOAK_TASKS` says otherwise.
const DEFAULT_TASKS: usize = 6_000;
/// Seconds of rounds unless `BATON_SOAK_SECS` says otherwise.
const DEFAULT_SECS: u64 = 10;
/// How long one round may take before it is reported as a hang.
const WATCHDOG: Duration = Duration::from_secs(120);
/// Cores of the runtime under test.
const CORES: usize = 2;

/// Per-core count of tasks polling outside a section.
struct Occupancy([AtomicUsize; CORES]);

/// Per-core number of the task that last took the core's claim.
struct Holders([AtomicUsize; CORES]);

/// What a thread did, in the soak's event log.
#[derive(Clone, Copy, Debug)]
enum Kind {
    PollStart,
    PollEnd,
    /// The task gave up its claim (it is about to enter a section).
    Release,
    /// The task's section returned.
    SectionEnd,
}

/// One entry of the event log.
#[derive(Clone, Copy, Debug)]
struct Event {
    seq: usize,
    task: usize,
    thread: usize,
    core: Option<usize>,
    kind: Kind,
    at: std::time::Instant,
}

/// Entries kept in the event log: enough to see what led to an overlap.
const LOG_LEN: usize = 4096;

/// The most recent events of the round, overwritten in a ring.
struct EventLog {
    next: AtomicUsize,
    ring: Vec<std::sync::Mutex<Option<Event>>>,
}

impl EventLog {
    fn new() -> EventLog {
        EventLog {
            next: AtomicUsize::new(0),
            ring: (0..LOG_LEN).map(|_| std::sync::Mutex::new(None)).collect(),
        }
    }

    fn record(&self, task: usize, kind: Kind) {
        static THREADS: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static THREAD: usize = THREADS.fetch_add(1, Ordering::Relaxed);
        }
        let task = if task == usize::MAX {
            CURRENT.with(|c| c.get())
        } else {
            task
        };
        let seq = self.next.fetch_add(1, Ordering::SeqCst);
        let event = Event {
            seq,
            task,
            thread: THREAD.with(|t| *t),
            core: baton::current_core(),
            kind,
            at: std::time::Instant::now(),
        };
        *self.ring[seq % LOG_LEN].lock().unwrap() = Some(event);
    }

    fn snapshot(&self) -> Vec<Event> {
        let mut events: Vec<Event> = self
            .ring
            .iter()
            .filter_map(|e| *e.lock().unwrap())
            .collect();
        events.sort_by_key(|e| e.seq);
        events
    }
}

/// What the soak checks as it goes.
struct Checks {
    events: EventLog,
    /// The event log as it was at the first overlap.
    overlap_events: std::sync::Mutex<Option<Vec<Event>>>,
    occupancy: Occupancy,
    holders: Holders,
    overlaps: AtomicUsize,
    /// The first overlaps seen: (core, the task holding the claim, the task starting a poll).
    overlap_log: std::sync::Mutex<Vec<(usize, usize, usize)>>,
    /// Drops per task, indexed by task number.
    drops: Vec<AtomicUsize>,
}

/// A task's future, wrapped to check occupancy and count its drop.
struct Tracked<F> {
    inner: Pin<Box<F>>,
    checks: Arc<Checks>,
    index: usize,
    panic_on_drop: bool,
}

thread_local! {
    /// Set while a tracked poll holds its core's claim (cleared when it enters a section).
    static CLAIM: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    /// The task whose poll this thread runs (for the event log).
    static CURRENT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Gives up the current poll's claim on its core: called on entering a section.
fn release_claim(checks: &Checks) {
    if let Some(core) = CLAIM.with(|c| c.take()) {
        checks.events.record(usize::MAX, Kind::Release);
        checks.occupancy.0[core].fetch_sub(1, Ordering::SeqCst);
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let core = baton::current_core();
        if let Some(core) = core {
            let before = self.checks.occupancy.0[core].fetch_add(1, Ordering::SeqCst);
            let holder = self.checks.holders.0[core].swap(self.index, Ordering::SeqCst);
            CURRENT.with(|c| c.set(self.index));
            self.checks.events.record(self.index, Kind::PollStart);
            if before != 0 {
                self.checks.overlaps.fetch_add(1, Ordering::SeqCst);
                let mut log = self.checks.overlap_log.lock().unwrap();
                if log.is_empty() {
                    *self.checks.overlap_events.lock().unwrap() =
                        Some(self.checks.events.snapshot());
                }
                if log.len() < 8 {
                    log.push((core, holder, self.index));
                }
            }
            CLAIM.with(|c| c.set(Some(core)));
        }
        // Restores the claim bookkeeping even if the inner poll panics.
        struct Release<'a>(&'a Checks);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                release_claim(self.0);
                self.0.events.record(usize::MAX, Kind::PollEnd);
            }
        }
        let checks = Arc::clone(&self.checks);
        let _release = Release(&checks);
        self.inner.as_mut().poll(cx)
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.checks.drops[self.index].fetch_add(1, Ordering::SeqCst);
        if self.panic_on_drop && !std::thread::panicking() {
            panic!("soak: a destructor that panics (task {})", self.index);
        }
    }
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one task does, chosen up front.
#[derive(Clone, Copy, Debug)]
struct Plan {
    yields: u64,
    section: SectionKind,
    panics: bool,
    panic_on_drop: bool,
    never_finishes: bool,
    abort: bool,
    keep_handle: bool,
}

#[derive(Clone, Copy, Debug)]
enum SectionKind {
    None,
    Quick,
    Blocking,
    Long,
    Guard,
    /// Blocks in a section on a reply from a task it wakes.
    AwaitReply,
}

impl Plan {
    fn draw(rng: &mut Rng) -> Plan {
        let forced = std::env::var("BATON_SOAK_SECTION").ok();
        let section = match forced.as_deref() {
            Some("await") => {
                rng.below(20);
                SectionKind::AwaitReply
            }
            Some("none") => {
                rng.below(20);
                SectionKind::None
            }
            Some("guard") => {
                rng.below(20);
                SectionKind::Guard
            }
            Some("blocking") => {
                rng.below(20);
                SectionKind::Blocking
            }
            Some("quick") => {
                rng.below(20);
                SectionKind::Quick
            }
            Some("long") => {
                rng.below(20);
                SectionKind::Long
            }
            _ => match rng.below(20) {
                0..=9 => SectionKind::None,
                10..=12 => SectionKind::Quick,
                13..=14 => SectionKind::Blocking,
                15 => SectionKind::Long,
                16..=17 => SectionKind::Guard,
                _ => SectionKind::AwaitReply,
            },
        };
        Plan {
            yields: rng.below(4),
            section,
            panics: rng.below(25) == 0,
            panic_on_drop: rng.below(30) == 0,
            never_finishes: rng.below(40) == 0,
            abort: rng.below(15) == 0,
            keep_handle: rng.below(5) != 0,
        }
    }
}

/// The most tasks blocked at once in a section that waits on another task. Each holds a worker
/// thread while it waits, and a core has a bounded number of threads (the thread caps); more
/// such tasks at once than threads is a true deadlock in any pool of bounded size.
const WAITING_CLIENTS: usize = 4;

/// The body of a task following `plan`; returns its number. `clients` holds the tokens of
/// [`WAITING_CLIENTS`].
async fn body(
    plan: Plan,
    index: usize,
    checks: Arc<Checks>,
    clients: (async_channel::Sender<()>, async_channel::Receiver<()>),
) -> usize {
    for _ in 0..plan.yields {
        baton::yield_now().await;
    }
    if matches!(plan.section, SectionKind::AwaitReply) {
        clients.1.recv().await.expect("the token pool stays open");
    }
    if !matches!(plan.section, SectionKind::None) {
        // Before the section starts: an eager one passes the baton on as it enters.
        release_claim(&checks);
    }
    match plan.section {
        SectionKind::None => {}
        SectionKind::Quick => baton::blocking::section(|| {
            std::hint::black_box(index);
        }),
        SectionKind::Blocking => {
            baton::blocking::section(|| std::thread::sleep(Duration::from_micros(300)))
        }
        SectionKind::Long => {
            baton::blocking::section_long(|| std::thread::sleep(Duration::from_micros(200)))
        }
        SectionKind::Guard => {
            let _guard = baton::blocking::enter();
            std::thread::sleep(Duration::from_micros(100));
        }
        SectionKind::AwaitReply => {
            // A synchronous client in front of an async service: the service task is woken
            // from inside the section, and the section waits for its reply.
            let (request_tx, request_rx) = async_channel::bounded::<usize>(1);
            let (reply_tx, reply_rx) = mpsc::channel();
            let service = baton::spawn(async move {
                let n = request_rx
                    .recv()
                    .await
                    .expect("the client sends one request");
                reply_tx
                    .send(n + 1)
                    .expect("the client waits for the reply");
            });
            let reply = baton::blocking::section(|| {
                request_tx.send_blocking(index).ok()?;
                match reply_rx.recv_timeout(Duration::from_secs(60)) {
                    Ok(reply) => Some(reply),
                    // The runtime shuts down (the round is over) and cancelled the service.
                    Err(mpsc::RecvTimeoutError::Disconnected) => None,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        panic!("the service never replied: a task woken inside a section must run")
                    }
                }
            });
            let Some(reply) = reply else {
                return index;
            };
            assert_eq!(reply, index + 1);
            service.await.expect("the service task completes");
            clients.0.send(()).await.expect("the token pool stays open");
        }
    }
    if !matches!(plan.section, SectionKind::None) {
        checks.events.record(index, Kind::SectionEnd);
    }
    if plan.panics {
        panic!("soak: task {index} panics as planned");
    }
    if plan.never_finishes {
        std::future::pending::<()>().await;
    }
    index
}

/// Where a task is spawned.
enum Target<'a> {
    Plain,
    Queue(&'a WorkQueue),
    Keyed(&'a WorkQueue, u64),
    Delayed(&'a WorkQueue),
}

/// A spawned task with what the soak expects of it.
struct Spawned {
    index: usize,
    plan: Plan,
    /// Where it was spawned: "plain" or the queue's index.
    target: String,
    handle: Option<JoinHandle<usize>>,
}

/// One round: `tasks` tasks drawn from `seed`, on a runtime that detects polls blocking
/// outside sections if `detect`.
fn soak(tasks: usize, seed: u64, detect: bool) {
    let rt = baton::Runtime::builder()
        .cores(CORES)
        .detect_blocking(detect)
        .build()
        .unwrap();
    let handle = rt.handle();
    let checks = Arc::new(Checks {
        occupancy: Occupancy([AtomicUsize::new(0), AtomicUsize::new(0)]),
        holders: Holders([AtomicUsize::new(0), AtomicUsize::new(0)]),
        overlaps: AtomicUsize::new(0),
        overlap_log: std::sync::Mutex::new(Vec::new()),
        events: EventLog::new(),
        overlap_events: std::sync::Mutex::new(None),
        drops: (0..tasks).map(|_| AtomicUsize::new(0)).collect(),
    });
    let queues = [
        WorkQueue::builder("soak-one").max_active(1).build(&handle),
        WorkQueue::builder("soak-four").max_active(4).build(&handle),
        WorkQueue::builder("soak-ordered").ordered().build(&handle),
        WorkQueue::builder("soak-keyed")
            .max_active(8)
            .build(&handle),
        WorkQueue::builder("soak-high")
            .priority(Priority::High)
            .build(&handle),
        WorkQueue::builder("soak-idle")
            .priority(Priority::Idle)
            .build(&handle),
        WorkQueue::builder("soak-core1")
            .affinity(Affinity::Core(1))
            .build(&handle),
        WorkQueue::builder("soak-any")
            .affinity(Affinity::Any)
            .build(&handle),
    ]
    .map(|q| q.expect("soak queues build"));
    let clients = async_channel::bounded(WAITING_CLIENTS);
    for _ in 0..WAITING_CLIENTS {
        clients.0.try_send(()).expect("room for every token");
    }
    let mut rng = Rng(seed);
    let spawned: Vec<Spawned> = rt.block_on(async {
        let mut spawned = Vec::with_capacity(tasks);
        for index in 0..tasks {
            let mut plan = Plan::draw(&mut rng);
            let pick = rng.below(queues.len() as u64 + 3);
            let target = match pick as usize {
                0 | 1 => Target::Plain,
                2 => Target::Keyed(&queues[3], rng.below(5)),
                n if n - 3 < queues.len() && rng.below(20) == 0 => Target::Delayed(&queues[n - 3]),
                n => Target::Queue(&queues[(n - 3).min(queues.len() - 1)]),
            };
            // A task that never finishes would hold its queue's turn (ordered, keyed, a
            // `max_active` slot) for good, which is the queue's promise, not a hang: only plain
            // tasks never finish.
            plan.never_finishes &= matches!(target, Target::Plain);
            let future = Tracked {
                inner: Box::pin(body(plan, index, Arc::clone(&checks), clients.clone())),
                checks: Arc::clone(&checks),
                index,
                panic_on_drop: plan.panic_on_drop,
            };
            let label = match target {
                Target::Plain => "plain".to_string(),
                Target::Queue(q) | Target::Delayed(q) | Target::Keyed(q, _) => {
                    format!("queue {}", q.name())
                }
            };
            let handle = match target {
                Target::Plain => baton::spawn(future),
                Target::Queue(q) => q.spawn(future),
                Target::Keyed(q, key) => q.spawn_keyed(key, future),
                Target::Delayed(q) => q.spawn_after(Duration::from_micros(rng.below(500)), future),
            };
            if plan.abort {
                handle.abort();
            }
            spawned.push(Spawned {
                index,
                plan,
                target: label,
                handle: plan.keep_handle.then_some(handle),
            });
            if index % 64 == 0 {
                baton::yield_now().await;
            }
        }
        // Every kept handle of a task that can finish resolves, with the outcome planned.
        for s in spawned.iter_mut() {
            if s.plan.never_finishes && !s.plan.abort {
                continue;
            }
            let Some(handle) = s.handle.take() else {
                continue;
            };
            let outcome = handle.await;
            check_outcome(s, &outcome);
        }
        spawned
    });
    let described: Vec<String> = spawned
        .iter()
        .map(|s| format!("task {}: {:?} on {}", s.index, s.plan, s.target))
        .collect();
    // Tasks that never finish are pending still; dropping the runtime cancels them.
    let pending: Vec<_> = spawned
        .into_iter()
        .filter_map(|s| s.handle.map(|h| (s.index, h)))
        .collect();
    drop(queues);
    let stats = rt.stats();
    drop(rt);
    for (index, handle) in pending {
        let outcome = futures::executor::block_on(handle);
        assert!(
            outcome.is_err(),
            "task {index} never finishes, yet its handle reported {outcome:?}"
        );
    }
    // With detection, a poll that blocks outside any section (a task's panic unwinding waits
    // on the unwinder's lock, say) has its core handed on while it goes on, as a section's
    // would: the claim this test counts cannot tell those polls apart.
    if !detect {
        let log = checks.overlap_log.lock().unwrap();
        let details: Vec<String> = log
            .iter()
            .map(|&(core, holder, starter)| {
                format!(
                    "core {core}: held by {}\n  poll started by {}",
                    described[holder], described[starter]
                )
            })
            .collect();
        let mut details = details;
        if let Some(events) = checks.overlap_events.lock().unwrap().as_ref() {
            let last = events.last().map(|e| (e.thread, e.at));
            let threads: Vec<usize> = log
                .first()
                .map(|&(_, holder, starter)| {
                    events
                        .iter()
                        .rev()
                        .filter(|e| e.task == holder || e.task == starter)
                        .map(|e| e.thread)
                        .take(4)
                        .collect()
                })
                .unwrap_or_default();
            details.push(format!(
                "threads of interest: {threads:?}; events, newest last:"
            ));
            let end = last.map(|(_, at)| at);
            let shown: Vec<&Event> = events
                .iter()
                .filter(|e| e.core == Some(log[0].0) || threads.contains(&e.thread))
                .collect();
            for e in &shown[shown.len().saturating_sub(120)..] {
                let ago = end.map(|end| end.duration_since(e.at)).unwrap_or_default();
                details.push(format!(
                    "  #{} -{:?} thread {} core {:?} task {} {:?}",
                    e.seq, ago, e.thread, e.core, e.task, e.kind
                ));
            }
        }
        assert_eq!(
            checks.overlaps.load(Ordering::SeqCst),
            0,
            "a task started a poll on a core while another task polled there outside a \
             section\n{}\n{stats}",
            details.join("\n")
        );
    }
    for (index, drops) in checks.drops.iter().enumerate() {
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "task {index}'s future was dropped the wrong number of times"
        );
    }
}

/// Checks a finished task's outcome against its plan.
fn check_outcome(s: &Spawned, outcome: &Result<usize, baton::JoinError>) {
    let index = s.index;
    match outcome {
        Ok(n) => {
            assert_eq!(*n, index);
            assert!(!s.plan.panics, "task {index} was to panic: {:?}", s.plan);
        }
        Err(e) if e.is_cancelled() => {
            assert!(
                s.plan.abort,
                "task {index} was cancelled unasked: {:?}",
                s.plan
            )
        }
        Err(e) => {
            assert!(e.is_panic());
            assert!(
                s.plan.panics || s.plan.panic_on_drop,
                "task {index} panicked unplanned: {e:?} ({:?})",
                s.plan
            );
        }
    }
}

/// The value of the environment variable `name`, parsed, if set.
fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn soak_keeps_every_promise() {
    let tasks = env("BATON_SOAK_TASKS").unwrap_or(DEFAULT_TASKS);
    let replay: Option<u64> = env("BATON_SOAK_SEED");
    let budget = Duration::from_secs(env("BATON_SOAK_SECS").unwrap_or(DEFAULT_SECS));
    let first_seed = replay.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    // The test's own panic hook would print every planned panic: keep the output readable.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let planned = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("soak: "));
        if !planned {
            default_hook(info);
        }
    }));
    let start = std::time::Instant::now();
    let mut round = 0u64;
    loop {
        let seed = first_seed.wrapping_add(round.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
        // Every other round detects polls that block outside sections, unless
        // `BATON_SOAK_DETECT` (`on`, `off`) says otherwise.
        let detect = match std::env::var("BATON_SOAK_DETECT").as_deref() {
            Ok("on") => true,
            Ok("off") => false,
            _ => round % 2 == 1,
        };
        println!("soak round {round}: {tasks} tasks, BATON_SOAK_SEED={seed}, detection {detect}");
        one_round(tasks, seed, detect);
        round += 1;
        if replay.is_some() || start.elapsed() >= budget {
            break;
        }
    }
    println!("soak: {round} rounds in {:?}", start.elapsed());
}

/// Runs one round on its own thread, failing if it does not finish within [`WATCHDOG`].
fn one_round(tasks: usize, seed: u64, detect: bool) {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        soak(tasks, seed, detect);
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(WATCHDOG) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The round panicked: report its panic.
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the soak hung (BATON_SOAK_SEED={seed}): no progress for {WATCHDOG:?}")
        }
    }
}
