//! The `tokio` feature: tokio's APIs, and a real tokio-based HTTP client (hyper-util's legacy
//! client: `tokio::net` connections, `tokio::spawn`ed pool tasks, `tokio::time` timers), work in
//! baton tasks and their children with no wrapper; and baton's `block_on` on a tokio thread
//! never stalls tokio silently.

use std::convert::Infallible;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

/// Serves `listener` with hyper over tokio's I/O, one `tokio::spawn`ed task per connection;
/// each response body is the request's path.
async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let service = service_fn(|request: Request<Incoming>| async move {
                // tokio's timers, in a hyper service run by a tokio task.
                tokio::time::sleep(Duration::from_millis(1)).await;
                let path = request.uri().path().to_owned();
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(path))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[test]
fn a_tokio_http_client_works_in_baton_tasks_and_their_children() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let bodies = rt.block_on(async {
        // `block_on` has the tokio context too.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = baton::spawn(serve(listener));
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .build_http();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let client = client.clone();
            tasks.push(baton::spawn(async move {
                // A child of a child: the context is the worker thread's, not the task's.
                baton::spawn(async move {
                    let uri = format!("http://{addr}/{i}").parse().unwrap();
                    let response = tokio::time::timeout(Duration::from_secs(30), client.get(uri))
                        .await
                        .expect("the request timed out")
                        .expect("the request failed");
                    assert_eq!(response.status(), 200);
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    String::from_utf8(body.to_vec()).unwrap()
                })
                .await
                .unwrap()
            }));
        }
        let mut bodies = Vec::new();
        for task in tasks {
            bodies.push(task.await.unwrap());
        }
        server.abort();
        bodies
    });
    let expected: Vec<String> = (0..8).map(|i| format!("/{i}")).collect();
    assert_eq!(bodies, expected);
}

#[test]
fn tokio_spawn_and_time_work_in_tasks_on_more_than_one_tokio_thread() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let (workers, out) = rt
        .block_on(rt.spawn(async {
            let workers = tokio::runtime::Handle::current().metrics().num_workers();
            let spawned = tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                21
            });
            // tokio's threads are in the baton runtime's context too.
            let child = baton::spawn(async {
                tokio::spawn(async { baton::spawn(async { 21 }).await.unwrap() })
                    .await
                    .unwrap()
            });
            (workers, spawned.await.unwrap() + child.await.unwrap())
        }))
        .unwrap();
    assert_eq!(out, 42);
    assert_eq!(workers, baton::TOKIO_WORKER_THREADS);
    assert!(workers > 1, "tokio's I/O should have more than one thread");
}

#[test]
fn dropping_the_baton_runtime_shuts_its_tokio_runtime_down() {
    let rt = baton::Runtime::new().unwrap();
    let tokio_handle = rt.block_on(async { tokio::runtime::Handle::current() });
    drop(rt);
    let late = tokio_handle.spawn(async { 1 });
    let err = futures::executor::block_on(late).unwrap_err();
    assert!(err.is_cancelled(), "{err}");
}

/// Runs `f` on a thread of its own and returns its result, or panics if it has not finished
/// after a minute (a hang guard: the behaviour under test is a deadlock).
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("stalled: baton's block_on blocked the tokio runtime it was called on")
}

#[test]
fn block_on_in_a_task_of_a_one_worker_tokio_runtime_lets_tokio_go_on() {
    let out = within_a_minute(|| {
        let baton_rt = baton::Runtime::new().unwrap();
        let tokio_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let out = tokio_rt.block_on(async move {
            tokio::spawn(async move {
                let (tx, rx) = tokio::sync::oneshot::channel();
                // Queued on the one tokio worker, behind the task that calls block_on.
                tokio::spawn(async move { tx.send(5).unwrap() });
                baton_rt.block_on(async { rx.await.unwrap() })
            })
            .await
            .unwrap()
        });
        out
    });
    assert_eq!(out, 5);
}

#[test]
fn block_on_in_a_current_thread_tokio_runtime_panics_and_says_why() {
    let message = within_a_minute(|| {
        let baton_rt = baton::Runtime::new().unwrap();
        let tokio_rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tokio_rt.block_on(async {
            let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                baton_rt.block_on(async { 1 })
            }))
            .expect_err("block_on on a current-thread runtime should panic");
            panic
                .downcast_ref::<String>()
                .cloned()
                .expect("a formatted message")
        })
    });
    assert!(message.contains("current-thread"), "{message}");
    assert!(
        message.contains("tokio_compat.rs"),
        "names the caller: {message}"
    );
}

#[test]
fn block_on_under_a_plain_tokio_enter_guard_runs() {
    let baton_rt = baton::Runtime::new().unwrap();
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = tokio_rt.enter();
    assert_eq!(baton_rt.block_on(async { 3 }), 3);
}
