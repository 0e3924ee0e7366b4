//! A spawn site enough of whose polls block unannotated has its polls handed off as they start,
//! as an eager section is, instead of each being noticed after it went to sleep; once its polls
//! stop blocking, it goes back to plain polls.
//!
//! No timing is assumed: the sleeps only need to be noticed once (a generous bound turns a
//! hang into a failure), and the counters say how the polls ran.

use std::sync::mpsc;
use std::time::Duration;

/// Polls of the blocking phase, each blocking its worker for [`BLOCK`].
const BLOCKING_POLLS: usize = 40;
/// Long enough for the monitor to take the first such poll over, even on a loaded machine.
const BLOCK: Duration = Duration::from_millis(10);
/// Polls of the quiet phase: enough for the site's rate to fall and its score to run out.
const QUIET_POLLS: usize = 2_000;
/// How long a task waits for the task behind it before the test fails.
const BOUND: Duration = Duration::from_secs(60);

/// What each poll of a task of [`spawn_polls`] does before it yields.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Blocks its worker outside any section for [`BLOCK`].
    Sleep,
    /// Nothing.
    Quick,
    /// Blocks its worker outside any section until a task queued behind it on core 0 has run.
    WaitForTaskBehind,
}

/// Spawns, always from this one line (one spawn site), a task that makes `polls` polls of
/// `kind`; it returns whether every task it waited for ran.
fn spawn_polls(polls: usize, kind: Kind) -> baton::JoinHandle<bool> {
    baton::spawn(async move {
        let mut ran = true;
        for _ in 0..polls {
            match kind {
                Kind::Sleep => std::thread::sleep(BLOCK),
                Kind::Quick => {}
                Kind::WaitForTaskBehind => {
                    let (done_tx, done_rx) = mpsc::channel();
                    baton::spawn_on(0, async move { done_tx.send(()).unwrap() });
                    ran &= done_rx.recv_timeout(BOUND).is_ok();
                }
            }
            baton::yield_now().await;
        }
        ran
    })
}

/// Runs a task of [`spawn_polls`] on `rt` to its end; returns what it returned.
fn run(rt: &baton::Runtime, polls: usize, kind: Kind) -> bool {
    rt.block_on(async { spawn_polls(polls, kind).await.unwrap() })
}

fn one_core() -> baton::Runtime {
    baton::Runtime::builder().cores(1).build().unwrap()
}

#[test]
fn a_site_whose_polls_block_has_them_handed_off_at_their_start() {
    let rt = one_core();
    run(&rt, BLOCKING_POLLS, Kind::Sleep);
    let stats = rt.stats();
    let core = &stats.cores[0];
    assert!(
        core.detected_blocks >= 1,
        "the first blocking poll was taken over: {stats}"
    );
    assert!(
        core.eager_polls >= 1,
        "once its polls had blocked often enough, they were handed off at their start: {stats}"
    );
    assert!(
        core.detected_blocks < BLOCKING_POLLS as u64,
        "polls handed off at their start need no takeover: {stats}"
    );
    // A poll handed off at its start leaves the core to a spare: the task it queues behind
    // itself runs while it blocks, and its wake-up reaches the spare.
    let before = core.eager_polls;
    assert!(
        run(&rt, 5, Kind::WaitForTaskBehind),
        "a task behind a poll never ran"
    );
    let stats = rt.stats();
    assert!(stats.cores[0].eager_polls > before, "{stats}");
}

#[test]
fn a_site_whose_polls_stop_blocking_goes_back_to_plain_polls() {
    let rt = one_core();
    run(&rt, BLOCKING_POLLS, Kind::Sleep);
    assert!(rt.stats().cores[0].eager_polls >= 1, "{}", rt.stats());
    run(&rt, QUIET_POLLS, Kind::Quick);
    let before = rt.stats().cores[0].eager_polls;
    run(&rt, 100, Kind::Quick);
    let stats = rt.stats();
    assert_eq!(
        stats.cores[0].eager_polls, before,
        "polls of a site that stopped blocking are still handed off at their start: {stats}"
    );
}
