//! Encodes a composition graph into a validated component, naming the instances at fault when
//! it cannot.

use anyhow::{Result, anyhow};
use wac_graph::{CompositionGraph, EncodeError, EncodeOptions, NodeId, Processor};

/// Encodes `graph`; `instances` names its instantiation nodes for messages.
pub(super) fn encode(graph: &CompositionGraph, instances: &[(NodeId, String)]) -> Result<Vec<u8>> {
    let name = |node: NodeId| {
        instances
            .iter()
            .find(|(id, _)| *id == node)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| format!("instance {node}"))
    };
    let options = EncodeOptions {
        processor: Some(Processor {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        }),
        ..EncodeOptions::default()
    };
    graph.encode(options).map_err(|error| match error {
        EncodeError::ImportTypeMergeConflict {
            import,
            first,
            second,
            source,
        } => anyhow!(
            "{} and {} both leave `{import}` to the host, with types that do not merge: {source:#}",
            name(first),
            name(second)
        ),
        EncodeError::ImplicitImportConflict {
            instantiation,
            name: import,
            ..
        } => anyhow!(
            "{} leaves `{import}` to the host, but the composition already imports another \
             item of that name",
            name(instantiation)
        ),
        EncodeError::GraphContainsCycle { node } => {
            anyhow!("the composition contains a cycle through {}", name(node))
        }
        other => anyhow!(other).context("the composed component is invalid"),
    })
}
