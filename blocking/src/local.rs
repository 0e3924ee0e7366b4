//! The per-thread state shared by sections and hooks.
//!
//! One thread-local holds both the section depth and the installed hook, so a section costs a
//! single thread-local access on entry and one on exit.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::hook::Hook;

/// The state of one thread.
pub(crate) struct Local {
    /// How many sections are open on this thread since the current hook was installed.
    ///
    /// Only the transitions 0 → 1 and 1 → 0 reach the hook. [`crate::hook::install`] saves this
    /// count and starts the new hook at zero; dropping its `Installed` puts the count back.
    pub(crate) depth: Cell<usize>,
    /// The hook of this thread, if an executor installed one.
    ///
    /// Calls into the hook hold a shared borrow, so the hook cannot be replaced from inside one
    /// of its own calls.
    pub(crate) hook: RefCell<Option<Rc<dyn Hook>>>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            depth: Cell::new(0),
            hook: RefCell::new(None),
        }
    };
}

/// Runs `f` with this thread's state, or returns `None` if the thread-local has already been
/// destroyed (code running in another thread-local's destructor at thread exit).
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    LOCAL.try_with(f).ok()
}
