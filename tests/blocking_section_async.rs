//! The async form of a section: `section_async` runs its closure in a section on the worker,
//! and tasks that wait for a contended site's turn all get one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn section_async_runs_its_closure_in_a_section_and_returns_its_value() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let (inside, value) = rt
        .block_on(rt.spawn(async {
            baton::blocking::section_async(|| (baton::blocking::in_section(), 7)).await
        }))
        .unwrap();
    assert!(inside);
    assert_eq!(value, 7);
}

#[test]
fn a_section_async_inside_a_section_runs_at_once() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let value = rt
        .block_on(rt.spawn(async {
            let _outer = baton::blocking::enter();
            let fut = baton::blocking::section_async(|| 3);
            futures::executor::block_on(fut)
        }))
        .unwrap();
    assert_eq!(value, 3);
}

/// Many tasks calling one site whose calls wait for each other (a lock held while sleeping):
/// whatever level the runtime learns for it, every call runs once and every task finishes.
#[test]
fn every_task_waiting_for_a_contended_site_gets_its_turn() {
    const TASKS: usize = 100;
    const CALLS: usize = 5;
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let lock = Arc::new(Mutex::new(0usize));
    let entered = Arc::new(AtomicUsize::new(0));
    let done = rt
        .block_on(rt.spawn({
            let lock = lock.clone();
            let entered = entered.clone();
            async move {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let lock = lock.clone();
                        let entered = entered.clone();
                        baton::spawn(async move {
                            for _ in 0..CALLS {
                                baton::blocking::section_async(|| {
                                    entered.fetch_add(1, Ordering::Relaxed);
                                    let mut count = lock.lock().unwrap();
                                    std::thread::sleep(Duration::from_micros(200));
                                    *count += 1;
                                })
                                .await;
                                baton::yield_now().await;
                            }
                        })
                    })
                    .collect();
                let mut done = 0;
                for task in tasks {
                    task.await.unwrap();
                    done += 1;
                }
                done
            }
        }))
        .unwrap();
    assert_eq!(done, TASKS);
    assert_eq!(*lock.lock().unwrap(), TASKS * CALLS);
    assert_eq!(entered.load(Ordering::Relaxed), TASKS * CALLS);
}
