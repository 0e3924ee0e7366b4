//! `baton::io::Async` makes any socket-like descriptor asynchronous, and the futures-io
//! adapters work on it.

use std::os::unix::net::UnixStream;

use baton::io::Async;
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[test]
fn futures_io_adapters_work_on_async() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        let writer = baton::spawn(async move {
            for i in 0..1000 {
                a.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
            }
            // Dropping `a` closes it: the reader sees end of stream.
        });
        let mut lines = BufReader::new(&b).lines();
        let mut count = 0;
        while let Some(line) = futures::StreamExt::next(&mut lines).await {
            assert_eq!(line.unwrap(), format!("line {count}"));
            count += 1;
        }
        assert_eq!(count, 1000);
        writer.await.unwrap();
    });
}

#[test]
fn read_with_and_write_with_retry_until_ready() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        let reader = baton::spawn(async move {
            let mut buf = [0; 5];
            let n = b
                .read_with(|s| std::io::Read::read(&mut &*s, &mut buf))
                .await
                .unwrap();
            buf[..n].to_vec()
        });
        baton::time::sleep(std::time::Duration::from_millis(10)).await;
        let n = a
            .write_with(|s| std::io::Write::write(&mut &*s, b"hello"))
            .await
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!(reader.await.unwrap(), b"hello");
    });
}

#[test]
fn manual_readiness_loop_makes_progress() {
    // The async-io style: wait for readability, then read until WouldBlock, repeat.
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let b = Async::new(b).unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut a = a;
            for _ in 0..100 {
                a.write_all(&[1; 1000]).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        });
        let mut total = 0;
        let mut buf = [0; 4096];
        while total < 100_000 {
            b.readable().await.unwrap();
            loop {
                match std::io::Read::read(&mut b.get_ref(), &mut buf) {
                    // End of stream: the writer is done and gone, after all it wrote.
                    Ok(0) => {
                        assert_eq!(total, 100_000, "end of stream before all the data");
                        break;
                    }
                    Ok(n) => total += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert_eq!(total, 100_000);
        writer.join().unwrap();
        let mut rest = Vec::new();
        (&b).read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    });
}
