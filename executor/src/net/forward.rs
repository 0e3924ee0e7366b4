//! Trait impls that every socket type forwards to its registered `inner` object, written
//! once as macros: `impl_try_from!` (registering a std socket), `impl_fd!` (descriptor access)
//! and `impl_stream!` (the `futures-io` traits of a connected stream, on the type and on a
//! shared reference to it).

/// `TryFrom` the std socket type `$std` for a type whose `inner` field is an
/// `Arc<Async<$std>>`: the conversion registers the socket with the reactor.
macro_rules! impl_try_from {
    ($ty:ident, $std:ty) => {
        impl TryFrom<$std> for $ty {
            type Error = std::io::Error;

            /// Registers the std socket (it is put in non-blocking mode).
            fn try_from(socket: $std) -> std::io::Result<$ty> {
                Ok($ty {
                    inner: $crate::sync::Arc::new($crate::io::Async::new(socket)?),
                })
            }
        }
    };
}

/// `AsFd` and `AsRawFd` for a type whose `inner` field (an `Arc<Async<_>>`) owns
/// the descriptor.
macro_rules! impl_fd {
    ($ty:ty) => {
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&*self.inner)
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&*self.inner)
            }
        }
    };
}

/// `impl_fd!`, plus `AsyncRead` and `AsyncWrite` for a stream socket type and for a shared
/// reference to it, over the `inner: Arc<Async<_>>` field with
/// [`Async::poll_stream_op`](crate::io::Async::poll_stream_op) (a short transfer clears the
/// readiness: only for stream sockets). Flushing is a no-op (sockets have no user-space
/// buffer); closing shuts the write half down with the type's `shutdown(Shutdown::Write)`, so
/// the peer reads end of stream.
macro_rules! impl_stream {
    ($ty:ident) => {
        $crate::net::forward::impl_fd!($ty);
        $crate::net::forward::impl_stream!(@io $ty);
        $crate::net::forward::impl_stream!(@io &$ty);
    };
    (@io $ty:ty) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let read = $crate::reactor::Direction::Read;
                self.inner.poll_stream_op(read, cx, buf.len(), |mut io| std::io::Read::read(&mut io, buf))
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let read = $crate::reactor::Direction::Read;
                let len = bufs.iter().map(|buf| buf.len()).sum();
                self.inner.poll_stream_op(read, cx, len, |mut io| std::io::Read::read_vectored(&mut io, bufs))
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let write = $crate::reactor::Direction::Write;
                self.inner.poll_stream_op(write, cx, buf.len(), |mut io| std::io::Write::write(&mut io, buf))
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let write = $crate::reactor::Direction::Write;
                let len = bufs.iter().map(|buf| buf.len()).sum();
                self.inner.poll_stream_op(write, cx, len, |mut io| std::io::Write::write_vectored(&mut io, bufs))
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            /// Shuts the write half down: the peer reads end of stream.
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

pub(crate) use impl_fd;
pub(crate) use impl_stream;
pub(crate) use impl_try_from;
