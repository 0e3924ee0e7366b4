use super::*;

#[test]
fn task_metadata_is_twelve_bytes_aligned_to_four() {
    // The spawn site shares its pointer with the name and the queue mark, and that pointer
    // is aligned to 4 bytes: with async-task's flag byte, the metadata fills the header's
    // last two words, where an 8-byte alignment would take a third.
    assert_eq!(std::mem::size_of::<TaskMeta>(), 12);
    assert_eq!(std::mem::align_of::<TaskMeta>(), 4);
}

#[test]
fn a_mark_keeps_the_rest_of_the_metadata() {
    let here = Location::caller();
    let marked = TaskMeta::new(Some(2), Priority::Idle, here, None, 7);
    assert_eq!(marked.queue_id(), 7);
    assert_eq!(marked.site(), here);
    assert!(marked.name().is_none());
    assert_eq!((marked.pin(), marked.priority()), (Some(2), Priority::Idle));
    assert_eq!(
        TaskMeta::new(None, Priority::Normal, here, None, 0).queue_id(),
        0
    );
}

#[test]
fn a_raise_keeps_the_pin_and_the_abort_flag() {
    let meta = TaskMeta::new(Some(5), Priority::Idle, Location::caller(), None, 0);
    meta.abort();
    assert!(meta.raise(), "Idle is lower than High");
    assert!(!meta.raise(), "raised once");
    assert_eq!((meta.pin(), meta.priority()), (Some(5), Priority::High));
    assert!(meta.is_aborted());
    let normal = TaskMeta::new(None, Priority::Normal, Location::caller(), None, 0);
    assert!(normal.raise());
    assert_eq!(normal.priority(), Priority::High);
    assert!(!TaskMeta::new(None, Priority::High, Location::caller(), None, 0).raise());
}

#[test]
fn a_name_costs_a_task_one_pointer() {
    assert_eq!(
        std::mem::size_of::<Option<Name>>(),
        std::mem::size_of::<usize>()
    );
    let meta = TaskMeta::new(Some(3), Priority::Idle, Location::caller(), None, 0);
    assert!(meta.name().is_none());
    assert_eq!((meta.pin(), meta.priority()), (Some(3), Priority::Idle));
}

#[test]
fn the_site_hint_shares_the_word_without_touching_the_rest() {
    let meta = TaskMeta::new(Some(0xFFFE), Priority::High, Location::caller(), None, 0);
    assert_eq!(meta.site_hint(), 0);
    meta.set_site_hint(MAX_SITE_HINT);
    meta.abort();
    assert_eq!(meta.site_hint(), MAX_SITE_HINT);
    assert_eq!(
        (meta.pin(), meta.priority()),
        (Some(0xFFFE), Priority::High)
    );
    assert!(meta.is_aborted());
    meta.set_site_hint(5);
    assert_eq!(meta.site_hint(), 5);
    meta.set_site_hint(MAX_SITE_HINT + 1);
    assert_eq!(
        meta.site_hint(),
        5,
        "a hint the word cannot hold is not kept"
    );
    meta.set_site_hint(0);
    assert_eq!(meta.site_hint(), 0);
    assert_eq!(
        (meta.pin(), meta.priority()),
        (Some(0xFFFE), Priority::High)
    );
    assert!(meta.is_aborted());
}
