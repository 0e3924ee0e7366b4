//! The work queue's public types are `Send` and `Sync` where users need them to be.

fn send_sync<T: Send + Sync>() {}

#[test]
fn work_queue_types_are_send_and_sync() {
    send_sync::<baton::WorkQueue>();
    send_sync::<baton::WorkQueueBuilder>();
    send_sync::<baton::Affinity>();
    send_sync::<baton::QueueBuildError>();
    send_sync::<baton::SpawnError<std::future::Ready<()>>>();
    send_sync::<baton::QueueStats>();
}

#[test]
fn flush_and_drain_futures_are_send() {
    fn send<T: Send + 'static>(_: &T) {}
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let q = baton::WorkQueue::builder("q").build(&rt.handle()).unwrap();
    let flush = q.flush();
    send(&flush);
    let drain = q.drain();
    send(&drain);
    rt.block_on(async {
        flush.await;
        drain.await;
    });
}
