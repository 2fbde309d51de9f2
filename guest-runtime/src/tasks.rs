//! The guest half of the task protocol (`wit/isyswasfa/isyswasfa.wit`).
//!
//! Three tables, all keyed by a `u32` token this component picks and the host echoes back:
//! - *listeners*: imported calls this component awaits (`listen` → a `ready` event wakes them);
//! - *exports*: exported async calls that did not finish in their start function;
//! - the *poller*: this component's identity, handed over by the host in the first event.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::executor::{self, FlagWaker, TaskKey};
use crate::protocol::{Pending, PollInput, Poller, Ready, ReadyEvent};

/// An imported call this component awaits.
#[derive(Default)]
struct Listener {
    ready: Option<Ready>,
    waker: Option<Waker>,
    /// The `block_on` whose future polled this listener last (0: none), so that a blocked
    /// `block_on` can tell the host exactly which tasks it waits for.
    blocker: u32,
}

/// An exported call that returned `pending` (or is about to).
struct ExportTask {
    /// The executor task computing the value; `None` once it has finished.
    task: Option<TaskKey>,
    /// The value, once computed, until the caller collects it.
    value: Option<Box<dyn Any>>,
    /// Whether the host knows this task (its start function returned `pending`).
    announced: bool,
    /// Which exported function the task runs (as the bindings name it), so that a `ready`
    /// passed to another function's result export is refused with a clear message instead of
    /// handing over the other function's value (or failing a downcast).
    function: &'static str,
}

#[derive(Default)]
struct Tables {
    poller: Option<Poller>,
    listeners: HashMap<u32, Listener>,
    exports: HashMap<u32, ExportTask>,
}

thread_local! {
    static TABLES: RefCell<Tables> = RefCell::default();
    static NEXT_STATE: Cell<u32> = const { Cell::new(0) };
    /// The innermost `block_on` whose future is being polled right now (0: none).
    static CURRENT_BLOCKER: Cell<u32> = const { Cell::new(0) };
    static NEXT_BLOCKER: Cell<u32> = const { Cell::new(1) };
}

fn next_state() -> u32 {
    NEXT_STATE.with(|next| {
        let state = next.get();
        next.set(state.wrapping_add(1));
        state
    })
}

/// Runs `f` with this component's poller.
///
/// The host delivers the poller before anything else can run, so its absence means the
/// component is being run by a host that does not speak the isyswasfa protocol.
fn with_poller<R>(f: impl FnOnce(&Poller) -> R) -> R {
    TABLES.with(|tables| {
        let tables = tables.borrow();
        let poller = tables.poller.as_ref().expect(
            "isyswasfa: no poller yet; this component must be run by an isyswasfa host, \
             which initializes its poll export before calling anything else",
        );
        f(poller)
    })
}

/// Handles a batch of events from the host, then runs every task they woke.
pub fn poll(input: Vec<PollInput>) {
    handle_events(input);
    run_and_yield();
}

/// Runs the executor; when it stopped with work left, asks the host to run it again.
fn run_and_yield() {
    if executor::run_until_stalled() {
        with_poller(|poller| poller.run_again());
    }
}

fn handle_events(input: Vec<PollInput>) {
    // `ready` events first: cancelling an export may drop the wait for one of them, and that
    // drop must find the `ready` delivered (rather than ask the host to cancel a task whose
    // `ready` is already on its way, which the host refuses).
    let (cancels, others): (Vec<_>, Vec<_>) = input
        .into_iter()
        .partition(|event| matches!(event, PollInput::Cancel(_)));
    for event in others.into_iter().chain(cancels) {
        match event {
            PollInput::Init(poller) => {
                TABLES.with(|tables| tables.borrow_mut().poller = Some(poller))
            }
            PollInput::Ready(ReadyEvent { state, ready }) => {
                let unwanted = TABLES.with(|tables| {
                    let mut tables = tables.borrow_mut();
                    match tables.listeners.get_mut(&state) {
                        Some(listener) => {
                            listener.ready = Some(ready);
                            if let Some(waker) = listener.waker.take() {
                                waker.wake();
                            }
                            None
                        }
                        None => Some(ready),
                    }
                });
                // Nobody waits for it any more: dropping it tells the host to discard the value.
                drop(unwanted);
            }
            PollInput::Cancel(state) => cancel_export(state),
        }
    }
}

fn cancel_export(state: u32) {
    let removed = TABLES.with(|tables| tables.borrow_mut().exports.remove(&state));
    if let Some(export) = removed {
        if let Some(task) = export.task {
            executor::cancel(task);
        }
        drop(export.value);
    }
    with_poller(|poller| poller.task_cancelled(state));
}

/// Awaits the task behind `pending` (returned by an imported `-isyswasfa-start` function) and
/// resolves to the `ready` handle to pass to the matching `-isyswasfa-result` function.
///
/// Dropping the future before it resolves cancels the task.
pub fn await_ready(pending: Pending) -> ReadyFuture {
    let state = next_state();
    TABLES.with(|tables| {
        tables
            .borrow_mut()
            .listeners
            .insert(state, Listener::default())
    });
    with_poller(|poller| poller.listen(pending, state));
    ReadyFuture { state, done: false }
}

/// The future returned by [`await_ready`].
pub struct ReadyFuture {
    state: u32,
    done: bool,
}

impl Future for ReadyFuture {
    type Output = Ready;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ready> {
        let state = self.state;
        let ready = TABLES.with(|tables| {
            let mut tables = tables.borrow_mut();
            let listener = tables
                .listeners
                .get_mut(&state)
                .expect("isyswasfa: ReadyFuture polled after completion");
            match listener.ready.take() {
                Some(ready) => {
                    tables.listeners.remove(&state);
                    Some(ready)
                }
                None => {
                    listener.waker = Some(cx.waker().clone());
                    listener.blocker = CURRENT_BLOCKER.with(Cell::get);
                    None
                }
            }
        });
        match ready {
            Some(ready) => {
                self.done = true;
                Poll::Ready(ready)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for ReadyFuture {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let listener = TABLES.with(|tables| tables.borrow_mut().listeners.remove(&self.state));
        match listener.and_then(|listener| listener.ready) {
            // Already delivered: dropping the handle discards the value.
            Some(ready) => drop(ready),
            None => with_poller(|poller| poller.cancel(self.state)),
        }
    }
}

/// Runs the body of the exported async function `function` up to its first wait.
///
/// Returns `Ok` with the value when it finished at once; otherwise the body keeps running as a
/// task of this component, and the `pending` returned tells the caller to wait for it.
/// `function` names the export uniquely within the component (the bindings pass its path); its
/// result export passes the same name to [`take_export_result`].
pub fn start_export<T: 'static>(
    function: &'static str,
    body: impl Future<Output = T> + 'static,
) -> Result<T, Pending> {
    let state = next_state();
    let task = executor::spawn_keyed(Box::pin(async move {
        let value = body.await;
        finish_export(state, Box::new(value));
    }));
    let export = ExportTask {
        task: Some(task),
        value: None,
        announced: false,
        function,
    };
    TABLES.with(|tables| tables.borrow_mut().exports.insert(state, export));
    run_and_yield();
    let value = TABLES.with(|tables| {
        let mut tables = tables.borrow_mut();
        let export = tables.exports.get_mut(&state)?;
        let value = export.value.take()?;
        tables.exports.remove(&state);
        Some(value)
    });
    match value {
        Some(value) => Ok(downcast(value)),
        None => {
            let pending = with_poller(|poller| poller.start_task(state));
            TABLES.with(|tables| {
                if let Some(export) = tables.borrow_mut().exports.get_mut(&state) {
                    export.announced = true;
                }
            });
            Err(pending)
        }
    }
}

fn finish_export(state: u32, value: Box<dyn Any>) {
    let announced = TABLES.with(|tables| {
        let mut tables = tables.borrow_mut();
        let export = tables.exports.get_mut(&state)?;
        export.task = None;
        export.value = Some(value);
        Some(export.announced)
    });
    if announced == Some(true) {
        with_poller(|poller| poller.task_ready(state));
    }
}

/// Collects the value of an exported async call of `function`, given the `ready` handle its
/// caller received.
///
/// The host checks that the task is one of this component's and has finished; this checks that
/// it is a task of `function` (a caller passing the `ready` of one function to another's result
/// export gets a trap naming both, even when their results have the same type).
pub fn take_export_result<T: 'static>(function: &'static str, ready: Ready) -> T {
    let state = with_poller(|poller| poller.take_result(ready));
    let value = TABLES.with(|tables| tables.borrow_mut().exports.remove(&state));
    let Some(export) = value else {
        panic!("isyswasfa: `poller.take-result`: this component has no task {state}");
    };
    if export.function != function {
        panic!(
            "isyswasfa: a `ready` of `{}` was passed to the result export of `{function}`",
            export.function
        );
    }
    match export.value {
        Some(value) => downcast(value),
        None => panic!("isyswasfa: result of task {state} collected before it finished"),
    }
}

fn downcast<T: 'static>(value: Box<dyn Any>) -> T {
    match value.downcast::<T>() {
        Ok(value) => *value,
        Err(_) => panic!("isyswasfa: task result has an unexpected type (bindings out of date?)"),
    }
}

/// Runs `future` to completion inside a synchronous export, running this component's other tasks
/// meanwhile.
///
/// When nothing can run, the component asks the host to wait for its next events. The host allows
/// that only while a task the host implements (a timer, a host function, a WASI 0.2 pollable) can
/// still wake `future`: waiting on a task of a component that cannot be entered now traps at once
/// with an error naming both sides. Calling `block_on` from inside an async task traps the same
/// way. [`try_block_on`] returns that error instead of trapping.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    match run_blocking(future, false) {
        Ok(value) => value,
        // Unreachable: with `trap` set, a refusal traps inside the host call.
        Err(error) => panic!("{error}"),
    }
}

/// Like [`block_on`], but when the host refuses to wait (the future needs a component that
/// cannot be entered now, or nothing could ever wake it) the reason is returned and the
/// component stays usable: `future` is dropped, and with it every call it had started.
pub fn try_block_on<T>(future: impl Future<Output = T>) -> Result<T, BlockError> {
    run_blocking(future, true)
}

/// Why the host refused to let [`try_block_on`] wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockError(String);

impl std::fmt::Display for BlockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BlockError {}

fn run_blocking<T>(future: impl Future<Output = T>, recoverable: bool) -> Result<T, BlockError> {
    let mut future = std::pin::pin!(future);
    let flag = Arc::new(FlagWaker::default());
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    let blocker = NEXT_BLOCKER.with(|next| {
        let id = next.get();
        next.set(id.wrapping_add(1).max(1));
        id
    });
    loop {
        let outer = CURRENT_BLOCKER.with(|current| current.replace(blocker));
        let polled = future.as_mut().poll(&mut cx);
        CURRENT_BLOCKER.with(|current| current.set(outer));
        if let Poll::Ready(value) = polled {
            return Ok(value);
        }
        loop {
            // A synchronous export cannot return to the host before its future is done: it
            // runs its tasks until they wait (the CPU deadline stops one that never does).
            let more = executor::run_until_stalled();
            if flag.take() {
                break;
            }
            if more {
                continue;
            }
            let waiting_for = tokens_awaited_by(blocker);
            let events = if recoverable {
                with_poller(|poller| poller.try_block(&waiting_for)).map_err(BlockError)?
            } else {
                with_poller(|poller| poller.block(&waiting_for))
            };
            handle_events(events);
            if flag.take() {
                break;
            }
        }
    }
}

/// The tokens of the imported calls that the future of `block_on` number `blocker` waits for.
fn tokens_awaited_by(blocker: u32) -> Vec<u32> {
    TABLES.with(|tables| {
        tables
            .borrow()
            .listeners
            .iter()
            .filter(|(_, listener)| listener.blocker == blocker && listener.ready.is_none())
            .map(|(state, _)| *state)
            .collect()
    })
}

/// How many tokens this component's protocol tables hold (for tests and diagnostics).
pub fn table_sizes() -> (usize, usize) {
    TABLES.with(|tables| {
        let tables = tables.borrow();
        (tables.listeners.len(), tables.exports.len())
    })
}
