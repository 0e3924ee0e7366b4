//! The monitor taking over a poll that blocks outside any section ([`crate::detect`]), racing
//! the poll's end and a section starting inside the poll. The asymmetric barriers are full
//! fences under loom, which is what the `membarrier` handshake promises.

use super::handoff::{add_worker, counts, running_core};
use super::model;
use crate::core::{Core, Recheck, SectionWord, SeenPoll, Siblings};
use crate::sync::Arc;
use std::panic::Location;

/// The monitor's takeover of the poll it saw as `seen`: claim, uncount, publish. Returns
/// whether it took the poll over.
fn take_over(core: &Core, siblings: &Siblings, word: &SectionWord, seen: SeenPoll) -> bool {
    let Some(claimed) = word.claim_poll(seen) else {
        return false;
    };
    core.hand_off(siblings, || Recheck::Nothing);
    word.publish(claimed);
    true
}

/// The poll ends while the monitor takes it over: either the takeover is given back, or the
/// worker learns of it and counts itself running again. The counts always add up, and no
/// worker is left counted in a section.
#[test]
fn takeover_racing_the_end_of_the_poll() {
    model(3, || {
        let (core, siblings, _worker) = running_core();
        add_worker(&core, &siblings);
        let word = Arc::new(SectionWord::new());
        word.start_poll(1, false, Location::caller());
        let seen = word.look_poll();

        let monitor = {
            let (core, siblings, word) = (core.clone(), siblings.clone(), word.clone());
            loom::thread::spawn(move || take_over(&core, &siblings, &word, seen))
        };
        let returned = word.end_poll(|| false);
        if returned {
            core.return_from_section(&siblings);
        }
        // The worker goes on to its next poll, which the old look must not take over.
        word.start_poll(2, false, Location::caller());
        let took = monitor.join().unwrap();
        assert_eq!(
            took, returned,
            "the worker learns of exactly the takeovers that happened"
        );
        assert!(
            !word.end_poll(|| false),
            "a later poll is not taken over on an old look"
        );
        let [running, spares, in_section, workers] = counts(&core);
        assert_eq!(in_section, 0, "{:?}", core.state());
        assert_eq!(running, 1);
        assert_eq!(running + spares, workers, "{:?}", core.state());
    });
}

/// An eager section starts inside the poll while the monitor takes the poll over: the baton
/// passes on once, not twice, and comes back once.
#[test]
fn takeover_racing_an_eager_section() {
    model(3, || {
        let (core, siblings, _worker) = running_core();
        add_worker(&core, &siblings);
        let word = Arc::new(SectionWord::new());
        word.start_poll(1, false, Location::caller());
        let seen = word.look_poll();

        let monitor = {
            let (core, siblings, word) = (core.clone(), siblings.clone(), word.clone());
            loom::thread::spawn(move || take_over(&core, &siblings, &word, seen))
        };
        let epoch = word.enter(true, || {
            core.hand_off(&siblings, || Recheck::Nothing);
        });
        let mut returns = 0;
        if word.leave(epoch, || core.return_from_section(&siblings)) {
            returns += 1;
        }
        if word.end_poll(|| false) {
            core.return_from_section(&siblings);
            returns += 1;
        }
        monitor.join().unwrap();
        assert_eq!(returns, 1, "the baton came back once");
        let [running, spares, in_section, workers] = counts(&core);
        assert_eq!((running, in_section), (1, 0), "{:?}", core.state());
        assert_eq!(running + spares, workers, "{:?}", core.state());
    });
}

/// A section handed off inside a poll ends while the monitor looks for polls outside sections:
/// the worker counts itself running again before its word says it left the section, so a
/// takeover of the rest of its poll always finds it counted (an old order, word first, let the
/// monitor take over a worker still counted in its section: a handoff from `running == 0`).
#[test]
fn takeover_racing_the_end_of_a_handed_off_section() {
    model(3, || {
        let (core, siblings, _worker) = running_core();
        add_worker(&core, &siblings);
        let word = Arc::new(SectionWord::new());
        word.start_poll(1, false, Location::caller());
        let epoch = word.enter(true, || {
            core.hand_off(&siblings, || Recheck::Nothing);
        });

        let monitor = {
            let (core, siblings, word) = (core.clone(), siblings.clone(), word.clone());
            loom::thread::spawn(move || {
                let seen = word.look_poll();
                seen.is_polling_outside_section() && take_over(&core, &siblings, &word, seen)
            })
        };
        assert!(word.leave(epoch, || core.return_from_section(&siblings)));
        let taken = word.end_poll(|| false);
        if taken {
            core.return_from_section(&siblings);
        }
        assert_eq!(monitor.join().unwrap(), taken);
        let [running, spares, in_section, workers] = counts(&core);
        assert_eq!((running, in_section), (1, 0), "{:?}", core.state());
        assert_eq!(running + spares, workers, "{:?}", core.state());
    });
}
