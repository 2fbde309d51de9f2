//! The `isyswasfa:isyswasfa` interfaces: the `pending`, `ready` and `poller` resources, the
//! poller's methods on the shared task table, and the pollable waits.

use std::cell::Cell;
use std::sync::LazyLock;

use isyswasfa_protocol::context::may_wait;
use isyswasfa_protocol::tasks::{ComponentId, Event, HostFunction, TaskId};
use wasi::io::poll::Pollable;

use crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::{
    Guest, GuestPending, GuestPoller, GuestReady, Pending, PollInput, Ready, ReadyEvent,
};
use crate::bindings::exports::isyswasfa::isyswasfa::pollables;
use crate::state::{self, check, trap};
use crate::{Runtime, reactor};

/// A task that has not finished; dropping it uncollected cancels the task.
pub struct PendingTask {
    id: Cell<Option<TaskId>>,
}

/// A finished task; dropping it uncollected cancels the task.
pub struct ReadyTask {
    id: Cell<Option<TaskId>>,
}

/// A component's poller: its registration number.
pub struct ComponentPoller {
    component: ComponentId,
}

fn cancel(id: Option<TaskId>) {
    if let Some(id) = id {
        state::with(|s| s.tasks.cancel(id));
    }
}

impl PendingTask {
    /// A new `pending` for task `id`.
    pub fn handle(id: TaskId) -> Pending {
        Pending::new(Self {
            id: Cell::new(Some(id)),
        })
    }

    /// The task of `pending`, consumed.
    pub fn take(pending: Pending) -> TaskId {
        let id = pending.get::<Self>().id.take();
        drop(pending);
        id.unwrap_or_else(|| trap("isyswasfa: a `pending` was used twice"))
    }
}

impl ReadyTask {
    /// A new `ready` for task `id`.
    pub fn handle(id: TaskId) -> Ready {
        Ready::new(Self {
            id: Cell::new(Some(id)),
        })
    }

    /// The task of `ready`, consumed (dropping the handle then cancels nothing).
    pub fn take(ready: Ready) -> TaskId {
        let id = ready.get::<Self>().id.take();
        drop(ready);
        id.unwrap_or_else(|| trap("isyswasfa: a `ready` was used twice"))
    }
}

impl Drop for PendingTask {
    fn drop(&mut self) {
        cancel(self.id.take());
    }
}

impl Drop for ReadyTask {
    fn drop(&mut self) {
        cancel(self.id.take());
    }
}

impl GuestPending for PendingTask {}
impl GuestReady for ReadyTask {}

/// Turns queued events of `component` into poll export values (new handles).
pub fn lower(component: ComponentId, events: Vec<Event>) -> Vec<PollInput> {
    events
        .into_iter()
        .map(|event| match event {
            Event::Init => PollInput::Init(
                crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::Poller::new(
                    ComponentPoller { component },
                ),
            ),
            Event::Ready { state, task } => PollInput::Ready(ReadyEvent {
                state,
                ready: ReadyTask::handle(task),
            }),
            Event::Cancel { state } => PollInput::Cancel(state),
        })
        .collect()
}

impl ComponentPoller {
    fn block(&self, waiting_for: &[u32]) -> Result<Vec<PollInput>, String> {
        let component = self.component;
        loop {
            let events = state::with(|s| {
                if s.tasks.has_events(component) {
                    return Ok(Some(s.tasks.take_events(component)));
                }
                may_wait(&s.tasks, &s.running, component, waiting_for).map(|()| None)
            });
            match events {
                Ok(Some(events)) => return Ok(lower(component, events)),
                Ok(None) => {}
                Err(error) => return Err(error.to_string()),
            }
            if !state::drive(true) && !state::with(|s| s.tasks.has_events(component)) {
                let name = state::with(|s| s.tasks.component_name(component).to_string());
                return Err(format!(
                    "isyswasfa: component `{name}` waits in `block_on` for a task that nothing \
                     is running"
                ));
            }
        }
    }
}

impl GuestPoller for ComponentPoller {
    fn listen(&self, task: Pending, state: u32) {
        let id = PendingTask::take(task);
        state::with(|s| check(s.tasks.listen(self.component, id, state)));
    }

    fn cancel(&self, state: u32) {
        state::with(|s| check(s.tasks.cancel_listen(self.component, state)));
    }

    fn start_task(&self, state: u32) -> Pending {
        let id = state::with(|s| check(s.tasks.start_task(self.component, state)));
        PendingTask::handle(id)
    }

    fn task_ready(&self, state: u32) {
        state::with(|s| check(s.tasks.task_ready(self.component, state)));
    }

    fn task_cancelled(&self, state: u32) {
        state::with(|s| check(s.tasks.task_cancelled(self.component, state)));
    }

    fn take_result(&self, ready: Ready) -> u32 {
        let id = ReadyTask::take(ready);
        state::with(|s| check(s.tasks.take_result(self.component, id)))
    }

    fn block(&self, waiting_for: Vec<u32>) -> Vec<PollInput> {
        self.block(&waiting_for).unwrap_or_else(|error| trap(error))
    }

    fn try_block(&self, waiting_for: Vec<u32>) -> Result<Vec<PollInput>, String> {
        self.block(&waiting_for)
    }

    fn run_again(&self) {
        state::with(|s| check(s.tasks.run_again(self.component)));
    }
}

impl Guest for Runtime {
    type Pending = PendingTask;
    type Ready = ReadyTask;
    type Poller = ComponentPoller;
}

static POLLABLE_WAIT: LazyLock<HostFunction> =
    LazyLock::new(|| HostFunction::new("wasi:io/poll@0.2.0#pollable.wait"));

impl pollables::Guest for Runtime {
    fn wait(p: Pollable) -> Option<Pending> {
        if p.ready() {
            return None;
        }
        match state::start(&POLLABLE_WAIT, reactor::ready(p)) {
            Ok(()) => None,
            Err(id) => Some(PendingTask::handle(id)),
        }
    }
}
