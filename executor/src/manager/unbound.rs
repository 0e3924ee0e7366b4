//! The unbound pool: the threads that run `unblock` jobs, apart from the cores' workers (after
//! the kernel's unbound workqueues, whose work items run on their own pools and never take a
//! CPU's concurrency-managed turn).
//!
//! A job handed to `unblock` may block for as long as it likes: it holds a thread of this
//! pool, never a core's baton, so tasks spawned meanwhile run at once even while many jobs
//! block. The pool is
//!
//! - **lazy**: no thread exists until the first job; a job starts a thread only if no thread
//!   of the pool is idle;
//! - **cheap for short jobs**: a thread that finishes a job takes the next one queued, and an
//!   idle thread is woken rather than a new one started, so a stream of short jobs runs on one
//!   or two threads;
//! - **bounded**: at most `max_threads` threads
//!   ([`DEFAULT_MAX_UNBLOCK_THREADS`](crate::DEFAULT_MAX_UNBLOCK_THREADS) unless the builder says
//!   otherwise); jobs beyond wait, in submission order, for a thread to finish its job;
//! - **kept alive a while**: an idle thread exits after the runtime's keep-alive.
//!
//! # Protocol
//!
//! One mutex guards the job queue and the thread counts.
//!
//! 1. **Submit**: push the job; if more threads are idle than already notified, notify one
//!    (and count it in `notified`); otherwise start a thread if below the cap. A thread the OS
//!    refuses is counted in `spawn_failures`; if the pool then has no thread at all, the job
//!    is handed back, and the caller runs it elsewhere (nothing is lost).
//! 2. **Run**: a thread pops jobs while there are any, running each outside the lock.
//! 3. **Wait**: with none queued it counts itself idle and waits for the keep-alive. Woken, it
//!    takes one notification if there is one and looks again; a thread whose wait timed out
//!    with no notification pending and no job queued exits.
//! 4. **Shutdown**: the flag is set, queued jobs are dropped (their `unblock` handles report
//!    it), idle threads are woken and exit; threads in a job exit once it returns. The
//!    runtime joins them with its workers, within the shutdown timeout.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use baton_blocking::hook::Job;

use crate::stats::{Counters, UnblockStats};

std::thread_local! {
    /// The pool whose thread this is, if any (an address, only compared).
    static POOL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The unbound pool of one runtime. Plain std synchronisation: loom models never start it.
pub(crate) struct UnboundPool {
    state: Mutex<PoolState>,
    /// Idle threads wait here for a job (or for shutdown).
    available: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    thread_name: String,
    stack_size: Option<usize>,
    counters: PoolCounters,
}

/// What the pool's mutex guards.
#[derive(Default)]
struct PoolState {
    /// Jobs submitted and not yet taken, oldest first.
    jobs: VecDeque<Job>,
    /// Threads of the pool, counted from the moment they are started.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Notifications sent to idle threads and not yet taken by one.
    notified: usize,
    /// Set at shutdown: no job is accepted or started any more.
    shutdown: bool,
    /// The threads' handles, for shutdown to join (those of exited threads are pruned as new
    /// ones start).
    handles: Vec<JoinHandle<()>>,
}

/// The pool's counters: statistics, relaxed.
#[derive(Default)]
struct PoolCounters {
    jobs: AtomicU64,
    threads_started: AtomicU64,
    spawn_failures: AtomicU64,
}

impl std::fmt::Debug for UnboundPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnboundPool")
            .field("max_threads", &self.max_threads)
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl UnboundPool {
    /// A pool of at most `max_threads` threads named `{thread_name}-unblock`, none started.
    pub(crate) fn new(
        max_threads: usize,
        keep_alive: Duration,
        thread_name: &str,
        stack_size: Option<usize>,
    ) -> UnboundPool {
        UnboundPool {
            state: Mutex::new(PoolState::default()),
            available: Condvar::new(),
            max_threads,
            keep_alive,
            thread_name: format!("{thread_name}-unblock"),
            stack_size,
            counters: PoolCounters::default(),
        }
    }

    /// The *submit* step of the [protocol](self): queues `job` to run on one of the pool's threads.
    /// Hands it back if the pool shut down, or if it has no thread and the OS refuses to start one.
    pub(crate) fn submit(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.shutdown {
            return Err(job);
        }
        state.jobs.push_back(job);
        if state.idle > state.notified {
            state.notified += 1;
            drop(state);
            self.available.notify_one();
            return Ok(());
        }
        if state.threads >= self.max_threads {
            // A busy thread takes it when its job returns.
            return Ok(());
        }
        state.threads += 1;
        state.handles.retain(|h| !h.is_finished());
        match self.start_thread() {
            Ok(handle) => {
                state.handles.push(handle);
                Ok(())
            }
            Err(_) => {
                state.threads -= 1;
                Counters::add(&self.counters.spawn_failures, 1);
                if state.threads > 0 {
                    // A thread of the pool takes it once its job returns.
                    return Ok(());
                }
                let job = state.jobs.pop_back().expect("the job pushed above");
                Err(job)
            }
        }
    }

    /// Starts a thread of the pool (counted by the caller).
    fn start_thread(self: &Arc<Self>) -> std::io::Result<JoinHandle<()>> {
        let mut builder = std::thread::Builder::new().name(self.thread_name.clone());
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        let pool = Arc::clone(self);
        let handle = builder.spawn(move || pool.run())?;
        Counters::add(&self.counters.threads_started, 1);
        Ok(handle)
    }

    /// Whether the current thread is one of this pool's.
    pub(crate) fn runs_current_thread(&self) -> bool {
        POOL.try_with(|pool| pool.get() == self.address())
            .unwrap_or(false)
    }

    fn address(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    /// A thread's body: the *run* and *wait* steps of the [protocol](self).
    fn run(&self) {
        POOL.with(|pool| pool.set(self.address()));
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                Counters::add(&self.counters.jobs, 1);
                // The jobs `unblock` submits catch their own panics; a hook's other jobs
                // might not, and must not take the thread down with its count.
                let _ = panic::catch_unwind(AssertUnwindSafe(job));
                state = self.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (guard, wait) = self
                .available
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(|p| p.into_inner());
            state = guard;
            state.idle -= 1;
            if state.notified > 0 {
                state.notified -= 1;
            } else if wait.timed_out() && state.jobs.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }

    /// The *shutdown* step of the [protocol](self): refuses jobs from now on, drops those queued,
    /// wakes the idle threads, and returns every thread's handle for the runtime to join.
    pub(crate) fn shut_down(&self) -> Vec<JoinHandle<()>> {
        let (jobs, handles) = {
            let mut state = self.lock();
            state.shutdown = true;
            (
                std::mem::take(&mut state.jobs),
                std::mem::take(&mut state.handles),
            )
        };
        self.available.notify_all();
        // Outside the lock: a job's drop is user code.
        drop(jobs);
        handles
    }

    /// A snapshot of the pool's counts.
    pub(crate) fn stats(&self) -> UnblockStats {
        let state = self.lock();
        UnblockStats {
            threads: state.threads as u64,
            idle: state.idle as u64,
            queued: state.jobs.len() as u64,
            jobs: Counters::get(&self.counters.jobs),
            threads_started: Counters::get(&self.counters.threads_started),
            spawn_failures: Counters::get(&self.counters.spawn_failures),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::mpsc;
    use std::sync::Barrier;

    use super::*;

    fn pool(max_threads: usize, keep_alive: Duration) -> Arc<UnboundPool> {
        Arc::new(UnboundPool::new(max_threads, keep_alive, "test", None))
    }

    /// Submits `job`, which the pool must accept.
    fn submit(pool: &Arc<UnboundPool>, job: impl FnOnce() + Send + 'static) {
        pool.submit(Box::new(job))
            .unwrap_or_else(|_| panic!("the pool refused a job"));
    }

    /// Runs one job on the pool and waits until it has run.
    fn run_one(pool: &Arc<UnboundPool>) {
        let (tx, rx) = mpsc::channel();
        submit(pool, move || tx.send(()).unwrap());
        rx.recv().unwrap();
    }

    /// Waits (without a deadline of its own: the test harness has one) until `done` holds.
    fn wait_until(pool: &UnboundPool, done: impl Fn(&UnblockStats) -> bool) -> UnblockStats {
        loop {
            let stats = pool.stats();
            if done(&stats) {
                return stats;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn no_thread_starts_before_the_first_job() {
        let pool = pool(4, Duration::from_secs(10));
        assert_eq!(pool.stats(), UnblockStats::default());
        run_one(&pool);
        assert_eq!(pool.stats().threads_started, 1);
    }

    #[test]
    fn jobs_one_after_another_reuse_one_thread() {
        let pool = pool(4, Duration::from_secs(10));
        for _ in 0..50 {
            run_one(&pool);
            // The thread is idle again before the next job comes.
            wait_until(&pool, |s| s.idle == 1);
        }
        let stats = pool.stats();
        assert_eq!((stats.threads_started, stats.threads), (1, 1), "{stats:?}");
    }

    #[test]
    fn jobs_beyond_the_cap_wait_for_a_thread() {
        const CAP: usize = 3;
        let pool = pool(CAP, Duration::from_secs(10));
        let gate = Arc::new(Barrier::new(CAP + 1));
        let (tx, rx) = mpsc::channel();
        for i in 0..2 * CAP {
            let gate = Arc::clone(&gate);
            let tx = tx.clone();
            submit(&pool, move || {
                if i < CAP {
                    gate.wait();
                }
                tx.send(i).unwrap();
            });
        }
        // Each thread takes one of the first jobs and waits at the gate; the rest stay queued.
        let stats = wait_until(&pool, |s| s.queued == CAP as u64);
        assert_eq!(stats.threads, CAP as u64, "{stats:?}");
        gate.wait();
        let mut ran: Vec<usize> = (0..2 * CAP).map(|_| rx.recv().unwrap()).collect();
        ran.sort_unstable();
        assert_eq!(ran, (0..2 * CAP).collect::<Vec<_>>());
        assert_eq!(pool.stats().threads_started, CAP as u64);
    }

    #[test]
    fn idle_threads_exit_after_the_keep_alive() {
        let pool = pool(2, Duration::from_millis(5));
        run_one(&pool);
        wait_until(&pool, |s| s.threads == 0);
        // A job after that starts a thread again.
        run_one(&pool);
        assert_eq!(pool.stats().threads_started, 2);
    }

    #[test]
    fn shutdown_drops_queued_jobs_and_refuses_new_ones() {
        let pool = pool(1, Duration::from_secs(10));
        let (started, running) = mpsc::channel();
        let (release, gate) = mpsc::channel::<()>();
        submit(&pool, move || {
            started.send(()).unwrap();
            gate.recv().unwrap();
        });
        running.recv().unwrap();
        let (tx, rx) = mpsc::channel::<()>();
        submit(&pool, move || tx.send(()).unwrap());
        let handles = pool.shut_down();
        assert!(rx.recv().is_err(), "the queued job was dropped unrun");
        assert!(pool.submit(Box::new(|| ())).is_err());
        release.send(()).unwrap();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(pool.stats().threads, 0);
    }
}
