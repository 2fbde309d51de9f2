//! Values that closed pipes dropped unread, queued until the event loop can release the resource
//! handles inside them.

use std::sync::{Mutex, PoisonError};
use std::task::Poll;

use futures::task::AtomicWaker;
use wasmtime::component::{ResourceAny, Val};

/// Values that closed pipes dropped unread, waiting for the event loop to release the resource
/// handles inside them (which runs guest destructors, so it needs the store with no component on
/// the stack). Readers close from anywhere (an embedder's task, a guest's `resource.drop`), so the
/// values are queued here and the loop is woken.
#[derive(Default)]
pub(crate) struct Discarded {
    values: Mutex<Vec<Val>>,
    waker: AtomicWaker,
}

impl Discarded {
    pub(crate) fn push(&self, values: Vec<Val>) {
        // Only values that hold resources need the store; the others are dropped here.
        let mut held: Vec<Val> = values.into_iter().filter(holds_resources).collect();
        if held.is_empty() {
            return;
        }
        self.lock().append(&mut held);
        self.waker.wake();
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Val>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Completes once values wait for [`release_discarded`] (at once if some already do).
    pub fn ready(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.lock().is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
    }
}

/// Whether `value` contains a resource handle (which must be released with `resource_drop`).
fn holds_resources(value: &Val) -> bool {
    let mut found = false;
    visit_resources(value, &mut |_| found = true);
    found
}

/// Calls `f` on every resource handle inside `value`.
pub(crate) fn visit_resources(value: &Val, f: &mut impl FnMut(ResourceAny)) {
    match value {
        Val::Resource(any) => f(*any),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            items.iter().for_each(|v| visit_resources(v, f))
        }
        Val::Record(fields) => fields.iter().for_each(|(_, v)| visit_resources(v, f)),
        Val::Map(entries) => entries.iter().for_each(|(k, v)| {
            visit_resources(k, f);
            visit_resources(v, f);
        }),
        Val::Variant(_, Some(v)) | Val::Option(Some(v)) => visit_resources(v, f),
        Val::Result(Ok(Some(v)) | Err(Some(v))) => visit_resources(v, f),
        _ => {}
    }
}
