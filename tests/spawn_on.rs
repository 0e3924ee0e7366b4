//! `spawn_on` runs a task on the named core, every time it is polled, never elsewhere.

#[test]
fn spawn_on_runs_on_the_named_core() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let seen = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..200 {
            let core = i % 2;
            handles.push(baton::spawn_on(core, async move {
                let mut seen = Vec::new();
                for _ in 0..5 {
                    seen.push(baton::current_core());
                    baton::yield_now().await;
                }
                (core, seen)
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.push(h.await.unwrap());
        }
        all
    });
    for (core, seen) in seen {
        assert!(
            seen.iter().all(|c| *c == Some(core)),
            "core {core}: {seen:?}"
        );
    }
}

#[test]
fn spawn_on_a_missing_core_panics_with_the_range() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(rt.handle().spawn_on(2, async {}));
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("core 2 does not exist"), "{message}");
    assert!(message.contains("0 to 1"), "{message}");
}

#[test]
fn spawn_on_a_missing_core_names_the_callers_line() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let message = rt.block_on(async {
        let panic = std::panic::catch_unwind(|| drop(baton::spawn_on(7, async {}))).unwrap_err();
        panic.downcast_ref::<String>().unwrap().clone()
    });
    assert!(message.contains("core 7 does not exist"), "{message}");
    assert!(message.contains("tests/spawn_on.rs:"), "{message}");
}
