//! Tests of the section word and the poll word: the handshakes of a section's handoff and of a
//! poll's takeover, each seen from the worker and the monitor in turn.

use super::*;

#[test]
fn a_section_not_handed_off_leaves_cheaply() {
    let slot = SectionWord::new();
    let epoch = slot.enter(false, || unreachable!());
    assert!(slot.look().is_in_lazy_section());
    assert!(!slot.leave(epoch, || {}));
    assert!(!slot.look().is_in_lazy_section());
}

#[test]
fn a_held_section_is_not_lazy_and_its_poll_is_not_taken_over() {
    let slot = SectionWord::new();
    slot.start_poll(1, false, Location::caller());
    let epoch = slot.enter_held();
    assert!(
        !slot.look().is_in_lazy_section(),
        "the monitor leaves it alone"
    );
    assert!(
        !slot.look_poll().is_polling_outside_section(),
        "its poll is in a section: no takeover either"
    );
    assert!(!slot.leave(epoch, || {}), "its baton never passed on");
    assert!(!slot.end_poll(|| false));
    // The next section of the worker is lazy again.
    let epoch = slot.enter(false, || unreachable!());
    assert!(slot.look().is_in_lazy_section());
    assert!(!slot.leave(epoch, || {}));
}

#[test]
fn the_monitor_hands_off_only_the_section_it_saw() {
    let slot = SectionWord::new();
    let epoch = slot.enter(false, || unreachable!());
    let seen = slot.look();
    assert!(slot.claim(seen));
    assert!(!slot.look().is_in_lazy_section());
    slot.publish(seen);
    assert!(
        slot.leave(epoch, || {}),
        "the worker learns its baton passed on"
    );

    // A newer section is not handed off on the strength of an old look.
    let epoch = slot.enter(false, || unreachable!());
    assert!(!slot.claim(seen));
    assert!(!slot.leave(epoch, || {}));
}

#[test]
fn an_eager_section_reports_its_handoff() {
    let slot = SectionWord::new();
    let mut handed = false;
    let epoch = slot.enter(true, || handed = true);
    assert!(handed, "an eager section passes its baton on");
    assert!(!slot.look().is_in_lazy_section());
    assert!(slot.leave(epoch, || {}));
}

#[test]
#[cfg(target_os = "linux")]
fn the_monitor_takes_over_only_the_poll_it_saw() {
    assert!(
        sys::wait_for_heavy_barrier(),
        "membarrier is available on Linux"
    );
    let slot = SectionWord::new();
    slot.start_poll(1, false, Location::caller());
    let seen = slot.look_poll();
    assert!(seen.is_polling_outside_section());
    let claimed = slot.claim_poll(seen).expect("the poll is still running");
    slot.publish(claimed);
    assert!(
        slot.end_poll(|| false),
        "the worker learns its poll was taken over"
    );
    assert!(!slot.end_poll(|| false), "and only once");

    // A claim on a poll that has ended is given back.
    slot.start_poll(2, false, Location::caller());
    let seen = slot.look_poll();
    assert!(!slot.end_poll(|| false));
    slot.start_poll(3, false, Location::caller());
    assert!(slot.claim_poll(seen).is_none());
    assert!(!slot.end_poll(|| false));
}

#[test]
#[cfg(target_os = "linux")]
fn a_section_inside_a_taken_over_poll_starts_handed_off() {
    assert!(
        sys::wait_for_heavy_barrier(),
        "membarrier is available on Linux"
    );
    let slot = SectionWord::new();
    slot.start_poll(1, false, Location::caller());
    let claimed = slot.claim_poll(slot.look_poll()).unwrap();
    slot.publish(claimed);
    let epoch = slot.enter(true, || panic!("the baton has passed on already"));
    assert!(!slot.look_poll().is_polling_outside_section());
    assert!(
        slot.leave(epoch, || {}),
        "the section returns the baton it found passed on"
    );
    assert!(
        !slot.end_poll(|| false),
        "and the poll's end has nothing more to return"
    );
}

#[test]
fn a_cpu_wait_mark_counts_only_for_the_section_it_was_set_for() {
    let slot = SectionWord::new();
    // Marked while the worker is still in the handed-off section: heeded.
    let epoch = slot.enter(false, || unreachable!());
    let seen = slot.look();
    assert!(slot.claim(seen));
    slot.publish(seen);
    slot.note_waited_for_cpu(seen);
    assert!(slot.leave(epoch, || {}));
    assert!(slot.take_waited_for_cpu(epoch));
    // Marked after the worker left and took nothing: stale, so the next handed-off section
    // does not heed it.
    let epoch = slot.enter(false, || unreachable!());
    let seen = slot.look();
    assert!(slot.claim(seen));
    slot.publish(seen);
    assert!(slot.leave(epoch, || {}));
    assert!(!slot.take_waited_for_cpu(epoch));
    slot.note_waited_for_cpu(seen);
    let next = slot.enter(false, || unreachable!());
    let seen = slot.look();
    assert!(slot.claim(seen));
    slot.publish(seen);
    assert!(slot.leave(next, || {}));
    assert!(!slot.take_waited_for_cpu(next));
}
