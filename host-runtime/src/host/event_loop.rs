//! The event loop of one store: it owns the store, delivers queued events to the poll exports
//! of the (possibly composed) instance, runs the embedder's calls, and otherwise sleeps in a
//! single wait for the next thing to happen (a command, a host future, a pollable). It never
//! polls anything that has not been woken.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use tokio::sync::mpsc;
use wasmtime::Store;
use wasmtime::component::Instance;
use wasmtime::{Result, format_err};

use crate::ctx::IsyswasfaView;
use crate::ctx::Running;
use crate::host::command::CallId;
use crate::host::command::Command;
use crate::host::command::ExportCall;
use crate::host::command::PollFunc;
use crate::poller::PollInput;
use isyswasfa_protocol::tasks::{TableSizes, TaskId};

pub(super) struct EventLoop<T: 'static> {
    pub(super) store: Store<T>,
    pub(super) instance: Instance,
    pub(super) polls: Vec<PollFunc>,
    /// Calls that returned `pending`, by the task they wait for.
    pub(super) calls: HashMap<TaskId, (CallId, Box<dyn ExportCall<T>>)>,
    pub(super) call_tasks: HashMap<CallId, TaskId>,
    /// Whether the store's broken state (see [`crate::IsyswasfaCtx::record_failure`]) was acted on:
    /// calls failed, pipe ends closed, tables emptied.
    pub(super) cleaned_up: bool,
    /// Where the next search for a component with events starts (round robin).
    pub(super) next_poll: usize,
    /// What the loop shares with its handles (see [`crate::Host::entered_for`]).
    pub(super) shared: std::sync::Arc<crate::host::handle::LoopShared>,
}

impl<T: IsyswasfaView + Send + 'static> EventLoop<T> {
    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command<T>>) {
        loop {
            let more = match self.deliver().await {
                Ok(more) => more,
                Err(error) => {
                    self.break_store(&error);
                    false
                }
            };
            self.clean_up_if_broken();
            // The one wait: a command, a host future, or a pollable. The pollable wait borrows
            // the store's resource table and is dropped here, before the store is entered.
            // Values closed pipes left behind wake the loop too (their resources are released
            // at the top of `deliver`); the queue is shared, so this needs no store borrow.
            let discarded = self.store.data_mut().isyswasfa().ctx.pipes.discarded();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => break,
                },
                () = crate::pollables::wait::wait_host(self.store.data_mut()) => {}
                () = discarded.ready() => {}
                // Deliveries are left (see `MAX_DELIVERIES_PER_TURN`): let the others in first.
                () = tokio::task::yield_now(), if more => {}
            }
        }
        tracing::debug!("isyswasfa: event loop stopped (all handles dropped)");
    }

    async fn handle(&mut self, command: Command<T>) {
        crate::deadline::begin_entry(&mut self.store);
        match command {
            Command::Call(id, mut call) => {
                if let Some(error) = self.store.data_mut().isyswasfa().ctx.broken_error() {
                    call.fail(error);
                    return;
                }
                self.set_running(Running::Export(call.name().to_string()));
                let started = contained(call.start(&mut self.store)).await;
                self.set_running(Running::Idle);
                let started = match started {
                    Ok(started) => started,
                    Err(error) => {
                        call.fail(self.break_store(&error));
                        return;
                    }
                };
                if let Some(task) = started {
                    match self
                        .store
                        .data_mut()
                        .isyswasfa()
                        .ctx
                        .tasks
                        .listen_embedder(task)
                    {
                        // Task ids are never reused while in flight (they carry a generation), so
                        // an existing entry means a confused table: fail this call, keep the other.
                        Ok(()) if self.calls.contains_key(&task) => call.fail(format_err!(
                            "isyswasfa: the call's task is already awaited by another call"
                        )),
                        Ok(()) => {
                            self.call_tasks.insert(id, task);
                            self.calls.insert(task, (id, call));
                        }
                        Err(error) => call.fail(error.into()),
                    }
                }
            }
            Command::Cancel(id) => {
                if let Some(task) = self.call_tasks.remove(&id) {
                    self.calls.remove(&task);
                    self.store.data_mut().isyswasfa().ctx.tasks.cancel(task);
                }
            }
            Command::Sizes(reply) => {
                let ctx = self.store.data_mut().isyswasfa().ctx;
                let sizes = TableSizes {
                    pipe_ends: ctx.pipes.len(),
                    pollables: ctx.pollables.len(),
                    discarded_values: ctx.pipes.discarded_len(),
                    calls: self.calls.len(),
                    call_tasks: self.call_tasks.len(),
                    ..ctx.tasks.sizes()
                };
                let sizes = TableSizes {
                    wasi_resources: self.store.data_mut().isyswasfa().table.iter_mut().count(),
                    ..sizes
                };
                let _ = reply.send(sizes);
            }
            Command::Job { export, job } => {
                if let Some(export) = &export {
                    self.set_running(Running::Export(export.to_string()));
                }
                job(&mut self.store, &self.instance).await;
                self.set_running(Running::Idle);
                // The job may have broken the store (recorded in its data).
                self.clean_up_if_broken();
            }
        }
    }

    fn set_running(&mut self, running: Running) {
        self.shared.set_entered(!matches!(running, Running::Idle));
        self.store.data_mut().isyswasfa().ctx.running = running;
    }

    /// Delivers queued events and finished embedder calls, until none is left or
    /// [`MAX_DELIVERIES_PER_TURN`] (or the store's own setting) were made; returns whether some
    /// are left.
    async fn deliver(&mut self) -> Result<bool> {
        let deliveries = self
            .store
            .data_mut()
            .isyswasfa()
            .ctx
            .limits
            .max_deliveries_per_turn;
        for _ in 0..deliveries {
            let ctx = self.store.data_mut().isyswasfa().ctx;
            if ctx.broken.is_some() {
                // Nothing is delivered any more; values that closed pipes left since the break
                // are dropped here (the store cannot release them), so they do not wake the
                // loop again and again.
                ctx.pipes.close_all();
                return Ok(false);
            }
            crate::deadline::begin_entry(&mut self.store);
            contained(crate::pipes::guest::release_discarded(&mut self.store)).await?;
            let table = &mut self.store.data_mut().isyswasfa().ctx.tasks;
            if let Some(task) = table.next_embedder_ready() {
                if let Some((id, mut call)) = self.calls.remove(&task) {
                    self.call_tasks.remove(&id);
                    self.set_running(Running::Export(call.name().to_string()));
                    let outcome = contained(call.finish(&mut self.store, task)).await;
                    self.set_running(Running::Idle);
                    if let Err(error) = outcome {
                        call.fail(self.break_store(&error));
                        return Ok(false);
                    }
                }
                continue;
            }
            let count = self.polls.len();
            let Some(component) = (0..count)
                .map(|i| (self.next_poll + i) % count)
                .find(|c| table.has_events(*c))
            else {
                return Ok(false);
            };
            self.next_poll = (component + 1) % count;
            let events = PollInput::lower(component, table.take_events(component));
            self.set_running(Running::Poll(component));
            let outcome =
                contained(self.polls[component].call_async(&mut self.store, (events,))).await;
            self.set_running(Running::Idle);
            if let Err(error) = outcome {
                let name = self
                    .store
                    .data_mut()
                    .isyswasfa()
                    .ctx
                    .tasks
                    .component_name(component)
                    .to_string();
                return Err(error.context(format!("poll export of component `{name}` failed")));
            }
        }
        // The budget is spent: is anything left?
        let ctx = self.store.data_mut().isyswasfa().ctx;
        let table = &ctx.tasks;
        Ok(ctx.broken.is_none()
            && ((0..self.polls.len()).any(|c| table.has_events(c))
                || table.has_embedder_ready()
                || ctx.pipes.discarded_len() > 0))
    }

    /// Entering the store failed with `error`: records it (the first cause is kept), then fails
    /// every call, closes every pipe end and empties the tables. Returns the error calls fail with.
    fn break_store(&mut self, error: &wasmtime::Error) -> wasmtime::Error {
        let error = self.store.data_mut().isyswasfa().ctx.record_failure(error);
        self.clean_up_if_broken();
        error
    }

    /// Once the store is broken: fails every call in flight with the first cause, closes every
    /// pipe end the store held (the embedder's ends see the end of the stream or a closed pipe),
    /// and drops every task, host future, pollable wait and WASI resource. Runs once.
    fn clean_up_if_broken(&mut self) {
        if self.cleaned_up {
            return;
        }
        let ctx = self.store.data_mut().isyswasfa().ctx;
        if ctx.broken.is_none() {
            return;
        }
        self.cleaned_up = true;
        for (_, (_, call)) in self.calls.drain() {
            if let Some(error) = self.store.data_mut().isyswasfa().ctx.broken_error() {
                call.fail(error);
            }
        }
        self.call_tasks.clear();
        let crate::ctx::IsyswasfaCtxView { ctx, table } = self.store.data_mut().isyswasfa();
        ctx.pipes.close_all();
        ctx.tasks.clear();
        ctx.pollables.clear();
        *table = wasmtime::component::ResourceTable::new();
    }
}

/// Runs `entry`, which enters the store. A host function that panics inside it (the embedder's
/// or the host's own) becomes an error of kind
/// [`HostPanic`](isyswasfa_protocol::ErrorKind::HostPanic), which breaks this store alone with
/// the panic's message as the cause, instead of unwinding through the loop and stopping it for
/// every caller.
pub(crate) async fn contained<R>(entry: impl Future<Output = Result<R>>) -> Result<R> {
    match AssertUnwindSafe(entry).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(payload) => Err(isyswasfa_protocol::Error::new(
            isyswasfa_protocol::ErrorKind::HostPanic,
            format!(
                "isyswasfa: a host function panicked: {}",
                isyswasfa_protocol::error::panic_message(&*payload)
            ),
        )
        .into()),
    }
}
