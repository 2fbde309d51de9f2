//! Awaiting WASI 0.2 pollables as tasks of the protocol, so that waiting never blocks the
//! composition.
//!
//! A pollable handed to [`wait`] goes to the host, which waits for it together with every other
//! pollable, timer and task of every component in one wait, and reports it ready like any other
//! task. The generated bindings make each `wasi:io/poll.pollable` of a guest's own world
//! `IntoFuture` through this module, so a guest writes `stream.subscribe().await`; a pollable
//! of the `wasi` crate's bindings (WASI 0.2, as Rust's std uses) is awaited with
//! `isyswasfa_guest::wait_pollable(stream.subscribe()).await`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::protocol::pollables;
pub use crate::protocol::wasi_io_poll::Pollable;
use crate::tasks::{ReadyFuture, await_ready};

/// Waits until `pollable` is ready, letting every other task of every component run meanwhile.
///
/// The pollable is consumed: the host owns it until it is ready (or the wait is dropped).
pub fn wait(pollable: impl Into<Pollable>) -> PollableFuture {
    PollableFuture {
        ready: pollables::wait(pollable.into()).map(await_ready),
    }
}

impl From<wasi::io::poll::Pollable> for Pollable {
    fn from(pollable: wasi::io::poll::Pollable) -> Self {
        // SAFETY: both types are owned handles of the same `wasi:io/poll` resource (components
        // merge the 0.2.x versions of the interface into one import); `take_handle` gives up
        // the first one's ownership.
        unsafe { Pollable::from_handle(pollable.take_handle()) }
    }
}

/// Waits for the pollable whose raw handle is `handle`, for pollable types of other bindings
/// of `wasi:io/poll@0.2.x` (the generated `IntoFuture` impls use it).
///
/// # Safety
/// `handle` must be an owned `wasi:io/poll.pollable` handle of this component that nothing else
/// will use or drop (for example the result of a generated resource's `take_handle`).
pub unsafe fn wait_handle(handle: u32) -> PollableFuture {
    // SAFETY: the caller hands over an owned pollable handle.
    wait(unsafe { Pollable::from_handle(handle) })
}

/// The future of [`wait`]. Dropping it before it is ready cancels the wait and drops the pollable.
pub struct PollableFuture {
    /// `None` once ready (or when the pollable was ready at once).
    ready: Option<ReadyFuture>,
}

impl Future for PollableFuture {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(ready) = self.ready.as_mut() else {
            return Poll::Ready(());
        };
        match Pin::new(ready).poll(cx) {
            Poll::Ready(ready) => {
                // The task carries no value; dropping `ready` releases it in the host.
                drop(ready);
                self.ready = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl IntoFuture for Pollable {
    type Output = ();
    type IntoFuture = PollableFuture;

    fn into_future(self) -> PollableFuture {
        wait(self)
    }
}
