//! The work queue builder rejects settings out of range, with a clear error.

use baton::{Affinity, WorkQueue, MAX_ACTIVE_LIMIT};

#[test]
fn max_active_must_be_1_to_2048() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let h = rt.handle();
    for n in [0, MAX_ACTIVE_LIMIT + 1, usize::MAX] {
        let err = WorkQueue::builder("q").max_active(n).build(&h).unwrap_err();
        assert!(err.is_max_active(), "{n}: {err}");
        assert!(err.to_string().contains("1 to 2048"), "{err}");
    }
    for n in [1, 2, MAX_ACTIVE_LIMIT] {
        let q = WorkQueue::builder("q").max_active(n).build(&h).unwrap();
        assert_eq!(q.max_active(), n);
    }
    assert_eq!(
        WorkQueue::builder("q").build(&h).unwrap().max_active(),
        baton::DEFAULT_MAX_ACTIVE
    );
}

#[test]
fn ordered_excludes_max_active_above_one() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let h = rt.handle();
    let err = WorkQueue::builder("q")
        .ordered()
        .max_active(2)
        .build(&h)
        .unwrap_err();
    assert!(err.is_ordered(), "{err}");
    let err = WorkQueue::builder("q")
        .max_active(8)
        .ordered()
        .build(&h)
        .unwrap_err();
    assert!(err.is_ordered(), "{err}");
    let q = WorkQueue::builder("q")
        .ordered()
        .max_active(1)
        .build(&h)
        .unwrap();
    assert!(q.is_ordered());
    assert_eq!(q.max_active(), 1);
}

#[test]
fn affinity_cores_must_exist_and_a_set_must_not_be_empty() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let h = rt.handle();
    let err = WorkQueue::builder("q")
        .affinity(Affinity::Core(2))
        .build(&h)
        .unwrap_err();
    assert!(err.is_core(), "{err}");
    assert!(err.to_string().contains("core 2 does not exist"), "{err}");
    let err = WorkQueue::builder("q")
        .affinity(Affinity::Cores(vec![0, 7]))
        .build(&h)
        .unwrap_err();
    assert!(err.is_core(), "{err}");
    let err = WorkQueue::builder("q")
        .affinity(Affinity::Cores(vec![]))
        .build(&h)
        .unwrap_err();
    assert!(err.is_empty_cores(), "{err}");
    assert!(WorkQueue::builder("q")
        .affinity(Affinity::Cores(vec![1]))
        .build(&h)
        .is_ok());
}
