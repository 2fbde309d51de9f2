//! WASI 0.2 pollables as tasks: a component `.await`s any `wasi:io/poll.pollable` and the host
//! waits for all of them, of all components, in the event loop's single wait.
//!
//! A component hands its pollable to `isyswasfa:isyswasfa/pollables.wait`. A pollable that is
//! ready at once costs nothing more; otherwise the host starts an ordinary host task (so the
//! protocol, `block_on` and cancellation treat it like any other) whose future completes when
//! the event loop sees the pollable ready. wasmtime-wasi keeps pollables in the store's
//! `ResourceTable` and waiting on one borrows that table, so the wait over every pending
//! pollable ([`wait::wait_host`]) lives only inside one turn of the loop and is dropped before
//! the loop enters the store again. Clock pollables (`subscribe-duration`, `subscribe-instant`)
//! are made by this host and skip that set: their task sleeps until the deadline on its own,
//! registered once ([`timers`]), so 10 000 pending sleeps cost nothing per turn.
//!
//! This module also times the plain WASI 0.2 blocking calls (`poll`, `pollable.block`): they
//! still work, but they stall every component of the store, so each one that had to wait is
//! reported at `warn` level with the component and how long it blocked.

pub(crate) mod timers;
pub(crate) mod wait;
pub(crate) mod waits;

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime::{Result, StoreContextMut};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll::{Host as _, HostPollable as _};

use crate::ctx::IsyswasfaView;
use crate::pollables::timers::Timer;
use crate::pollables::waits::Wait;
use crate::pollables::waits::drop_pollable;
use crate::poller::Pending;
use isyswasfa_protocol::tasks::{HostFunction, Value};
use wasmtime_wasi::WasiView;

pub use isyswasfa_protocol::names::POLLABLES_INTERFACE as INTERFACE;

/// The `wasi:io/poll` interface as wasmtime-wasi 48 defines it (its blocking calls are timed).
const WASI_POLL: &str = "wasi:io/poll@0.2.12";

/// Adds `isyswasfa:isyswasfa/pollables`, the timed WASI 0.2 blocking calls and the clock
/// pollables of [`timers`] to `linker` (which must already hold wasmtime-wasi's WASI 0.2).
pub fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    timers::add_to_linker(linker)?;
    let mut pollables = linker.instance(INTERFACE)?;
    // The interface names the protocol's `pending` and `wasi:io/poll.pollable`: the same host
    // types, so that stubbing unknown imports (`define_unknown_imports_as_traps`) keeps them.
    pollables.resource(
        "pending",
        ResourceType::host::<Pending>(),
        |mut store, rep| {
            store.data_mut().isyswasfa().cancel_task(rep);
            Ok(())
        },
    )?;
    pollables.resource(
        "pollable",
        ResourceType::host::<DynPollable>(),
        |mut store, rep| {
            let crate::ctx::IsyswasfaCtxView { ctx: _, table } = store.data_mut().isyswasfa();
            table.drop(Resource::new_own(rep))
        },
    )?;
    let wait_function = HostFunction::new("wait");
    pollables.func_wrap(
        "wait",
        move |mut store: StoreContextMut<'_, T>, (pollable,): (Resource<DynPollable>,)| {
            let crate::ctx::IsyswasfaCtxView { ctx, table } = store.data_mut().isyswasfa();
            if let Some(timer) = ctx.pollables.timers.take(table, &pollable) {
                // A clock pollable: wait for its deadline as a host task of its own, without
                // the pollable (see `timers`).
                drop_pollable(table, pollable);
                let task = match timer {
                    Timer::Past { yielded: true } => None,
                    Timer::At(at) if at <= tokio::time::Instant::now() => None,
                    Timer::Past { yielded: false } => {
                        Some(ctx.tasks.spawn_host(wait_function.clone(), async {
                            tokio::task::yield_now().await;
                            Box::new(()) as Value
                        })?)
                    }
                    Timer::At(at) => {
                        Some(ctx.tasks.spawn_host(wait_function.clone(), async move {
                            tokio::time::sleep_until(at).await;
                            Box::new(()) as Value
                        })?)
                    }
                    Timer::Never => Some(
                        ctx.tasks
                            .spawn_host(wait_function.clone(), std::future::pending::<Value>())?,
                    ),
                };
                return Ok((task.map(Resource::<Pending>::new_own),));
            }
            let ready_now = {
                let ready = pin!(table.ready(Resource::new_borrow(pollable.rep())));
                matches!(
                    ready.poll(&mut Context::from_waker(Waker::noop())),
                    Poll::Ready(Ok(true))
                )
            };
            if ready_now {
                drop_pollable(table, pollable);
                return Ok((None::<Resource<Pending>>,));
            }
            ctx.pollables.reap(&ctx.tasks, table);
            let (done, finished) = oneshot::channel();
            let task = ctx.tasks.spawn_host(wait_function.clone(), async move {
                // A closed channel means the loop dropped the wait: finish all the same.
                let _ = finished.await;
                Box::new(()) as Value
            })?;
            ctx.pollables.waits.push(Wait {
                pollable,
                task,
                done,
            });
            Ok((Some(Resource::new_own(task)),))
        },
    )?;

    linker.allow_shadowing(true);
    let mut poll = linker.instance(WASI_POLL)?;
    poll.func_wrap_async(
        "poll",
        |mut store: StoreContextMut<'_, T>, (list,): (Vec<Resource<DynPollable>>,)| {
            Box::new(async move {
                let crate::ctx::IsyswasfaCtxView { ctx, table } = store.data_mut().isyswasfa();
                let who = ctx.running_description();
                let (ready, waited) = Timed::new(table.poll(list)).await;
                report_blocking(&who, "wasi:io/poll.poll", waited);
                Ok((ready?,))
            })
        },
    )?;
    poll.func_wrap_async(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, T>, (pollable,): (Resource<DynPollable>,)| {
            Box::new(async move {
                let crate::ctx::IsyswasfaCtxView { ctx, table } = store.data_mut().isyswasfa();
                let who = ctx.running_description();
                let (result, waited) = Timed::new(table.block(pollable)).await;
                report_blocking(&who, "wasi:io/poll.pollable.block", waited);
                result
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn report_blocking(who: &str, call: &str, waited: Option<Duration>) {
    if let Some(waited) = waited {
        tracing::warn!(
            "isyswasfa: {who} blocked in `{call}` for {waited:?}; every component of the store \
             stalled meanwhile (await the pollable instead)"
        );
    }
}

/// A future with the time it spent waiting: `None` when it was ready at its first poll.
struct Timed<F> {
    inner: Pin<Box<F>>,
    started: Option<Instant>,
}

impl<F: Future> Timed<F> {
    fn new(inner: F) -> Self {
        Self {
            inner: Box::pin(inner),
            started: None,
        }
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = (F::Output, Option<Duration>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.inner.as_mut().poll(cx) {
            Poll::Ready(value) => Poll::Ready((value, self.started.map(|s| s.elapsed()))),
            Poll::Pending => {
                self.started.get_or_insert_with(Instant::now);
                Poll::Pending
            }
        }
    }
}
