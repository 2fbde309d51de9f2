//! Pipe ends handed to or taken from guests by host code (the WASI areas' bodies and standard
//! streams), and releasing the values a guest's reader dropped.

use std::sync::Arc;

use wasmtime::component::{Resource, Val};
use wasmtime::{Result, Store, StoreContextMut};

use crate::ctx::IsyswasfaView;
use crate::pipes::discarded::visit_resources;
use crate::pipes::element::AnyPipe;
use crate::pipes::element::End;
use crate::pipes::element::ReaderEnd;
use crate::pipes::table::PipeTable;
use isyswasfa_protocol::pipe::Pipe;

/// Releases (with `resource_drop`, running guest destructors) every resource handle inside the
/// values closed pipes of this store dropped unread. The event loop calls it while no component
/// is on the stack.
pub(crate) async fn release_discarded<T: IsyswasfaView + Send + 'static>(
    store: &mut Store<T>,
) -> Result<()> {
    loop {
        let values = std::mem::take(&mut *store.data_mut().isyswasfa().ctx.pipes.discarded.lock());
        if values.is_empty() {
            return Ok(());
        }
        let mut resources = Vec::new();
        for value in &values {
            visit_resources(value, &mut |any| resources.push(any));
        }
        for resource in resources {
            resource
                .resource_drop_async(&mut *store)
                .await
                .map_err(|e| e.context("releasing a resource left in a closed stream failed"))?;
        }
    }
}

/// Takes the reading end `end` a guest handed over (the guest's handle is consumed).
pub(crate) fn take_reader<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
    end: Resource<ReaderEnd>,
) -> Result<AnyPipe> {
    pipes(store).remove(end.rep(), End::Reader)
}

/// A new `future<T>` (T any payload but a plain byte or unit one) whose reading end goes to a
/// guest: the host keeps the pipe, to write the value.
pub(crate) fn guest_future<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
) -> (Arc<Pipe<Val>>, Resource<ReaderEnd>) {
    let pipe = Pipe::<Val>::new(1);
    let rep = pipes(store).insert(AnyPipe::Values(Arc::clone(&pipe)), End::Reader);
    (pipe, Resource::new_own(rep))
}

pub(crate) fn pipes<'a, T: IsyswasfaView>(
    store: &'a mut StoreContextMut<'_, T>,
) -> &'a mut PipeTable {
    &mut store.data_mut().isyswasfa().ctx.pipes
}
