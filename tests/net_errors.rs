//! Socket errors surface as `io::Error`s with the OS's cause and the matching `ErrorKind`.

use std::io::ErrorKind;

use baton::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};

/// A loopback address where nothing listens: bound, then released.
async fn closed_port() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let addr = closed_port().await;
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
    });
}

#[test]
fn binding_a_listening_address_is_addr_in_use() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let err = TcpListener::bind(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let err = UdpSocket::bind(udp.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
        // Dropping the listener frees the address.
        drop(listener);
        TcpListener::bind(addr).await.unwrap();
    });
}

#[test]
fn unresolvable_and_foreign_addresses_fail() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let err = TcpListener::bind("not an address").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
        // 192.0.2.0/24 is reserved for documentation: never an address of this machine.
        let err = TcpListener::bind("192.0.2.1:0").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrNotAvailable, "{err:?}");
    });
}

#[test]
fn unix_socket_errors() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("baton-net-errors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let err = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
        let listener = UnixListener::bind(&path).unwrap();
        let err = UnixListener::bind(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
        // The file stays after the listener is gone: connecting is refused.
        drop(listener);
        let err = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
