//! Finding an instance's exports, and the checks made around an export's result half.

use wasmtime::Store;
use wasmtime::component::Instance;
use wasmtime::{Result, format_err};

use crate::ctx::IsyswasfaView;
use isyswasfa_protocol::names::RESULT_SUFFIX;
use isyswasfa_protocol::tasks::TaskId;

/// After the result half of the exported call `name` returned: fails (which breaks the store)
/// when it did not claim the `ready` of `task` it was given, which would stay in the task table.
pub(super) fn check_claimed<T: IsyswasfaView>(
    store: &mut Store<T>,
    task: TaskId,
    name: &str,
) -> Result<()> {
    store
        .data_mut()
        .isyswasfa()
        .ctx
        .tasks
        .check_claimed(task, &result_export(name))
        .map_err(Into::into)
}

/// The result half of the async function `name`: a method's is a static (it takes no `self`).
pub(super) fn result_export(name: &str) -> String {
    format!(
        "{}{RESULT_SUFFIX}",
        name.replacen("[method]", "[static]", 1)
    )
}

pub(super) fn export_index(
    store: &mut Store<impl Send>,
    instance: &Instance,
    interface: Option<&str>,
    name: &str,
) -> Result<wasmtime::component::ComponentExportIndex> {
    let parent = match interface {
        Some(interface) => Some(
            instance
                .get_export_index(&mut *store, None, interface)
                .ok_or_else(|| format_err!("the component does not export `{interface}`"))?,
        ),
        None => None,
    };
    instance
        .get_export_index(&mut *store, parent.as_ref(), name)
        .ok_or_else(|| match interface {
            Some(interface) => format_err!("`{interface}` has no export `{name}`"),
            None => format_err!("the component has no export `{name}`"),
        })
}
