//! Blocking sections: the closure form, the guard form and the nesting rule.
//!
//! Only the outermost section on a thread reaches the hook; inner sections only count depth.
//! The closure forms are built on the guard, so a panic inside a section still ends it.

use std::fmt;
use std::marker::PhantomData;
use std::mem;
use std::panic::Location;

use crate::local::{self, Local};

/// Runs `f` inside a blocking section and returns its value.
///
/// On a baton worker, the executor hands the worker's core to a spare worker if `f` outlives a
/// short grace period, so other tasks keep running; if `f` does not block, the section costs a
/// few nanoseconds. Off a baton worker it simply runs `f`.
///
/// The caller's location identifies the call site: the executor learns per site whether the
/// section tends to block, and hands off eagerly once it knows.
///
/// A section should not span an `.await`: keep it around the synchronous call only.
///
/// # Examples
///
/// ```
/// let bytes = baton_blocking::section(|| std::fs::read("Cargo.toml"));
/// assert!(bytes.is_ok());
/// ```
///
/// # Panics
///
/// A panic in `f` propagates to the caller, after the section has ended.
#[track_caller]
#[inline]
pub fn section<R>(f: impl FnOnce() -> R) -> R {
    let _guard = enter();
    f()
}

/// Runs `f` inside a blocking section known to be long, and returns its value.
///
/// Unlike [`section`], the executor hands the core off at once instead of waiting for the grace
/// period: use it for calls that certainly block for a while (a large file copy, a network
/// round-trip through a synchronous client). Off a baton worker it simply runs `f`.
///
/// # Examples
///
/// ```
/// let sum = baton_blocking::section_long(|| (0..1_000u64).sum::<u64>());
/// assert_eq!(sum, 499_500);
/// ```
///
/// # Panics
///
/// A panic in `f` propagates to the caller, after the section has ended.
#[track_caller]
#[inline]
pub fn section_long<R>(f: impl FnOnce() -> R) -> R {
    let _guard = enter_long();
    f()
}

/// Starts a blocking section that lasts until the returned [`Guard`] is dropped.
///
/// This is the guard form of [`section`], for code where a closure is awkward. The guard cannot
/// leave the thread, so keep it out of `async` code that awaits while it is alive.
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
///
/// let counter = Mutex::new(0);
/// {
///     let _section = baton_blocking::enter();
///     *counter.lock().unwrap() += 1;
///     assert!(baton_blocking::in_section());
/// }
/// assert!(!baton_blocking::in_section());
/// ```
#[track_caller]
#[inline]
pub fn enter() -> Guard {
    open(Location::caller(), false)
}

/// Starts a blocking section known to be long, lasting until the returned [`Guard`] is dropped.
///
/// This is the guard form of [`section_long`]: the executor hands the core off at once.
///
/// # Examples
///
/// ```
/// let _section = baton_blocking::enter_long();
/// std::thread::sleep(std::time::Duration::from_millis(1));
/// ```
#[track_caller]
#[inline]
pub fn enter_long() -> Guard {
    open(Location::caller(), true)
}

/// Returns whether the current thread is inside a blocking section.
///
/// Sections opened before the current [`hook`](crate::hook) was installed do not count: an
/// executor started from inside a section sees its own threads' sections only.
///
/// # Examples
///
/// ```
/// assert!(!baton_blocking::in_section());
/// baton_blocking::section(|| assert!(baton_blocking::in_section()));
/// ```
#[inline]
pub fn in_section() -> bool {
    local::with(|local| local.depth.get() > 0).unwrap_or(false)
}

/// A blocking section in guard form: the section ends when the guard is dropped.
///
/// Returned by [`enter`] and [`enter_long`]. A guard belongs to the thread that made it, so it is
/// neither `Send` nor `Sync`.
///
/// # Examples
///
/// ```
/// let guard = baton_blocking::enter();
/// assert!(baton_blocking::in_section());
/// drop(guard);
/// assert!(!baton_blocking::in_section());
/// ```
#[must_use = "the blocking section ends when the guard is dropped; bind it with `let _guard = ...` to keep it open"]
pub struct Guard {
    /// Keeps the guard on its thread: the depth it counts is thread-local.
    _not_send: PhantomData<*const ()>,
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        // `None`: the thread-local is gone at thread exit, and so is the hook; nothing to do.
        let _ = local::with(|local| match local.depth.get() {
            // The hook this section was opened under has been uninstalled, and was told then.
            0 => {}
            1 => {
                local.depth.set(0);
                if let Some(hook) = &*local.hook.borrow() {
                    hook.leave();
                }
            }
            depth => local.depth.set(depth - 1),
        });
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

/// Opens a section at `site`; only the outermost section on the thread reaches the hook.
#[inline]
fn open(site: &'static Location<'static>, long: bool) -> Guard {
    // `None`: the thread-local is gone at thread exit, so there is no hook to tell.
    let _ = local::with(|local| {
        let depth = local.depth.get();
        local.depth.set(depth + 1);
        if depth == 0 {
            // The depth is raised before the call so that sections inside the hook only count.
            // If the hook panics, no guard exists yet: put the depth back so that `leave` is
            // never called without a completed `enter`.
            let reset = ResetDepth(local);
            if let Some(hook) = &*local.hook.borrow() {
                hook.enter(site, long);
            }
            mem::forget(reset);
        }
    });
    Guard {
        _not_send: PhantomData,
    }
}

/// Opens a section at `site` for the async form: if it is the outermost section on the thread,
/// the hook may make the task wait for the site's turn (`Poll::Pending`, depth unchanged).
pub(crate) fn poll_open(
    site: &'static Location<'static>,
    cx: &mut std::task::Context<'_>,
    place: &mut crate::hook::Place,
) -> std::task::Poll<Guard> {
    use std::task::Poll;
    // `None`: the thread-local is gone at thread exit: no hook, a plain section.
    let entered = local::with(|local| {
        if local.depth.get() > 0 {
            local.depth.set(local.depth.get() + 1);
            return Poll::Ready(());
        }
        local.depth.set(1);
        // As in `open`: sections inside the hook only count, and a panicking hook (or a wait)
        // leaves the depth at zero.
        let reset = ResetDepth(local);
        let entered = match &*local.hook.borrow() {
            Some(hook) => hook.poll_enter(site, cx, place),
            None => Poll::Ready(()),
        };
        if entered.is_ready() {
            mem::forget(reset);
        }
        entered
    });
    match entered {
        Some(Poll::Pending) => Poll::Pending,
        _ => Poll::Ready(Guard {
            _not_send: PhantomData,
        }),
    }
}

/// Sets the depth back to zero when dropped; forgotten once the hook's `enter` has returned.
struct ResetDepth<'a>(&'a Local);

impl Drop for ResetDepth<'_> {
    fn drop(&mut self) {
        self.0.depth.set(0);
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{self, AssertUnwindSafe};
    use std::rc::Rc;

    use super::*;
    use crate::hook;
    use crate::testing::Recorder;

    #[test]
    fn off_a_worker_a_section_just_runs_the_closure() {
        assert!(!hook::is_installed());
        let mut ran = 0;
        let value = section(|| {
            ran += 1;
            assert!(in_section());
            42
        });
        assert_eq!((value, ran), (42, 1));
        assert_eq!(section_long(|| "long"), "long");
        assert!(!in_section());
    }

    #[test]
    fn only_the_outermost_section_reaches_the_hook() {
        let recorder = Rc::new(Recorder::default());
        let _installed = hook::install(recorder.clone());

        let line = line!() + 1;
        let value = section(|| {
            assert_eq!(recorder.enters(), 1);
            section_long(|| {
                let _inner = enter();
                let _inner_long = enter_long();
                assert!(in_section());
            });
            assert_eq!(recorder.leaves(), 0, "inner sections must not leave");
            7
        });

        assert_eq!(value, 7);
        assert_eq!((recorder.enters(), recorder.leaves()), (1, 1));
        assert!(!in_section());
        let (site, long) = recorder.last_enter().expect("one enter");
        assert_eq!((site.file(), site.line(), long), (file!(), line, false));
    }

    #[test]
    fn each_outermost_section_reaches_the_hook_once() {
        let recorder = Rc::new(Recorder::default());
        let _installed = hook::install(recorder.clone());

        for round in 1..=3 {
            section(|| section(|| ()));
            assert_eq!((recorder.enters(), recorder.leaves()), (round, round));
        }
        section_long(|| ());
        assert_eq!(recorder.last_enter().map(|(_, long)| long), Some(true));
        let guard = enter_long();
        assert_eq!((recorder.enters(), recorder.leaves()), (5, 4));
        drop(guard);
        assert_eq!(recorder.leaves(), 5);
    }

    #[test]
    fn the_guard_reports_the_callers_location() {
        let recorder = Rc::new(Recorder::default());
        let _installed = hook::install(recorder.clone());

        let (guard, line) = (enter(), line!());
        drop(guard);
        let (site, long) = recorder.last_enter().expect("one enter");
        assert_eq!((site.file(), site.line(), long), (file!(), line, false));
    }

    #[test]
    fn a_panic_inside_a_section_ends_it() {
        let recorder = Rc::new(Recorder::default());
        let _installed = hook::install(recorder.clone());

        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            section(|| section(|| panic!("boom")));
        }));

        let payload = result.expect_err("the panic propagates");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        assert!(!in_section());
        assert_eq!((recorder.enters(), recorder.leaves()), (1, 1));
        // The depth is back at zero, so the next section reaches the hook again.
        section(|| ());
        assert_eq!((recorder.enters(), recorder.leaves()), (2, 2));
    }

    #[test]
    fn a_panicking_hook_enter_leaves_no_section_open() {
        let recorder = Rc::new(Recorder::panicking_on_enter());
        let _installed = hook::install(recorder.clone());

        let result = panic::catch_unwind(|| section(|| ()));

        assert!(result.is_err());
        assert!(!in_section());
        assert_eq!((recorder.enters(), recorder.leaves()), (1, 0));
    }

    #[test]
    fn guards_are_neither_send_nor_sync() {
        crate::testing::assert_neither_send_nor_sync!(Guard);
    }
}
