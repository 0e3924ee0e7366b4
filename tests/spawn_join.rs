//! Spawned tasks run and their handles yield their outputs, from inside and outside the runtime.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn spawn_from_block_on_and_join() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let out = rt.block_on(async {
        let a = baton::spawn(async { 20 });
        let b = baton::spawn(async { 22 });
        a.await.unwrap() + b.await.unwrap()
    });
    assert_eq!(out, 42);
}

#[test]
fn spawn_from_a_task_and_from_another_thread() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let nested = rt.block_on(rt.spawn(async {
        let inner = baton::spawn(async { baton::current_core().is_some() });
        inner.await.unwrap()
    }));
    assert!(nested.unwrap(), "a task runs on a worker thread");

    let handle = rt.handle();
    let from_thread = std::thread::spawn(move || handle.spawn(async { 7 }))
        .join()
        .unwrap();
    assert_eq!(rt.block_on(from_thread).unwrap(), 7);
}

#[test]
fn dropping_a_handle_detaches_the_task() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let r = ran.clone();
    drop(rt.spawn(async move {
        r.fetch_add(1, Ordering::SeqCst);
        tx.send(()).unwrap();
    }));
    rx.recv().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn is_finished_turns_true_after_completion() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let task = rt.spawn(async move {
        rx.await.unwrap();
    });
    assert!(!task.is_finished());
    tx.send(()).unwrap();
    while !task.is_finished() {
        std::thread::yield_now();
    }
    rt.block_on(task).unwrap();
}

#[test]
fn spawn_outside_a_runtime_is_a_clear_error() {
    let err = baton::Handle::try_current().unwrap_err();
    assert!(err.to_string().contains("no baton runtime"), "{err}");
    let panic = std::panic::catch_unwind(|| {
        drop(baton::spawn(async {}));
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("no baton runtime"), "{message}");
}
