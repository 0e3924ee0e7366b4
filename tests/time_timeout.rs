//! Timeouts: a slow future fails with `Elapsed` no earlier than the deadline, a fast one wins,
//! and a timed-out read leaves its socket usable.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use baton::net::UnixStream;
use baton::time::{sleep, timeout, timeout_at, Elapsed};
use futures::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn slow_future_times_out_fast_one_completes() {
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let res = timeout(Duration::from_millis(20), sleep(Duration::from_secs(3600))).await;
        let err: Elapsed = res.unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(std::io::Error::from(err).kind(), ErrorKind::TimedOut);

        let res = timeout(Duration::from_secs(3600), async {
            sleep(Duration::from_millis(5)).await;
            42
        })
        .await;
        assert_eq!(res, Ok(42));

        let deadline = Instant::now() + Duration::from_millis(10);
        assert!(timeout_at(deadline, std::future::pending::<()>())
            .await
            .is_err());
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn timed_out_read_leaves_the_socket_usable() {
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut buf = [0; 4];
        // Nothing was sent: the read times out.
        assert!(timeout(Duration::from_millis(10), a.read(&mut buf))
            .await
            .is_err());
        // The next read still gets woken by data.
        let writer = baton::spawn(async move {
            sleep(Duration::from_millis(5)).await;
            b.write_all(b"late").await.unwrap();
            b
        });
        let n = timeout(Duration::from_secs(60), a.read_exact(&mut buf)).await;
        n.unwrap().unwrap();
        assert_eq!(&buf, b"late");
        writer.await.unwrap();
    });
}
