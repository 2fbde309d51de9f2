//! The runtime's state: one task table (the protocol crate's), what the driver is running, and
//! the loop that runs the runtime's own tasks.

use std::cell::RefCell;
use std::fmt::Display;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use isyswasfa_protocol::context::Running;
use isyswasfa_protocol::tasks::{HostFunction, TaskId, TaskTable, Value};

use crate::reactor;

/// The runtime's state.
#[derive(Default)]
pub struct State {
    /// The task table of the bundle: every component's tasks and the runtime's own.
    pub tasks: TaskTable,
    /// The export the driver is calling, if any.
    pub export: Option<String>,
    /// What runs now: the export, or a component's poll export.
    pub running: Running,
    /// Where the search for a component with events starts next time (round robin).
    pub next_component: usize,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Runs `f` on the state. `f` must not drop resource handles of this instance (their
/// destructors use the state too).
pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Fails the current call: a trap, with `error` printed to the standard error stream first (the
/// only way a component can fail a call whose type has no error case). The host traps on the
/// same protocol errors, with the same messages.
pub fn trap(error: impl Display) -> ! {
    panic!("{error}")
}

/// The result of a fallible protocol operation, or a trap.
pub fn check<T>(result: isyswasfa_protocol::Result<T>) -> T {
    result.unwrap_or_else(|error| trap(error))
}

/// A future of the runtime's own that no task waits for (a body copied between a WASI 0.2
/// stream and a pipe).
type Background = Pin<Box<dyn Future<Output = ()>>>;

thread_local! {
    static BACKGROUND: RefCell<Vec<Background>> = const { RefCell::new(Vec::new()) };
}

/// Runs `future` beside the tasks, polled by [`drive`] until it finishes. It must not use the
/// state ([`with`]): it is polled while nothing else runs, but may be polled inside `with`'s
/// callers' loops.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub fn spawn_background(future: impl Future<Output = ()> + 'static) {
    BACKGROUND.with(|b| b.borrow_mut().push(Box::pin(future)));
    WOKEN.store(true, Ordering::SeqCst);
}

/// Polls every background future once; drops those that finished.
fn poll_background(cx: &mut Context<'_>) {
    let mut running = BACKGROUND.with(|b| std::mem::take(&mut *b.borrow_mut()));
    running.retain_mut(|future| future.as_mut().poll(cx).is_pending());
    BACKGROUND.with(|b| {
        let mut b = b.borrow_mut();
        let spawned = std::mem::take(&mut *b);
        *b = running;
        b.extend(spawned);
    });
}

static WOKEN: AtomicBool = AtomicBool::new(false);

struct Flag;

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        WOKEN.store(true, Ordering::SeqCst);
    }
}

/// Starts a host-implemented async call of `function`: the future is polled once, and its value
/// returned at once when it is ready; otherwise it becomes a task of the table, polled by
/// [`drive`], and its id is returned for a `pending`.
pub fn start<T: Send + 'static>(
    function: &HostFunction,
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, TaskId> {
    let mut future = Box::pin(future);
    let mut cx = Context::from_waker(Waker::noop());
    if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
        return Ok(value);
    }
    let value = async move { Box::new(future.await) as Value };
    Err(with(|s| check(s.tasks.spawn_host(function.clone(), value))))
}

/// The value of a host-implemented call, for its result half.
pub fn take_value<T: 'static>(function: &HostFunction, task: TaskId) -> T {
    let value = with(|s| check(s.tasks.take_host_value(function, task)));
    match value.downcast::<T>() {
        Ok(value) => *value,
        Err(_) => trap(format!(
            "isyswasfa: `{}-isyswasfa-result`: the task's value has another type",
            function.name()
        )),
    }
}

/// Runs the runtime's own tasks until one of them finishes (`true`: events may be queued now).
/// With `block`, waits for the pollables they need in one `wasi:io/poll.poll`; without, or when
/// no task waits for anything, returns `false` instead of waiting.
pub fn drive(block: bool) -> bool {
    let waker = Waker::from(Arc::new(Flag));
    loop {
        WOKEN.store(false, Ordering::SeqCst);
        let mut cx = Context::from_waker(&waker);
        poll_background(&mut cx);
        let finished = with(|s| s.tasks.poll_host(&mut cx).is_ready());
        if finished {
            return true;
        }
        if WOKEN.swap(false, Ordering::SeqCst) {
            continue;
        }
        if !block || !reactor::wait() {
            return false;
        }
    }
}
