//! Auto traits of the public types, asserted so that a change to them is a visible decision.

fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
fn is_unpin<T: Unpin>() {}
fn is_unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

#[test]
fn public_types_are_send_and_sync() {
    is_send::<baton::Runtime>();
    is_sync::<baton::Runtime>();
    is_send::<baton::Handle>();
    is_sync::<baton::Handle>();
    is_send::<baton::JoinHandle<u8>>();
    is_sync::<baton::JoinHandle<u8>>();
    is_unpin::<baton::JoinHandle<std::marker::PhantomPinned>>();
    is_send::<baton::JoinError>();
    is_sync::<baton::JoinError>();
    is_send::<baton::TaskId>();
    is_sync::<baton::TaskId>();
    is_send::<baton::BuildError>();
    is_sync::<baton::BuildError>();
    is_send::<baton::TryCurrentError>();
    is_sync::<baton::TryCurrentError>();
    is_send::<baton::SetCoresError>();
    is_sync::<baton::SetCoresError>();
    is_send::<baton::Builder>();
    is_send::<baton::Stats>();
    is_sync::<baton::Stats>();
    is_send::<baton::UnblockStats>();
    is_sync::<baton::UnblockStats>();
    is_send::<baton::blocking::UnblockHandle<u8>>();
    is_sync::<baton::blocking::UnblockHandle<u8>>();
    is_unpin::<baton::blocking::UnblockHandle<std::marker::PhantomPinned>>();
    is_send::<baton::SiteStats>();
    is_sync::<baton::SiteStats>();
    is_send::<baton::StatsReporter>();
    is_sync::<baton::StatsReporter>();
    is_send::<baton::task::Builder>();
    is_sync::<baton::task::Builder>();
    is_send::<baton::YieldNow>();
    is_send::<baton::coop::Unconstrained<std::future::Ready<u8>>>();
    is_sync::<baton::coop::Unconstrained<std::future::Ready<u8>>>();
    is_send::<baton::task::JoinSet<u8>>();
    is_sync::<baton::task::JoinSet<u8>>();
    is_unpin::<baton::task::JoinSet<std::marker::PhantomPinned>>();
    is_send::<baton::net::UnixDatagram>();
    is_sync::<baton::net::UnixDatagram>();
    is_unpin::<baton::task::RunUntil<'static, std::future::Ready<u8>>>();
}

#[test]
fn runtime_and_handle_can_be_used_across_catch_unwind() {
    is_unwind_safe::<baton::Runtime>();
    is_unwind_safe::<baton::Handle>();
    let rt = baton::Runtime::new().unwrap();
    let out = std::panic::catch_unwind(|| rt.block_on(async { 1 }));
    assert_eq!(out.unwrap(), 1);
}

/// `EnterGuard` restores a thread-local, so it must stay on its thread: this compiles only if
/// it is not `Send` (with `Send`, the two blanket impls make `some_item` ambiguous).
#[allow(dead_code)]
fn enter_guard_is_not_send() {
    trait AmbiguousIfSend<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
    <baton::EnterGuard as AmbiguousIfSend<_>>::some_item();
}

/// A `LocalSet` runs its tasks on the thread that made it, and `run_until`'s future borrows it:
/// neither may move to another thread (compiles only if they are not `Send`).
#[allow(dead_code)]
fn local_set_and_run_until_are_not_send() {
    trait AmbiguousIfSend<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
    <baton::task::LocalSet as AmbiguousIfSend<_>>::some_item();
    <baton::task::RunUntil<'static, std::future::Ready<u8>> as AmbiguousIfSend<_>>::some_item();
}
