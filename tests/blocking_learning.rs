//! A call site whose section blocked past the grace period hands its core off eagerly the next
//! time, and goes back to lazy handoff once its sections stop blocking.

use std::time::Duration;

/// Generous, so that a quick section is never mistaken for a blocked one on a loaded machine.
const GRACE: Duration = Duration::from_millis(20);
/// Far beyond the grace period: the monitor certainly hands this section off.
const BLOCK: Duration = Duration::from_millis(200);

/// The one call site under test: every call runs its section at the same location.
fn at_the_site(block_for: Duration) {
    baton::blocking::section(|| {
        if !block_for.is_zero() {
            std::thread::sleep(block_for);
        }
    });
}

fn eager_handoffs(rt: &baton::Runtime) -> u64 {
    rt.stats().cores.iter().map(|c| c.eager_handoffs).sum()
}

fn handoffs(rt: &baton::Runtime) -> u64 {
    rt.stats().cores.iter().map(|c| c.handoffs).sum()
}

#[test]
fn a_site_that_blocked_is_handed_off_eagerly_then_unlearnt() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .grace_period(GRACE)
        .build()
        .unwrap();
    // Each step runs in its own task, on the runtime's worker.
    let run = |block_for: Duration| rt.block_on(rt.spawn(async move { at_the_site(block_for) }));

    // A quick section at an unknown site is lazy: no handoff at all.
    run(Duration::ZERO).unwrap();
    assert_eq!(eager_handoffs(&rt), 0, "{}", rt.stats());

    // It blocks: the monitor hands it off (not eagerly) and the site is learnt.
    run(BLOCK).unwrap();
    assert!(handoffs(&rt) >= 1, "{}", rt.stats());
    assert_eq!(eager_handoffs(&rt), 0, "{}", rt.stats());

    // The next section at the site hands off at entry, although it is quick.
    run(Duration::ZERO).unwrap();
    let after_first = eager_handoffs(&rt);
    assert_eq!(after_first, 1, "{}", rt.stats());

    // Quick sections lower the site's score: after a few it is lazy again, and stays so.
    for _ in 0..10 {
        run(Duration::ZERO).unwrap();
    }
    let settled = eager_handoffs(&rt);
    assert!(
        settled > after_first && settled <= after_first + 10,
        "the site stayed eager for a few quick sections: {}",
        rt.stats()
    );
    for _ in 0..50 {
        run(Duration::ZERO).unwrap();
    }
    assert_eq!(
        eager_handoffs(&rt),
        settled,
        "a site that stopped blocking kept handing off eagerly: {}",
        rt.stats()
    );

    // Blocking again makes it eager again.
    run(BLOCK).unwrap();
    run(Duration::ZERO).unwrap();
    assert_eq!(eager_handoffs(&rt), settled + 1, "{}", rt.stats());
}

#[test]
fn another_site_is_not_made_eager() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .grace_period(GRACE)
        .build()
        .unwrap();
    rt.block_on(rt.spawn(async { at_the_site(BLOCK) })).unwrap();
    rt.block_on(rt.spawn(async {
        for _ in 0..20 {
            // A different call site.
            baton::blocking::section(|| ());
        }
    }))
    .unwrap();
    assert_eq!(eager_handoffs(&rt), 0, "{}", rt.stats());
}
