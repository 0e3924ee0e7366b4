//! Unix-domain stream sockets: a listener in a temporary directory serves several clients.

use baton::net::{UnixListener, UnixStream};
use futures::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[test]
fn unix_listener_serves_line_clients() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let dir = std::env::temp_dir().join(format!("baton-net-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    rt.block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let server = baton::spawn(async move {
            for _ in 0..8 {
                let (stream, _) = listener.accept().await.unwrap();
                baton::spawn(async move {
                    // Upper-cases each line.
                    let mut lines = BufReader::new(&stream).lines();
                    let mut out = &stream;
                    while let Some(line) = futures::StreamExt::next(&mut lines).await {
                        let line = line.unwrap().to_uppercase() + "\n";
                        out.write_all(line.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        let clients: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                baton::spawn(async move {
                    let stream = UnixStream::connect(&path).await.unwrap();
                    let mut reader = BufReader::new(&stream);
                    let mut writer = &stream;
                    for j in 0..20 {
                        writer
                            .write_all(format!("client {i} line {j}\n").as_bytes())
                            .await
                            .unwrap();
                        let mut line = String::new();
                        reader.read_line(&mut line).await.unwrap();
                        assert_eq!(line, format!("CLIENT {i} LINE {j}\n"));
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        server.await.unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
