//! Unix-domain datagram sockets: bound, unbound, paired and connected sockets send and receive
//! whole datagrams through the reactor; `peek` leaves a datagram queued; errors carry the
//! OS's cause.

use std::io::ErrorKind;
use std::net::Shutdown;
use std::path::PathBuf;

use baton::net::UnixDatagram;

/// A fresh directory for one test's socket files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("baton-dgram-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server bound to a socket file answers bound clients, each on a task of its own: the
/// server's `recv_from` waits in the reactor until a datagram comes, and replies go back to
/// the sender's address.
#[test]
fn a_bound_server_answers_bound_clients() {
    let dir = TempDir::new("echo");
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let server_path = dir.path("server.sock");
    let server = UnixDatagram::bind(&server_path).unwrap();
    let clients: Vec<_> = (0..8)
        .map(|i| dir.path(&format!("client{i}.sock")))
        .collect();
    rt.block_on(async move {
        let echo = baton::spawn(async move {
            let mut buf = [0; 64];
            for _ in 0..8 * 10 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                let reply = buf[..n].to_ascii_uppercase();
                let to = from.as_pathname().expect("clients are bound").to_owned();
                assert_eq!(server.send_to(&reply, &to).await.unwrap(), n);
            }
        });
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, path)| {
                let server_path = server_path.clone();
                baton::spawn(async move {
                    let client = UnixDatagram::bind(&path).unwrap();
                    let mut buf = [0; 64];
                    for j in 0..10 {
                        let msg = format!("client {i} datagram {j}");
                        client.send_to(msg.as_bytes(), &server_path).await.unwrap();
                        let (n, from) = client.recv_from(&mut buf).await.unwrap();
                        assert_eq!(from.as_pathname(), Some(server_path.as_path()));
                        assert_eq!(&buf[..n], msg.to_uppercase().as_bytes());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        echo.await.unwrap();
    });
}

#[test]
fn a_pair_keeps_datagram_boundaries_and_a_recv_waits_for_the_send() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        assert!(a.peer_addr().unwrap().is_unnamed());
        // The receiver waits first: woken by the reactor when the datagrams come.
        let receiver = baton::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0; 16];
            for _ in 0..3 {
                let n = b.recv(&mut buf).await.unwrap();
                got.push(buf[..n].to_vec());
            }
            got
        });
        baton::time::sleep(std::time::Duration::from_millis(10)).await;
        for msg in [&b"one"[..], b"", b"three"] {
            assert_eq!(a.send(msg).await.unwrap(), msg.len());
        }
        let got = receiver.await.unwrap();
        assert_eq!(got, [b"one".to_vec(), Vec::new(), b"three".to_vec()]);
    });
}

#[test]
fn peek_leaves_the_datagram_queued_and_a_short_buffer_cuts_it() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(b"hello world").await.unwrap();
        a.send(b"next").await.unwrap();
        let mut buf = [0; 32];
        assert_eq!(b.peek(&mut buf).await.unwrap(), 11);
        assert_eq!(&buf[..11], b"hello world");
        let mut short = [0; 5];
        assert_eq!(b.peek(&mut short).await.unwrap(), 5);
        assert_eq!(&short, b"hello");
        // Still the first datagram, cut to the buffer: the rest of it is gone.
        assert_eq!(b.recv(&mut short).await.unwrap(), 5);
        assert_eq!(&short, b"hello");
        assert_eq!(b.recv(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf[..4], b"next");
    });
}

/// A peek waits like a recv: it is woken when a datagram comes.
#[test]
fn peek_waits_for_a_datagram() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let peeker = baton::spawn(async move {
            let mut buf = [0; 8];
            let n = b.peek(&mut buf).await.unwrap();
            let mut again = [0; 8];
            let m = b.recv(&mut again).await.unwrap();
            (buf[..n].to_vec(), again[..m].to_vec())
        });
        baton::time::sleep(std::time::Duration::from_millis(10)).await;
        a.send(b"late").await.unwrap();
        let (peeked, received) = peeker.await.unwrap();
        assert_eq!(peeked, b"late");
        assert_eq!(received, b"late");
    });
}

#[test]
fn an_unbound_socket_connects_and_sends_and_a_connected_recv_filters_senders() {
    let dir = TempDir::new("connect");
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let server_path = dir.path("server.sock");
        let other_path = dir.path("other.sock");
        let server = UnixDatagram::bind(&server_path).unwrap();
        let other = UnixDatagram::bind(&other_path).unwrap();

        let client = UnixDatagram::unbound().unwrap();
        assert!(client.local_addr().unwrap().is_unnamed());
        assert_eq!(
            client.send(b"x").await.unwrap_err().kind(),
            ErrorKind::NotConnected
        );
        client.connect(&server_path).unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(server_path.as_path())
        );
        client.send(b"hi").await.unwrap();
        let mut buf = [0; 8];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert!(from.is_unnamed());

        // `server` connected to `other`: a datagram from a third socket is not received.
        server.connect(&other_path).unwrap();
        let stranger = UnixDatagram::unbound().unwrap();
        let refused = stranger.send_to(b"stranger", &server_path).await;
        other.send_to(b"peer", &server_path).await.unwrap();
        let n = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"peer");
        // Linux refuses the stranger's datagram outright; elsewhere it may be dropped.
        if let Err(err) = refused {
            assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        }
    });
}

#[test]
fn errors_carry_the_os_cause() {
    let dir = TempDir::new("errors");
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let path = dir.path("taken.sock");
        let _bound = UnixDatagram::bind(&path).unwrap();
        assert_eq!(
            UnixDatagram::bind(&path).unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        let socket = UnixDatagram::unbound().unwrap();
        let missing = dir.path("missing.sock");
        assert_eq!(
            socket.connect(&missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            socket.send_to(b"x", &missing).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            socket.peer_addr().unwrap_err().kind(),
            ErrorKind::NotConnected
        );
    });
}

#[test]
fn shutdown_of_the_write_half_refuses_sends() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(b"before").await.unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        assert_eq!(
            a.send(b"late").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        // What was sent before stays deliverable.
        let mut buf = [0; 8];
        assert_eq!(b.recv(&mut buf).await.unwrap(), 6);
    });
}

#[test]
fn a_std_socket_converts_and_exposes_its_descriptor() {
    use std::os::fd::AsRawFd;
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let raw = a.as_raw_fd();
        let a = UnixDatagram::try_from(a).unwrap();
        assert_eq!(a.as_raw_fd(), raw);
        let b = UnixDatagram::try_from(b).unwrap();
        a.send(b"std").await.unwrap();
        let mut buf = [0; 4];
        assert_eq!(b.recv(&mut buf).await.unwrap(), 3);
    });
}
