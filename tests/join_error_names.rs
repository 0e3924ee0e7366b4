//! A `JoinError` names its task: the id its handle reported (unique in the process), and the
//! work queue of a queue's task.

use std::collections::HashSet;

#[test]
fn task_ids_are_unique_across_threads_and_runtimes() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let other = baton::Runtime::builder().cores(1).build().unwrap();
    let mut ids = HashSet::new();
    let from_tasks = rt.block_on(async {
        let mut ids = Vec::new();
        for _ in 0..100 {
            ids.push(baton::spawn(async {}).id());
        }
        ids
    });
    let handles: Vec<_> = (0..100)
        .flat_map(|_| [rt.spawn(async {}), other.spawn(async {})])
        .collect();
    for id in from_tasks
        .into_iter()
        .chain(handles.iter().map(baton::JoinHandle::id))
    {
        assert!(ids.insert(id), "task id {id} handed out twice");
    }
}

#[test]
fn errors_name_the_task_and_its_queue() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let task = rt.spawn(async { panic!("boom") });
    let id = task.id();
    let err = rt.block_on(task).unwrap_err();
    assert_eq!(err.id(), id);
    assert_eq!(err.to_string(), format!("task {id} panicked: boom"));
    assert_eq!(
        format!("{err:?}"),
        format!("JoinError::Panic({id:?}, \"boom\")")
    );

    let q = baton::WorkQueue::builder("journal")
        .ordered()
        .build(&rt.handle())
        .unwrap();
    let task = q.spawn(std::future::pending::<()>());
    let id = task.id();
    task.abort();
    let err = rt.block_on(task).unwrap_err();
    assert_eq!(err.id(), id);
    assert_eq!(
        err.to_string(),
        format!("task {id} of queue \"journal\" was cancelled")
    );
    assert_eq!(
        format!("{err:?}"),
        format!("JoinError::Cancelled({id:?}, \"journal\")")
    );
    // A task the queue refused is named too.
    q.close();
    let refused = q.spawn(async {});
    let id = refused.id();
    let err = rt.block_on(refused).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("task {id} of queue \"journal\" was cancelled")
    );
}
