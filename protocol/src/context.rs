//! What an embedding is running right now, and the one rule that follows from it: may a
//! component wait for its events from inside a synchronous call (`block_on`)? The host library
//! and the bundle's in-wasm runtime both decide with [`may_wait`].

use crate::error::{Error, ErrorKind, Result};
use crate::tasks::{ComponentId, TaskTable};

/// What the embedding is running right now; decides where a component may wait.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Running {
    /// Nothing: no component is on the stack.
    #[default]
    Idle,
    /// The poll export of this component.
    Poll(ComponentId),
    /// An export called by the embedder.
    Export(String),
}

/// May `component` wait for its events now, from inside a synchronous call, `running` being
/// what the embedding runs? Not inside its own poll export (an async task must await), not
/// while nothing calls it, and otherwise only when the embedding itself can wake it
/// ([`TaskTable::can_block`]). The error ([`ErrorKind::MayNotWait`]) names the component, the
/// call and why.
pub fn may_wait(
    tasks: &TaskTable,
    running: &Running,
    component: ComponentId,
    waiting_for: &[u32],
) -> Result<()> {
    let name = tasks.component_name(component);
    match running {
        Running::Poll(c) if *c == component => Err(may_not_wait(format!(
            "isyswasfa: component `{name}` called `block_on` inside an async task; \
             await the future there instead"
        ))),
        Running::Idle => Err(may_not_wait(format!(
            "isyswasfa: component `{name}` tried to wait while the host was not calling it"
        ))),
        running => tasks.can_block(component, waiting_for).map_err(|why| {
            let during = match running {
                Running::Export(export) => format!("the call to `{export}`"),
                Running::Poll(c) => {
                    format!("an async task of component `{}`", tasks.component_name(*c))
                }
                Running::Idle => "no call".to_string(),
            };
            may_not_wait(format!(
                "isyswasfa: component `{name}` cannot wait in `block_on` during {during}: {why}"
            ))
        }),
    }
}

fn may_not_wait(message: String) -> Error {
    Error::new(ErrorKind::MayNotWait, message)
}
