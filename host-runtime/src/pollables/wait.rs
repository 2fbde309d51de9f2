//! The one wait of the event loop (and of `block_on`): until a host future finishes or a
//! pollable a component waits for becomes ready.

use std::future::poll_fn;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll::Host as _;

use crate::ctx::IsyswasfaView;
use crate::pollables::waits::drop_pollable;

/// Waits until a host future finishes or a pollable a component waits for becomes ready, and
/// records what finished. This is the one wait of the event loop (and of `block_on`).
pub(crate) async fn wait_host<T: IsyswasfaView>(data: &mut T) {
    let crate::ctx::IsyswasfaCtxView { ctx, table } = data.isyswasfa();
    ctx.pollables.reap(&ctx.tasks, table);
    if ctx.pollables.is_empty() {
        poll_fn(|cx| ctx.tasks.poll_host(cx)).await;
        return;
    }
    let list: Vec<Resource<DynPollable>> = ctx
        .pollables
        .waits
        .iter()
        .map(|wait| Resource::new_borrow(wait.pollable.rep()))
        .collect();
    let ready = {
        let host = poll_fn(|cx| ctx.tasks.poll_host(cx));
        let pollables = table.poll(list);
        tokio::select! {
            () = host => None,
            ready = pollables => Some(ready),
        }
    };
    match ready {
        Some(Ok(mut indices)) => {
            // Highest first, so that each `swap_remove` leaves the lower indices in place.
            indices.sort_unstable_by(|a, b| b.cmp(a));
            for index in indices {
                if (index as usize) < ctx.pollables.waits.len() {
                    let wait = ctx.pollables.waits.swap_remove(index as usize);
                    let _ = wait.done.send(());
                    drop_pollable(table, wait.pollable);
                }
            }
        }
        Some(Err(error)) => {
            // Only a pollable deleted behind the host's back can fail here; fail those waits.
            tracing::warn!("isyswasfa: waiting on pollables failed: {error:#}");
            for wait in ctx.pollables.waits.drain(..) {
                drop_pollable(table, wait.pollable);
            }
        }
        None => {}
    }
}
