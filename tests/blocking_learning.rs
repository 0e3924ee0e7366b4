//! A call site whose section blocked past the grace period hands its core off eagerly the next
//! time, and goes back to lazy handoff once its sections stop blocking.

use std::time::Duration;

/// Generous, so that a quick section is never mistaken for a blocked one on a loaded machine:
/// one kept off the CPU that long without sleeping teaches its site nothing (the monitor tells
/// it from a blocked one), but one that also waited for a lock of the runtime's would.
const GRACE: Duration = Duration::from_millis(200);
/// The one call site under test: every call runs its section at the same location. A section
/// that `blocks` sleeps until the runtime counts one handoff more than at its entry, however
/// long the monitor takes to look on a loaded machine (a hang guard aside), so it certainly
/// blocked past the grace period and was handed off; the others return at once.
fn at_the_site(blocks: bool) {
    let handle = baton::Handle::current();
    let before = handoffs_of(&handle.stats());
    baton::blocking::section(|| {
        if blocks {
            let start = std::time::Instant::now();
            while handoffs_of(&handle.stats()) == before {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "a section blocked for a minute and was never handed off"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
}

fn handoffs_of(stats: &baton::Stats) -> u64 {
    stats.cores.iter().map(|c| c.handoffs).sum()
}

fn eager_handoffs(rt: &baton::Runtime) -> u64 {
    rt.stats().cores.iter().map(|c| c.eager_handoffs).sum()
}

fn handoffs(rt: &baton::Runtime) -> u64 {
    handoffs_of(&rt.stats())
}

#[test]
fn a_site_that_blocked_is_handed_off_eagerly_then_unlearnt() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .grace_period(GRACE)
        .build()
        .unwrap();
    // Each step runs in its own task, on the runtime's worker.
    let run = |blocks: bool| rt.block_on(rt.spawn(async move { at_the_site(blocks) }));

    // A quick section at an unknown site is lazy: no handoff at all.
    run(false).unwrap();
    assert_eq!(eager_handoffs(&rt), 0, "{}", rt.stats());

    // It blocks: the monitor hands it off (not eagerly) and the site is learnt.
    run(true).unwrap();
    assert!(handoffs(&rt) >= 1, "{}", rt.stats());
    assert_eq!(eager_handoffs(&rt), 0, "{}", rt.stats());

    // The next section at the site hands off at entry, although it is quick.
    run(false).unwrap();
    let after_first = eager_handoffs(&rt);
    assert_eq!(after_first, 1, "{}", rt.stats());

    // Quick sections lower the site's score: after a few it is lazy again, and stays so.
    for _ in 0..10 {
        run(false).unwrap();
    }
    let settled = eager_handoffs(&rt);
    assert!(
        settled > after_first && settled <= after_first + 10,
        "the site stayed eager for a few quick sections: {}",
        rt.stats()
    );
    for _ in 0..50 {
        run(false).unwrap();
    }
    assert_eq!(
        eager_handoffs(&rt),
        settled,
        "a site that stopped blocking kept handing off eagerly: {}",
        rt.stats()
    );

    // Blocking again makes it eager again.
    run(true).unwrap();
    run(false).unwrap();
    assert_eq!(eager_handoffs(&rt), settled + 1, "{}", rt.stats());
}

#[test]
fn another_site_is_not_made_eager() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .grace_period(GRACE)
        .build()
        .unwrap();
    rt.block_on(rt.spawn(async { at_the_site(true) })).unwrap();
    rt.block_on(rt.spawn(async {
        for _ in 0..20 {
            // A different call site.
            baton::blocking::section(|| ());
        }
    }))
    .unwrap();
    assert_eq!(eager_handoffs(&rt), 0, "{}", rt.stats());
}
