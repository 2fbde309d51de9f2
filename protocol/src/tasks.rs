//! The host's task table: every asynchronous call in flight, whoever implements it.
//!
//! This module is the protocol's state machine and knows nothing of wasmtime: it records who
//! implements each task (the host, or a component known by its index), who listens for it (a
//! component, or the embedder), and queues the events each component must receive. The event
//! loop turns those queues into calls of the components' poll exports.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use crate::error::{Error, Result, fail};
use futures::FutureExt;
use futures::future::{AbortHandle, Abortable};
use futures::stream::{FuturesUnordered, StreamExt};

/// A value computed by a host-implemented task, waiting to be collected.
pub type Value = Box<dyn Any + Send>;

/// The value of a host task whose future panicked: the panic's message.
struct Panicked(String);

type HostFuture = Pin<Box<dyn Future<Output = (TaskId, Option<Value>)> + Send>>;

/// A task's handle: the `rep` of its `pending` and `ready` resources.
///
/// The low [`INDEX_BITS`] bits are the task's slot in the table, the high bits the slot's
/// generation, which changes every time the slot is freed. A rep that outlived its task (a
/// stale `ready` dropped late, a token reused after a confirmed cancellation) therefore never
/// names the slot's next task: it is rejected. A slot whose generation would wrap is retired
/// instead of reused, so the rejection holds for the whole life of the store.
pub type TaskId = u32;

/// Bits of a [`TaskId`] that index the table: at most 2^20 (about a million) tasks are in flight
/// in one store at once, far above the per-component caps of [`TableLimits`].
pub const INDEX_BITS: u32 = 20;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// Generations a slot goes through before it is retired (2^12).
const GENERATIONS: u32 = 1 << (32 - INDEX_BITS);

/// The index of a component (one poll export) in the composition.
pub type ComponentId = usize;

/// Per-component (and per-store) caps on the task table, so that a guest that loops creating
/// tasks, listeners or host futures gets a clear trap instead of growing host memory without
/// bound. Each protocol call that would exceed a cap fails, naming the cap.
///
/// The defaults are far above what a well-behaved component needs (an HTTP handler in flight
/// uses a handful of each) and small enough that the host's tables stay within a few MiB per
/// component. Embedders set them with their configuration builder (the host library's
/// `IsyswasfaCtx::builder()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLimits {
    /// Tasks one component implements at once (exported async calls that returned `pending`).
    pub max_tasks_per_component: usize,
    /// Tasks one component listens to at once (`poller.listen` not yet answered by `ready`).
    pub max_listeners_per_component: usize,
    /// Events queued for one component and not yet delivered to its poll export: a component
    /// that never lets the host deliver its events cannot make the queue grow further.
    pub max_queued_events_per_component: usize,
    /// Host futures (timers, host functions, pipe waits) in flight in the store. Counted per
    /// store, not per component: in a composition every component shares the host's imports,
    /// so a host function cannot tell which one called it (DESIGN.md §3).
    pub max_host_futures: usize,
    /// Entries of the store's WASI resource table (the host's HTTP `fields`, requests and
    /// responses, WASI 0.2 streams and pollables, …): a guest making `fields` in a loop gets a
    /// clear trap instead of growing host memory. Counted per store, like host futures.
    pub max_resources: usize,
}

/// Default of [`TableLimits::max_tasks_per_component`].
pub const DEFAULT_MAX_TASKS_PER_COMPONENT: usize = 10_000;
/// Default of [`TableLimits::max_listeners_per_component`].
pub const DEFAULT_MAX_LISTENERS_PER_COMPONENT: usize = 10_000;
/// Default of [`TableLimits::max_queued_events_per_component`].
pub const DEFAULT_MAX_QUEUED_EVENTS_PER_COMPONENT: usize = 20_000;
/// Default of [`TableLimits::max_resources`].
pub const DEFAULT_MAX_RESOURCES: usize = 10_000;
/// Default of [`TableLimits::max_host_futures`].
pub const DEFAULT_MAX_HOST_FUTURES: usize = 50_000;

impl Default for TableLimits {
    fn default() -> Self {
        Self {
            max_tasks_per_component: DEFAULT_MAX_TASKS_PER_COMPONENT,
            max_listeners_per_component: DEFAULT_MAX_LISTENERS_PER_COMPONENT,
            max_queued_events_per_component: DEFAULT_MAX_QUEUED_EVENTS_PER_COMPONENT,
            max_host_futures: DEFAULT_MAX_HOST_FUTURES,
            max_resources: DEFAULT_MAX_RESOURCES,
        }
    }
}

/// The identity of a host-implemented async function, recorded in each task it starts so that
/// its `ready` is only accepted by the same function's result half.
#[derive(Debug, Clone)]
pub struct HostFunction {
    id: u32,
    name: Arc<str>,
}

impl HostFunction {
    /// A new identity for the function `name` (used in messages); every call makes a distinct one.
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
        }
    }

    /// The function's name, as given to [`HostFunction::new`].
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Who implements a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callee {
    /// A Rust future of the host (an embedder's async function, a timer, ...).
    Host,
    /// An exported async function of a component, known to it by `state`.
    Component {
        /// The component that implements the task.
        component: ComponentId,
        /// The component's own token for the task.
        state: u32,
    },
}

/// Who waits for a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Nobody yet: the `pending` handle has not been passed to `listen`, or the `ready` event
    /// was delivered (the task is then reached through the `ready` handle alone).
    None,
    /// A component, which gets a `ready` event tagged with `state`.
    Component {
        /// The component that listens.
        component: ComponentId,
        /// The token the component listens with.
        state: u32,
    },
    /// The embedder, through an exported call it made.
    Embedder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Running,
    /// Finished; a host task's value waits here, a component's in the component.
    Done,
    /// The listener gave up; the callee has been asked to drop the task.
    Cancelling,
}

struct Task {
    callee: Callee,
    listener: Listener,
    status: Status,
    /// The host function that started a host task.
    function: Option<HostFunction>,
    /// A host task's value, once computed.
    value: Option<Value>,
    /// Aborts a host task's future.
    abort: Option<AbortHandle>,
}

/// One entry of the table: its current generation and task, if any.
#[derive(Default)]
struct Slot {
    generation: u32,
    task: Option<Task>,
}

/// An event waiting to be delivered to a component's poll export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The component's first event: its poller.
    Init,
    /// A task it listens to with `state` has finished.
    Ready {
        /// The token the component listened with.
        state: u32,
        /// The finished task.
        task: TaskId,
    },
    /// Its task `state` is no longer wanted.
    Cancel {
        /// The component's token for the task.
        state: u32,
    },
}

/// Per-component bookkeeping.
#[derive(Default)]
struct ComponentTasks {
    name: String,
    events: VecDeque<Event>,
    /// Tasks this component implements, by its own token.
    implements: HashMap<u32, TaskId>,
    /// Tasks this component listens to, by its own token.
    listens: HashMap<u32, TaskId>,
    /// It asked to be polled again with no event (`poller.run-again`).
    run_again: bool,
}

/// How many entries the host's tables hold; equal before and after a call that leaks nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableSizes {
    /// Tasks in flight (host and component tasks).
    pub tasks: usize,
    /// Host futures still being polled (including aborted ones not yet reaped).
    pub host_futures: usize,
    /// Events queued for delivery.
    pub queued_events: usize,
    /// Index entries (tokens of implemented and listened tasks).
    pub tokens: usize,
    /// Finished tasks the embedder awaits, not yet collected by the event loop.
    pub embedder_ready: usize,
    /// Pipe ends held by components (stream and future handles).
    pub pipe_ends: usize,
    /// WASI 0.2 pollables the host waits for on behalf of components.
    pub pollables: usize,
    /// Values left in closed pipes, waiting for the event loop to release their resources.
    pub discarded_values: usize,
    /// Entries of the store's WASI resource table.
    pub wasi_resources: usize,
    /// Exported calls of the embedder waiting for their task (the event loop's table).
    pub calls: usize,
    /// The event loop's index of those calls by call id.
    pub call_tasks: usize,
}

/// The task table of one store.
#[derive(Default)]
pub struct TaskTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    components: Vec<ComponentTasks>,
    host_futures: FuturesUnordered<HostFuture>,
    /// Tasks the embedder awaits that have finished.
    embedder_ready: VecDeque<TaskId>,
    limits: TableLimits,
}

fn index_of(id: TaskId) -> usize {
    (id & INDEX_MASK) as usize
}

fn generation_of(id: TaskId) -> u32 {
    id >> INDEX_BITS
}

impl TaskTable {
    /// Sets the caps checked by the protocol calls (they apply to later calls).
    pub fn set_limits(&mut self, limits: TableLimits) {
        self.limits = limits;
    }

    /// The caps in force.
    pub fn limits(&self) -> TableLimits {
        self.limits
    }

    /// Registers a component (one poll export) and queues its `init` event.
    pub fn add_component(&mut self, name: &str) -> ComponentId {
        let mut component = ComponentTasks {
            name: name.to_string(),
            ..ComponentTasks::default()
        };
        component.events.push_back(Event::Init);
        self.components.push(component);
        self.components.len() - 1
    }

    /// The name of a component, for messages.
    pub fn component_name(&self, component: ComponentId) -> &str {
        self.components
            .get(component)
            .map_or("<unknown>", |c| c.name.as_str())
    }

    /// The number of components.
    pub fn component_count(&self) -> usize {
        self.components.len()
    }

    fn insert(&mut self, callee: Callee, function: Option<HostFunction>) -> Result<TaskId> {
        let task = Task {
            callee,
            listener: Listener::None,
            status: Status::Running,
            function,
            value: None,
            abort: None,
        };
        let index = match self.free.pop() {
            Some(index) => index,
            None if self.slots.len() <= INDEX_MASK as usize => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
            None => fail!(
                limit,
                "isyswasfa: the host's task table is full ({} tasks in flight or retired)",
                self.slots.len()
            ),
        };
        let slot = &mut self.slots[index as usize];
        slot.task = Some(task);
        self.live += 1;
        Ok((slot.generation << INDEX_BITS) | index)
    }

    /// Frees a task's slot; its id (and every handle still carrying it) is stale from now on.
    fn remove(&mut self, id: TaskId) -> Option<Task> {
        let slot = self.slots.get_mut(index_of(id))?;
        if slot.generation != generation_of(id) {
            return None;
        }
        let task = slot.task.take()?;
        slot.generation += 1;
        // A slot whose generation would wrap is never reused, so old ids stay invalid.
        if slot.generation < GENERATIONS {
            self.free.push(id & INDEX_MASK);
        }
        self.live -= 1;
        Some(task)
    }

    /// Whether `task` is still in the table (not finished and collected, nor cancelled).
    pub fn is_live(&self, task: TaskId) -> bool {
        self.get(task).is_some()
    }

    fn get(&self, id: TaskId) -> Option<&Task> {
        let slot = self.slots.get(index_of(id))?;
        (slot.generation == generation_of(id))
            .then_some(slot.task.as_ref())
            .flatten()
    }

    fn get_mut(&mut self, id: TaskId) -> Option<&mut Task> {
        let slot = self.slots.get_mut(index_of(id))?;
        if slot.generation != generation_of(id) {
            return None;
        }
        slot.task.as_mut()
    }

    /// The task behind a handle passed to protocol call `call` by `component` (for messages).
    fn task_for(
        &mut self,
        call: &str,
        component: Option<ComponentId>,
        id: TaskId,
    ) -> Result<&mut Task> {
        if self.get(id).is_none() {
            let who = self.who(component);
            fail!("isyswasfa: `{call}`{who}: the handle names no task in flight (stale or forged)");
        }
        self.get_mut(id)
            .ok_or_else(|| Error::protocol(format!("isyswasfa: `{call}`: task vanished")))
    }

    /// " from component `name`", for messages.
    fn who(&self, component: Option<ComponentId>) -> String {
        match component {
            Some(c) => format!(" from component `{}`", self.component_name(c)),
            None => String::new(),
        }
    }

    fn component(&mut self, call: &str, component: ComponentId) -> Result<&mut ComponentTasks> {
        match self.components.get_mut(component) {
            Some(c) => Ok(c),
            None => fail!("isyswasfa: `{call}`: no component {component}"),
        }
    }

    /// Starts a host task for `function`: `future` is polled by the event loop until it yields
    /// its value. Fails when the store already runs [`TableLimits::max_host_futures`].
    pub fn spawn_host(
        &mut self,
        function: HostFunction,
        future: impl Future<Output = Value> + Send + 'static,
    ) -> Result<TaskId> {
        if self.host_futures.len() >= self.limits.max_host_futures {
            // Cancelled host futures stay in the set until it is polled again, which the event
            // loop only does between guest entries: a guest that starts and drops waits in a
            // loop inside one entry would fill it with dead futures. Reap those first.
            self.reap_host_futures();
        }
        if self.host_futures.len() >= self.limits.max_host_futures {
            fail!(
                limit,
                "isyswasfa: `{}{}`: the store already runs {} host futures (limit \
                 `max_host_futures`)",
                function.name(),
                crate::names::START_SUFFIX,
                self.limits.max_host_futures
            );
        }
        let id = self.insert(Callee::Host, Some(function))?;
        let (abort, registration) = AbortHandle::new_pair();
        if let Some(task) = self.get_mut(id) {
            task.abort = Some(abort);
        }
        // A panic in the embedder's future must not unwind through the event loop (that would
        // stop it for every caller): it becomes the task's value, and collecting it fails
        // naming the function and the panic.
        let future = std::panic::AssertUnwindSafe(future)
            .catch_unwind()
            .map(|outcome| {
                outcome.unwrap_or_else(|payload| {
                    Box::new(Panicked(crate::error::panic_message(&*payload))) as Value
                })
            });
        let future = Abortable::new(future, registration);
        self.host_futures
            .push(Box::pin(async move { (id, future.await.ok()) }));
        Ok(id)
    }

    /// Polls the host futures; records every value that is ready. Returns `Ready` when at least
    /// one host future finished (so events may be queued), `Pending` otherwise.
    pub fn poll_host(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut progressed = false;
        while let Poll::Ready(Some((id, value))) = self.host_futures.poll_next_unpin(cx) {
            progressed = true;
            if let Some(value) = value {
                self.host_task_done(id, value);
            }
        }
        if progressed {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Polls the host futures once without a waker of the event loop's, to drop those that
    /// were aborted (their tasks cancelled) and record those that finished. The event loop polls
    /// them again with its own waker before it next sleeps, so no wake-up is lost.
    fn reap_host_futures(&mut self) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let _ = self.poll_host(&mut cx);
    }

    /// Whether any host future is still running.
    pub fn has_host_futures(&self) -> bool {
        !self.host_futures.is_empty()
    }

    fn host_task_done(&mut self, id: TaskId, value: Value) {
        let Some(task) = self.get_mut(id) else { return };
        if task.status != Status::Running {
            return;
        }
        task.status = Status::Done;
        task.value = Some(value);
        task.abort = None;
        self.notify(id);
    }

    /// Queues the delivery of a finished task to its listener.
    fn notify(&mut self, id: TaskId) {
        let Some(task) = self.get(id) else {
            return;
        };
        match task.listener {
            Listener::None => {}
            Listener::Component { component, state } => {
                if let Some(c) = self.components.get_mut(component) {
                    c.events.push_back(Event::Ready { state, task: id });
                }
            }
            Listener::Embedder => self.embedder_ready.push_back(id),
        }
    }

    /// `poller.listen`: `component` waits for `task` with its token `state`.
    pub fn listen(&mut self, component: ComponentId, task: TaskId, state: u32) -> Result<()> {
        const CALL: &str = "poller.listen";
        let limits = self.limits;
        let name = self.component_name(component).to_string();
        let c = self.component(CALL, component)?;
        if c.listens.contains_key(&state) {
            fail!("isyswasfa: `{CALL}` from component `{name}`: token {state} is already in use");
        }
        if c.listens.len() >= limits.max_listeners_per_component {
            fail!(
                limit,
                "isyswasfa: `{CALL}` from component `{name}`: it already listens to {} tasks \
                 (limit `max_listeners_per_component`)",
                limits.max_listeners_per_component
            );
        }
        if c.events.len() >= limits.max_queued_events_per_component {
            fail!(
                limit,
                "isyswasfa: `{CALL}` from component `{name}`: {} events are already queued for it \
                 (limit `max_queued_events_per_component`)",
                limits.max_queued_events_per_component
            );
        }
        let t = self.task_for(CALL, Some(component), task)?;
        if t.listener != Listener::None || t.status == Status::Cancelling {
            fail!("isyswasfa: `{CALL}` from component `{name}`: the task already has a listener");
        }
        t.listener = Listener::Component { component, state };
        let done = t.status == Status::Done;
        self.component(CALL, component)?.listens.insert(state, task);
        if done {
            self.notify(task);
        }
        Ok(())
    }

    /// The embedder waits for `task` (returned `pending` by an export it called).
    pub fn listen_embedder(&mut self, task: TaskId) -> Result<()> {
        const CALL: &str = "pending returned to the embedder";
        let t = self.task_for(CALL, None, task)?;
        if t.listener != Listener::None || t.status == Status::Cancelling {
            fail!("isyswasfa: `{CALL}`: the task already has a listener");
        }
        t.listener = Listener::Embedder;
        if t.status == Status::Done {
            self.notify(task);
        }
        Ok(())
    }

    /// The next task the embedder awaits that has finished; the embedder then reaches it through
    /// its `ready` alone (as a component does once its `ready` event is delivered). Tasks the
    /// embedder stopped awaiting after they finished are skipped.
    pub fn next_embedder_ready(&mut self) -> Option<TaskId> {
        while let Some(id) = self.embedder_ready.pop_front() {
            if let Some(task) = self.get_mut(id)
                && task.listener == Listener::Embedder
            {
                task.listener = Listener::None;
                return Some(id);
            }
        }
        None
    }

    /// Whether finished tasks the embedder awaits wait to be collected.
    pub fn has_embedder_ready(&self) -> bool {
        !self.embedder_ready.is_empty()
    }

    /// `poller.start-task`: an export of `component` did not finish at once.
    pub fn start_task(&mut self, component: ComponentId, state: u32) -> Result<TaskId> {
        const CALL: &str = "poller.start-task";
        let limits = self.limits;
        let name = self.component_name(component).to_string();
        let c = self.component(CALL, component)?;
        if c.implements.contains_key(&state) {
            fail!("isyswasfa: `{CALL}` from component `{name}`: token {state} is already in use");
        }
        if c.implements.len() >= limits.max_tasks_per_component {
            fail!(
                limit,
                "isyswasfa: `{CALL}` from component `{name}`: it already runs {} tasks (limit \
                 `max_tasks_per_component`)",
                limits.max_tasks_per_component
            );
        }
        let id = self.insert(Callee::Component { component, state }, None)?;
        self.component(CALL, component)?
            .implements
            .insert(state, id);
        Ok(id)
    }

    /// The task `component` implements with token `state`, for protocol call `call`.
    fn implemented(&mut self, call: &str, component: ComponentId, state: u32) -> Result<TaskId> {
        let name = self.component_name(component).to_string();
        match self.component(call, component)?.implements.get(&state) {
            Some(&id) => Ok(id),
            None => fail!("isyswasfa: `{call}` from component `{name}`: it has no task {state}"),
        }
    }

    /// `poller.task-ready`: the task `state` of `component` has finished.
    ///
    /// A task being cancelled may still finish (the component had not seen the `cancel` event
    /// yet): that is ignored. Finishing twice is an error.
    pub fn task_ready(&mut self, component: ComponentId, state: u32) -> Result<()> {
        const CALL: &str = "poller.task-ready";
        let id = self.implemented(CALL, component, state)?;
        let name = self.component_name(component).to_string();
        let task = self.task_for(CALL, Some(component), id)?;
        match task.status {
            Status::Running => {
                task.status = Status::Done;
                self.notify(id);
                Ok(())
            }
            Status::Cancelling => Ok(()),
            Status::Done => {
                fail!("isyswasfa: `{CALL}` from component `{name}`: task {state} already finished")
            }
        }
    }

    /// `poller.take-result`: `component` claims the `ready` handed to one of its result exports.
    /// Returns its token; the task leaves the table.
    ///
    /// Checks that the task is one of `component`'s and has finished. Which of its functions
    /// the task belongs to is checked by the component's runtime, which recorded it when the
    /// task started (`isyswasfa-guest` traps naming both functions' result types).
    pub fn take_result(&mut self, component: ComponentId, task: TaskId) -> Result<u32> {
        const CALL: &str = "poller.take-result";
        let name = self.component_name(component).to_string();
        let t = self.task_for(CALL, Some(component), task)?;
        let (callee, state) = match t.callee {
            Callee::Component { component, state } => (component, state),
            Callee::Host => fail!(
                "isyswasfa: `{CALL}` from component `{name}`: the `ready` belongs to a host \
                 function, not to a result export of this component"
            ),
        };
        let (status, listener) = (t.status, t.listener);
        if callee != component {
            let from = self.component_name(callee);
            fail!(
                "isyswasfa: `{CALL}` from component `{name}`: the `ready` belongs to a task of \
                 component `{from}`, it was passed to a result export of component `{name}`"
            );
        }
        if status != Status::Done || listener != Listener::None {
            fail!(
                "isyswasfa: `{CALL}` from component `{name}`: task {state} has not finished or \
                 was not delivered yet"
            );
        }
        self.component(CALL, component)?.implements.remove(&state);
        self.remove(task);
        Ok(state)
    }

    /// The `-isyswasfa-result` host function of `function`: takes the task's value out of the
    /// table. Fails (naming the function) for a `ready` of another function, of a component,
    /// or of a task that has not finished.
    pub fn take_host_value(&mut self, function: &HostFunction, task: TaskId) -> Result<Value> {
        let call = format!("{}-isyswasfa-result", function.name());
        let t = self.task_for(&call, None, task)?;
        let started_by = match (&t.callee, &t.function) {
            (Callee::Host, Some(f)) => f,
            _ => fail!("isyswasfa: `{call}`: the `ready` belongs to a component's task"),
        };
        if started_by.id != function.id {
            fail!(
                "isyswasfa: `{call}`: the `ready` belongs to a call of `{}`",
                started_by.name
            );
        }
        if t.status != Status::Done || t.listener != Listener::None {
            fail!("isyswasfa: `{call}`: the task has not finished or was not delivered yet");
        }
        match t.value.take() {
            Some(value) => {
                self.remove(task);
                match value.downcast::<Panicked>() {
                    Ok(panicked) => Err(Error::new(
                        crate::ErrorKind::HostPanic,
                        format!(
                            "isyswasfa: the host's implementation of `{}` panicked: {}",
                            function.name(),
                            panicked.0
                        ),
                    )),
                    Err(value) => Ok(value),
                }
            }
            None => fail!("isyswasfa: `{call}`: the task has no value"),
        }
    }

    /// Checks, once the result export of an embedder's call returned, that it claimed the
    /// `ready` it was given (with `poller.take-result`, or by passing it to the result half of
    /// the host function whose `pending` it returned): that takes the task out of the table.
    /// A result export that keeps or drops its `ready` instead would leave the task behind.
    pub fn check_claimed(&self, task: TaskId, export: &str) -> Result<()> {
        let Some(t) = self.get(task) else {
            return Ok(());
        };
        let who = match t.callee {
            Callee::Component { component, .. } => {
                format!(" of component `{}`", self.component_name(component))
            }
            Callee::Host => String::new(),
        };
        fail!(
            "isyswasfa: `{export}`{who} returned without claiming its `ready` \
             (`poller.take-result`)"
        )
    }

    /// `poller.cancel`: `component` no longer waits for the task it listens to with `state`.
    pub fn cancel_listen(&mut self, component: ComponentId, state: u32) -> Result<()> {
        const CALL: &str = "poller.cancel";
        let name = self.component_name(component).to_string();
        let Some(task) = self.component(CALL, component)?.listens.remove(&state) else {
            fail!(
                "isyswasfa: `{CALL}` from component `{name}`: it listens to no task with token \
                 {state} (unknown, or its `ready` was already delivered)"
            );
        };
        self.cancel(task);
        Ok(())
    }

    /// Drops a task whose listener is gone (the embedder's call future was dropped, or a `pending`
    /// or uncollected `ready` handle was dropped). A host task is dropped at once; a component
    /// is asked to drop its task and confirms with `task-cancelled`. A stale id is ignored.
    pub fn cancel(&mut self, task: TaskId) {
        let Some(t) = self.get_mut(task) else {
            return;
        };
        let listener = std::mem::replace(&mut t.listener, Listener::None);
        if let Listener::Component { component, state } = listener
            && let Some(c) = self.components.get_mut(component)
        {
            if c.listens.get(&state) == Some(&task) {
                c.listens.remove(&state);
            }
            // A `ready` not yet delivered is withdrawn with the task.
            c.events
                .retain(|event| !matches!(event, Event::Ready { task: t, .. } if *t == task));
        }
        let Some(t) = self.get_mut(task) else {
            return;
        };
        match t.callee {
            Callee::Host => {
                if let Some(abort) = t.abort.take() {
                    abort.abort();
                }
                self.remove(task);
            }
            Callee::Component { component, state } => {
                if t.status == Status::Cancelling {
                    return;
                }
                t.status = Status::Cancelling;
                if let Some(c) = self.components.get_mut(component) {
                    c.events.push_back(Event::Cancel { state });
                }
            }
        }
    }

    /// `poller.task-cancelled`: the component has dropped its cancelled task. Only a task the
    /// host asked it to cancel (with a `cancel` event) can be confirmed.
    pub fn task_cancelled(&mut self, component: ComponentId, state: u32) -> Result<()> {
        const CALL: &str = "poller.task-cancelled";
        let id = self.implemented(CALL, component, state)?;
        let name = self.component_name(component).to_string();
        if self.task_for(CALL, Some(component), id)?.status != Status::Cancelling {
            fail!(
                "isyswasfa: `{CALL}` from component `{name}`: task {state} was not cancelled \
                 (its caller still waits for it)"
            );
        }
        self.component(CALL, component)?.implements.remove(&state);
        self.remove(id);
        Ok(())
    }

    /// `poller.run-again`: `component` returned with work left; its poll export is called again
    /// (with no event, if none is queued) once the host has done its other work.
    pub fn run_again(&mut self, component: ComponentId) -> Result<()> {
        self.component("poller.run-again", component)?.run_again = true;
        Ok(())
    }

    /// Takes the events queued for `component`. A delivered `ready` ends the listening: from
    /// then on the task is reached through the `ready` handle alone.
    ///
    /// Within the batch, `cancel` events come last: cancelling one of the component's tasks may
    /// drop its wait for a task whose `ready` is in the same batch, and that wait must see the
    /// `ready` delivered rather than ask to cancel it.
    pub fn take_events(&mut self, component: ComponentId) -> Vec<Event> {
        let Some(c) = self.components.get_mut(component) else {
            return Vec::new();
        };
        c.run_again = false;
        let (mut events, cancels): (Vec<Event>, Vec<Event>) = c
            .events
            .drain(..)
            .partition(|event| !matches!(event, Event::Cancel { .. }));
        events.extend(cancels);
        for event in &events {
            if let Event::Ready { state, task } = *event {
                c.listens.remove(&state);
                if let Some(slot) = self.slots.get_mut(index_of(task))
                    && slot.generation == generation_of(task)
                    && let Some(t) = slot.task.as_mut()
                {
                    t.listener = Listener::None;
                }
            }
        }
        events
    }

    /// The first component with events waiting, if any.
    pub fn component_with_events(&self) -> Option<ComponentId> {
        self.components.iter().position(|c| !c.events.is_empty())
    }

    /// Whether `component` has events waiting (or asked to be polled again).
    pub fn has_events(&self, component: ComponentId) -> bool {
        self.components
            .get(component)
            .is_some_and(|c| !c.events.is_empty() || c.run_again)
    }

    /// Checks whether `component`, blocked inside a synchronous export (`block_on`), can ever be
    /// woken without entering a component: true when it has events, or when one of the tasks it
    /// waits for is a host task still running. `waiting_for` holds the tokens its blocked future
    /// awaits; when empty (it awaits something else, such as another of its own tasks), every
    /// task it listens to counts. Otherwise names the component(s) whose tasks it waits for.
    pub fn can_block(
        &self,
        component: ComponentId,
        waiting_for: &[u32],
    ) -> std::result::Result<(), String> {
        let Some(c) = self.components.get(component) else {
            return Err(format!("no component {component}"));
        };
        if !c.events.is_empty() {
            return Ok(());
        }
        let tasks: Vec<TaskId> = if waiting_for.is_empty() {
            c.listens.values().copied().collect()
        } else {
            waiting_for
                .iter()
                .filter_map(|state| c.listens.get(state).copied())
                .collect()
        };
        let mut others = Vec::new();
        for task in tasks {
            let Some(t) = self.get(task) else {
                continue;
            };
            match t.callee {
                Callee::Host if matches!(t.status, Status::Running) => return Ok(()),
                Callee::Host => {}
                Callee::Component { component, .. } => {
                    others.push(format!("`{}`", self.component_name(component)))
                }
            }
        }
        others.sort();
        others.dedup();
        Err(if others.is_empty() {
            "it waits for nothing the host could finish".to_string()
        } else {
            format!(
                "it waits for a task of component {}, which cannot be entered while `{}` is on \
                 the stack",
                others.join(", "),
                c.name
            )
        })
    }

    /// Forgets every task, event and token, and drops every host future (aborting timers and
    /// host functions in flight): the store is broken and no component will ever be delivered
    /// anything again. Components stay known by name, for messages.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.live = 0;
        self.host_futures = FuturesUnordered::new();
        self.embedder_ready.clear();
        for c in &mut self.components {
            c.run_again = false;
            c.events.clear();
            c.implements.clear();
            c.listens.clear();
        }
    }

    /// The sizes of the table, for leak checks.
    pub fn sizes(&self) -> TableSizes {
        TableSizes {
            tasks: self.live,
            host_futures: self.host_futures.len(),
            queued_events: self.components.iter().map(|c| c.events.len()).sum(),
            tokens: self
                .components
                .iter()
                .map(|c| c.implements.len() + c.listens.len())
                .sum(),
            embedder_ready: self.embedder_ready.len(),
            ..TableSizes::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_with(names: &[&str]) -> TaskTable {
        let mut table = TaskTable::default();
        for name in names {
            let id = table.add_component(name);
            assert_eq!(table.take_events(id), vec![Event::Init]);
        }
        table
    }

    #[test]
    fn completion_before_listen_is_delivered_once() {
        let mut table = table_with(&["a", "b"]);
        let task = table.start_task(1, 7).unwrap();
        table.task_ready(1, 7).unwrap();
        assert!(table.component_with_events().is_none());
        table.listen(0, task, 3).unwrap();
        assert_eq!(table.take_events(0), vec![Event::Ready { state: 3, task }]);
        assert!(table.take_events(0).is_empty());
        assert_eq!(table.take_result(1, task).unwrap(), 7);
        assert_eq!(table.sizes(), TableSizes::default());
    }

    #[test]
    fn completion_after_listen_is_delivered_once() {
        let mut table = table_with(&["a", "b"]);
        let task = table.start_task(1, 7).unwrap();
        table.listen(0, task, 3).unwrap();
        assert!(table.component_with_events().is_none());
        table.task_ready(1, 7).unwrap();
        let err = table.task_ready(1, 7).unwrap_err().to_string();
        assert!(
            err.contains("poller.task-ready") && err.contains("`b`"),
            "{err}"
        );
        assert_eq!(table.take_events(0), vec![Event::Ready { state: 3, task }]);
        assert!(table.component_with_events().is_none());
    }

    #[test]
    fn ready_cannot_be_claimed_by_another_component() {
        let mut table = table_with(&["a", "b", "c"]);
        let task = table.start_task(1, 7).unwrap();
        table.task_ready(1, 7).unwrap();
        let err = table.take_result(2, task).unwrap_err().to_string();
        assert!(
            err.contains("component `b`") && err.contains("component `c`"),
            "{err}"
        );
    }

    #[test]
    fn cancel_withdraws_undelivered_ready_and_asks_callee() {
        let mut table = table_with(&["a", "b"]);
        let task = table.start_task(1, 7).unwrap();
        table.listen(0, task, 3).unwrap();
        table.task_ready(1, 7).unwrap();
        table.cancel_listen(0, 3).unwrap();
        assert!(table.take_events(0).is_empty());
        assert_eq!(table.take_events(1), vec![Event::Cancel { state: 7 }]);
        table.task_cancelled(1, 7).unwrap();
        assert_eq!(table.sizes(), TableSizes::default());
    }

    #[test]
    fn blocking_on_a_sibling_is_refused_with_names() {
        let mut table = table_with(&["a", "b"]);
        let task = table.start_task(1, 7).unwrap();
        table.listen(0, task, 3).unwrap();
        let err = table.can_block(0, &[]).unwrap_err();
        assert!(err.contains("`b`") && err.contains("`a`"), "{err}");
    }

    #[tokio::test]
    async fn host_task_value_is_collected_and_table_empties() {
        let mut table = table_with(&["a"]);
        let function = HostFunction::new("five");
        let task = table
            .spawn_host(function.clone(), async { Box::new(5u32) as Value })
            .unwrap();
        table.listen(0, task, 1).unwrap();
        assert!(table.can_block(0, &[]).is_ok());
        std::future::poll_fn(|cx| table.poll_host(cx)).await;
        assert_eq!(table.take_events(0), vec![Event::Ready { state: 1, task }]);
        let other = HostFunction::new("other");
        let err = table.take_host_value(&other, task).unwrap_err().to_string();
        assert!(
            err.contains("other-isyswasfa-result") && err.contains("`five`"),
            "{err}"
        );
        let value = table.take_host_value(&function, task).unwrap();
        assert_eq!(*value.downcast::<u32>().unwrap(), 5);
        assert_eq!(table.sizes(), TableSizes::default());
    }

    #[tokio::test]
    async fn cancelled_host_task_is_dropped() {
        let mut table = table_with(&["a"]);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = table
            .spawn_host(HostFunction::new("never"), async move {
                let _keep = tx;
                std::future::pending::<()>().await;
                Box::new(()) as Value
            })
            .unwrap();
        table.listen(0, task, 1).unwrap();
        table.cancel_listen(0, 1).unwrap();
        std::future::poll_fn(|cx| table.poll_host(cx)).await;
        assert!(rx.await.is_err(), "the host future was dropped");
        assert_eq!(table.sizes(), TableSizes::default());
    }

    #[test]
    fn cancelled_host_futures_are_reaped_at_the_cap() {
        let mut table = table_with(&["a"]);
        table.set_limits(TableLimits {
            max_host_futures: 3,
            ..TableLimits::default()
        });
        let function = HostFunction::new("sleep");
        for _ in 0..100 {
            let task = table
                .spawn_host(function.clone(), std::future::pending::<Value>())
                .unwrap();
            table.cancel(task);
        }
        let sizes = table.sizes();
        assert!(sizes.host_futures <= 3, "{sizes:?}");
        assert_eq!(sizes.tasks, 0);
    }

    #[test]
    fn stale_handles_are_rejected_after_the_slot_is_reused() {
        let mut table = table_with(&["a", "b", "c"]);
        // b's task finishes and is collected; its id's slot is reused by c's task.
        let old = table.start_task(1, 7).unwrap();
        table.task_ready(1, 7).unwrap();
        table.listen(0, old, 3).unwrap();
        table.take_events(0);
        table.take_result(1, old).unwrap();
        let new = table.start_task(2, 9).unwrap();
        assert_eq!(index_of(old), index_of(new), "the slot is reused");
        assert_ne!(old, new, "with another generation");
        // A stale `ready` dropped late, or passed again, touches nothing.
        table.cancel(old);
        assert!(table.take_events(2).is_empty(), "c's task is not cancelled");
        let err = table.take_result(1, old).unwrap_err().to_string();
        assert!(
            err.contains("stale or forged") && err.contains("`b`"),
            "{err}"
        );
        let err = table.listen(0, old, 4).unwrap_err().to_string();
        assert!(err.contains("poller.listen"), "{err}");
        // A forged rep beyond the table is rejected the same way.
        assert!(table.listen(0, 12345, 5).is_err());
    }

    #[test]
    fn callee_cannot_free_a_task_its_caller_listens_to() {
        let mut table = table_with(&["a", "b"]);
        let task = table.start_task(1, 7).unwrap();
        table.listen(0, task, 3).unwrap();
        let err = table.task_cancelled(1, 7).unwrap_err().to_string();
        assert!(
            err.contains("poller.task-cancelled") && err.contains("not cancelled"),
            "{err}"
        );
        // Nor take its result before it is delivered.
        table.task_ready(1, 7).unwrap();
        assert!(table.take_result(1, task).is_err());
        assert_eq!(table.take_events(0), vec![Event::Ready { state: 3, task }]);
        assert_eq!(table.take_result(1, task).unwrap(), 7);
        assert_eq!(table.sizes(), TableSizes::default());
    }

    #[test]
    fn a_slot_is_retired_before_its_generation_wraps() {
        let mut table = table_with(&["a"]);
        let first = table.start_task(0, 0).unwrap();
        let mut last = first;
        for state in 0..GENERATIONS {
            let id = if state == 0 {
                first
            } else {
                table.start_task(0, state).unwrap()
            };
            assert_eq!(index_of(id), 0, "the same slot, generation {state}");
            table.cancel(id);
            table.take_events(0);
            table.task_cancelled(0, state).unwrap();
            last = id;
        }
        assert_eq!(generation_of(last), GENERATIONS - 1);
        let next = table.start_task(0, GENERATIONS).unwrap();
        assert_eq!(index_of(next), 1, "slot 0 is retired");
        table.cancel(first);
        assert!(table.take_events(0).is_empty(), "the first id stays stale");
    }

    #[test]
    fn limits_are_enforced_with_their_names() {
        let limits = TableLimits {
            max_tasks_per_component: 2,
            max_listeners_per_component: 1,
            max_queued_events_per_component: 1,
            max_host_futures: 1,
            ..TableLimits::default()
        };
        let mut table = table_with(&["a", "b"]);
        table.set_limits(limits);
        let first = table.start_task(1, 0).unwrap();
        let second = table.start_task(1, 1).unwrap();
        let err = table.start_task(1, 2).unwrap_err().to_string();
        assert!(
            err.contains("max_tasks_per_component") && err.contains("`b`"),
            "{err}"
        );
        table.listen(0, first, 0).unwrap();
        let err = table.listen(0, second, 1).unwrap_err().to_string();
        assert!(err.contains("max_listeners_per_component"), "{err}");

        // An event waits for `a` (the ready of `first`): its queue is at its cap.
        let mut table = table_with(&["a", "b"]);
        table.set_limits(TableLimits {
            max_listeners_per_component: 10,
            ..limits
        });
        let first = table.start_task(1, 0).unwrap();
        let second = table.start_task(1, 1).unwrap();
        table.listen(0, first, 0).unwrap();
        table.task_ready(1, 0).unwrap();
        let err = table.listen(0, second, 1).unwrap_err().to_string();
        assert!(err.contains("max_queued_events_per_component"), "{err}");

        let host = HostFunction::new("sleep");
        table
            .spawn_host(host.clone(), std::future::pending::<Value>())
            .unwrap();
        let err = table
            .spawn_host(host, std::future::pending::<Value>())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("max_host_futures") && err.contains("`sleep-isyswasfa-start`"),
            "{err}"
        );
    }

    #[test]
    fn a_batch_delivers_ready_events_before_cancel_events() {
        let mut table = table_with(&["a", "b"]);
        // `a` implements a task `b` waits for, and waits for a task of `b` itself.
        let a_task = table.start_task(0, 1).unwrap();
        table.listen(1, a_task, 10).unwrap();
        let b_task = table.start_task(1, 2).unwrap();
        table.listen(0, b_task, 20).unwrap();
        table.cancel_listen(1, 10).unwrap();
        table.task_ready(1, 2).unwrap();
        assert_eq!(
            table.take_events(0),
            vec![
                Event::Ready {
                    state: 20,
                    task: b_task
                },
                Event::Cancel { state: 1 }
            ]
        );
    }
}
