//! Sleeps never return before their deadline, alone or by the thousand.

use std::time::{Duration, Instant};

use baton::time::{sleep, sleep_until};

#[test]
fn a_sleep_never_returns_early() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        for ms in [0u64, 1, 2, 5, 10, 25] {
            let asked = Duration::from_millis(ms);
            let start = Instant::now();
            sleep(asked).await;
            assert!(
                start.elapsed() >= asked,
                "slept {:?} for {asked:?}",
                start.elapsed()
            );
        }
        let deadline = Instant::now() + Duration::from_millis(15);
        sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn many_concurrent_sleeps_all_wake_on_or_after_their_deadline() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..10_000u64)
            .map(|i| {
                let deadline = start + Duration::from_micros(i * 7 % 50_000);
                baton::spawn(async move {
                    sleep_until(deadline).await;
                    Instant::now() >= deadline
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap(), "a sleep returned before its deadline");
        }
    });
}

#[test]
fn dropped_sleeps_do_not_fire_or_hold_anything() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        // Arm many long sleeps and drop them half-way: the runtime carries on.
        for _ in 0..1_000 {
            let long = sleep(Duration::from_secs(3600));
            let _ = baton::time::timeout(Duration::ZERO, long).await;
        }
        let start = Instant::now();
        sleep(Duration::from_millis(5)).await;
        assert!(start.elapsed() >= Duration::from_millis(5));
    });
}
