//! The `hyper` feature: the hyper server and client examples, run against each other; the
//! server's `header_read_timeout` cuts off a client that never finishes its headers.

use std::time::Duration;

#[allow(dead_code)] // its `main` is the example's
#[path = "../examples/hyper_server.rs"]
mod server;

#[allow(dead_code)] // its `main` is the example's
#[path = "../examples/hyper_client.rs"]
mod client;

/// The longest the test waits for anything (a hang guard, not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(60);

#[baton::test]
async fn the_client_example_fetches_from_the_server_example() {
    let listener = baton::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = baton::spawn(server::serve(listener, server::HEADER_READ_TIMEOUT));
    let uri = format!("http://{addr}/pool").parse().unwrap();
    let responses = baton::time::timeout(PATIENCE, client::fetch(uri, 5))
        .await
        .expect("the client hung")
        .unwrap();
    assert_eq!(responses, vec![(200, "hello, pool".to_owned()); 5]);
    server.abort();
}

#[baton::test]
async fn header_read_timeout_cuts_off_a_slow_client() {
    let listener = baton::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = baton::spawn(server::serve(listener, Duration::from_millis(50)));
    let waited = baton::time::timeout(PATIENCE, server::slow_client(addr))
        .await
        .expect("the server never cut off a client that did not finish its headers")
        .unwrap();
    // Never before the timeout (timers never fire early).
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    server.abort();
}

fn is_send_sync<T: Send + Sync>() {}

#[test]
fn the_adapters_are_send_and_sync() {
    is_send_sync::<baton::hyper::Executor>();
    is_send_sync::<baton::hyper::Timer>();
    is_send_sync::<baton::hyper::Connector>();
    is_send_sync::<baton::hyper::Io<baton::net::TcpStream>>();
}
