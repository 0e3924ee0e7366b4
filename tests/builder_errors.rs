//! The builder rejects impossible settings with clear errors instead of panicking.

#[test]
fn zero_cores_is_an_error() {
    let err = baton::Runtime::builder().cores(0).build().unwrap_err();
    assert!(err.is_invalid_config());
    assert!(!err.is_thread_spawn());
    assert!(err.to_string().contains("cores(0)"), "{err}");
}

#[test]
fn too_many_cores_is_an_error() {
    let err = baton::Runtime::builder()
        .cores(baton::MAX_CORES + 1)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config());
    assert!(
        err.to_string()
            .contains(&format!("at most {}", baton::MAX_CORES)),
        "{err}"
    );
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn an_unblock_pool_without_threads_is_an_error() {
    let err = baton::Runtime::builder()
        .max_unblock_threads(0)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config());
    assert!(err.to_string().contains("max_unblock_threads(0)"), "{err}");
}

#[test]
fn a_nul_in_the_thread_name_is_an_error() {
    let err = baton::Runtime::builder()
        .thread_name("bad\0name")
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config());
    assert!(err.to_string().contains("NUL"), "{err}");
}

#[test]
fn default_core_count_is_what_the_process_may_use() {
    let rt = baton::Runtime::new().unwrap();
    let expected = std::thread::available_parallelism().unwrap().get();
    assert_eq!(rt.handle().cores(), expected.min(baton::MAX_CORES));
}

#[test]
fn thread_names_and_stack_size_apply() {
    let rt = baton::Runtime::builder()
        .cores(1)
        .thread_name("custom")
        .thread_stack_size(256 * 1024)
        .build()
        .unwrap();
    let name = rt
        .block_on(rt.spawn(async { std::thread::current().name().map(str::to_owned) }))
        .unwrap();
    assert_eq!(name.as_deref(), Some("custom-0"));
}
