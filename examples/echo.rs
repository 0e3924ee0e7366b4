//! A TCP echo server on baton.
//!
//! ```text
//! cargo run --example echo                  # serve on a free port, run 20 clients, exit
//! cargo run --example echo -- 127.0.0.1:7000  # serve on 127.0.0.1:7000 until interrupted
//! ```
//!
//! Each connection is one task that copies what it reads back to the writer; clients close
//! their write half when done, and the server closes its side once it saw end of stream.

use std::io;
use std::time::{Duration, Instant};

use baton::net::{TcpListener, TcpStream};
use futures::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `listener` forever, or for `limit` connections.
async fn serve(listener: TcpListener, limit: Option<usize>) -> io::Result<()> {
    let mut served = 0;
    while Some(served) != limit {
        let (stream, peer) = listener.accept().await?;
        served += 1;
        baton::spawn(async move {
            // `&TcpStream` reads and writes, so one stream is both ends of the copy.
            match futures::io::copy(&stream, &mut &stream).await {
                Ok(bytes) => println!("{peer}: echoed {bytes} bytes"),
                Err(err) => eprintln!("{peer}: {err}"),
            }
        });
    }
    Ok(())
}

/// Sends `rounds` messages and checks each comes back.
async fn client(addr: std::net::SocketAddr, id: usize, rounds: usize) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut reply = Vec::new();
    for round in 0..rounds {
        let message = format!("hello {round} from client {id}\n");
        stream.write_all(message.as_bytes()).await?;
        reply.resize(message.len(), 0);
        stream.read_exact(&mut reply).await?;
        assert_eq!(reply, message.as_bytes());
    }
    stream.close().await
}

fn main() -> io::Result<()> {
    let rt = baton::Runtime::new().map_err(io::Error::other)?;
    let fixed = std::env::args().nth(1);
    rt.block_on(async {
        match fixed {
            Some(addr) => {
                let listener = TcpListener::bind(addr.as_str()).await?;
                println!("echo server on {}", listener.local_addr()?);
                serve(listener, None).await
            }
            None => {
                const CLIENTS: usize = 20;
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                println!("echo server on {addr}, {CLIENTS} clients");
                let server = baton::spawn(serve(listener, Some(CLIENTS)));
                let start = Instant::now();
                let clients: Vec<_> = (0..CLIENTS)
                    .map(|id| baton::spawn(client(addr, id, 100)))
                    .collect();
                for client in clients {
                    client.await.map_err(io::Error::other)??;
                }
                server.await.map_err(io::Error::other)??;
                println!(
                    "{CLIENTS} clients x 100 round trips in {:?}",
                    start.elapsed()
                );
                // Give the last connection tasks a moment to print.
                baton::time::sleep(Duration::from_millis(10)).await;
                Ok(())
            }
        }
    })
}
