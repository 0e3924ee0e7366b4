//! Where a task comes from, in one word of its header: its spawn site and, for a named task,
//! its name.
//!
//! Every task keeps its spawn site (the key of what the runtime learns about polls that block)
//! and few tasks have a name, so an unnamed task keeps the site's pointer alone, and a named
//! task one pointer to a small box holding both. The two are told apart by the pointer's low
//! bit, which is always clear in a pointer to either (both are aligned to 8 bytes).

use std::fmt;
use std::panic::Location;
use std::ptr::NonNull;

use crate::queue::Name;

/// The low bit of [`Origin`]'s pointer: set when it points to a [`Named`].
const NAMED: usize = 1;

// The tag bit is free in pointers to both kinds.
const _: () = assert!(std::mem::align_of::<Location<'static>>() > NAMED);
const _: () = assert!(std::mem::align_of::<Named>() > NAMED);

/// A named task's spawn site and name.
struct Named {
    site: &'static Location<'static>,
    name: Name,
}

/// A task's spawn site, and its name if it has one: one pointer, tagged (see the module docs).
pub(crate) struct Origin(NonNull<()>);

// SAFETY: an `Origin` owns either nothing (a `&'static Location`, itself `Send` and `Sync`) or a
// `Box<Named>` whose fields (`&'static Location`, `Name`, an `Arc`) are `Send` and `Sync`; it
// only ever hands out shared references to them.
unsafe impl Send for Origin {}
// SAFETY: as for `Send`.
unsafe impl Sync for Origin {}

impl Origin {
    /// The origin of a task spawned at `site`, named `name` if given.
    #[inline]
    pub(crate) fn new(site: &'static Location<'static>, name: Option<Name>) -> Origin {
        match name {
            None => Origin(NonNull::from(site).cast()),
            Some(name) => Origin::named_at(site, name),
        }
    }

    /// The origin of a named task: the box, tagged.
    #[cold]
    fn named_at(site: &'static Location<'static>, name: Name) -> Origin {
        let named = NonNull::from(Box::leak(Box::new(Named { site, name })));
        Origin(named.cast::<()>().map_addr(|addr| addr | NAMED))
    }

    /// Whether the task has a name.
    #[inline]
    fn is_named(&self) -> bool {
        self.0.as_ptr().addr() & NAMED != 0
    }

    /// The box of a named task's origin, or `None` for an unnamed one.
    #[inline]
    fn named(&self) -> Option<&Named> {
        if !self.is_named() {
            return None;
        }
        let named = self
            .0
            .as_ptr()
            .map_addr(|addr| addr & !NAMED)
            .cast::<Named>();
        // SAFETY: a tagged pointer was made in `new` from a leaked `Box<Named>`, with the same
        // provenance and the tag bit added; the box is freed only by `drop`, so it is alive
        // while `self` is.
        Some(unsafe { &*named })
    }

    /// Where the task was spawned.
    #[inline]
    pub(crate) fn site(&self) -> &'static Location<'static> {
        match self.named() {
            Some(named) => named.site,
            // SAFETY: an untagged pointer was made in `new` from a `&'static Location`.
            None => unsafe { self.0.cast::<Location<'static>>().as_ref() },
        }
    }

    /// The task's name, if it has one.
    #[inline]
    pub(crate) fn name(&self) -> Option<&Name> {
        self.named().map(|named| &named.name)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(named) = self.named() {
            let named: *const Named = named;
            // SAFETY: the pointer is the one `Box::leak` returned in `new` (the tag cleared by
            // `named`), and this is its only owner, dropped once.
            drop(unsafe { Box::from_raw(named.cast_mut()) });
        }
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("site", &self.site())
            .field("name", &self.name())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Origin>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Option<Origin>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn an_origin_keeps_its_site_and_name() {
        let here = Location::caller();
        let unnamed = Origin::new(here, None);
        assert_eq!(unnamed.site(), here);
        assert!(unnamed.name().is_none());

        let name = Name::new("worker");
        let named = Origin::new(here, Some(name.clone()));
        assert_eq!(named.site(), here);
        assert_eq!(named.name(), Some(&name));
        drop(named);
    }
}
