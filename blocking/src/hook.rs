//! The contract between blocking sections and the executor that runs them.
//!
//! An executor implements [`Hook`] and [`install`]s it on each of its worker threads. From then
//! on, the outermost section on that thread calls [`Hook::enter`] and [`Hook::leave`], and
//! [`unblock`](crate::unblock) offers its jobs to [`Hook::unblock`]. A thread without a hook runs
//! sections as plain calls.
//!
//! Hooks are per thread and stack: [`install`] returns an [`Installed`] that puts the previous
//! hook back when dropped. Each installed hook sees only the sections opened while it is current,
//! so an executor started from inside a section (a synchronous wrapper that calls `block_on`) gets
//! its own `enter`/`leave` pairs, and the outer section resumes when the executor is done.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::local;

/// A job handed to [`Hook::unblock`]: a closure to run once, on any thread.
///
/// # Examples
///
/// ```
/// use baton_blocking::hook::Job;
///
/// let job: Job = Box::new(|| println!("runs once"));
/// std::thread::spawn(job).join().unwrap();
/// ```
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// What a hook keeps in a [`section_async`](crate::section_async) future while it waits for its
/// call site's turn: a place in the hook's queue, given up when dropped. The future only holds
/// it, and drops it when it is done or dropped itself.
pub type Place = Option<Box<dyn Any + Send>>;

/// What an executor does when code on one of its threads enters or leaves a blocking section.
///
/// The calls are made on the thread running the section, with the hook borrowed: an
/// implementation must not [`install`] a hook from inside them. Keep `enter` and `leave` cheap: a
/// section around code that does not block should cost the executor a few stores.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::panic::Location;
/// use std::rc::Rc;
///
/// use baton_blocking::hook::{self, Hook, Job};
///
/// #[derive(Default)]
/// struct Count(Cell<usize>);
///
/// impl Hook for Count {
///     fn enter(&self, _site: &'static Location<'static>, _long: bool) {
///         self.0.set(self.0.get() + 1);
///     }
///     fn leave(&self) {}
///     fn unblock(&self, job: Job) -> Result<(), Job> {
///         Err(job) // decline: `unblock` falls back to its own thread pool
///     }
/// }
///
/// let count = Rc::new(Count::default());
/// let _installed = hook::install(count.clone());
/// baton_blocking::section(|| baton_blocking::section(|| ()));
/// assert_eq!(count.0.get(), 1);
/// ```
pub trait Hook: 'static {
    /// The outermost section on this thread starts. `site` keys learning per call site; `long`
    /// asks for an immediate handoff.
    ///
    /// If this panics, the section does not start and `leave` is not called for it.
    fn enter(&self, site: &'static Location<'static>, long: bool);

    /// The outermost section on this thread ends (also on unwind).
    fn leave(&self);

    /// The async form of a section ([`section_async`](crate::section_async)) would start at
    /// `site`. Return `Poll::Ready(())` once the section has started, exactly as [`Hook::enter`]
    /// starts one (its end is a call to `leave`). Or return `Poll::Pending` to make the task
    /// wait for the site's turn without holding the thread: the hook arranges for `cx`'s waker
    /// to be woken when the turn may have come, and may keep what it needs in `place`, which
    /// the future gives back at its next poll (on whichever thread polls it) and drops when it
    /// is done or dropped.
    ///
    /// The default starts the section at once.
    fn poll_enter(
        &self,
        site: &'static Location<'static>,
        cx: &mut Context<'_>,
        place: &mut Place,
    ) -> Poll<()> {
        let _ = (cx, place);
        self.enter(site, false);
        Poll::Ready(())
    }

    /// Run `job` on the executor's own threads (used by `unblock`). Return `Err(job)` to decline;
    /// the caller then falls back.
    ///
    /// An accepted job must eventually run: if it is dropped instead, the task awaiting
    /// [`unblock`](crate::unblock) panics.
    fn unblock(
        &self,
        job: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<(), Box<dyn FnOnce() + Send + 'static>>;
}

/// Installs `hook` on the current thread until the returned [`Installed`] is dropped.
///
/// The previous hook, if any, is put back when the [`Installed`] drops, together with the count of
/// sections that were open when `install` was called: the new hook starts outside any section.
///
/// # Examples
///
/// ```
/// # use std::panic::Location;
/// # use std::rc::Rc;
/// # use baton_blocking::hook::{self, Hook, Job};
/// # struct Worker;
/// # impl Hook for Worker {
/// #     fn enter(&self, _: &'static Location<'static>, _: bool) {}
/// #     fn leave(&self) {}
/// #     fn unblock(&self, job: Job) -> Result<(), Job> { Err(job) }
/// # }
/// let installed = hook::install(Rc::new(Worker));
/// assert!(hook::is_installed());
/// drop(installed);
/// assert!(!hook::is_installed());
/// ```
///
/// # Panics
///
/// Panics if called from inside a call to the current hook, or while the thread's thread-locals
/// are being destroyed.
pub fn install(hook: Rc<dyn Hook>) -> Installed {
    local::with(|local| {
        let Ok(mut current) = local.hook.try_borrow_mut() else {
            panic!("baton_blocking::hook::install called from inside a call to the current hook");
        };
        Installed {
            previous: current.replace(hook),
            depth: local.depth.replace(0),
            _not_send: PhantomData,
        }
    })
    .expect("baton_blocking::hook::install called while thread-locals are being destroyed")
}

/// Returns whether a hook is installed on the current thread, that is, whether it is a worker of
/// an executor that watches its blocking sections.
///
/// # Examples
///
/// ```
/// assert!(!baton_blocking::hook::is_installed());
/// ```
pub fn is_installed() -> bool {
    local::with(|local| local.hook.borrow().is_some()).unwrap_or(false)
}

/// Offers `job` to the current thread's hook; `Err(job)` if there is none or it declines.
pub(crate) fn submit(job: Job) -> Result<(), Job> {
    // Clone the hook out so that no borrow is held while the executor runs its code.
    match local::with(|local| local.hook.borrow().clone()).flatten() {
        Some(hook) => hook.unblock(job),
        None => Err(job),
    }
}

/// A hook installed on the current thread; dropping it puts the previous hook back.
///
/// Returned by [`install`]. It belongs to its thread, so it is neither `Send` nor `Sync`.
///
/// # Caveats
///
/// Drop it after the guards of the sections opened while it was current, and drop nested
/// `Installed` values in the reverse order of installation; ordinary scoping does both. If a
/// section is still open when it drops, its hook receives `leave` then.
///
/// # Examples
///
/// ```
/// # use std::panic::Location;
/// # use std::rc::Rc;
/// # use baton_blocking::hook::{self, Hook, Job};
/// # struct Worker;
/// # impl Hook for Worker {
/// #     fn enter(&self, _: &'static Location<'static>, _: bool) {}
/// #     fn leave(&self) {}
/// #     fn unblock(&self, job: Job) -> Result<(), Job> { Err(job) }
/// # }
/// std::thread::spawn(|| {
///     let _installed = hook::install(Rc::new(Worker));
///     // ... run the worker loop; sections on this thread now reach `Worker`.
///     assert!(hook::is_installed());
/// })
/// .join()
/// .unwrap();
/// ```
#[must_use = "the hook is uninstalled when `Installed` is dropped; keep it alive while the thread should use the hook"]
pub struct Installed {
    /// The hook to put back.
    previous: Option<Rc<dyn Hook>>,
    /// The section depth to put back.
    depth: usize,
    /// Keeps the value on its thread, even when there is no previous hook.
    _not_send: PhantomData<*const ()>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let depth = self.depth;
        let departing = local::with(move |local| {
            if local.depth.get() > 0 {
                // A section opened under the departing hook outlives it: close it for that hook.
                // Its guard will find the depth restored below and leave it alone.
                if let Some(hook) = &*local.hook.borrow() {
                    hook.leave();
                }
            }
            local.depth.set(depth);
            local.hook.replace(previous)
        });
        // The departing hook drops here, outside the thread-local borrow, in case its own drop
        // runs sections.
        drop(departing);
    }
}

impl fmt::Debug for Installed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installed")
            .field("restores_hook", &self.previous.is_some())
            .field("restores_depth", &self.depth)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Recorder;
    use crate::{enter, in_section, section};

    #[test]
    fn installed_restores_the_previous_hook() {
        let outer = Rc::new(Recorder::default());
        let inner = Rc::new(Recorder::default());
        assert!(!is_installed());

        let outer_installed = install(outer.clone());
        assert!(is_installed());
        {
            let _inner_installed = install(inner.clone());
            section(|| ());
            assert_eq!((inner.enters(), outer.enters()), (1, 0));
        }
        section(|| ());
        assert_eq!((inner.enters(), outer.enters()), (1, 1));
        assert_eq!((inner.leaves(), outer.leaves()), (1, 1));

        drop(outer_installed);
        assert!(!is_installed());
        section(|| ());
        assert_eq!((inner.enters(), outer.enters()), (1, 1));
    }

    #[test]
    fn the_installed_hook_drops_with_its_installed() {
        let hook = Rc::new(Recorder::default());
        let installed = install(hook.clone());
        assert_eq!(Rc::strong_count(&hook), 2);
        drop(installed);
        assert_eq!(Rc::strong_count(&hook), 1);
    }

    #[test]
    fn a_hook_installed_inside_a_section_sees_its_own_sections() {
        let outer = Rc::new(Recorder::default());
        let inner = Rc::new(Recorder::default());
        let _outer_installed = install(outer.clone());

        section(|| {
            let inner_installed = install(inner.clone());
            assert!(!in_section(), "the new hook starts outside any section");
            section(|| section(|| ()));
            assert_eq!((inner.enters(), inner.leaves()), (1, 1));
            drop(inner_installed);

            assert!(in_section(), "the outer section resumes");
            section(|| ());
            assert_eq!((outer.enters(), outer.leaves()), (1, 0));
        });
        assert_eq!((outer.enters(), outer.leaves()), (1, 1));
    }

    #[test]
    fn uninstalling_closes_a_section_left_open() {
        let hook = Rc::new(Recorder::default());
        let installed = install(hook.clone());
        let guard = enter();
        drop(installed);
        assert_eq!((hook.enters(), hook.leaves()), (1, 1));
        assert!(!in_section());
        drop(guard);
        assert_eq!(hook.leaves(), 1, "the stray guard does not leave twice");
        assert!(!in_section());
    }

    #[test]
    #[should_panic = "from inside a call to the current hook"]
    fn installing_from_inside_a_hook_call_panics() {
        let _installed = install(Rc::new(Recorder::installing_on_enter()));
        section(|| ());
    }

    #[test]
    fn installed_is_neither_send_nor_sync() {
        crate::testing::assert_neither_send_nor_sync!(Installed);
    }

    #[test]
    fn hooks_are_per_thread() {
        let hook = Rc::new(Recorder::default());
        let _installed = install(hook.clone());
        std::thread::spawn(|| {
            assert!(!is_installed());
            section(|| ());
        })
        .join()
        .unwrap();
        assert_eq!(hook.enters(), 0);
    }
}
