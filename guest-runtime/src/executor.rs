//! The single-threaded executor that runs a component's tasks.
//!
//! A component instance is single-threaded and is only ever entered by the host (an export call,
//! or its poll export), so the executor is a thread-local run queue: it polls every task that has
//! been woken until none is left, then returns to the host. It never spins: a task that is not
//! woken is not polled again. Tasks that keep waking themselves (a `yield_async` loop) do not
//! keep the host out: after [`MAX_POLLS_PER_RUN`] polls the run returns with work left, and the
//! caller asks the host to call the poll export again (`poller.run-again`).
//!
//! A wake-up that arrives while its task is being polled is not lost: the task's `queued` flag is
//! cleared *before* the poll, so such a wake re-queues the task and the run loop polls it again.
//! The run loop can also be entered again from inside a poll (a `block_on` inside a task): a
//! task it finds already being polled further up the stack keeps its wake-up, and is queued again
//! for the outer run loop, which polls it once the outer poll has returned.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Identifies a spawned task inside this component's executor.
pub(crate) type TaskKey = usize;

struct TaskSlot {
    /// `None` while the task is being polled (taken out so the poll may spawn or drop tasks).
    future: Option<BoxFuture>,
    waker: Arc<TaskWaker>,
}

#[derive(Default)]
struct Executor {
    tasks: Vec<Option<TaskSlot>>,
    free: Vec<TaskKey>,
    live: usize,
}

thread_local! {
    static EXECUTOR: RefCell<Executor> = RefCell::default();
    static RUN_QUEUE: RefCell<VecDeque<TaskKey>> = const { RefCell::new(VecDeque::new()) };
}

/// The waker of one task: queues the task once, however often it is woken before its next poll.
struct TaskWaker {
    key: TaskKey,
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            RUN_QUEUE.with(|queue| queue.borrow_mut().push_back(self.key));
        }
    }
}

/// Spawns a task on this component's executor.
///
/// The task runs concurrently with the code that spawned it and outlives it: a task spawned by an
/// exported function keeps running after that export has returned (for example to finish writing
/// a response body). It is first polled when the executor next runs, which is before control
/// returns to the host.
pub fn spawn_local(future: impl Future<Output = ()> + 'static) {
    spawn_keyed(Box::pin(future));
}

/// Spawns `future` and returns its key, so that it can later be cancelled with [`cancel`].
pub(crate) fn spawn_keyed(future: BoxFuture) -> TaskKey {
    let key = EXECUTOR.with(|executor| {
        let mut executor = executor.borrow_mut();
        let key = executor.free.pop().unwrap_or(executor.tasks.len());
        let slot = TaskSlot {
            future: Some(future),
            // Queued from the start: a new task is polled on the executor's next run.
            waker: Arc::new(TaskWaker {
                key,
                queued: AtomicBool::new(true),
            }),
        };
        if key == executor.tasks.len() {
            executor.tasks.push(Some(slot));
        } else {
            executor.tasks[key] = Some(slot);
        }
        executor.live += 1;
        key
    });
    RUN_QUEUE.with(|queue| queue.borrow_mut().push_back(key));
    key
}

/// Drops a spawned task that has not finished yet. Its future's destructors run here, outside
/// any borrow of the executor, so they may themselves spawn or cancel tasks.
pub(crate) fn cancel(key: TaskKey) {
    let future = EXECUTOR.with(|executor| {
        let mut executor = executor.borrow_mut();
        let slot = executor.tasks.get_mut(key)?.take()?;
        executor.free.push(key);
        executor.live -= 1;
        Some(slot.future)
    });
    drop(future);
}

/// How many task polls one run of the executor makes before it returns to the host with work
/// left. A component entry must end for the host to deliver anything else (another call's
/// events, a sibling's, the embedder's commands); tasks that keep waking themselves would
/// otherwise keep it inside the component until the CPU deadline stops it. Large enough that
/// ordinary bursts of wake-ups finish in one entry.
pub const MAX_POLLS_PER_RUN: usize = 256;

/// Polls woken tasks until none is left, or [`MAX_POLLS_PER_RUN`] polls were made. Returns
/// whether tasks are still queued (the caller then asks the host to run it again).
pub(crate) fn run_until_stalled() -> bool {
    // Tasks woken while an outer run loop polls them (this call is nested inside their poll).
    let mut busy = Vec::new();
    let mut polls = 0;
    while polls < MAX_POLLS_PER_RUN
        && let Some(key) = RUN_QUEUE.with(|queue| queue.borrow_mut().pop_front())
    {
        let taken = EXECUTOR.with(|executor| {
            let mut executor = executor.borrow_mut();
            let slot = executor.tasks.get_mut(key)?.as_mut()?;
            let Some(future) = slot.future.take() else {
                // Its `queued` flag stays set: the wake-up belongs to the outer poll.
                busy.push(key);
                return None;
            };
            slot.waker.queued.store(false, Ordering::Release);
            Some((future, Waker::from(Arc::clone(&slot.waker))))
        });
        // A stale key (the task finished or was cancelled after it was woken) is skipped.
        let Some((mut future, waker)) = taken else {
            continue;
        };
        polls += 1;
        let finished = future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        let finished_future = EXECUTOR.with(|executor| {
            let mut executor = executor.borrow_mut();
            let Some(Some(slot)) = executor.tasks.get_mut(key) else {
                // Cancelled while it was being polled: drop it below.
                return Some(future);
            };
            if finished {
                executor.tasks[key] = None;
                executor.free.push(key);
                executor.live -= 1;
                Some(future)
            } else {
                slot.future = Some(future);
                None
            }
        });
        drop(finished_future);
    }
    // Whether work is left, not counting the tasks busy further up the stack: the outer run
    // polls those.
    let more = RUN_QUEUE.with(|queue| !queue.borrow().is_empty());
    if !busy.is_empty() {
        RUN_QUEUE.with(|queue| queue.borrow_mut().extend(busy));
    }
    more
}

/// How many spawned tasks have not finished yet (for tests and diagnostics).
pub fn live_tasks() -> usize {
    EXECUTOR.with(|executor| executor.borrow().live)
}

/// Yields to the other tasks of this component once, then resumes.
pub async fn yield_async() {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// A waker for a future that is not a spawned task (the argument of `block_on`): it only records
/// that the future should be polled again.
#[derive(Default)]
pub(crate) struct FlagWaker(AtomicBool);

impl FlagWaker {
    /// Returns whether the waker was woken since the last call, and clears the flag.
    pub(crate) fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A nested run loop (what `block_on` inside a task runs) must not swallow a wake-up of the
    /// task that is being polled further up the stack.
    #[test]
    fn nested_run_keeps_the_outer_task_wake_up() {
        let polls = Rc::new(Cell::new(0));
        let counted = Rc::clone(&polls);
        let mut nested_once = false;
        spawn_local(std::future::poll_fn(move |cx| {
            counted.set(counted.get() + 1);
            if !nested_once {
                nested_once = true;
                // Woken while being polled, then a nested run loop (as in `block_on`).
                cx.waker().wake_by_ref();
                run_until_stalled();
                return Poll::Pending;
            }
            Poll::Ready(())
        }));
        run_until_stalled();
        assert_eq!(
            polls.get(),
            2,
            "the task was polled again after its own wake-up"
        );
        assert_eq!(live_tasks(), 0);
        assert!(RUN_QUEUE.with(|queue| queue.borrow().is_empty()));
    }

    #[test]
    fn nested_run_still_polls_other_tasks() {
        let other_done = Rc::new(Cell::new(false));
        let flag = Rc::clone(&other_done);
        let seen = Rc::new(Cell::new(false));
        let seen_in_outer = Rc::clone(&seen);
        spawn_local(async move {
            spawn_local(async move { flag.set(true) });
            run_until_stalled();
            seen_in_outer.set(true);
        });
        run_until_stalled();
        assert!(other_done.get() && seen.get());
        assert_eq!(live_tasks(), 0);
    }

    /// A task that wakes itself forever does not keep the run going: it returns after
    /// `MAX_POLLS_PER_RUN` polls with work left, and the other tasks were polled meanwhile.
    #[test]
    fn self_waking_task_returns_with_work_left() {
        let other_done = Rc::new(Cell::new(false));
        let flag = Rc::clone(&other_done);
        spawn_local(async {
            loop {
                yield_async().await;
            }
        });
        spawn_local(async move {
            yield_async().await;
            flag.set(true);
        });
        assert!(run_until_stalled(), "work is left");
        assert!(other_done.get());
        assert_eq!(live_tasks(), 1);
        assert!(run_until_stalled(), "still spinning");
        RUN_QUEUE.with(|queue| queue.borrow_mut().clear());
        let key = EXECUTOR.with(|e| e.borrow().tasks.iter().position(Option::is_some));
        cancel(key.expect("the spinning task"));
        assert_eq!(live_tasks(), 0);
    }
}
