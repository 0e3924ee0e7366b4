//! An echo server serves many concurrent connections; every byte comes back in order.

use baton::net::{TcpListener, TcpStream};
use futures::io::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 64;
const ROUNDS: usize = 50;

/// Echoes everything until the peer closes its write half.
async fn echo(stream: TcpStream) -> std::io::Result<u64> {
    futures::io::copy(&stream, &mut &stream).await
}

#[test]
fn echo_server_serves_many_connections() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = baton::spawn(async move {
            let mut handlers = Vec::new();
            for _ in 0..CLIENTS {
                let (stream, peer) = listener.accept().await.unwrap();
                assert!(peer.ip().is_loopback());
                handlers.push(baton::spawn(echo(stream)));
            }
            let mut total = 0;
            for handler in handlers {
                total += handler.await.unwrap().unwrap();
            }
            total
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                baton::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    let mut sent = 0u64;
                    for round in 0..ROUNDS {
                        // Message sizes vary so that some need several reads.
                        let len = 1 + (c * 31 + round * 97) % 3000;
                        let msg: Vec<u8> = (0..len).map(|i| (i + c + round) as u8).collect();
                        stream.write_all(&msg).await.unwrap();
                        let mut back = vec![0; len];
                        stream.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg, "client {c} round {round}");
                        sent += len as u64;
                    }
                    stream.close().await.unwrap();
                    // The server closes its side once it saw end of stream.
                    let mut rest = Vec::new();
                    stream.read_to_end(&mut rest).await.unwrap();
                    assert!(rest.is_empty());
                    sent
                })
            })
            .collect();
        let mut sent = 0;
        for client in clients {
            sent += client.await.unwrap();
        }
        assert_eq!(server.await.unwrap(), sent);
    });
}
