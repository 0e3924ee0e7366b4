//! A paused clock (`baton::time::pause`, `advance`, `resume`, `start_paused`): timers wait on
//! virtual time, which moves only by `advance` or, when the runtime is idle, to the next timer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton::time::{self, Instant};

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

#[baton::test(start_paused = true)]
async fn an_hour_long_sleep_completes_at_once() {
    let real = std::time::Instant::now();
    let start = Instant::now();
    time::sleep(3600 * SEC).await;
    assert_eq!(
        start.elapsed(),
        3600 * SEC,
        "exactly an hour of virtual time"
    );
    // Not a timing assertion: a sleep of the real clock would take the whole hour.
    assert!(real.elapsed() < 600 * SEC, "waited on the real clock");
}

#[baton::test(start_paused = true)]
async fn timeouts_of_spawned_tasks_fire_in_deadline_order() {
    let start = Instant::now();
    let fired = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = [7u32, 3, 9, 1, 5, 2]
        .into_iter()
        .map(|secs| {
            let fired = Arc::clone(&fired);
            baton::spawn(async move {
                let out = time::timeout(SEC * secs, std::future::pending::<()>()).await;
                assert!(out.is_err(), "a pending future times out");
                fired.lock().unwrap().push((secs, start.elapsed()));
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let fired = fired.lock().unwrap().clone();
    let expected: Vec<_> = [1u32, 2, 3, 5, 7, 9]
        .into_iter()
        .map(|secs| (secs, SEC * secs))
        .collect();
    assert_eq!(fired, expected, "in deadline order, each at its deadline");
    assert_eq!(start.elapsed(), 9 * SEC);
}

#[baton::test(start_paused = true)]
async fn interval_ticks_count_exactly() {
    let start = Instant::now();
    let count = Arc::new(Mutex::new(0u32));
    let counter = Arc::clone(&count);
    let ticking = time::timeout(505 * MS, async move {
        let mut ticks = time::interval(10 * MS);
        loop {
            let at = ticks.tick().await;
            let mut count = counter.lock().unwrap();
            assert_eq!(
                Instant::from(at) - start,
                *count * 10 * MS,
                "each tick on its schedule"
            );
            *count += 1;
        }
    })
    .await;
    assert!(ticking.is_err());
    // Ticks at 0, 10, ..., 500 ms: the one at 510 ms is after the timeout.
    assert_eq!(*count.lock().unwrap(), 51);
    assert_eq!(start.elapsed(), 505 * MS);
}

#[test]
fn advance_moves_the_clock_by_hand() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        time::pause();
        let start = Instant::now();
        // `sleep_until`: the task may first run after the advances below.
        let task = baton::spawn(async move {
            time::sleep_until(start + 10 * SEC).await;
            start.elapsed()
        });
        time::advance(4 * SEC).await;
        assert_eq!(start.elapsed(), 4 * SEC);
        assert!(!task.is_finished(), "woke before its deadline");
        time::advance(6 * SEC).await;
        assert_eq!(task.await.unwrap(), 10 * SEC);
        // `std::time::Instant` is untouched.
        assert!(std::time::Instant::now() < start.into_std() + SEC);
    });
}

#[test]
fn a_resumed_clock_runs_on_from_where_it_stood() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        time::pause();
        let start = Instant::now();
        // Armed while paused, completed after the resume, by the real clock.
        let sleeper = baton::spawn(time::sleep(3600 * SEC + 5 * MS));
        time::advance(3600 * SEC).await;
        time::resume();
        sleeper.await.unwrap();
        let elapsed = start.elapsed();
        assert!(elapsed >= 3600 * SEC + 5 * MS, "{elapsed:?}");
        assert!(elapsed < 3600 * SEC + 600 * SEC, "{elapsed:?}");
        // Still an hour ahead of the real clock: later timers work as well.
        let before = Instant::now();
        time::sleep(2 * MS).await;
        assert!(before.elapsed() >= 2 * MS);
    });
}

#[test]
fn another_runtime_keeps_the_real_clock() {
    let paused = baton::Runtime::builder()
        .cores(1)
        .start_paused(true)
        .build()
        .unwrap();
    let real = baton::Runtime::builder().cores(1).build().unwrap();
    let frozen = paused.block_on(async { Instant::now() });
    let outside = real.block_on(async {
        time::sleep(2 * MS).await;
        Instant::now()
    });
    assert!(outside > frozen + 2 * MS, "the other runtime's time moved");
    paused.block_on(async move {
        assert_eq!(Instant::now(), frozen, "this runtime's time did not");
    });
}

#[test]
fn pausing_needs_one_core_and_a_running_clock() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let err = std::panic::catch_unwind(|| rt.block_on(async { time::pause() })).unwrap_err();
    let message = err.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("needs a runtime with one core"),
        "{message}"
    );

    let err = baton::Runtime::builder()
        .cores(2)
        .start_paused(true)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");

    let rt = baton::Runtime::builder()
        .cores(1)
        .start_paused(true)
        .build()
        .unwrap();
    let err = std::panic::catch_unwind(|| rt.block_on(async { time::pause() })).unwrap_err();
    let message = err.downcast_ref::<String>().unwrap();
    assert!(message.contains("already paused"), "{message}");

    let err = std::panic::catch_unwind(time::resume).unwrap_err();
    let message = err.downcast_ref::<String>().unwrap();
    assert!(message.contains("outside a baton runtime"), "{message}");
}
