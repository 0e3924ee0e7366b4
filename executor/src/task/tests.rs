use super::*;

/// Counts its drops, and panics in its drop if asked to.
struct Counted {
    drops: std::rc::Rc<Cell<usize>>,
    panics: bool,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if self.panics {
            panic!("drop boom");
        }
    }
}

/// Holds a `Counted`; `Ready` at once, panics in its poll, or stays pending.
struct Probe {
    _counted: Counted,
    poll: Poll<Result<(), ()>>,
}

impl Future for Probe {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        match self.poll {
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Ready(Err(())) => panic!("poll boom"),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Polls a task's wrapper around a `Probe` (cancelled first if `cancel`), then drops the
/// wrapper; returns what the poll reported and how many times the future was dropped.
fn run_probe(
    poll: Poll<Result<(), ()>>,
    drop_panics: bool,
    cancel: bool,
) -> (Poll<Result<(), &'static str>>, usize) {
    let drops = std::rc::Rc::new(Cell::new(0));
    let probe = Probe {
        _counted: Counted {
            drops: drops.clone(),
            panics: drop_panics,
        },
        poll,
    };
    let mut task = Box::pin(TaskFuture {
        future: Some(probe),
        registered: None,
        slot: Slot::default(),
        meta: MetaRef(std::ptr::null()),
    });
    CANCELLING.with(|c| c.set(cancel));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let reported = task.as_mut().poll(&mut cx).map(|output| {
        output.into_inner().map_err(|failure| match failure {
            Failure::Panicked(panic) | Failure::PanickedWhileCancelled(panic) => {
                *panic.downcast::<&'static str>().expect("a string payload")
            }
            Failure::Cancelled => "cancelled",
        })
    });
    drop(task);
    (reported, drops.get())
}

#[test]
fn the_future_is_dropped_exactly_once_on_every_path() {
    let done = Poll::Ready(Ok(()));
    let panics = Poll::Ready(Err(()));
    assert_eq!(run_probe(done, false, false), (Poll::Ready(Ok(())), 1));
    assert_eq!(
        run_probe(done, true, false),
        (Poll::Ready(Err("drop boom")), 1)
    );
    assert_eq!(
        run_probe(panics, true, false),
        (Poll::Ready(Err("poll boom")), 1)
    );
    assert_eq!(
        run_probe(Poll::Pending, true, true),
        (Poll::Ready(Err("drop boom")), 1)
    );
    assert_eq!(
        run_probe(Poll::Pending, false, true),
        (Poll::Ready(Err("cancelled")), 1)
    );
    // Still pending when the wrapper is dropped: its own drop drops the future, once,
    // catching the destructor's panic.
    assert_eq!(run_probe(Poll::Pending, true, false), (Poll::Pending, 1));
}

#[test]
fn a_small_future_packs_into_the_wrappers_last_word() {
    // The registry's `Arc`, the metadata pointer, and the slot (six bytes) with a future
    // of one byte (an `async fn` that captures nothing) and its `Option`'s niche: three
    // words, which is also the size of the task's outcome (`TaskOutput<()>` and async-task's
    // own `Result` around it), so the allocation's future/output union is no larger.
    async fn idle() {
        std::future::pending::<()>().await;
    }
    fn wrapper_size<F>(_: &F) -> usize {
        std::mem::size_of::<TaskFuture<F>>()
    }
    let future = idle();
    assert_eq!(std::mem::size_of_val(&future), 1);
    assert_eq!(wrapper_size(&future), 3 * std::mem::size_of::<usize>());
    assert_eq!(std::mem::size_of::<Slot>(), 6);
    assert_eq!(
        std::mem::size_of::<Result<TaskOutput<()>, Panic>>(),
        3 * std::mem::size_of::<usize>()
    );
}
