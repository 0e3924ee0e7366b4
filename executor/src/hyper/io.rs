//! hyper's I/O traits over futures-io streams.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// A futures-io stream (a [`TcpStream`](crate::net::TcpStream), a
/// [`UnixStream`](crate::net::UnixStream), an [`Async<T>`](crate::io::Async), a TLS stream
/// over one of those) with hyper's `Read` and `Write` traits, to hand to hyper's
/// `serve_connection` or `handshake`.
///
/// # Examples
///
/// ```
/// # use baton_executor as baton; // `baton::hyper` needs the facade's `hyper` feature
/// use baton::hyper::Io;
/// # baton::Runtime::new().unwrap().block_on(async {
/// let listener = baton::net::TcpListener::bind("127.0.0.1:0").await?;
/// let stream = baton::net::TcpStream::connect(listener.local_addr()?).await?;
/// let io = Io::new(stream);
/// let (_sender, _connection) = hyper::client::conn::http1::handshake::<_, String>(io).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Io<T> {
    inner: T,
    /// How many bytes of hyper's read buffer the next read offers (see [`ReadSize`]).
    read_size: ReadSize,
}

impl<T> Io<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Io<T> {
        Io {
            inner,
            read_size: ReadSize::new(),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> hyper::rt::Read for Io<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // hyper hands over its whole free buffer (8 KiB or more) uninitialized at every read,
        // and futures-io reads into initialized memory: offer only as much as reads lately
        // used, so that a small request does not cost zeroing kilobytes.
        let this = &mut *self;
        let offered = this.read_size.get().min(buf.remaining());
        let unfilled = buf.initialize_unfilled_to(offered);
        let n = ready!(Pin::new(&mut this.inner).poll_read(cx, unfilled))?;
        assert!(
            n <= unfilled.len(),
            "a reader reported more bytes than it was given"
        );
        this.read_size.record(n, offered);
        // SAFETY: the first `n` bytes of the unfilled part are initialized: `offered` bytes
        // were initialized by `initialize_unfilled_to`, and `n` is within them (asserted
        // above).
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

/// How much of hyper's read buffer a read offers, adapted to the reads' sizes: it starts at
/// [`ReadSize::MIN`], grows fourfold after a read that filled what it was offered (a large
/// body reaches its full speed within a few reads), and halves after a read that used less
/// than an eighth of it.
#[derive(Clone, Copy, Debug)]
struct ReadSize(usize);

impl ReadSize {
    /// The least a read offers: small, as the zeroing costs about as much as the read of a
    /// small request when the buffer is cold in the cache (one of many connections'); a request
    /// larger than this takes one more read, and grows the offer for the next ones.
    const MIN: usize = 512;

    fn new() -> ReadSize {
        ReadSize(ReadSize::MIN)
    }

    /// How many bytes the next read offers, at most.
    fn get(self) -> usize {
        self.0
    }

    /// Adapts to a read of `n` bytes into `offered`.
    fn record(&mut self, n: usize, offered: usize) {
        if n == offered && offered == self.0 {
            self.0 = self.0.saturating_mul(4);
        } else if n < self.0 / 8 {
            self.0 = (self.0 / 2).max(ReadSize::MIN);
        }
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for Io<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write_vectored(self, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // futures-io has no such query. baton's sockets write vectors with one `writev`;
        // a stream that does not (futures-io's default writes the first buffer) stays correct,
        // hyper then writes the rest in further calls.
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(self, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Io<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Io<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Reads `reader` to its end through hyper's `Read` with a `capacity`-byte buffer each
    /// time, as hyper does; returns the bytes and the size of each read.
    fn read_all(
        reader: &mut Io<futures::io::Cursor<Vec<u8>>>,
        capacity: usize,
    ) -> (Vec<u8>, Vec<usize>) {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let (mut data, mut reads) = (Vec::new(), Vec::new());
        loop {
            let mut storage = vec![0u8; capacity];
            let mut buf = hyper::rt::ReadBuf::new(&mut storage);
            let polled =
                hyper::rt::Read::poll_read(Pin::new(&mut *reader), &mut cx, buf.unfilled());
            assert!(matches!(polled, Poll::Ready(Ok(()))));
            let filled = buf.filled();
            if filled.is_empty() {
                return (data, reads);
            }
            reads.push(filled.len());
            data.extend_from_slice(filled);
        }
    }

    #[test]
    fn reads_offer_what_reads_lately_used() {
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut io = Io::new(futures::io::Cursor::new(body.clone()));
        let (data, reads) = read_all(&mut io, 1 << 20);
        assert_eq!(data, body);
        // Fourfold growth from the least, while the reads fill what they are offered.
        let min = ReadSize::MIN;
        assert_eq!(&reads[..4], &[min, 4 * min, 16 * min, 64 * min]);
        assert_eq!(reads.iter().sum::<usize>(), body.len());
        // A buffer smaller than the offer is filled, and the offer does not grow past it.
        let mut io = Io::new(futures::io::Cursor::new(body.clone()));
        let (data, reads) = read_all(&mut io, min / 2);
        assert_eq!(data, body);
        assert!(reads
            .iter()
            .all(|&n| n == min / 2 || n == body.len() % (min / 2)));
        assert_eq!(io.read_size.get(), ReadSize::MIN);
    }

    #[test]
    fn small_reads_keep_the_offer_small() {
        let mut size = ReadSize::new();
        size.record(ReadSize::MIN, ReadSize::MIN);
        assert_eq!(size.get(), 4 * ReadSize::MIN);
        size.record(100, 4 * ReadSize::MIN);
        assert_eq!(size.get(), 2 * ReadSize::MIN);
        size.record(100, 2 * ReadSize::MIN);
        size.record(100, ReadSize::MIN);
        assert_eq!(size.get(), ReadSize::MIN);
    }
}
