//! The one synchronisation facade: std normally, loom under `cfg(loom)`.
//!
//! Every module that synchronises threads imports from here, so the loom models exercise the
//! same code paths as production builds.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

/// Lets other threads run (in a short wait on another thread's progress): std's, or loom's so
/// that models explore the other thread instead of spinning forever.
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Waits a moment in a loop on another thread's progress of a few instructions: a spin hint,
/// or loom's yield so that models explore the other thread.
#[inline]
pub(crate) fn spin() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Runs `f` on a new detached thread named `name` (a loom thread under loom). If the thread
/// cannot be started, `f` is dropped unrun and the error returned.
pub(crate) fn spawn_detached(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    #[cfg(not(loom))]
    {
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(f)
            .map(drop)
    }
    #[cfg(loom)]
    {
        let _ = name;
        drop(loom::thread::spawn(f));
        Ok(())
    }
}

/// Lock a mutex, treating poisoning as impossible.
///
/// baton never runs user code while holding one of its own locks, so a poisoned lock means a
/// bug in baton itself; carrying on with the inner value is what every caller would do anyway.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(not(loom))]
    {
        mutex
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
    #[cfg(loom)]
    {
        mutex.lock().unwrap()
    }
}
