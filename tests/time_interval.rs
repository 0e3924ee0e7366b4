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

/// One tick taken after the stall: its scheduled instant, and the clock read just before the
/// call to `tick` and just after it returned.
#[derive(Debug, Clone, Copy)]
struct Taken {
    at: Instant,
    before: Instant,
    after: Instant,
}

/// Takes a tick, stalls for 3.5 periods, then takes three more; returns the first tick's
/// instant and the three later ticks.
///
/// The later ticks are checked against the clock reads around each call rather than against
/// fixed gaps: on a loaded machine the thread may be descheduled for more than a period
/// between two ticks, which makes `Skip` and `Delay` legitimately move the schedule further.
fn after_a_stall(behavior: MissedTickBehavior) -> (Instant, Vec<Taken>) {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let mut ticks = interval(PERIOD);
        ticks.set_missed_tick_behavior(behavior);
        let first = ticks.tick().await;
        std::thread::sleep(PERIOD * 7 / 2);
        let mut out = Vec::new();
        for _ in 0..3 {
            let before = Instant::now();
            let at = ticks.tick().await;
            let after = Instant::now();
            assert!(after >= at, "a tick came before its scheduled instant");
            out.push(Taken { at, before, after });
        }
        (first, out)
    })
}

/// The instants relative to `first`.
fn relative(first: Instant, got: &[Taken]) -> Vec<Duration> {
    got.iter().map(|t| t.at - first).collect()
}

#[test]
fn burst_catches_up_on_the_original_schedule() {
    let (first, got) = after_a_stall(MissedTickBehavior::Burst);
    assert_eq!(relative(first, &got), vec![PERIOD, PERIOD * 2, PERIOD * 3]);
}

#[test]
fn skip_drops_the_missed_ticks() {
    let (first, got) = after_a_stall(MissedTickBehavior::Skip);
    let rel = relative(first, &got);
    // The tick due during the stall is taken late, on its schedule.
    assert_eq!(rel[0], PERIOD, "{rel:?}");
    for pair in got.windows(2) {
        let (taken, next) = (pair[0], pair[1]);
        // Every tick stays on the original grid...
        assert_eq!(
            (next.at - first).as_nanos() % PERIOD.as_nanos(),
            0,
            "{rel:?}"
        );
        // ...and is the first grid instant after the previous tick was taken: later than the
        // clock before that call, and no more than a period after the clock after it.
        assert!(next.at > taken.before, "{rel:?}");
        assert!(next.at <= taken.after + PERIOD, "{rel:?}");
    }
    // The stall lasted 3.5 periods past the first tick: the ticks of 2 and 3 periods were
    // dropped.
    assert!(rel[1] >= PERIOD * 4, "{rel:?}");
}

#[test]
fn delay_restarts_the_schedule_from_the_late_tick() {
    let (first, got) = after_a_stall(MissedTickBehavior::Delay);
    let rel = relative(first, &got);
    assert_eq!(rel[0], PERIOD, "{rel:?}");
    for pair in got.windows(2) {
        let (taken, next) = (pair[0], pair[1]);
        if taken.after < taken.at + PERIOD {
            // Taken less than a period late: the schedule goes on.
            assert_eq!(next.at, taken.at + PERIOD, "{rel:?}");
        } else if taken.before >= taken.at + PERIOD {
            // Taken a period late or more: a new schedule starts one period after it was
            // taken.
            assert!(next.at >= taken.before + PERIOD, "{rel:?}");
            assert!(next.at <= taken.after + PERIOD, "{rel:?}");
        } else {
            // The call straddled the boundary: either way, one period after the tick or later.
            assert!(next.at >= taken.at + PERIOD, "{rel:?}");
            assert!(next.at <= taken.after + PERIOD, "{rel:?}");
        }
    }
    // The first late tick was taken at 3.5 periods or later: the schedule restarted, so the
    // next tick is at 4.5 periods or later and off the original grid.
    assert!(rel[1] >= PERIOD * 9 / 2, "{rel:?}");
}
