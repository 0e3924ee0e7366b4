//! Dropping a socket deregisters and closes it: descriptors do not leak. (One test in this
//! file: it counts the process's descriptors, which a concurrent test would disturb.)
#![cfg(target_os = "linux")]

use baton::net::{TcpListener, TcpStream};

/// Open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn dropped_sockets_release_their_descriptors() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Warm up: the reactor's poller and the runtime's own descriptors exist by now.
        drop(TcpStream::connect(addr).await.unwrap());
        drop(listener.accept().await.unwrap());
        let before = open_fds();
        for _ in 0..200 {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let clone = client.clone();
            drop(client);
            // The clone keeps the connection open.
            assert!(clone.peer_addr().is_ok());
            drop(clone);
            drop(server);
        }
        assert_eq!(open_fds(), before);
    });
}
