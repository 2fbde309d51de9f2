//! The host side of the `isyswasfa:isyswasfa/isyswasfa` interface: the `pending`, `ready` and
//! `poller` resources, the poller's methods, and the events lowered into poll exports.

use wasmtime::component::{ComponentType, Linker, Lower, Resource, ResourceType};
use wasmtime::{Result, StoreContextMut};

use isyswasfa_protocol::names::INTERFACE;
use isyswasfa_protocol::tasks::{ComponentId, Event};

use crate::ctx::IsyswasfaView;

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
            store.data_mut().isyswasfa().cancel_task(rep);
            Ok(())
        },
    )?;
    i.resource("ready", ResourceType::host::<Ready>(), |mut store, rep| {
        store.data_mut().isyswasfa().cancel_task(rep);
        Ok(())
    })?;
    i.resource("poller", ResourceType::host::<Poller>(), |_, _| Ok(()))?;

    i.func_wrap(
        "[method]poller.listen",
        |mut store, (poller, task, state): (Resource<Poller>, Resource<Pending>, u32)| {
            let table = &mut store.data_mut().isyswasfa().ctx.tasks;
            Ok(table.listen(component_of(&poller), task.rep(), state)?)
        },
    )?;
    i.func_wrap(
        "[method]poller.cancel",
        |mut store, (poller, state): (Resource<Poller>, u32)| {
            let crate::ctx::IsyswasfaCtxView { ctx, table } = store.data_mut().isyswasfa();
            ctx.tasks.cancel_listen(component_of(&poller), state)?;
            // The task may have been a pollable wait: let go of the pollable now.
            ctx.pollables.reap(&ctx.tasks, table);
            Ok(())
        },
    )?;
    i.func_wrap(
        "[method]poller.start-task",
        |mut store, (poller, state): (Resource<Poller>, u32)| {
            let table = &mut store.data_mut().isyswasfa().ctx.tasks;
            let task = table.start_task(component_of(&poller), state)?;
            Ok((Resource::<Pending>::new_own(task),))
        },
    )?;
    i.func_wrap(
        "[method]poller.task-ready",
        |mut store, (poller, state): (Resource<Poller>, u32)| {
            let table = &mut store.data_mut().isyswasfa().ctx.tasks;
            Ok(table.task_ready(component_of(&poller), state)?)
        },
    )?;
    i.func_wrap(
        "[method]poller.task-cancelled",
        |mut store, (poller, state): (Resource<Poller>, u32)| {
            let table = &mut store.data_mut().isyswasfa().ctx.tasks;
            Ok(table.task_cancelled(component_of(&poller), state)?)
        },
    )?;
    i.func_wrap(
        "[method]poller.take-result",
        |mut store, (poller, ready): (Resource<Poller>, Resource<Ready>)| {
            let table = &mut store.data_mut().isyswasfa().ctx.tasks;
            Ok((table.take_result(component_of(&poller), ready.rep())?,))
        },
    )?;
    i.func_wrap(
        "[method]poller.run-again",
        |mut store, (poller,): (Resource<Poller>,)| {
            let table = &mut store.data_mut().isyswasfa().ctx.tasks;
            Ok(table.run_again(component_of(&poller))?)
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
        let ctx = store.data_mut().isyswasfa().ctx;
        if ctx.tasks.has_events(component) {
            let events = ctx.tasks.take_events(component);
            return Ok(PollInput::lower(component, events));
        }
        ctx.may_wait(component, waiting_for)?;
        crate::pollables::wait::wait_host(store.data_mut()).await;
    }
}
