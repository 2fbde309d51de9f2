//! Exports the poll function of every instance of a composition graph, each under a distinct
//! name (the host finds them by their prefix).

use std::collections::HashMap;

use anyhow::{Context, Result};
use wac_graph::{CompositionGraph, NodeId};

use super::{POLL_EXPORT_PREFIX, PollExport};

/// Exports every poll export of `instances` (instantiation nodes with the names messages use)
/// that the graph does not export yet; a name already taken gets the first free `-2`, `-3`, …
/// suffix. Returns all poll exports of the composition, in instance order.
pub(super) fn export_all(
    graph: &mut CompositionGraph,
    instances: &[(NodeId, String)],
) -> Result<Vec<PollExport>> {
    let already = exported_aliases(graph);
    let mut poll_exports = Vec::new();
    for (node, instance) in instances {
        let Some(package) = graph[*node].package() else {
            continue;
        };
        let names: Vec<String> = graph.types()[graph[package].ty()]
            .exports
            .keys()
            .filter(|name| name.starts_with(POLL_EXPORT_PREFIX))
            .cloned()
            .collect();
        for original in names {
            let name = match already.get(&(*node, original.clone())) {
                Some(name) => name.clone(),
                None => {
                    let name = free_name(graph, &original);
                    let context = || format!("cannot export `{original}` of {instance}");
                    let alias = graph
                        .alias_instance_export(*node, &original)
                        .with_context(context)?;
                    graph.export(alias, &name).with_context(context)?;
                    if name != original {
                        tracing::info!(
                            "{instance} exports `{original}`, a name already taken: \
                             the composition exports it as `{name}`"
                        );
                    }
                    name
                }
            };
            poll_exports.push(PollExport {
                instance: instance.clone(),
                original,
                name,
            });
        }
    }
    Ok(poll_exports)
}

/// `(instance, export name) → composition export name` for every instance export the graph
/// already exports (the root's, or what a WAC document exports explicitly).
fn exported_aliases(graph: &CompositionGraph) -> HashMap<(NodeId, String), String> {
    graph
        .node_ids()
        .filter_map(|id| {
            let exported_as = graph[id].export_name()?;
            let (instance, export) = graph.get_alias_source(id)?;
            Some(((instance, export.to_string()), exported_as.to_string()))
        })
        .collect()
}

/// `name`, or `name-N` with the smallest N ≥ 2 that the graph does not export yet.
fn free_name(graph: &CompositionGraph, name: &str) -> String {
    if graph.get_export(name).is_none() {
        return name.to_string();
    }
    (2..)
        .map(|n| format!("{name}-{n}"))
        .find(|candidate| graph.get_export(candidate).is_none())
        .unwrap_or_else(|| name.to_string())
}
