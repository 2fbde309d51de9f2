//! What a [`Host`](super::Host) handle sends its event loop: commands, store jobs and exported
//! calls in flight with their types erased.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::oneshot;
use wasmtime::Result;
use wasmtime::Store;
use wasmtime::component::{Instance, TypedFunc};

use crate::poller::PollInput;
use isyswasfa_protocol::tasks::{TableSizes, TaskId};

pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub(super) type PollFunc = TypedFunc<(Vec<PollInput>,), ()>;
pub(super) type CallId = u64;

/// A store-side job sent by a [`Host`] handle.
pub(super) type StoreJob<T> =
    Box<dyn for<'a> FnOnce(&'a mut Store<T>, &'a Instance) -> BoxFuture<'a, ()> + Send>;

pub(super) enum Command<T: 'static> {
    Call(CallId, Box<dyn ExportCall<T>>),
    Cancel(CallId),
    /// Reports the sizes of every table of the store and of the loop.
    Sizes(oneshot::Sender<TableSizes>),
    /// Runs a job; `export` names the export it calls, if any (see [`Running`]).
    Job {
        export: Option<Arc<str>>,
        job: StoreJob<T>,
    },
}

/// One exported call in flight, with its types erased for the loop. Errors that leave the store
/// usable (a value of the wrong type) are replied to the caller and fail that call only; an error
/// while the store was entered (a trap, a host function's error) is returned instead: the loop
/// then breaks the store and fails every call.
pub(super) trait ExportCall<T>: Send {
    /// The function's name, for messages.
    fn name(&self) -> &str;
    /// Calls the start half; `Some(task)` when the call did not finish at once, `None` when it
    /// replied.
    fn start<'a>(&'a mut self, store: &'a mut Store<T>) -> BoxFuture<'a, Result<Option<TaskId>>>;
    /// Calls the result half with the finished task and replies.
    fn finish<'a>(&'a mut self, store: &'a mut Store<T>, task: TaskId)
    -> BoxFuture<'a, Result<()>>;
    /// Replies with an error.
    fn fail(self: Box<Self>, error: wasmtime::Error);
}
