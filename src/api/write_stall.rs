//! Closing connections whose client stopped reading.
//!
//! A stalled client's kernel buffers fill, hyper's write then waits for
//! ever, and the connection keeps hyper's write buffer (up to ~400 KiB), the
//! response body and its unread events alive. [`WriteStallGuard`] wraps
//! each accepted connection: a write that has been waiting for the stall
//! timeout fails with `TimedOut`, hyper drops the connection, and with it
//! the body, whose dropped receiver tells the engine to abort the request.
//! Reads and idle keep-alive connections are untouched: only a write the
//! client leaves unread counts.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// An accepted connection whose writes give up after `stall_timeout` of
/// waiting on a client that reads nothing.
pub struct WriteStallGuard<Io> {
    io: Io,
    stall_timeout: Duration,
    /// Set while a write waits: when the client will be cut off.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<Io> WriteStallGuard<Io> {
    /// Guard `io`.
    pub fn new(io: Io, stall_timeout: Duration) -> Self {
        Self {
            io,
            stall_timeout,
            deadline: None,
        }
    }

    /// A write that went through resets the clock; one still waiting starts
    /// it, and fails once it runs out.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                self.deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.stall_timeout;
                let deadline = self
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.deadline = None;
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("the client read nothing for {timeout:?}"),
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for WriteStallGuard<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for WriteStallGuard<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A listener whose connections are each wrapped in a [`WriteStallGuard`].
pub struct StallGuardedListener<L> {
    inner: L,
    stall_timeout: Duration,
}

impl<L> StallGuardedListener<L> {
    /// Guard every connection `inner` accepts.
    pub fn new(inner: L, stall_timeout: Duration) -> Self {
        Self {
            inner,
            stall_timeout,
        }
    }
}

impl<L> axum::serve::Listener for StallGuardedListener<L>
where
    L: axum::serve::Listener,
    L::Io: Unpin,
{
    type Io = WriteStallGuard<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.inner.accept().await;
        (WriteStallGuard::new(io, self.stall_timeout), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_timeout() {
        // A 4 KiB pipe: the writer fills it and then waits on a reader
        // that never comes.
        let (near, _far) = tokio::io::duplex(4096);
        let mut guarded = WriteStallGuard::new(near, Duration::from_millis(50));
        let chunk = vec![b'x'; 1024];
        let started = std::time::Instant::now();
        let err = loop {
            if let Err(e) = guarded.write_all(&chunk).await {
                break e;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "never timed out"
            );
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_slow_reader_never_trips_it() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut guarded = WriteStallGuard::new(near, Duration::from_millis(100));
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 256];
            loop {
                match far.read(&mut buf).await {
                    Ok(0) | Err(_) => break got,
                    Ok(n) => got += n,
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        // 16 KiB through a 1 KiB pipe read 256 bytes per 20 ms: over a
        // second of writes that each wait, none for as long as 100 ms.
        for _ in 0..16 {
            guarded.write_all(&[b'y'; 1024]).await.unwrap();
        }
        guarded.shutdown().await.unwrap();
        drop(guarded);
        assert_eq!(reader.await.unwrap(), 16 * 1024);
    }
}
