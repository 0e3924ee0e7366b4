//! The async form of a section: wait for the call site's turn without holding the thread, then
//! run the closure in a section.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::hook::Place;
use crate::section::poll_open;

/// Waits asynchronously for the call site's turn, then runs `f` inside a blocking section and
/// returns its value.
///
/// Use it where many tasks call the same blocking code that contends with itself (a database
/// connection behind one lock, a single-writer file): on a baton worker, once the runtime has
/// learnt how many of the site's calls can usefully run at once, the tasks beyond that level
/// wait here as ordinary pending tasks, so the runtime's cores keep running other tasks. When
/// its turn comes, `f` runs as in [`section`](crate::section), on the worker that polls the
/// future. Off a baton worker (or inside another section) it runs `f` at its first poll.
///
/// The caller's location identifies the call site, as for [`section`](crate::section).
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
///
/// let db = Mutex::new(Vec::new());
/// let fut = baton_blocking::section_async(|| db.lock().unwrap().push("row"));
/// futures::executor::block_on(fut);
/// assert_eq!(db.lock().unwrap().len(), 1);
/// ```
///
/// # Panics
///
/// A panic in `f` propagates to the caller, after the section has ended. Polling the future
/// again after it completed panics.
#[track_caller]
pub fn section_async<F, R>(f: F) -> SectionAsync<F>
where
    F: FnOnce() -> R,
{
    SectionAsync {
        f: Some(f),
        site: Location::caller(),
        place: None,
    }
}

/// The future returned by [`section_async`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SectionAsync<F> {
    /// The closure, until it runs.
    f: Option<F>,
    site: &'static Location<'static>,
    /// The hook's place in its queue while the future waits.
    place: Place,
}

// The closure is never pinned: it is moved out to run.
impl<F> Unpin for SectionAsync<F> {}

impl<F, R> Future for SectionAsync<F>
where
    F: FnOnce() -> R,
{
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = &mut *self;
        assert!(this.f.is_some(), "SectionAsync polled after completion");
        let guard = match poll_open(this.site, cx, &mut this.place) {
            Poll::Ready(guard) => guard,
            Poll::Pending => return Poll::Pending,
        };
        // The turn is taken: the place is given up (the hook left nothing to undo in it).
        this.place = None;
        let f = this.f.take().expect("checked above");
        let value = f();
        drop(guard);
        Poll::Ready(value)
    }
}

impl<F> fmt::Debug for SectionAsync<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SectionAsync")
            .field("site", &self.site)
            .field("done", &self.f.is_none())
            .field("waiting", &self.place.is_some())
            .finish()
    }
}
