//! UDP datagrams between sockets on the loopback, connected and not.

use baton::net::UdpSocket;

#[test]
fn datagrams_keep_their_boundaries() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = baton::spawn(async move {
            let mut buf = [0; 2048];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(server_addr).await.unwrap();
        assert_eq!(client.peer_addr().unwrap(), server_addr);
        let mut buf = [0; 2048];
        for i in 0..100usize {
            let msg = vec![i as u8; 1 + i * 13];
            client.send(&msg).await.unwrap();
            let n = client.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &msg[..]);
        }
        echo.await.unwrap();
    });
}

#[test]
fn peek_leaves_the_datagram_queued() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.send_to(b"one", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0; 8];
        let peeked = b.peek_from(&mut buf).await.unwrap();
        let received = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(peeked, received);
        assert_eq!(&buf[..3], b"one");
    });
}

#[test]
fn peek_on_a_connected_socket_leaves_the_datagram_queued() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        a.send_to(b"two", b.local_addr().unwrap()).await.unwrap();
        let mut peeked = [0; 8];
        let mut received = [0; 8];
        assert_eq!(b.peek(&mut peeked).await.unwrap(), 3);
        assert_eq!(b.recv(&mut received).await.unwrap(), 3);
        assert_eq!(&peeked[..3], b"two");
        assert_eq!(&received[..3], b"two");
    });
}
