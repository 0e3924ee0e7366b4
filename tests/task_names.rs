//! A task spawned with a name (`task::Builder`) is named by its handle and its errors; a task
//! without one is not.

#[test]
fn a_named_task_s_errors_name_it() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let task = baton::task::Builder::new()
        .name("loader")
        .spawn_with(&rt.handle(), async { panic!("boom") });
    assert_eq!(task.name(), Some("loader"));
    let id = task.id();
    let err = rt.block_on(task).unwrap_err();
    assert_eq!(err.name(), Some("loader"));
    assert_eq!(
        err.to_string(),
        format!("task {id} \"loader\" panicked: boom")
    );
    assert!(format!("{err:?}").contains("\"loader\""), "{err:?}");

    let task = {
        let _in_runtime = rt.handle().enter();
        baton::task::Builder::new()
            .name("pinned")
            .spawn_on(1, std::future::pending::<()>())
    };
    task.abort();
    let err = rt.block_on(task).unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(
        err.to_string(),
        format!("task {} \"pinned\" was cancelled", err.id())
    );
}

#[test]
fn a_named_task_runs_where_it_is_sent_and_an_unnamed_one_has_no_name() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let core = rt.block_on(async {
        baton::task::Builder::new()
            .name("on-one")
            .spawn_on(1, async { baton::current_core() })
            .await
            .unwrap()
    });
    assert_eq!(core, Some(1));
    let plain = rt.spawn(async {});
    assert_eq!(plain.name(), None);
    rt.block_on(plain).unwrap();
    let unnamed = rt.block_on(async { baton::task::Builder::new().spawn(async { 7 }).await });
    assert_eq!(unnamed.unwrap(), 7);
}
