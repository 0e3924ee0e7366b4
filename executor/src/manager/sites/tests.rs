//! The site table's and the managed concurrency's unit tests.

use std::time::Duration;

use super::*;

#[track_caller]
fn here() -> &'static Location<'static> {
    Location::caller()
}

#[test]
fn a_site_that_blocked_is_eager_until_it_stops_blocking() {
    let sites = Sites::new();
    let a = here();
    let b = here();
    assert!(!sites.is_eager(a));
    sites.record_blocked(a);
    assert!(sites.is_eager(a));
    assert!(!sites.is_eager(b), "learning is per call site");
    for _ in 0..EAGER_SCORE - 1 {
        sites.record_quick(a);
        assert!(sites.is_eager(a));
    }
    sites.record_quick(a);
    assert!(!sites.is_eager(a), "back to lazy after quick sections");
    sites.record_quick(a);
    assert!(!sites.is_eager(a));
}

#[test]
fn a_spawn_site_whose_task_blocked_is_watched_until_its_polls_stay_quick() {
    let sites = Sites::new();
    let a = here();
    assert_eq!(sites.poll_mode(a), PollMode::Plain);
    sites.record_taken_over(a);
    assert_eq!(sites.poll_mode(a), PollMode::Watched);
    assert_eq!(
        sites.poll_mode(here()),
        PollMode::Plain,
        "learning is per spawn site"
    );
    for _ in 0..SPAWN_EAGER_SCORE {
        assert_ne!(sites.poll_mode(a), PollMode::Plain);
        sites.record_watched_poll(a, false, false);
    }
    assert_eq!(
        sites.poll_mode(a),
        PollMode::Plain,
        "back to normal after quick polls"
    );
}

/// A managed record taught that its sections with a replacement took `turn` per section in
/// flight (a lock's turn), at levels 1 and 2.
fn taught(turn: Duration) -> (Managed, Instant) {
    let start = Instant::now();
    let managed = Managed::new(start, 1);
    let mut now = start;
    for _ in 0..8 {
        for level in 1..=2 {
            now += turn * level as u32;
            managed.learn(now, level, turn * level as u32);
        }
    }
    (managed, now)
}

/// Whether a section entering now would be held.
fn is_held(managed: &Managed) -> bool {
    let within = managed.enter().within;
    managed.admission.leave();
    !within
}

/// The eighth section in flight at `managed`, which is beyond its level.
fn eighth(managed: &Managed) -> Entered {
    for _ in 0..7 {
        managed.enter();
    }
    let entered = managed.enter();
    assert_eq!(entered.level, 8);
    assert!(!entered.within, "the eighth section is beyond the level");
    entered
}

#[test]
fn a_held_section_that_waited_for_its_sites_turns_keeps_the_site_held() {
    let (managed, now) = taught(Duration::from_millis(1));
    // It waited for about as many turns as sections were in flight, none of which ended
    // meanwhile (a disk stalled, say).
    let entered = eighth(&managed);
    managed.hold_failed(now, entered, Duration::from_millis(12), false);
    assert!(
        is_held(&managed),
        "a wait the site's turns explain unheld it"
    );
}

#[test]
fn a_held_section_whose_site_went_on_keeps_the_site_held() {
    let (managed, now) = taught(Duration::from_micros(20));
    let entered = eighth(&managed);
    // Far longer than its turns explain, but the site's other sections went on ending:
    // an unfair lock let them in first.
    managed.uncounted_ended();
    managed.hold_failed(now, entered, Duration::from_millis(10), false);
    assert!(is_held(&managed), "a site that made progress was unheld");
}

#[test]
fn a_held_section_that_stalled_its_site_unholds_it_for_a_while() {
    let (managed, now) = taught(Duration::from_micros(20));
    let entered = eighth(&managed);
    // Waited for another task the hold kept from running, until the held grace period,
    // and no section of the site ended meanwhile.
    managed.hold_failed(now, entered, Duration::from_millis(10), false);
    assert!(
        !is_held(&managed),
        "holding stalls what the site's sections wait for"
    );
    managed
        .unheld_until
        .store(managed.since_created(Instant::now()), Ordering::Relaxed);
    assert!(is_held(&managed), "held again once the while is over");
}

#[test]
fn a_held_section_that_woke_a_task_unholds_its_site_whatever_the_figures() {
    let (managed, now) = taught(Duration::from_millis(1));
    let entered = eighth(&managed);
    // The figures explain the wait and the site went on (the case above keeps the site
    // held), but the section woke a task of its core before it waited.
    managed.uncounted_ended();
    managed.hold_failed(now, entered, Duration::from_millis(12), true);
    assert!(
        !is_held(&managed),
        "a section that woke a task kept its site held"
    );
}

#[test]
fn a_held_section_handed_off_before_any_figures_unholds_the_site() {
    let managed = Managed::new(Instant::now(), 1);
    let entered = eighth(&managed);
    managed.hold_failed(Instant::now(), entered, Duration::from_millis(10), false);
    assert!(!is_held(&managed));
}

#[test]
fn detections_are_counted_per_spawn_site() {
    let sites = Sites::new();
    let (a, b) = (here(), here());
    assert!(sites.detections().is_empty());
    sites.record_blocked(a);
    assert!(
        sites.detections().is_empty(),
        "a section's site is no spawn site"
    );
    sites.record_detection(a, true);
    sites.record_detection(b, false);
    sites.record_detection(b, true);
    let found = sites.detections();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].site, b.to_string(), "the most taken over first");
    assert_eq!((found[0].detected_blocks, found[0].cpu_hogs), (1, 1));
    assert_eq!((found[1].detected_blocks, found[1].cpu_hogs), (1, 0));
}
