//! Flushing, draining and closing a queue: waiting for the tasks accepted so far, waiting until
//! the queue is empty while refusing spawns from outside it, and refusing spawns for good.
//!
//! - `flush` waits until every task accepted before the call finished (see
//!   [`Generations`](super::admission::Generations)). A delayed task counts from the moment its
//!   delay expires: a flush does not wait for one still pending (the kernel's `flush_workqueue`
//!   does the same), and may wait for one that becomes due while it waits.
//! - `drain` refuses spawns from outside the queue (a spawn is "inside" while the thread polls
//!   one of the queue's own tasks) and waits until the queue is empty, delayed tasks included.
//!   Afterwards the queue accepts spawns again (the kernel's `drain_workqueue`).
//! - `close` refuses every new spawn for good; accepted tasks still run.
//!
//! `flush` and `drain` take effect at the call (the generation is opened, the refusal starts);
//! the futures they return only wait. A refused `spawn` returns a handle that reports
//! cancellation; `try_spawn` returns the future instead. Waiters are woken through an
//! `event-listener` `Event` rather than a hand-made waker list: it is already the runtime's
//! notification primitive, costs one atomic load per notification while nobody waits, and
//! handles any number of concurrent flushes and drains without bookkeeping here.

use std::future::Future;

use super::WorkQueue;

impl WorkQueue {
    /// Returns a future that completes once every task accepted before this call has finished
    /// (completed, panicked or been cancelled). Tasks spawned meanwhile are not waited for; delayed
    /// tasks still pending are not either (see [the rules](WorkQueue#rules)).
    ///
    /// # Priority inheritance
    ///
    /// Awaited by a [`High`](crate::Priority::High) task, the flush raises every task it waits
    /// for to `High` until that task completes (see [`Priority`](crate::Priority)):
    ///
    /// - tasks the queue still holds back (beyond `max_active`, or behind their key): once
    ///   admitted, they are queued ahead of `Normal` and `Idle` work, and admitted before the
    ///   tasks that wait only for a place;
    /// - tasks the queue already admitted: those queued behind lower work move to the `High`
    ///   queues, and those running or waiting are queued as `High` at every later wake-up;
    /// - in an ordered queue, its runner, which runs the tasks one after another: it runs as
    ///   `High` until it comes to a task the flush does not wait for (one spawned after the
    ///   call), and hands the rest of the line to a new runner of the queue's class there. A
    ///   raise for the rest of the runner's life would lift every later task of a busy queue,
    ///   whose runner never stops, for good.
    ///
    /// A delayed task that becomes due while the flush waits is raised as it joins the queue.
    /// Admission order stays the queue's: its backlog keeps its order, a key's tasks start one
    /// after another, at most `max_active` are in flight, and an ordered queue stays strictly
    /// FIFO. A flush that a `Normal` or `Idle` task awaits raises nothing.
    ///
    /// # Panics
    ///
    /// The returned future panics when it is made and awaited in the queue's own tasks: the task
    /// that calls `flush` was accepted before the call, so the flush would wait for it for ever.
    /// Flush from outside the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").max_active(2).build(&rt.handle())?;
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..100 {
    ///     let done = done.clone();
    ///     drop(q.spawn(async move { done.fetch_add(1, Ordering::Relaxed); }));
    /// }
    /// rt.block_on(q.flush());
    /// assert_eq!(done.load(Ordering::Relaxed), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) -> impl Future<Output = ()> + Send + 'static {
        // The generation is opened now, at the call, not at the first poll.
        let target = self.inner.open_generation();
        let inner = std::sync::Arc::clone(&self.inner);
        // Made inside one of the queue's tasks: that task counts in the generation.
        let made_inside = inner.is_polled_here();
        async move {
            if made_inside && inner.is_polled_here() {
                panic!(
                    "WorkQueue::flush of queue {:?} awaited from one of that queue's own tasks: \
                     the flush waits for that task, which waits for the flush, so it would never \
                     complete; flush from outside the queue (another task, or `block_on`)",
                    inner.name()
                );
            }
            if let Some(target) = target.filter(|_| crate::task::boost::awaiter_is_high()) {
                inner.raise_until(target);
            }
            inner.wait_flushed(target).await;
        }
    }

    /// From this call on, refuses spawns from outside the queue; the returned future completes once
    /// the queue is empty, delayed tasks included; the queue's own tasks may still spawn more on
    /// it, and those are waited for too. Afterwards the queue accepts spawns again.
    ///
    /// # Panics
    ///
    /// The returned future panics when awaited from one of the queue's own tasks: that task is
    /// part of what the drain waits for, so it would wait for itself for ever. (Calling `drain`
    /// there is fine; await it from another task or `block_on`.)
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").build(&rt.handle())?;
    /// let inner = q.clone();
    /// drop(q.spawn(async move {
    ///     // Spawns from the queue's own tasks are accepted during a drain.
    ///     drop(inner.spawn(async {}));
    /// }));
    /// rt.block_on(q.drain());
    /// assert_eq!(q.stats().completed, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drain(&self) -> impl Future<Output = ()> + Send + 'static {
        // Outside spawns are refused from the call on, until the returned future completes or
        // is dropped.
        let guard = self.inner.start_drain();
        async move {
            let inner = guard.queue();
            if inner.is_polled_here() {
                panic!(
                    "WorkQueue::drain of queue {:?} awaited from one of that queue's own tasks: \
                     the drain waits for every task of the queue, that one included, so it \
                     would never complete; drain from outside the queue (another task, or \
                     `block_on`)",
                    inner.name()
                );
            }
            inner.wait_empty().await;
            drop(guard);
        }
    }

    /// Refuses every new spawn from now on. Tasks already accepted still run.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = baton::Runtime::new()?;
    /// let q = baton::WorkQueue::builder("q").build(&rt.handle())?;
    /// q.close();
    /// assert!(rt.block_on(q.spawn(async {})).unwrap_err().is_cancelled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        self.inner.close();
    }
}
