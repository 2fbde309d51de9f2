//! Stall timeouts against clients that hold a request open without moving it: a connection's
//! socket with a write-stall timeout (a client that stops reading a response, its receive
//! window full) and a request body with a read-stall timeout (a client that stops sending, or
//! trickles, its upload). Either would otherwise hold the request's instance and its
//! concurrency slot forever.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `io` whose writes fail with `TimedOut` once one has waited `limit` without the peer taking a
/// single byte. Only a stalled write is timed: a slow client that keeps reading is fine.
pub(super) struct StallGuard<S> {
    io: S,
    limit: Duration,
    /// Running while a write waits for the peer; reset by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> StallGuard<S> {
    pub(super) fn new(io: S, limit: Duration) -> Self {
        Self {
            io,
            limit,
            stalled: None,
        }
    }

    /// A write made progress (or failed for its own reasons): stop the stall timer.
    fn progressed<T>(&mut self, outcome: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.stalled = None;
        outcome
    }

    /// A write is waiting: start the timer (once per stall) and fail once it has run out. The
    /// timer shares the write's waker, so the connection is polled again when it fires.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + limit)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client took no bytes of the response for {limit:?}"),
        )))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Pending => this.waiting(cx),
            done => this.progressed(done),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.waiting(cx),
            done => this.progressed(done),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.waiting(cx),
            done => this.progressed(done),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A request body that fails once a read of it has waited `limit` for the client to send a
/// single byte: a client that trickles its upload, or stops sending it, would otherwise hold its
/// instance and its concurrency slot for as long as the guest waits for the rest. Only a read
/// the guest is waiting on is timed (an upload the guest does not read yet is not).
pub(super) struct ReadStallBody<B> {
    body: B,
    limit: Duration,
    /// Running while a read waits for the client; reset by any frame.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<B> ReadStallBody<B> {
    pub(super) fn new(body: B, limit: Duration) -> Self {
        Self {
            body,
            limit,
            stalled: None,
        }
    }
}

/// Why a [`ReadStallBody`] failed: its own body's error, or the client stalled.
#[derive(Debug)]
pub(super) enum ReadStallError<E> {
    /// The body failed by itself.
    Body(E),
    /// The client sent nothing for this long while the guest was reading.
    Stalled(Duration),
}

impl<E: std::fmt::Display> std::fmt::Display for ReadStallError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Body(error) => error.fmt(f),
            Self::Stalled(limit) => write!(
                f,
                "the client sent no bytes of the request body for {limit:?} (--read-stall-timeout)"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ReadStallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Body(error) => Some(error),
            Self::Stalled(_) => None,
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for ReadStallBody<B> {
    type Data = B::Data;
    type Error = ReadStallError<B::Error>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stalled = None;
                Poll::Ready(frame.map(|frame| frame.map_err(ReadStallError::Body)))
            }
            Poll::Pending => {
                let limit = this.limit;
                let timer = this.stalled.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(Instant::now() + limit))
                });
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(ReadStallError::Stalled(limit))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
