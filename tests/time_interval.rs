//! Intervals tick on schedule, never early, and follow their missed-tick policy.

use std::time::{Duration, Instant};

use baton::time::{interval, interval_at, MissedTickBehavior};

const PERIOD: Duration = Duration::from_millis(10);

#[test]
fn ticks_are_on_schedule_and_never_early() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let start = Instant::now() + PERIOD;
        let mut ticks = interval_at(start, PERIOD);
        for i in 0..5u32 {
            let at = ticks.tick().await;
            assert_eq!(at, start + PERIOD * i);
            assert!(Instant::now() >= at);
        }
    });
}

/// Takes a tick, stalls for 3.5 periods, then takes three more; returns the scheduled
/// instants relative to the first.
fn after_a_stall(behavior: MissedTickBehavior) -> Vec<Duration> {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let mut ticks = interval(PERIOD);
        ticks.set_missed_tick_behavior(behavior);
        let first = ticks.tick().await;
        std::thread::sleep(PERIOD * 7 / 2);
        let mut out = Vec::new();
        for _ in 0..3 {
            let at = ticks.tick().await;
            assert!(Instant::now() >= at);
            out.push(at - first);
        }
        out
    })
}

#[test]
fn burst_catches_up_on_the_original_schedule() {
    assert_eq!(
        after_a_stall(MissedTickBehavior::Burst),
        vec![PERIOD, PERIOD * 2, PERIOD * 3]
    );
}

#[test]
fn skip_drops_the_missed_ticks() {
    let got = after_a_stall(MissedTickBehavior::Skip);
    assert_eq!(got[0], PERIOD);
    // Later ticks stay on the original grid, past the stall.
    assert!(got[1] >= PERIOD * 4, "{got:?}");
    for at in &got[1..] {
        assert_eq!(at.as_nanos() % PERIOD.as_nanos(), 0, "{got:?}");
    }
    assert_eq!(got[2] - got[1], PERIOD);
}

#[test]
fn delay_restarts_the_schedule_from_the_late_tick() {
    let got = after_a_stall(MissedTickBehavior::Delay);
    assert_eq!(got[0], PERIOD);
    // The schedule restarts one period after the late tick was taken (at 3.5 periods or
    // later), so the next tick is at 4.5 periods or later and off the original grid.
    assert!(got[1] >= PERIOD * 9 / 2, "{got:?}");
    assert_eq!(got[2] - got[1], PERIOD);
}
