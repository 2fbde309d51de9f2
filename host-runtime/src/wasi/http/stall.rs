//! A body whose reads give up once one has waited too long for its sender: the host client's
//! `between-bytes-timeout`, and `serve`'s read-stall timeout for uploads.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// A body that fails once a read of it has waited `limit` for a single byte: a sender that stops
/// (or trickles slower than one frame per `limit`) would otherwise hold whoever reads it for as
/// long as it likes. Only a read someone is waiting on is timed: a body nobody reads yet is not.
pub struct StallBody<B> {
    body: B,
    limit: Duration,
    /// Running while a read waits for the sender; reset by any frame.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<B> StallBody<B> {
    /// `body`, timed with `limit`.
    pub fn new(body: B, limit: Duration) -> Self {
        Self {
            body,
            limit,
            stalled: None,
        }
    }
}

/// Why a [`StallBody`] failed: its own body's error, or its sender stalled.
#[derive(Debug)]
pub enum StallError<E> {
    /// The body failed by itself.
    Body(E),
    /// Nothing arrived for this long while a read waited.
    Stalled(Duration),
}

impl<E: std::fmt::Display> std::fmt::Display for StallError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Body(error) => error.fmt(f),
            Self::Stalled(limit) => write!(f, "no bytes of the body arrived for {limit:?}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Body(error) => Some(error),
            Self::Stalled(_) => None,
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for StallBody<B> {
    type Data = B::Data;
    type Error = StallError<B::Error>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stalled = None;
                Poll::Ready(frame.map(|frame| frame.map_err(StallError::Body)))
            }
            Poll::Pending => {
                let limit = this.limit;
                // The timer shares the read's waker: the reader is woken when it fires.
                let timer = this.stalled.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(Instant::now() + limit))
                });
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(StallError::Stalled(limit))))
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
