//! Each core serves `High` before `Normal` before `Idle`, and a flood of `High` work does not
//! starve `Normal` work beyond the documented bound (one `Normal` poll in every 17).

use std::sync::{Arc, Mutex};

use baton::{Priority, WorkQueue};

mod common;

use common::one_core_in_class_order as one_core;

/// Builds a queue of class `priority` on the current runtime.
fn queue(name: &str, priority: Priority) -> WorkQueue {
    WorkQueue::builder(name)
        .priority(priority)
        .build(&baton::Handle::current())
        .unwrap()
}

#[test]
fn one_core_runs_high_then_normal_then_idle() {
    let rt = one_core();
    let order = Arc::new(Mutex::new(Vec::new()));
    let handles = rt
        .block_on(rt.spawn({
            let order = order.clone();
            async move {
                let idle = queue("idle", Priority::Idle);
                let normal = queue("normal", Priority::Normal);
                let high = queue("high", Priority::High);
                // Queued lowest class first; none can run before this task returns, as it is
                // the only core's running task.
                let mut handles = Vec::new();
                for (q, label) in [(&idle, "idle"), (&normal, "normal"), (&high, "high")] {
                    for i in 0..3 {
                        let order = order.clone();
                        handles.push(q.spawn(async move {
                            order.lock().unwrap().push(format!("{label}{i}"));
                        }));
                    }
                }
                handles
            }
        }))
        .unwrap();
    for h in handles {
        rt.block_on(h).unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order,
        ["high0", "high1", "high2", "normal0", "normal1", "normal2", "idle0", "idle1", "idle2"],
    );
}

/// `High` tasks of the flood.
const HIGH_TASKS: usize = 200;

/// On one core, a task queues [`HIGH_TASKS`] `High` tasks on a work queue, then one task
/// labelled `label` with `spawn_after` (given a handle to the runtime); returns how many `High`
/// tasks ran before it.
fn high_tasks_before(
    label: &'static str,
    spawn_after: impl FnOnce(baton::Handle, Labels) -> baton::JoinHandle<()> + Send + 'static,
) -> usize {
    let rt = one_core();
    let handle = rt.handle().clone();
    let order: Labels = Arc::new(Mutex::new(Vec::new()));
    let handles = rt
        .block_on(rt.spawn({
            let order = order.clone();
            async move {
                let high = queue("flood", Priority::High);
                let mut handles: Vec<_> = (0..HIGH_TASKS)
                    .map(|_| {
                        let order = order.clone();
                        high.spawn(async move { order.lock().unwrap().push("high") })
                    })
                    .collect();
                handles.push(spawn_after(handle, order));
                handles
            }
        }))
        .unwrap();
    for h in handles {
        rt.block_on(h).unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), HIGH_TASKS + 1);
    order.iter().position(|&l| l == label).unwrap()
}

/// The labels of the tasks that ran, in the order they ran.
type Labels = Arc<Mutex<Vec<&'static str>>>;

#[test]
fn a_flood_of_high_work_lets_normal_work_through() {
    // Queued after all of them, on plain `spawn` (the default class).
    let position = high_tasks_before("normal", |_, order| {
        baton::spawn(async move { order.lock().unwrap().push("normal") })
    });
    assert!(
        position <= 16,
        "the normal task ran after {position} high tasks (bound: 16)"
    );
    assert!(position >= 1, "high tasks run first while the bound allows");
}

#[test]
fn idle_work_waits_while_normal_work_keeps_coming() {
    let rt = one_core();
    let order = Arc::new(Mutex::new(Vec::new()));
    let done = rt
        .block_on(rt.spawn({
            let order = order.clone();
            async move {
                let idle = queue("background", Priority::Idle);
                let order2 = order.clone();
                let background = idle.spawn(async move { order2.lock().unwrap().push(0) });
                // A chain of normal tasks, each spawning the next: the core always has normal
                // work until the chain ends, so the idle task must wait for all of it.
                fn link(order: Arc<Mutex<Vec<u32>>>, left: u32) -> baton::JoinHandle<()> {
                    baton::spawn(async move {
                        order.lock().unwrap().push(left);
                        if left > 1 {
                            drop(link(order, left - 1));
                        }
                    })
                }
                drop(link(order, 100));
                vec![background]
            }
        }))
        .unwrap();
    for h in done {
        rt.block_on(h).unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), 101);
    assert_eq!(order.last(), Some(&0), "{order:?}");
}

#[test]
fn a_flood_of_high_work_lets_a_task_spawned_from_outside_through() {
    // Spawned from a thread of no runtime: it waits in the injector, not on the core, behind
    // the flood.
    let position = high_tasks_before("outside", |handle, order| {
        std::thread::spawn(move || {
            handle.spawn(async move { order.lock().unwrap().push("outside") })
        })
        .join()
        .unwrap()
    });
    assert!(
        position <= 16,
        "the task spawned from outside ran after {position} high tasks (bound: 16)"
    );
}
