//! Pausing a runtime's clock for tests: [`pause`], [`advance`], [`resume`].
//!
//! The clock itself is [`crate::clock::Clock`]; this module finds the current runtime's clock,
//! and auto-advances a paused clock once the runtime is idle:
//!
//! 1. **Idle.** A runtime is *idle* when its core has no worker running a task or blocking code, no
//!    task queued (on the core or the injectors), no `unblock` job running or queued, and no
//!    `block_on` call polling its future or woken and not yet polled again.
//! 2. **Check at once.** Every poll of a `block_on` future that returns `Pending` checks at once
//!    (the common case: a test body awaiting a sleep or a timeout).
//! 3. **Check later.** Otherwise (the last task goes idle on a worker), a check armed in the
//!    reactor, due [`AUTO_ADVANCE_CHECK`] of real time later, runs while timers of the paused clock
//!    are pending, and is armed again until it finds the runtime idle.
//! 4. **Advance.** An idle runtime's paused clock jumps to its earliest timer's deadline, and the
//!    timers then due are woken, earliest first.
//!
//! Pausing needs a runtime with one core: with several, the idle check would read the cores'
//! counts one after another, and a task moving between cores meanwhile could make an idle
//! runtime out of a busy one, so a timeout could fire while its future was about to complete.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::clock::{self, Clock, Misuse};
use crate::handle::Handle;
use crate::reactor::Reactor;
use crate::scheduler::Shared;
use crate::sync::Arc;

/// How long after a paused clock's timer was armed, or after the runtime was last found busy, the
/// runtime is checked for idleness again (in real time; the *check later* step of the [module
/// docs](self)).
pub(crate) const AUTO_ADVANCE_CHECK: Duration = Duration::from_micros(200);

/// Pauses the current runtime's clock.
///
/// From here on, [`Instant::now`](super::Instant::now) reads a frozen time, and [`sleep`],
/// [`timeout`] and [`interval`] wait on it instead of the real clock. The clock moves only when
///
/// - [`advance`] moves it, or
/// - the runtime is idle, with no task to run and nothing running (the thread in `block_on`
///   waits too): then it *auto-advances* to the earliest pending timer, at once, as tokio's
///   paused clock does. So a test that sleeps an hour completes at once, and timers fire in
///   the order of their deadlines.
///
/// `std::time::Instant::now` is not affected, nor are threads outside the runtime.
///
/// # Panics
///
/// Outside a runtime (not in a task, `block_on` or a [`Handle::enter`] guard); on a runtime with
/// more than one core (build it with `cores(1)`); or if the clock is already paused.
///
/// # Caveats
///
/// Auto-advance does not wait for I/O, or for threads that are not the runtime's: a paused
/// test whose task waits for a socket that another thread writes to, under a timeout, may time
/// out at once. Advance by hand ([`advance`]) in such tests, or do not pause.
///
/// Pause in the `block_on` body or with [`Builder::start_paused`](crate::Builder::start_paused)
/// (`#[baton::test(start_paused = true)]` does). A task that pauses the clock while `block_on`
/// awaits it leaves that `block_on` call's pending wake-up uncounted until its next poll, so
/// the clock may auto-advance once before that poll.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use baton::time::{self, Instant};
/// # baton::Runtime::builder().cores(1).build().unwrap().block_on(async {
/// time::pause();
/// let start = Instant::now();
/// time::sleep(Duration::from_secs(3600)).await; // returns at once
/// assert_eq!(start.elapsed(), Duration::from_secs(3600));
/// # });
/// ```
///
/// [`sleep`]: fn@super::sleep
/// [`timeout`]: fn@super::timeout
/// [`interval`]: fn@super::interval
#[track_caller]
pub fn pause() {
    let handle = current("pause");
    let cores = handle.cores();
    assert!(
        cores == 1,
        "baton::time::pause needs a runtime with one core, this one has {cores}: build it \
         with `Runtime::builder().cores(1)` (or use `#[baton::test(start_paused = true)]`); \
         with more cores the runtime cannot tell for sure that it is idle, so a paused clock \
         could not auto-advance soundly"
    );
    if let Err(misuse) = handle.shared().clock.pause() {
        misused("pause", misuse);
    }
}

/// Lets the current runtime's paused clock run again, from the time it reads.
///
/// Its readings never go back: a clock advanced by an hour stays an hour ahead of the real
/// clock.
///
/// # Panics
///
/// Outside a runtime, or if its clock is not paused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use baton::time::{self, Instant};
/// # baton::Runtime::builder().cores(1).build().unwrap().block_on(async {
/// time::pause();
/// let start = Instant::now();
/// time::advance(Duration::from_secs(60)).await;
/// time::resume();
/// time::sleep(Duration::from_millis(1)).await; // a real millisecond
/// assert!(start.elapsed() > Duration::from_secs(60));
/// # });
/// ```
#[track_caller]
pub fn resume() {
    let handle = current("resume");
    match handle.shared().clock.resume() {
        Ok(wakers) => wakers.into_iter().for_each(Waker::wake),
        Err(misuse) => misused("resume", misuse),
    }
}

/// Moves the current runtime's paused clock forward by `duration`, wakes the timers then due
/// (earliest first), and yields so the woken tasks run.
///
/// # Panics
///
/// Outside a runtime, or if its clock is not paused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use baton::time::{self, Instant};
/// # baton::Runtime::builder().cores(1).build().unwrap().block_on(async {
/// time::pause();
/// let start = Instant::now();
/// let task = baton::spawn(time::sleep(Duration::from_secs(10)));
/// time::advance(Duration::from_secs(10)).await;
/// assert_eq!(start.elapsed(), Duration::from_secs(10));
/// task.await.unwrap();
/// # });
/// ```
pub async fn advance(duration: Duration) {
    let handle = current("advance");
    match handle.shared().clock.advance(duration) {
        Ok(wakers) => wakers.into_iter().for_each(Waker::wake),
        Err(misuse) => misused("advance", misuse),
    }
    crate::task::yield_now().await;
}

/// The current runtime's handle, or a panic naming `what` was called outside one.
#[track_caller]
fn current(what: &str) -> Handle {
    Handle::try_current().unwrap_or_else(|_| {
        panic!(
            "baton::time::{what} called outside a baton runtime: call it in a task, inside \
             `block_on`, or with a `Handle::enter` guard"
        )
    })
}

/// Panics for a misuse of a clock.
#[track_caller]
fn misused(what: &str, misuse: Misuse) -> ! {
    match misuse {
        Misuse::AlreadyPaused => panic!("baton::time::{what}: the clock is already paused"),
        Misuse::NotPaused => {
            panic!("baton::time::{what}: the clock is not paused (call `baton::time::pause` first)")
        }
    }
}

/// The current runtime's clock, if it is paused or skewed (`None`: read the real clock).
pub(crate) fn current_clock() -> Option<std::sync::Arc<Clock>> {
    if !clock::any_virtual() {
        return None;
    }
    Handle::with_current(|handle| {
        let clock = &handle.shared().clock;
        clock.is_virtual().then(|| std::sync::Arc::clone(clock))
    })
    .ok()
    .flatten()
}

/// The current runtime's clock reading (the real clock outside a runtime).
pub(crate) fn now() -> Instant {
    if !clock::any_virtual() {
        return Instant::now();
    }
    Handle::with_current(|handle| handle.shared().clock.now()).unwrap_or_else(|_| Instant::now())
}

/// Arms the *check later* of the [module docs](self) for the current runtime (see [`arm_check`]).
pub(crate) fn arm_check_current() {
    let _ = Handle::with_current(|handle| arm_check(handle.shared()));
}

/// Arms the *check later* of the [module docs](self), unless one is armed or the clock has no
/// pending timer.
pub(crate) fn arm_check(shared: &Arc<Shared>) {
    if shared.clock.arm_check() {
        let check = Waker::from(std::sync::Arc::new(Check(Arc::clone(shared))));
        Reactor::get().insert_timer(Instant::now() + AUTO_ADVANCE_CHECK, &check);
    }
}

/// The *check later* of the [module docs](self): a reactor timer's waker. (It keeps the runtime's
/// shared state until it fires, at most [`AUTO_ADVANCE_CHECK`] after it was armed while a
/// thread drives the reactor.)
struct Check(Arc<Shared>);

impl Wake for Check {
    fn wake(self: std::sync::Arc<Self>) {
        let shared = &self.0;
        shared.clock.check_ran();
        auto_advance(shared);
        arm_check(shared);
    }
}

/// Moves a paused clock to its earliest timer if the runtime is idle, and wakes the timers
/// then due (the *advance* step).
fn auto_advance(shared: &Shared) {
    if is_idle(shared) {
        if let Some(wakers) = shared.clock.advance_to_next() {
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

/// Whether the runtime is idle (the *idle* step of the [module docs](self)).
fn is_idle(shared: &Shared) -> bool {
    // `block_on` calls first: one that stopped being busy queued its tasks before.
    if shared.clock.is_busy() {
        return false;
    }
    let cores_idle = shared.cores.iter().all(|core| {
        let state = core.state();
        state.running() == 0 && state.in_section() == 0 && !core.has_work()
    });
    let unblock = shared.unbound.stats();
    cores_idle
        && !shared.has_injected_work()
        && unblock.threads == unblock.idle
        && unblock.queued == 0
}

pin_project_lite::pin_project! {
    /// A `block_on` future watched for auto-advance (the *idle* and *check at once* steps of the
    /// [module docs](self)).
    pub(crate) struct Watched<F> {
        #[pin]
        future: F,
        shared: Arc<Shared>,
        // The waker given to the future while the clock is paused.
        waker: Option<(std::sync::Arc<BusyWaker>, Waker)>,
    }

    impl<F> PinnedDrop for Watched<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some((busy, _)) = &this.project().waker {
                busy.consume(DONE);
            }
        }
    }
}

/// Wraps a `block_on` future so a paused clock counts it busy while it runs or is woken.
pub(crate) fn watch<F: Future>(shared: &Arc<Shared>, future: F) -> Watched<F> {
    Watched {
        future,
        shared: Arc::clone(shared),
        waker: None,
    }
}

/// [`BusyWaker`] state: not woken since the last poll.
const QUIET: u8 = 0;
/// [`BusyWaker`] state: woken since the last poll, and counted busy.
const WOKEN: u8 = 1;
/// [`BusyWaker`] state: the `block_on` call returned.
const DONE: u8 = 2;

/// Counts the `block_on` call busy from a wake-up until its next poll.
struct BusyWaker {
    clock: std::sync::Arc<Clock>,
    state: AtomicU8,
    inner: std::sync::Mutex<Waker>,
}

impl Wake for BusyWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        // Counted before the state changes, so a poll or a drop that consumes the state
        // uncounts a count already made.
        self.clock.enter_busy();
        // SeqCst: with the poll's and the drop's swaps; a lost race undoes the count.
        if self
            .state
            .compare_exchange(QUIET, WOKEN, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            self.clock.leave_busy();
        }
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .wake_by_ref();
    }
}

impl BusyWaker {
    /// Uncounts a wake-up, if one is counted, moving to `to`.
    fn consume(&self, to: u8) {
        // SeqCst: see `wake_by_ref`.
        if self.state.swap(to, Ordering::SeqCst) == WOKEN {
            self.clock.leave_busy();
        }
    }
}

impl<F: Future> Future for Watched<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let clock = &this.shared.clock;
        if !clock.is_paused() {
            // Counted busy all the same: the future may pause the clock and go on (spawning,
            // say) in this very poll, and the reactor's check must not find the runtime idle
            // and advance the clock meanwhile.
            clock.enter_busy();
            let out = this.future.poll(cx);
            clock.leave_busy();
            if out.is_pending() && clock.is_paused() {
                // Paused during this poll: the future kept a waker that counts nothing. Count
                // a wake-up now and poll again at once, with the waker that counts.
                tracker(this.waker, clock, cx).0.wake_by_ref();
            }
            return out;
        }
        let (busy, waker) = tracker(this.waker, clock, cx);
        clock.enter_busy();
        busy.consume(QUIET);
        let out = this.future.poll(&mut Context::from_waker(waker));
        clock.leave_busy();
        if out.is_pending() {
            auto_advance(this.shared);
            arm_check(this.shared);
        }
        out
    }
}

/// The waker that counts the `block_on` call's wake-ups, made on first use, waking `cx`'s.
fn tracker<'a>(
    slot: &'a mut Option<(std::sync::Arc<BusyWaker>, Waker)>,
    clock: &std::sync::Arc<Clock>,
    cx: &Context<'_>,
) -> &'a (std::sync::Arc<BusyWaker>, Waker) {
    let tracker = slot.get_or_insert_with(|| {
        let busy = std::sync::Arc::new(BusyWaker {
            clock: std::sync::Arc::clone(clock),
            state: AtomicU8::new(QUIET),
            inner: std::sync::Mutex::new(cx.waker().clone()),
        });
        let waker = Waker::from(std::sync::Arc::clone(&busy));
        (busy, waker)
    });
    {
        let mut inner = tracker.0.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !inner.will_wake(cx.waker()) {
            inner.clone_from(cx.waker());
        }
    }
    tracker
}
