//! The WASI 0.2 pollables the host waits for on behalf of components (each completes a host
//! task when it becomes ready).

use isyswasfa_protocol::tasks::{TaskId, TaskTable};
use tokio::sync::oneshot;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll::HostPollable as _;

use crate::pollables::timers::Timers;

/// One pollable the host waits for on behalf of a component.
pub(crate) struct Wait {
    pub(crate) pollable: Resource<DynPollable>,
    /// The host task the wait completes.
    pub(crate) task: TaskId,
    /// Completes the host task; closed when the task was cancelled.
    pub(crate) done: oneshot::Sender<()>,
}

/// The pollables the host waits for.
#[derive(Default)]
pub struct PollableWaits {
    pub(crate) waits: Vec<Wait>,
    /// The clock pollables this host made, waited for without the table (see [`Timers`]).
    pub(crate) timers: Timers,
}

impl PollableWaits {
    /// How many pollables the host holds for components.
    pub fn len(&self) -> usize {
        self.waits.len()
    }

    /// Whether the host holds no pollable.
    pub fn is_empty(&self) -> bool {
        self.waits.is_empty()
    }

    /// Forgets every wait (the store is broken; its resource table is dropped as a whole).
    pub(crate) fn clear(&mut self) {
        self.waits.clear();
        self.timers.clear();
    }

    /// Drops the pollables of waits that were cancelled (their task is gone from `tasks`): at
    /// once, so that the guest can drop the pollable's parent (a stream, say) right after
    /// cancelling, without wasmtime refusing it for a child still held.
    pub(crate) fn reap(&mut self, tasks: &TaskTable, table: &mut ResourceTable) {
        let mut i = 0;
        while i < self.waits.len() {
            let wait = &self.waits[i];
            if wait.done.is_closed() || !tasks.is_live(wait.task) {
                let wait = self.waits.swap_remove(i);
                drop_pollable(table, wait.pollable);
            } else {
                i += 1;
            }
        }
    }
}

pub(crate) fn drop_pollable(table: &mut ResourceTable, pollable: Resource<DynPollable>) {
    if let Err(error) = table.drop(pollable) {
        tracing::debug!("isyswasfa: dropping a waited-for pollable failed: {error:#}");
    }
}
