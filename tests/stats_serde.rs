//! With the `serde` feature, a stats snapshot serialises, and reads back equal.
//!
//! Run with `cargo test --features serde --test stats_serde`.
#![cfg(feature = "serde")]

#[test]
fn a_snapshot_round_trips_through_json() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let q = baton::WorkQueue::builder("serialised")
        .build(&rt.handle())
        .unwrap();
    rt.block_on(q.spawn(async {})).unwrap();
    let stats = rt.stats();
    let json = serde_json::to_string(&stats).unwrap();
    assert!(json.contains("\"handoffs\""), "{json}");
    assert!(json.contains("\"serialised\""), "{json}");
    let back: baton::Stats = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stats);
}
