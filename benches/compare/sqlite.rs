//! SQLite through rusqlite, durable writes behind one lock (the *managed concurrency* rule of docs/architecture.md): blocked calls
//! that contend with each other, where replacing a blocked worker cannot help.
//!
//! [`TASKS`] tasks each make [`CALLS`] inserts into one database through one shared
//! `Mutex<Connection>` (WAL, `synchronous = FULL`: every insert is its own transaction and
//! waits for its fsync). Meanwhile a ticker task sleeps 1 ms in a loop and records how late
//! each tick wakes. Each system runs it its usual ways: on baton in a section, in the async
//! form (`section_async`, which waits for the call site's turn without holding a core), and
//! unannotated; on tokio unannotated, with `block_in_place` and with `spawn_blocking`; on
//! async-executor with `blocking::unblock`. Reported: wall time, peak threads, ticker lag.
//!
//! `BATON_BENCH_SYSTEMS`, a comma-separated list, runs only the ways whose names contain one
//! of its entries (`BATON_BENCH_SYSTEMS=baton` for baton's three): short A/B runs of one side.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::blocking::{
    baton_runtime, foreign_threads, observe, percentile, tokio_runtime, Sample, CORES,
};
use crate::core::AsyncExecutor;
use crate::report;

/// Tasks, and inserts per task.
const TASKS: usize = 400;
const CALLS: usize = 5;
/// Timed runs per system, after one warm-up.
const RUNS: usize = 3;
/// The ticker's period.
const TICK: Duration = Duration::from_millis(1);

/// A database shared by every task of a run.
type Db = Arc<Mutex<Connection>>;

/// The ways the workload runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    BatonSection,
    BatonAsync,
    BatonUnannotated,
    TokioUnannotated,
    TokioBlockInPlace,
    TokioSpawnBlocking,
    SmolUnblock,
}

impl Way {
    const ALL: [Way; 7] = [
        Way::BatonSection,
        Way::BatonAsync,
        Way::BatonUnannotated,
        Way::TokioUnannotated,
        Way::TokioBlockInPlace,
        Way::TokioSpawnBlocking,
        Way::SmolUnblock,
    ];

    fn name(self) -> &'static str {
        match self {
            Way::BatonSection => "baton section",
            Way::BatonAsync => "baton section_async",
            Way::BatonUnannotated => "baton unannotated",
            Way::TokioUnannotated => "tokio unannotated",
            Way::TokioBlockInPlace => "tokio block_in_place",
            Way::TokioSpawnBlocking => "tokio spawn_blocking",
            Way::SmolUnblock => "smol unblock",
        }
    }
}

/// What one run measured: the process's figures and the ticker's lags.
struct Run {
    sample: Sample,
    lags: Vec<Duration>,
}

/// Runs the SQLite workload on every system, if its name contains `filter`.
pub(crate) fn run(filter: &str) {
    const NAME: &str = "sqlite: 400 tasks × 5 durable inserts behind one lock";
    if !NAME.contains(filter) {
        return;
    }
    println!();
    println!(
        "### {NAME}, with a 1 ms ticker (WAL, synchronous = FULL; median of {RUNS} runs, \
         lag quantiles over every tick of them)"
    );
    let chosen = |way: Way| report::system_selected(way.name());
    let results: Vec<(&str, Vec<Run>)> = Way::ALL
        .iter()
        .filter(|&&way| chosen(way))
        .map(|&way| (way.name(), runs(way)))
        .collect();
    let median = |runs: &[Run], key: &dyn Fn(&Run) -> f64| {
        let mut figures: Vec<f64> = runs.iter().map(key).collect();
        figures.sort_by(f64::total_cmp);
        figures[figures.len() / 2]
    };
    let row = |key: &dyn Fn(&[Run]) -> f64| -> Vec<(&str, f64)> {
        results
            .iter()
            .map(|(name, runs)| (*name, key(runs)))
            .collect()
    };
    report::secs_row(
        "sqlite: wall time",
        &row(&|runs| median(runs, &|r| r.sample.wall.as_secs_f64())),
    );
    report::count_row(
        "sqlite: peak threads",
        &row(&|runs| {
            runs.iter()
                .map(|r| r.sample.peak_threads)
                .max()
                .unwrap_or(0) as f64
        }),
    );
    for (quantile, q) in [("p50", 0.5), ("p99", 0.99)] {
        let lags = row(&|runs| {
            let all: Vec<Duration> = runs.iter().flat_map(|r| r.lags.iter().copied()).collect();
            if all.is_empty() {
                0.0
            } else {
                percentile(&all, q)
            }
        });
        report::secs_row(&format!("sqlite: ticker lag {quantile}"), &lags);
    }
}

/// The timed runs of `way` (the warm-up's dropped), each on a fresh database.
fn runs(way: Way) -> Vec<Run> {
    let foreign = foreign_threads();
    let mut runs = Vec::new();
    match way {
        Way::BatonSection | Way::BatonAsync | Way::BatonUnannotated => {
            let rt = baton_runtime(CORES);
            for _ in 0..=RUNS {
                runs.push(measure(|db, done| {
                    rt.block_on(rt.spawn(baton_workload(way, db, done)))
                        .expect("the root task failed")
                }));
            }
            let stats = rt.stats();
            let sum = |f: fn(&baton::CoreStats) -> u64| stats.cores.iter().map(f).sum::<u64>();
            println!(
                "{}: {} sections, {} handoffs ({} eager), {} held at their site's level, \
                 {} tasks deferred for a turn, {} cap hits, {} blocked polls detected, \
                 {} threads started",
                way.name(),
                sum(|c| c.sections),
                sum(|c| c.handoffs),
                sum(|c| c.eager_handoffs),
                sum(|c| c.held_sections),
                sum(|c| c.deferred_tasks),
                sum(|c| c.cap_hits),
                sum(|c| c.detected_blocks),
                sum(|c| c.threads_started),
            );
        }
        Way::TokioUnannotated | Way::TokioBlockInPlace | Way::TokioSpawnBlocking => {
            let rt = tokio_runtime(CORES);
            for _ in 0..=RUNS {
                runs.push(measure(|db, done| {
                    rt.block_on(rt.spawn(tokio_workload(way, db, done)))
                        .expect("the root task failed")
                }));
            }
            rt.shutdown_timeout(Duration::from_secs(10));
        }
        Way::SmolUnblock => {
            let smol = AsyncExecutor::with_threads(CORES);
            for _ in 0..=RUNS {
                runs.push(measure(|db, done| {
                    smol.spawn_and_wait(smol_workload(Arc::clone(&smol.executor), db, done))
                }));
            }
        }
    }
    runs.remove(0);
    for run in &mut runs {
        run.sample = run.sample.without(foreign);
    }
    runs
}

/// One run on a fresh database: `f` runs the workload, whose ticker stops once `done` is set,
/// and returns the ticker's lags.
fn measure(f: impl FnOnce(Db, Arc<AtomicBool>) -> Vec<Duration>) -> Run {
    let file = Database::create();
    let db = Arc::new(Mutex::new(file.open()));
    let done = Arc::new(AtomicBool::new(false));
    let mut lags = Vec::new();
    let sample = observe(|| lags = f(Arc::clone(&db), done));
    let rows: usize = db
        .lock()
        .expect("the database lock is poisoned")
        .query_row("SELECT count(*) FROM log", [], |row| row.get(0))
        .expect("cannot count the rows");
    assert_eq!(rows, TASKS * CALLS, "every insert lands");
    Run { sample, lags }
}

/// A database file in the temporary directory, removed when dropped.
struct Database {
    path: PathBuf,
}

impl Database {
    fn create() -> Database {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "baton-compare-{}-{}.sqlite",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let database = Database { path };
        database.remove();
        database
    }

    fn open(&self) -> Connection {
        let conn = Connection::open(&self.path).expect("cannot open the database");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE log (task INTEGER NOT NULL, call INTEGER NOT NULL, body TEXT NOT NULL);",
        )
        .expect("cannot set the database up");
        conn
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.remove();
    }
}

/// One durable insert: takes the lock and commits a row.
fn insert(db: &Db, task: usize, call: usize) {
    let conn = db.lock().expect("the database lock is poisoned");
    conn.execute(
        "INSERT INTO log (task, call, body) VALUES (?1, ?2, ?3)",
        (task as i64, call as i64, "a row of the benchmark"),
    )
    .expect("cannot insert");
}

/// Ticks every [`TICK`] until `done`, returning how late each tick woke.
async fn ticker<S: Future<Output = ()>>(
    done: Arc<AtomicBool>,
    sleep: impl Fn() -> S,
) -> Vec<Duration> {
    let mut lags = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let start = Instant::now();
        sleep().await;
        lags.push(start.elapsed().saturating_sub(TICK));
    }
    lags
}

async fn baton_workload(way: Way, db: Db, done: Arc<AtomicBool>) -> Vec<Duration> {
    let ticker = baton::spawn(ticker(Arc::clone(&done), || baton::time::sleep(TICK)));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let db = Arc::clone(&db);
            baton::spawn(async move {
                for call in 0..CALLS {
                    match way {
                        Way::BatonSection => baton::blocking::section(|| insert(&db, task, call)),
                        Way::BatonAsync => {
                            baton::blocking::section_async(|| insert(&db, task, call)).await
                        }
                        _ => insert(&db, task, call),
                    }
                    baton::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a task failed");
    }
    done.store(true, Ordering::Relaxed);
    ticker.await.expect("the ticker failed")
}

async fn tokio_workload(way: Way, db: Db, done: Arc<AtomicBool>) -> Vec<Duration> {
    let ticker = tokio::spawn(ticker(Arc::clone(&done), || tokio::time::sleep(TICK)));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                for call in 0..CALLS {
                    match way {
                        Way::TokioBlockInPlace => {
                            tokio::task::block_in_place(|| insert(&db, task, call))
                        }
                        Way::TokioSpawnBlocking => {
                            let db = Arc::clone(&db);
                            tokio::task::spawn_blocking(move || insert(&db, task, call))
                                .await
                                .expect("a blocking call failed")
                        }
                        _ => insert(&db, task, call),
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a task failed");
    }
    done.store(true, Ordering::Relaxed);
    ticker.await.expect("the ticker failed")
}

async fn smol_workload(
    executor: Arc<async_executor::Executor<'static>>,
    db: Db,
    done: Arc<AtomicBool>,
) -> Vec<Duration> {
    let ticker = executor.spawn(ticker(Arc::clone(&done), || async {
        async_io::Timer::after(TICK).await;
    }));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let db = Arc::clone(&db);
            executor.spawn(async move {
                for call in 0..CALLS {
                    let db = Arc::clone(&db);
                    ::blocking::unblock(move || insert(&db, task, call)).await;
                    futures_lite::future::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
    done.store(true, Ordering::Relaxed);
    ticker.await
}
