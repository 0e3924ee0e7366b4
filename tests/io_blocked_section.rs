//! I/O keeps working while a core's worker is blocked in a section: the section waits for a
//! message that only a network round trip on the same core can send.

use std::sync::mpsc;
use std::time::Duration;

use baton::net::{TcpListener, TcpStream};
use futures::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn io_progresses_while_the_only_core_is_blocked_in_a_section() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (done_tx, done_rx) = mpsc::channel::<u32>();
        let (entered_tx, entered_rx) = futures::channel::oneshot::channel::<()>();
        // Blocks its worker until the echo below has completed its round trips.
        let blocked = baton::spawn(async move {
            baton::blocking::section(|| {
                entered_tx.send(()).unwrap();
                done_rx.recv_timeout(Duration::from_secs(60))
            })
        });
        let server = baton::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            futures::io::copy(&stream, &mut &stream).await.unwrap()
        });
        let client = baton::spawn(async move {
            // Start only once the only core's worker is blocked.
            entered_rx.await.unwrap();
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut buf = [0; 3];
            for i in 0..20u8 {
                stream.write_all(&[i, i, i]).await.unwrap();
                stream.read_exact(&mut buf).await.unwrap();
                assert_eq!(buf, [i; 3]);
            }
            baton::time::sleep(Duration::from_millis(1)).await;
            done_tx.send(20).unwrap();
            stream.close().await.unwrap();
        });
        client.await.unwrap();
        // The section received the message from the client, not its 60 s timeout.
        assert_eq!(blocked.await.unwrap(), Ok(20));
        assert_eq!(server.await.unwrap(), 60);
    });
}
