//! Half-close: after the client shuts its write half, the server reads end of stream and can
//! still answer, and the client can still read the answer. Dropping the peer ends a pending
//! read.

use std::net::Shutdown;

use baton::net::{TcpListener, TcpStream, UnixStream};
use futures::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn tcp_write_shutdown_is_end_of_stream_for_the_peer_only() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = baton::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            stream.read_to_end(&mut request).await.unwrap();
            // Our write half is still open: answer with the request's length.
            let answer = format!("got {} bytes", request.len());
            stream.write_all(answer.as_bytes()).await.unwrap();
            stream.close().await.unwrap();
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(&[7; 10_000]).await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        // Writing after the shutdown fails with the OS's error.
        let err = client.write_all(b"late").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert_eq!(answer, "got 10000 bytes");
        server.await.unwrap();
    });
}

#[test]
fn unix_close_is_a_half_close() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"question").await.unwrap();
        a.close().await.unwrap();
        let mut question = Vec::new();
        b.read_to_end(&mut question).await.unwrap();
        assert_eq!(question, b"question");
        b.write_all(b"answer").await.unwrap();
        drop(b);
        let mut answer = Vec::new();
        a.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"answer");
    });
}

#[test]
fn dropping_the_peer_ends_a_pending_read() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let reader = baton::spawn(async move {
            let mut buf = [0; 16];
            client.read(&mut buf).await
        });
        baton::time::sleep(std::time::Duration::from_millis(10)).await;
        drop(server);
        assert_eq!(reader.await.unwrap().unwrap(), 0);
    });
}
