//! Where a task comes from, in one word of its header: its spawn site and, for a named task or
//! one a work queue marked, its name and that queue's id.
//!
//! Every task keeps its spawn site (the key of what the runtime learns about polls that block),
//! and few tasks have a name or a mark, so a plain task keeps the site's pointer alone, and the
//! others one pointer to a small shared record holding all three. The two are told apart by the
//! pointer's low bit, which is always clear in a pointer to either (both are aligned to 8 bytes).
//!
//! A work queue marks all its tasks alike, usually from one spawn site, so the record of a
//! marked task without a name is shared with the task the same thread marked before it when the
//! site and mark are the same: a reference count instead of an allocation per task.
//!
//! The word is stored aligned to 4 bytes only, so that the task's metadata (this word and a
//! 32-bit atomic) takes 12 bytes and the header of async-task's allocation one word less than
//! with an 8-byte-aligned pointer.

use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::queue::Name;

/// The low bit of [`Origin`]'s pointer: set when it points to a [`Detailed`] (in an `Arc`).
const DETAILED: usize = 1;

// The tag bit is free in pointers to both kinds.
const _: () = assert!(std::mem::align_of::<Location<'static>>() > DETAILED);
const _: () = assert!(std::mem::align_of::<Detailed>() > DETAILED);

/// The spawn site of a named or marked task, with its name and its work queue's mark.
struct Detailed {
    site: &'static Location<'static>,
    name: Option<Name>,
    queue_id: u32,
}

thread_local! {
    /// The record of the last task without a name this thread marked, for the next one marked
    /// alike (see the module docs).
    static LAST_MARKED: RefCell<Option<Arc<Detailed>>> = const { RefCell::new(None) };
}

/// The shared record of a task without a name spawned at `site` and marked `queue_id`: this
/// thread's last one if it matches, else a new one, kept for the next.
fn marked(site: &'static Location<'static>, queue_id: u32) -> Arc<Detailed> {
    let make = || {
        Arc::new(Detailed {
            site,
            name: None,
            queue_id,
        })
    };
    LAST_MARKED
        .try_with(|last| {
            let mut last = last.borrow_mut();
            match &*last {
                Some(record) if std::ptr::eq(record.site, site) && record.queue_id == queue_id => {
                    Arc::clone(record)
                }
                _ => Arc::clone(last.insert(make())),
            }
        })
        // The thread is exiting and its cache is gone: a record of the task's own.
        .unwrap_or_else(|_| make())
}

/// A task's spawn site, its name if it has one, and its work queue's id if that queue marked
/// it: one pointer, tagged (see the module docs), aligned to 4 bytes.
///
/// The field is only ever copied out (a `NonNull` is `Copy`), never borrowed, as a packed
/// field must be.
#[repr(Rust, packed(4))]
pub(crate) struct Origin(NonNull<()>);

// SAFETY: an `Origin` owns either nothing (a `&'static Location`, itself `Send` and `Sync`) or a
// share of an `Arc<Detailed>` whose fields (`&'static Location`, `Option<Name>`, a `u32`) are
// `Send` and `Sync`, never written after it is made; it only ever hands out shared references
// to them.
unsafe impl Send for Origin {}
// SAFETY: as for `Send`.
unsafe impl Sync for Origin {}

impl Origin {
    /// The origin of a task spawned at `site`, named `name` if given, and marked with work
    /// queue `queue_id` if not 0.
    #[inline]
    pub(crate) fn new(
        site: &'static Location<'static>,
        name: Option<Name>,
        queue_id: u32,
    ) -> Origin {
        if name.is_none() && queue_id == 0 {
            Origin(NonNull::from(site).cast())
        } else {
            Origin::detailed(site, name, queue_id)
        }
    }

    /// The origin of a named or marked task: its record, tagged.
    #[cold]
    fn detailed(site: &'static Location<'static>, name: Option<Name>, queue_id: u32) -> Origin {
        let record = match name {
            None => marked(site, queue_id),
            Some(name) => Arc::new(Detailed {
                site,
                name: Some(name),
                queue_id,
            }),
        };
        let record = NonNull::new(Arc::into_raw(record).cast_mut())
            .expect("an Arc's pointer is not null")
            .cast::<()>();
        Origin(record.map_addr(|addr| addr | DETAILED))
    }

    /// The record of a named or marked task's origin, or `None` for a plain one.
    #[inline]
    fn details(&self) -> Option<&Detailed> {
        let ptr = self.0;
        if ptr.as_ptr().addr() & DETAILED == 0 {
            return None;
        }
        let detailed = ptr
            .as_ptr()
            .map_addr(|addr| addr & !DETAILED)
            .cast::<Detailed>();
        // SAFETY: a tagged pointer was made in `detailed` from `Arc::into_raw`, with the same
        // provenance and the tag bit added; that share of the `Arc` is given back only by
        // `drop`, so the record is alive while `self` is.
        Some(unsafe { &*detailed })
    }

    /// Where the task was spawned.
    #[inline]
    pub(crate) fn site(&self) -> &'static Location<'static> {
        match self.details() {
            Some(details) => details.site,
            // SAFETY: an untagged pointer was made in `new` from a `&'static Location`.
            None => unsafe { self.0.cast::<Location<'static>>().as_ref() },
        }
    }

    /// The task's name, if it has one.
    #[inline]
    pub(crate) fn name(&self) -> Option<&Name> {
        self.details().and_then(|details| details.name.as_ref())
    }

    /// The id of the work queue that marked the task, or 0.
    #[inline]
    pub(crate) fn queue_id(&self) -> u32 {
        self.details().map_or(0, |details| details.queue_id)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(details) = self.details() {
            let details: *const Detailed = details;
            // SAFETY: the pointer is the one `Arc::into_raw` returned in `detailed` (the tag
            // cleared by `details`), and this origin's share of it is given back once, here.
            drop(unsafe { Arc::from_raw(details) });
        }
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("site", &self.site())
            .field("name", &self.name())
            .field("queue_id", &self.queue_id())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_one_pointer_aligned_to_four_bytes() {
        assert_eq!(std::mem::size_of::<Origin>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Option<Origin>>(),
            std::mem::size_of::<usize>()
        );
        assert_eq!(std::mem::align_of::<Origin>(), 4);
    }

    #[test]
    fn an_origin_keeps_its_site_name_and_mark() {
        let here = Location::caller();
        let plain = Origin::new(here, None, 0);
        assert_eq!(plain.site(), here);
        assert!(plain.name().is_none());
        assert_eq!(plain.queue_id(), 0);

        let name = Name::new("worker");
        let named = Origin::new(here, Some(name.clone()), 0);
        assert_eq!(named.site(), here);
        assert_eq!(named.name(), Some(&name));
        assert_eq!(named.queue_id(), 0);
        drop(named);

        let marked = Origin::new(here, None, 7);
        assert_eq!(marked.site(), here);
        assert!(marked.name().is_none());
        assert_eq!(marked.queue_id(), 7);

        let both = Origin::new(here, Some(name.clone()), 9);
        assert_eq!(
            (both.site(), both.name(), both.queue_id()),
            (here, Some(&name), 9)
        );
    }

    #[test]
    fn tasks_marked_alike_share_their_record() {
        let here = Location::caller();
        let first = Origin::new(here, None, 3);
        let second = Origin::new(here, None, 3);
        let other = Origin::new(here, None, 4);
        let record = |origin: &Origin| -> *const Detailed { origin.details().unwrap() };
        assert_eq!(record(&first), record(&second));
        assert_ne!(record(&first), record(&other));
        assert_eq!((first.queue_id(), other.queue_id()), (3, 4));
        drop(first);
        assert_eq!((second.site(), second.queue_id()), (here, 3));
        let named = Origin::new(here, Some(Name::new("a")), 4);
        assert_ne!(
            record(&named),
            record(&other),
            "a named task's record is its own"
        );
    }
}
