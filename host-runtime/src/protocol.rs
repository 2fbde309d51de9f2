//! The host side of the `isyswasfa:isyswasfa/isyswasfa` interface: the `pending`, `ready` and
//! `poller` resources, the poller's methods, and the events lowered into poll exports.

use wasmtime::component::{ComponentType, Linker, Lower, Resource, ResourceTable, ResourceType};
use wasmtime::{Result, StoreContextMut, format_err};

use crate::tasks::{ComponentId, Event, TableLimits, TaskTable};

/// The name of the protocol interface, as components import it.
pub const INTERFACE: &str = "isyswasfa:isyswasfa/isyswasfa@0.1.0";

/// The prefix of every component's poll export (`isyswasfa-poll-<suffix>`).
pub const POLL_PREFIX: &str = "isyswasfa-poll";

/// Marker type of the `pending` resource; its rep is the task's id.
pub struct Pending;
/// Marker type of the `ready` resource; its rep is the task's id.
pub struct Ready;
/// Marker type of the `poller` resource; its rep is the component's id.
pub struct Poller;

/// `record ready-event`, as lowered into a poll export.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct ReadyEvent {
    state: u32,
    ready: Resource<Ready>,
}

/// `variant poll-input`, as lowered into a poll export.
#[derive(ComponentType, Lower)]
#[component(variant)]
pub enum PollInput {
    #[component(name = "init")]
    Init(Resource<Poller>),
    #[component(name = "ready")]
    Ready(ReadyEvent),
    #[component(name = "cancel")]
    Cancel(u32),
}

impl PollInput {
    /// Turns the queued events of `component` into values for its poll export. Each `ready`
    /// event hands over a fresh handle to the task.
    pub fn lower(component: ComponentId, events: Vec<Event>) -> Vec<PollInput> {
        events
            .into_iter()
            .map(|event| match event {
                Event::Init => PollInput::Init(Resource::new_own(component as u32)),
                Event::Ready { state, task } => PollInput::Ready(ReadyEvent {
                    state,
                    ready: Resource::new_own(task),
                }),
                Event::Cancel { state } => PollInput::Cancel(state),
            })
            .collect()
    }
}

/// What the event loop is running right now; decides where a component may wait.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Running {
    /// Nothing: no component is on the stack.
    #[default]
    Idle,
    /// The poll export of this component.
    Poll(ComponentId),
    /// An export called by the embedder.
    Export(String),
}

/// The isyswasfa state of a store: its task table and what is running.
#[derive(Default)]
pub struct IsyswasfaCtx {
    pub(crate) table: TaskTable,
    pub(crate) running: Running,
    pub(crate) pipes: crate::pipe_links::PipeTable,
    pub(crate) pollables: crate::pollables::PollableWaits,
    /// A weak handle to the store's own event loop (a `WeakHost<T>`), for host code that goes
    /// on after a host function returned and needs the store again (see [`crate::Host::of`]).
    pub(crate) host: Option<Box<dyn std::any::Any + Send>>,
    /// Names the store in the log lines of its guests' stdout/stderr (see [`crate::cli`]).
    pub(crate) label: Option<std::sync::Arc<str>>,
    /// Set once entering the store failed (a trap, or a host function's error): the reason every
    /// later call fails with. Only the first cause is kept.
    pub(crate) broken: Option<std::sync::Arc<str>>,
    /// Epoch ticks the current guest entry has run (see [`crate::deadline`]).
    pub(crate) entry_ticks: u64,
    /// How long one guest entry may run; `None` for [`crate::DEFAULT_CPU_BUDGET`].
    pub(crate) cpu_budget: Option<std::time::Duration>,
    /// See [`IsyswasfaCtx::set_max_deliveries_per_turn`].
    pub(crate) max_deliveries_per_turn: Option<usize>,
}

impl IsyswasfaCtx {
    /// Sends the guests' stdout/stderr lines to the log (`tracing`, target
    /// `isyswasfa::guest`), each prefixed with `label`, instead of the process's own streams.
    pub fn set_label(&mut self, label: impl Into<std::sync::Arc<str>>) {
        self.label = Some(label.into());
    }

    /// The task table.
    pub fn table(&self) -> &TaskTable {
        &self.table
    }

    /// Sets the caps on the task table (see [`TableLimits`]).
    pub fn set_limits(&mut self, limits: TableLimits) {
        self.table.set_limits(limits);
    }

    /// Sets the buffer sizes of the streams this store's components make (see
    /// [`crate::StreamCapacities`]; at least 1 each). They bound the host memory one stream can
    /// hold, whatever its writer does: a write beyond the room left gives back the excess.
    pub fn set_stream_capacities(&mut self, capacities: crate::StreamCapacities) {
        self.pipes.capacities = crate::StreamCapacities {
            bytes: capacities.bytes.max(1),
            values: capacities.values.max(1),
        };
    }

    /// Sets how many deliveries (poll-export calls and result collections) the event loop makes
    /// before it lets commands, timers and other hosts in again; see
    /// [`crate::MAX_DELIVERIES_PER_TURN`] (the default). At least 1.
    pub fn set_max_deliveries_per_turn(&mut self, deliveries: usize) {
        self.max_deliveries_per_turn = Some(deliveries.max(1));
    }

    /// How many deliveries the event loop makes per turn.
    pub fn max_deliveries_per_turn(&self) -> usize {
        self.max_deliveries_per_turn
            .unwrap_or(crate::MAX_DELIVERIES_PER_TURN)
    }

    /// Sets how long one guest entry (a call's start or result half, a poll export, a synchronous
    /// export) may run before it is stopped with a trap; see [`crate::DEFAULT_CPU_BUDGET`].
    pub fn set_cpu_budget(&mut self, budget: std::time::Duration) {
        self.cpu_budget = Some(budget);
    }

    /// The CPU budget of one guest entry.
    pub fn cpu_budget(&self) -> std::time::Duration {
        self.cpu_budget.unwrap_or(crate::DEFAULT_CPU_BUDGET)
    }

    /// Why the store cannot be entered any more, once a guest entry failed.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// Records that entering the store failed with `cause` (a trap, or an error of a host
    /// function the guest called): wasmtime refuses to enter an instance again after that, so
    /// the [`crate::Host`] fails every call from now on with the first cause recorded. Embedders
    /// whose [`crate::Host::with_store`] job calls into the instance and gets an error call this.
    /// Returns the error the calls fail with.
    pub fn record_failure(&mut self, cause: &wasmtime::Error) -> wasmtime::Error {
        if self.broken.is_none() {
            let names: Vec<String> = (0..self.table.component_count())
                .map(|c| format!("`{}`", self.table.component_name(c)))
                .collect();
            let which = match names.len() {
                1 => format!("component {}", names[0]),
                _ => format!("the composition of components {}", names.join(", ")),
            };
            let reason =
                format!("isyswasfa: {which} is broken and cannot be entered any more: {cause:#}");
            tracing::error!("{reason}");
            self.broken = Some(reason.into());
        }
        self.broken_error()
            .unwrap_or_else(|| format_err!("isyswasfa: the instance is broken"))
    }

    /// The error calls of a broken store fail with.
    pub(crate) fn broken_error(&self) -> Option<wasmtime::Error> {
        self.broken.as_deref().map(|reason| format_err!("{reason}"))
    }

    /// May `component` wait for events now, from inside a synchronous call (`block_on`)?
    ///
    /// The single rule of DESIGN.md §3: never inside the component's own poll export (it must
    /// await instead), and elsewhere only when a task the *host* implements can wake what it
    /// waits for (`waiting_for`: the tokens its blocked future awaits; empty means any of its
    /// tasks), since no component can be entered while one is on the stack.
    pub fn may_wait(&self, component: ComponentId, waiting_for: &[u32]) -> Result<()> {
        let name = self.table.component_name(component);
        match &self.running {
            Running::Poll(c) if *c == component => Err(format_err!(
                "isyswasfa: component `{name}` called `block_on` inside an async task; \
                 await the future there instead"
            )),
            Running::Idle => Err(format_err!(
                "isyswasfa: component `{name}` tried to wait while the host was not calling it"
            )),
            running => self.table.can_block(component, waiting_for).map_err(|why| {
                let during = match running {
                    Running::Export(export) => format!("the call to `{export}`"),
                    Running::Poll(c) => format!(
                        "an async task of component `{}`",
                        self.table.component_name(*c)
                    ),
                    Running::Idle => "no call".to_string(),
                };
                format_err!(
                    "isyswasfa: component `{name}` cannot wait in `block_on` during {during}: {why}"
                )
            }),
        }
    }
}

/// Gives the store data's isyswasfa state to the host functions, like `WasiView` does for WASI.
pub trait IsyswasfaView: Send {
    /// The store's isyswasfa state.
    fn isyswasfa(&mut self) -> &mut IsyswasfaCtx;

    /// The isyswasfa state and the store's WASI `ResourceTable` at once: WASI 0.2 pollables
    /// that components await live in the table, and the host waits for them next to its tasks.
    fn isyswasfa_and_table(&mut self) -> (&mut IsyswasfaCtx, &mut ResourceTable);
}

fn component_of(poller: &Resource<Poller>) -> ComponentId {
    poller.rep() as ComponentId
}

/// Adds the protocol interface to `linker`. Every isyswasfa component imports it.
pub fn add_to_linker<T: IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    let mut i = linker.instance(INTERFACE)?;
    // A dropped `pending` (never listened to) or `ready` (never collected) cancels its task.
    i.resource(
        "pending",
        ResourceType::host::<Pending>(),
        |mut store, rep| {
            store.data_mut().isyswasfa().table.cancel(rep);
            Ok(())
        },
    )?;
    i.resource("ready", ResourceType::host::<Ready>(), |mut store, rep| {
        store.data_mut().isyswasfa().table.cancel(rep);
        Ok(())
    })?;
    i.resource("poller", ResourceType::host::<Poller>(), |_, _| Ok(()))?;

    i.func_wrap(
        "[method]poller.listen",
        |mut store, (poller, task, state): (Resource<Poller>, Resource<Pending>, u32)| {
            let table = &mut store.data_mut().isyswasfa().table;
            table.listen(component_of(&poller), task.rep(), state)
        },
    )?;
    i.func_wrap(
        "[method]poller.cancel",
        |mut store, (poller, state): (Resource<Poller>, u32)| {
            let table = &mut store.data_mut().isyswasfa().table;
            table.cancel_listen(component_of(&poller), state)
        },
    )?;
    i.func_wrap(
        "[method]poller.start-task",
        |mut store, (poller, state): (Resource<Poller>, u32)| {
            let table = &mut store.data_mut().isyswasfa().table;
            let task = table.start_task(component_of(&poller), state)?;
            Ok((Resource::<Pending>::new_own(task),))
        },
    )?;
    i.func_wrap(
        "[method]poller.task-ready",
        |mut store, (poller, state): (Resource<Poller>, u32)| {
            let table = &mut store.data_mut().isyswasfa().table;
            table.task_ready(component_of(&poller), state)
        },
    )?;
    i.func_wrap(
        "[method]poller.task-cancelled",
        |mut store, (poller, state): (Resource<Poller>, u32)| {
            let table = &mut store.data_mut().isyswasfa().table;
            table.task_cancelled(component_of(&poller), state)
        },
    )?;
    i.func_wrap(
        "[method]poller.take-result",
        |mut store, (poller, ready): (Resource<Poller>, Resource<Ready>)| {
            let table = &mut store.data_mut().isyswasfa().table;
            Ok((table.take_result(component_of(&poller), ready.rep())?,))
        },
    )?;
    i.func_wrap(
        "[method]poller.run-again",
        |mut store, (poller,): (Resource<Poller>,)| {
            let table = &mut store.data_mut().isyswasfa().table;
            table.run_again(component_of(&poller))
        },
    )?;
    i.func_wrap_async(
        "[method]poller.block",
        |store, (poller, waiting_for): (Resource<Poller>, Vec<u32>)| {
            Box::new(async move {
                let events = block(store, component_of(&poller), &waiting_for).await?;
                Ok((events,))
            })
        },
    )?;
    i.func_wrap_async(
        "[method]poller.try-block",
        |store, (poller, waiting_for): (Resource<Poller>, Vec<u32>)| {
            Box::new(async move {
                let outcome = block(store, component_of(&poller), &waiting_for).await;
                Ok((outcome.map_err(|error| format!("{error:#}")),))
            })
        },
    )?;
    Ok(())
}

/// `poller.block`: waits, inside a synchronous export, until `component` has events, driving
/// the host's own tasks and pollables meanwhile (the event loop is stuck in this call).
async fn block<T: IsyswasfaView>(
    mut store: StoreContextMut<'_, T>,
    component: ComponentId,
    waiting_for: &[u32],
) -> Result<Vec<PollInput>> {
    loop {
        let ctx = store.data_mut().isyswasfa();
        if ctx.table.has_events(component) {
            let events = ctx.table.take_events(component);
            return Ok(PollInput::lower(component, events));
        }
        ctx.may_wait(component, waiting_for)?;
        crate::pollables::wait_host(store.data_mut()).await;
    }
}
