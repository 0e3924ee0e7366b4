//! `JoinHandle` and `Sleep` are `FusedFuture`s: a `select!` loop over them skips the branch
//! that completed instead of polling it again.

use std::time::Duration;

use futures::future::FusedFuture;

#[baton::test]
async fn a_select_loop_over_a_task_and_a_sleep_sees_each_complete_once() {
    let mut task = baton::spawn(async { 7 });
    let mut sleep = baton::time::sleep(Duration::from_millis(5));
    let (mut output, mut slept) = (None, false);
    // `select!` needs `FusedFuture`: a completed branch is skipped from then on.
    while output.is_none() || !slept {
        futures::select! {
            out = task => output = Some(out.unwrap()),
            () = sleep => slept = true,
        }
    }
    assert_eq!(output, Some(7));
    assert!(task.is_terminated());
    assert!(sleep.is_terminated());
    sleep.reset(std::time::Instant::now() + Duration::from_millis(1));
    assert!(!sleep.is_terminated());
    (&mut sleep).await;
    assert!(sleep.is_terminated());
}
