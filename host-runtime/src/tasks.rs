//! The host's task table: every asynchronous call in flight, whoever implements it.
//!
//! This module is the protocol's state machine and knows nothing of wasmtime: it records who
//! implements each task (the host, or a component known by its index), who listens for it (a
//! component, or the embedder), and queues the events each component must receive. The event
//! loop turns those queues into calls of the components' poll exports.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::{AbortHandle, Abortable};
use futures::stream::{FuturesUnordered, StreamExt};
use wasmtime::{Result, bail};

/// A value computed by a host-implemented task, waiting to be collected.
pub type Value = Box<dyn Any + Send>;

type HostFuture = Pin<Box<dyn Future<Output = (TaskId, Option<Value>)> + Send>>;

/// The index of a task in the table; also the `rep` of its `pending` and `ready` handles.
pub type TaskId = u32;

/// The index of a component (one poll export) in the composition.
pub type ComponentId = usize;

/// Who implements a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callee {
    /// A Rust future of the host (an embedder's async function, a timer, ...).
    Host,
    /// An exported async function of a component, known to it by `state`.
    Component { component: ComponentId, state: u32 },
}

/// Who waits for a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Nobody yet: the `pending` handle has not been passed to `listen`.
    None,
    /// A component, which gets a `ready` event tagged with `state`.
    Component { component: ComponentId, state: u32 },
    /// The embedder, through an exported call it made.
    Embedder,
}

#[derive(Debug)]
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
    /// A host task's value, once computed.
    value: Option<Value>,
    /// Aborts a host task's future.
    abort: Option<AbortHandle>,
}

/// An event waiting to be delivered to a component's poll export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The component's first event: its poller.
    Init,
    /// A task it listens to with `state` has finished.
    Ready { state: u32, task: TaskId },
    /// Its task `state` is no longer wanted.
    Cancel { state: u32 },
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
}

/// How many entries the task table holds; equal before and after a call that leaks nothing.
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
    /// Pipe ends held by components (stream and future handles).
    pub pipe_ends: usize,
    /// WASI 0.2 pollables the host waits for on behalf of components.
    pub pollables: usize,
}

/// The task table of one store.
#[derive(Default)]
pub struct TaskTable {
    tasks: Vec<Option<Task>>,
    free: Vec<TaskId>,
    live: usize,
    components: Vec<ComponentTasks>,
    host_futures: FuturesUnordered<HostFuture>,
    /// Tasks the embedder awaits that have finished.
    embedder_ready: VecDeque<TaskId>,
}

impl TaskTable {
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

    fn insert(&mut self, callee: Callee) -> TaskId {
        let task = Task {
            callee,
            listener: Listener::None,
            status: Status::Running,
            value: None,
            abort: None,
        };
        self.live += 1;
        match self.free.pop() {
            Some(id) => {
                self.tasks[id as usize] = Some(task);
                id
            }
            None => {
                self.tasks.push(Some(task));
                (self.tasks.len() - 1) as TaskId
            }
        }
    }

    fn remove(&mut self, id: TaskId) -> Option<Task> {
        let task = self.tasks.get_mut(id as usize)?.take()?;
        self.free.push(id);
        self.live -= 1;
        Some(task)
    }

    fn task(&mut self, id: TaskId) -> Result<&mut Task> {
        match self.tasks.get_mut(id as usize) {
            Some(Some(task)) => Ok(task),
            _ => bail!("isyswasfa: no task {id} in the host's table"),
        }
    }

    fn component(&mut self, component: ComponentId) -> Result<&mut ComponentTasks> {
        match self.components.get_mut(component) {
            Some(c) => Ok(c),
            None => bail!("isyswasfa: no component {component}"),
        }
    }

    /// Starts a host task: `future` is polled by the event loop until it yields its value.
    pub fn spawn_host(&mut self, future: impl Future<Output = Value> + Send + 'static) -> TaskId {
        let id = self.insert(Callee::Host);
        let (abort, registration) = AbortHandle::new_pair();
        if let Ok(task) = self.task(id) {
            task.abort = Some(abort);
        }
        let future = Abortable::new(future, registration);
        self.host_futures
            .push(Box::pin(async move { (id, future.await.ok()) }));
        id
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

    /// Whether any host future is still running.
    pub fn has_host_futures(&self) -> bool {
        !self.host_futures.is_empty()
    }

    fn host_task_done(&mut self, id: TaskId, value: Value) {
        let Ok(task) = self.task(id) else { return };
        task.status = Status::Done;
        task.value = Some(value);
        task.abort = None;
        self.notify(id);
    }

    /// Queues the delivery of a finished task to its listener.
    fn notify(&mut self, id: TaskId) {
        let Some(Some(task)) = self.tasks.get(id as usize) else {
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
        let c = self.component(component)?;
        if c.listens.contains_key(&state) {
            bail!("isyswasfa: component listens twice with token {state}");
        }
        c.listens.insert(state, task);
        let t = self.task(task)?;
        if t.listener != Listener::None {
            bail!("isyswasfa: task {task} already has a listener");
        }
        t.listener = Listener::Component { component, state };
        if matches!(t.status, Status::Done) {
            self.notify(task);
        }
        Ok(())
    }

    /// The embedder waits for `task` (returned `pending` by an export it called).
    pub fn listen_embedder(&mut self, task: TaskId) -> Result<()> {
        let t = self.task(task)?;
        t.listener = Listener::Embedder;
        if matches!(t.status, Status::Done) {
            self.notify(task);
        }
        Ok(())
    }

    /// The next task the embedder awaits that has finished.
    pub fn next_embedder_ready(&mut self) -> Option<TaskId> {
        self.embedder_ready.pop_front()
    }

    /// `poller.start-task`: an export of `component` did not finish at once.
    pub fn start_task(&mut self, component: ComponentId, state: u32) -> Result<TaskId> {
        if self.component(component)?.implements.contains_key(&state) {
            bail!("isyswasfa: component starts two tasks with token {state}");
        }
        let id = self.insert(Callee::Component { component, state });
        self.component(component)?.implements.insert(state, id);
        Ok(id)
    }

    /// `poller.task-ready`: the task `state` of `component` has finished.
    pub fn task_ready(&mut self, component: ComponentId, state: u32) -> Result<()> {
        let Some(&id) = self.component(component)?.implements.get(&state) else {
            bail!("isyswasfa: component has no task with token {state}");
        };
        let task = self.task(id)?;
        if matches!(task.status, Status::Running) {
            task.status = Status::Done;
            self.notify(id);
        }
        Ok(())
    }

    /// `poller.take-result`: `component` claims the `ready` handed to one of its result exports.
    /// Returns its token; the task leaves the table.
    pub fn take_result(&mut self, component: ComponentId, task: TaskId) -> Result<u32> {
        let t = self.task(task)?;
        let Callee::Component {
            component: callee,
            state,
        } = t.callee
        else {
            bail!("isyswasfa: a `ready` of a host task was passed to a component's result export");
        };
        if callee != component {
            let (from, to) = (self.component_name(callee), self.component_name(component));
            bail!(
                "isyswasfa: a `ready` for a task of component `{from}` was passed to a result \
                 export of component `{to}`"
            );
        }
        self.component(component)?.implements.remove(&state);
        self.remove(task);
        Ok(state)
    }

    /// The `-isyswasfa-result` host function of a host task: takes its value out of the table.
    pub fn take_host_value(&mut self, task: TaskId) -> Result<Value> {
        let t = self.task(task)?;
        if t.callee != Callee::Host {
            bail!("isyswasfa: a `ready` of a component's task was passed to a host function");
        }
        match t.value.take() {
            Some(value) => {
                self.remove(task);
                Ok(value)
            }
            None => bail!("isyswasfa: task {task} has no value yet"),
        }
    }

    /// `poller.cancel`: `component` no longer waits for the task it listens to with `state`.
    pub fn cancel_listen(&mut self, component: ComponentId, state: u32) -> Result<()> {
        let c = self.component(component)?;
        let Some(task) = c.listens.remove(&state) else {
            bail!("isyswasfa: component cancels unknown token {state}");
        };
        // A `ready` not yet delivered is withdrawn with the task.
        c.events
            .retain(|event| !matches!(event, Event::Ready { task: t, .. } if *t == task));
        self.cancel(task);
        Ok(())
    }

    /// Drops a task whose listener is gone (the embedder's call future was dropped, or a `pending`
    /// or uncollected `ready` handle was dropped). A host task is dropped at once; a component
    /// is asked to drop its task and confirms with `task-cancelled`.
    pub fn cancel(&mut self, task: TaskId) {
        let Some(Some(t)) = self.tasks.get_mut(task as usize) else {
            return;
        };
        if let Listener::Component { component, state } = t.listener
            && let Some(c) = self.components.get_mut(component)
        {
            c.listens.remove(&state);
        }
        t.listener = Listener::None;
        match t.callee {
            Callee::Host => {
                if let Some(abort) = t.abort.take() {
                    abort.abort();
                }
                self.remove(task);
            }
            Callee::Component { component, state } => {
                if matches!(t.status, Status::Cancelling) {
                    return;
                }
                t.status = Status::Cancelling;
                if let Some(c) = self.components.get_mut(component) {
                    c.events.push_back(Event::Cancel { state });
                }
            }
        }
    }

    /// `poller.task-cancelled`: the component has dropped its cancelled task.
    pub fn task_cancelled(&mut self, component: ComponentId, state: u32) -> Result<()> {
        let Some(task) = self.component(component)?.implements.remove(&state) else {
            bail!("isyswasfa: component confirms cancelling unknown token {state}");
        };
        self.remove(task);
        Ok(())
    }

    /// Takes the events queued for `component`. A delivered `ready` ends the listening: from
    /// then on the task is reached through the `ready` handle alone.
    pub fn take_events(&mut self, component: ComponentId) -> Vec<Event> {
        let Some(c) = self.components.get_mut(component) else {
            return Vec::new();
        };
        let events: Vec<Event> = c.events.drain(..).collect();
        for event in &events {
            if let Event::Ready { state, task } = *event {
                c.listens.remove(&state);
                if let Some(Some(t)) = self.tasks.get_mut(task as usize) {
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

    /// Whether `component` has events waiting.
    pub fn has_events(&self, component: ComponentId) -> bool {
        self.components
            .get(component)
            .is_some_and(|c| !c.events.is_empty())
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
            let Some(Some(t)) = self.tasks.get(task as usize) else {
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
            pipe_ends: 0,
            pollables: 0,
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
        table.task_ready(1, 7).unwrap();
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
        let task = table.spawn_host(async { Box::new(5u32) as Value });
        table.listen(0, task, 1).unwrap();
        assert!(table.can_block(0, &[]).is_ok());
        std::future::poll_fn(|cx| table.poll_host(cx)).await;
        assert_eq!(table.take_events(0), vec![Event::Ready { state: 1, task }]);
        let value = table.take_host_value(task).unwrap();
        assert_eq!(*value.downcast::<u32>().unwrap(), 5);
        assert_eq!(table.sizes(), TableSizes::default());
    }

    #[tokio::test]
    async fn cancelled_host_task_is_dropped() {
        let mut table = table_with(&["a"]);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = table.spawn_host(async move {
            let _keep = tx;
            std::future::pending::<()>().await;
            Box::new(()) as Value
        });
        table.listen(0, task, 1).unwrap();
        table.cancel_listen(0, 1).unwrap();
        std::future::poll_fn(|cx| table.poll_host(cx)).await;
        assert!(rx.await.is_err(), "the host future was dropped");
        assert_eq!(table.sizes(), TableSizes::default());
    }
}
