//! WASI 0.2 pollables as futures, and the one `wasi:io/poll.poll` that waits for all of them.
//!
//! The task table's host futures must be `Send`; a pollable is a handle of this instance, so the
//! pollables live here, in a per-instance table, and a future holds only its key. A future that
//! is not ready leaves its waker next to its pollable; [`wait`] blocks in one `poll` over every
//! such pollable and wakes the futures whose pollables are ready.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use wasi::io::poll::Pollable;

#[derive(Default)]
struct Reactor {
    next: u64,
    waiting: BTreeMap<u64, (Pollable, Option<Waker>)>,
}

thread_local! {
    static REACTOR: RefCell<Reactor> = RefCell::new(Reactor::default());
}

/// A future that finishes when its pollable is ready. Dropping it drops the pollable.
pub struct PollableReady {
    key: u64,
}

/// Takes `pollable` over: the returned future finishes when it is ready.
pub fn ready(pollable: Pollable) -> PollableReady {
    REACTOR.with(|r| {
        let mut r = r.borrow_mut();
        let key = r.next;
        r.next += 1;
        r.waiting.insert(key, (pollable, None));
        PollableReady { key }
    })
}

impl Future for PollableReady {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let key = self.key;
        let done = REACTOR.with(|r| {
            let mut r = r.borrow_mut();
            match r.waiting.get_mut(&key) {
                Some((pollable, waker)) => {
                    if pollable.ready() {
                        true
                    } else {
                        *waker = Some(cx.waker().clone());
                        false
                    }
                }
                None => true,
            }
        });
        if done {
            // Dropped outside the borrow: dropping a pollable calls into the host.
            let removed = REACTOR.with(|r| r.borrow_mut().waiting.remove(&key));
            drop(removed);
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for PollableReady {
    fn drop(&mut self) {
        let removed = REACTOR.with(|r| r.borrow_mut().waiting.remove(&self.key));
        drop(removed);
    }
}

/// Blocks in one `wasi:io/poll.poll` over every pollable a future waits for, then wakes the
/// futures whose pollables are ready. Returns `false`, without waiting, when no future waits.
pub fn wait() -> bool {
    let wakers: Vec<Waker> = REACTOR.with(|r| {
        let mut r = r.borrow_mut();
        let (keys, list): (Vec<u64>, Vec<&Pollable>) = r
            .waiting
            .iter()
            .filter(|(_, (_, waker))| waker.is_some())
            .map(|(key, (pollable, _))| (*key, pollable))
            .unzip();
        if list.is_empty() {
            return Vec::new();
        }
        let ready = wasi::io::poll::poll(&list);
        ready
            .into_iter()
            .filter_map(|index| keys.get(index as usize).copied())
            .collect::<Vec<u64>>()
            .into_iter()
            .filter_map(|key| r.waiting.get_mut(&key).and_then(|(_, waker)| waker.take()))
            .collect()
    });
    if wakers.is_empty() {
        return false;
    }
    for waker in wakers {
        waker.wake();
    }
    true
}
