//! Cooperative scheduling: every task poll gets a budget that the runtime's own leaf futures
//! spend, so a future that is always ready still yields.
//!
//! A task whose futures never return `Pending` (a loop over a socket that always has data, a
//! `JoinHandle` of a finished task, a timer already due) would otherwise keep its worker
//! forever: the core's other tasks starve, and so does the task's own [`timeout`], which is
//! only checked when the inner future returns `Pending`. So each poll of a task (on a worker,
//! and each turn of `block_on`) starts with [`BUDGET`] units. A leaf future that makes
//! progress spends one: I/O readiness and operations of [`Async`](crate::io::Async) and the
//! sockets of [`net`](crate::net), [`Sleep`](crate::time::Sleep) and
//! [`Interval`](crate::time::Interval), [`JoinHandle`](crate::JoinHandle), and a work queue's
//! `flush` and `drain`. Once the budget is spent, such a future wakes its task and returns
//! `Pending` instead, so the task goes to the back of its core's queue and the others run;
//! at its next poll it has a full budget again. A leaf that returns `Pending` on its own
//! account spends nothing, so a task waiting on many futures at once is not made to spin.
//!
//! A [`Timeout`](crate::time::Timeout) whose inner future spent the budget still checks its
//! deadline (with the budget lifted for that check), so the timeout fires.
//!
//! Outside a task poll (a plain thread), inside [`unconstrained`] and inside a blocking
//! section (which may run another executor's `block_on`) there is no budget: leaves never
//! yield for it.
//!
//! This is tokio's cooperative budget (`tokio::task::coop`), with its numbers. The cost is a
//! thread-local read and write per leaf that makes progress, and two per task poll.
//!
//! [`timeout`]: crate::time::timeout
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use baton::time::{sleep, timeout};
//! # baton::Runtime::new().unwrap().block_on(async {
//! // Sleeps of zero are always ready, yet the loop yields every so often, so its timeout fires.
//! let spin = async {
//!     loop {
//!         sleep(Duration::ZERO).await;
//!     }
//! };
//! assert!(timeout(Duration::from_millis(1), spin).await.is_err());
//! # });
//! ```

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;

/// Units of budget a task gets per poll (tokio's figure): enough that a task reading a burst
/// of ready data does not yield between every read, few enough that the core's other tasks
/// and timers wait for at most that many operations.
pub const BUDGET: u8 = 128;

/// Puts back the previous budget when a [`with_budget`] scope ends, also on unwinding.
struct ResetGuard(Option<u8>);

impl Drop for ResetGuard {
    fn drop(&mut self) {
        context::with(|cx| cx.budget.set(self.0));
    }
}

/// Runs `f` with `budget`, then restores the budget of the enclosing scope.
fn with_budget<R>(budget: Option<u8>, f: impl FnOnce() -> R) -> R {
    let _reset = ResetGuard(context::with(|cx| cx.budget.replace(budget)));
    f()
}

/// Runs one poll of a task (`f`) with a full budget.
pub(crate) fn budget<R>(f: impl FnOnce() -> R) -> R {
    with_budget(Some(BUDGET), f)
}

/// Runs `f` without a budget (see [`unconstrained`]).
pub(crate) fn with_unconstrained<R>(f: impl FnOnce() -> R) -> R {
    with_budget(None, f)
}

/// Whether the poll running on this thread has budget left (true without a budget, and in a
/// blocking section: see [`poll_proceed`]).
pub(crate) fn has_budget_remaining() -> bool {
    context::with(|cx| cx.budget.get() != Some(0)) || baton_blocking::in_section()
}

/// A leaf future asks to go on: spends one unit and returns a [`Charge`], or, with the budget
/// spent, wakes the task (so it is polled again, after the core's other tasks) and returns
/// `Pending`.
///
/// The unit is given back when the `Charge` is dropped, unless the leaf called
/// [`Charge::made_progress`]: only progress costs.
///
/// Inside a blocking section there is no budget (as inside tokio's `block_in_place`): the
/// section may run another executor's `block_on`, which would poll a leaf that yields for the
/// spent budget again and again, for ever, since only the end of the task's poll renews it.
/// Checked only once the budget is spent, so leaves pay nothing for it.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<Charge> {
    context::with(|here| match here.budget.get() {
        None => Poll::Ready(Charge { spent: false }),
        Some(0) if baton_blocking::in_section() => Poll::Ready(Charge { spent: false }),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            here.budget.set(Some(n - 1));
            Poll::Ready(Charge { spent: true })
        }
    })
}

/// [`poll_proceed`] as a future, for `async` code.
pub(crate) async fn proceed() -> Charge {
    poll_fn(poll_proceed).await
}

/// One unit of budget taken by [`poll_proceed`]; given back on drop unless the leaf made
/// progress.
#[derive(Debug)]
#[must_use = "dropping the charge gives the unit back: call `made_progress` on success"]
pub(crate) struct Charge {
    /// A unit was taken (there is a budget) and is to be given back on drop.
    spent: bool,
}

impl Charge {
    /// The leaf completed: the unit stays spent.
    pub(crate) fn made_progress(mut self) {
        self.spent = false;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.spent {
            context::with(|cx| {
                if let Some(n) = cx.budget.get() {
                    cx.budget.set(Some(n.saturating_add(1).min(BUDGET)));
                }
            });
        }
    }
}

/// Runs `future` without a cooperative budget: the runtime's leaf futures inside it never
/// yield on the budget's account.
///
/// Use it for a future that must not be interrupted by a forced yield, and that is known to
/// return `Pending` often enough on its own; a future that is always ready then keeps its
/// worker until it completes, starving the core's other tasks and its own timeouts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use baton::coop::unconstrained;
/// use baton::time::sleep;
/// # baton::Runtime::new().unwrap().block_on(async {
/// // A thousand ready sleeps in one go, without yielding in between.
/// unconstrained(async {
///     for _ in 0..1000 {
///         sleep(Duration::ZERO).await;
///     }
/// })
/// .await;
/// # });
/// ```
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained { future }
}

pin_project_lite::pin_project! {
    /// A future run without a cooperative budget; made by [`unconstrained`].
    ///
    /// # Examples
    ///
    /// ```
    /// use baton::coop::{unconstrained, Unconstrained};
    /// # baton::Runtime::new().unwrap().block_on(async {
    /// let free: Unconstrained<_> = unconstrained(async { 7 });
    /// assert_eq!(free.await, 7);
    /// # });
    /// ```
    #[derive(Debug)]
    #[must_use = "an Unconstrained future does nothing unless awaited"]
    pub struct Unconstrained<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let future = self.project().future;
        with_unconstrained(|| future.poll(cx))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// Counts wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn progress_spends_the_budget_and_then_the_task_is_woken() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        budget(|| {
            for _ in 0..BUDGET {
                let Poll::Ready(charge) = poll_proceed(&mut cx) else {
                    panic!("budget spent early");
                };
                charge.made_progress();
            }
            assert!(!has_budget_remaining());
            assert!(poll_proceed(&mut cx).is_pending());
            assert_eq!(
                count.0.load(Ordering::Relaxed),
                1,
                "woken to be polled again"
            );
            // Lifted inside `unconstrained`, and back after.
            with_unconstrained(|| {
                assert!(has_budget_remaining());
                assert!(poll_proceed(&mut cx).is_ready());
            });
            assert!(!has_budget_remaining());
        });
        // Outside a task poll there is no budget.
        assert!(has_budget_remaining());
    }

    #[test]
    fn a_charge_without_progress_is_given_back() {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        budget(|| {
            for _ in 0..(2 * usize::from(BUDGET)) {
                let Poll::Ready(charge) = poll_proceed(&mut cx) else {
                    panic!("a pending leaf spent the budget");
                };
                drop(charge);
            }
            assert_eq!(context::with(|cx| cx.budget.get()), Some(BUDGET));
        });
    }

    #[test]
    fn nested_budgets_restore_the_outer_one() {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        budget(|| {
            let Poll::Ready(charge) = poll_proceed(&mut cx) else {
                panic!("full budget");
            };
            charge.made_progress();
            budget(|| assert_eq!(context::with(|cx| cx.budget.get()), Some(BUDGET)));
            assert_eq!(context::with(|cx| cx.budget.get()), Some(BUDGET - 1));
        });
    }
}
