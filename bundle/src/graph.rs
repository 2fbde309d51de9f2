//! The bundle's composition graph: runtime, input and driver, wired without a cycle.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use wac_graph::types::{Interface, ItemKind, Package};
use wac_graph::{CompositionGraph, EncodeError, EncodeOptions, NodeId, PackageId, Processor};

use crate::driver::Driver;
use crate::input::{INCOMING_HANDLER, Input, Plan, Runtime, is_stream_pipe};
use crate::ops::{Ops, STREAMS};
use crate::wit_text;
use crate::{Bundle, Export, ExportKind};

/// The protocol interface, which the driver imports for the types of the driver interface.
const PROTOCOL: &str = isyswasfa_protocol::names::INTERFACE;

fn register(
    graph: &mut CompositionGraph,
    name: &str,
    what: &str,
    bytes: &[u8],
) -> Result<PackageId> {
    let package = Package::from_bytes(name, None, bytes.to_vec(), graph.types_mut())
        .map_err(|error| anyhow!("{what} is not a valid WebAssembly component: {error:#}"))?;
    Ok(graph.register_package(package)?)
}

fn imports_of(graph: &CompositionGraph, package: PackageId) -> Vec<(String, ItemKind)> {
    graph.types()[graph[package].ty()]
        .imports
        .iter()
        .map(|(name, kind)| (name.clone(), *kind))
        .collect()
}

fn exports_of(graph: &CompositionGraph, package: PackageId) -> Vec<String> {
    graph.types()[graph[package].ty()]
        .exports
        .keys()
        .cloned()
        .collect()
}

/// `name` without its version, and its version (for picking one import among 0.2.x ones).
fn unversioned(name: &str) -> (&str, Option<semver::Version>) {
    match name.split_once('@') {
        Some((base, version)) => (base, semver::Version::parse(version).ok()),
        None => (name, None),
    }
}

/// One item with every export of `kinds` (instances of one interface imported by several
/// components, each with the functions it uses); wac-graph relates resources by name, so the
/// first export of each name is kept.
fn union_of(graph: &mut CompositionGraph, kinds: &[ItemKind]) -> ItemKind {
    let ids: Vec<_> = kinds
        .iter()
        .filter_map(|kind| match kind {
            ItemKind::Instance(id) => Some(*id),
            _ => None,
        })
        .collect();
    let (Some(first), true) = (ids.first().copied(), ids.len() == kinds.len()) else {
        return kinds[0];
    };
    let types = graph.types();
    // Usually one of them uses everything the others use: that one, as it is.
    if let Some(all) = ids.iter().find(|id| {
        ids.iter().all(|other| {
            types[*other]
                .exports
                .keys()
                .all(|name| types[**id].exports.contains_key(name))
        })
    }) {
        return ItemKind::Instance(*all);
    }
    let mut union = Interface {
        id: types[first].id.clone(),
        uses: Default::default(),
        exports: Default::default(),
    };
    for id in &ids {
        for (name, used) in &types[*id].uses {
            union
                .uses
                .entry(name.clone())
                .or_insert_with(|| used.clone());
        }
        for (name, kind) in &types[*id].exports {
            union.exports.entry(name.clone()).or_insert(*kind);
        }
    }
    ItemKind::Instance(graph.types_mut().add_interface(union))
}

/// Composes the bundle.
pub(crate) fn compose(
    input: &Input,
    runtime_info: &Runtime,
    plan: &Plan,
    ops: Option<&Ops>,
    driver: &Driver,
) -> Result<Bundle> {
    let mut graph = CompositionGraph::new();
    let runtime_pkg = register(
        &mut graph,
        "isyswasfa:bundle-runtime",
        "the bundle runtime",
        runtime_info.bytes,
    )?;
    let input_pkg = register(
        &mut graph,
        "isyswasfa:bundle-input",
        &format!("`{}`", input.name),
        &input.bytes,
    )?;
    let driver_pkg = register(
        &mut graph,
        "isyswasfa:bundle-driver",
        "the generated driver",
        &driver.bytes,
    )?;
    let ops_pkg = match ops {
        Some(ops) => Some(register(
            &mut graph,
            "isyswasfa:bundle-ops",
            "the generated ops adapter",
            &ops.bytes,
        )?),
        None => None,
    };
    let runtime = graph.instantiate(runtime_pkg);
    let adapter = ops_pkg.map(|package| graph.instantiate(package));
    let guest = graph.instantiate(input_pkg);
    let drive = graph.instantiate(driver_pkg);

    // One host import per WASI 0.2 interface, named with the highest version anyone imports and
    // offering every function any of them uses, so that the runtime and the input share its
    // resources (the pollables the input hands over).
    let mut host: BTreeMap<String, (Option<semver::Version>, String, Vec<ItemKind>)> =
        BTreeMap::new();
    let runtime_exports = exports_of(&graph, runtime_pkg);
    for package in [runtime_pkg, input_pkg] {
        for (name, kind) in imports_of(&graph, package) {
            if matches!(kind, ItemKind::Type(_))
                || runtime_exports.contains(&name)
                || is_stream_pipe(&name)
                || name.contains(isyswasfa_protocol::names::OPS_STEM)
            {
                continue;
            }
            let (base, version) = unversioned(&name);
            let entry = host
                .entry(base.to_string())
                .or_insert_with(|| (version.clone(), name.clone(), Vec::new()));
            if version > entry.0 {
                entry.0 = version;
                entry.1 = name.clone();
            }
            entry.2.push(kind);
        }
    }
    let mut host_nodes: BTreeMap<String, NodeId> = BTreeMap::new();
    for (base, (_, name, kinds)) in &host {
        let kind = union_of(&mut graph, kinds);
        let node = graph
            .import(name.clone(), kind)
            .with_context(|| format!("cannot import `{name}` in the bundle"))?;
        host_nodes.insert(base.clone(), node);
    }
    let host_node = |name: &str| host_nodes.get(unversioned(name).0).copied();

    // The runtime: WASI 0.2 from the host.
    for (name, kind) in imports_of(&graph, runtime_pkg) {
        if matches!(kind, ItemKind::Type(_)) {
            continue;
        }
        let node =
            host_node(&name).ok_or_else(|| anyhow!("the runtime's `{name}` has no import"))?;
        graph
            .set_instantiation_argument(runtime, &name, node)
            .with_context(|| format!("cannot give the bundle runtime `{name}`"))?;
    }

    // The input: isyswasfa and lowered WASI 0.3 from the runtime, WASI 0.2 from the host.
    let mut runtime_aliases: BTreeMap<String, NodeId> = BTreeMap::new();
    let mut runtime_alias = |graph: &mut CompositionGraph, name: &str| -> Result<NodeId> {
        if let Some(node) = runtime_aliases.get(name) {
            return Ok(*node);
        }
        let node = graph
            .alias_instance_export(runtime, name)
            .with_context(|| format!("the bundle runtime does not export `{name}`"))?;
        runtime_aliases.insert(name.to_string(), node);
        Ok(node)
    };
    // The ops adapter: the runtime's streams (as every pipe interface too) and protocol.
    if let (Some(adapter), Some(package)) = (adapter, ops_pkg) {
        for (name, kind) in imports_of(&graph, package) {
            let node = if let ItemKind::Type(_) = kind {
                let protocol = runtime_alias(&mut graph, PROTOCOL)?;
                let export = name
                    .rsplit_once("isyswasfa-")
                    .map_or(name.as_str(), |(_, e)| e);
                graph
                    .alias_instance_export(protocol, export)
                    .with_context(|| format!("the ops adapter's type `{name}`"))?
            } else if runtime_exports.contains(&name) {
                runtime_alias(&mut graph, &name)?
            } else if is_stream_pipe(&name) {
                runtime_alias(&mut graph, STREAMS)?
            } else {
                host_node(&name).ok_or_else(|| {
                    anyhow!("the ops adapter imports `{name}`, which nothing provides")
                })?
            };
            graph
                .set_instantiation_argument(adapter, &name, node)
                .with_context(|| format!("cannot give the ops adapter its import `{name}`"))?;
        }
    }
    let ops_interfaces: Vec<String> = ops.map(|o| o.interfaces.clone()).unwrap_or_default();
    for (name, kind) in imports_of(&graph, input_pkg) {
        let node = if let ItemKind::Type(_) = kind {
            // A world's `use` of the protocol's poll input (`isyswasfa-poll-input`).
            let protocol = runtime_alias(&mut graph, PROTOCOL)?;
            let export = name
                .rsplit_once("isyswasfa-")
                .map_or(name.as_str(), |(_, e)| e);
            graph
                .alias_instance_export(protocol, export)
                .with_context(|| {
                    format!(
                        "`{}` imports the type `{name}`, which the bundle cannot provide",
                        input.name
                    )
                })?
        } else if runtime_exports.contains(&name) {
            runtime_alias(&mut graph, &name)?
        } else if is_stream_pipe(&name) {
            runtime_alias(&mut graph, STREAMS)?
        } else if let (true, Some(adapter)) = (ops_interfaces.contains(&name), adapter) {
            graph
                .alias_instance_export(adapter, &name)
                .with_context(|| format!("the ops adapter does not export `{name}`"))?
        } else {
            host_node(&name).ok_or_else(|| {
                anyhow!(
                    "`{}` imports `{name}`, which the bundle runtime cannot provide",
                    input.name
                )
            })?
        };
        graph
            .set_instantiation_argument(guest, &name, node)
            .with_context(|| format!("cannot give `{}` its import `{name}`", input.name))?;
    }

    // The driver: the input's exports and the runtime's driver interface.
    let input_exports = exports_of(&graph, input_pkg);
    for (name, kind) in imports_of(&graph, driver_pkg) {
        let node = if let ItemKind::Type(_) = kind {
            let protocol = runtime_alias(&mut graph, PROTOCOL)?;
            let export = name
                .rsplit_once("isyswasfa-")
                .map_or(name.as_str(), |(_, e)| e);
            graph
                .alias_instance_export(protocol, export)
                .with_context(|| format!("the driver's type `{name}`"))?
        } else if input_exports.contains(&name) {
            graph
                .alias_instance_export(guest, &name)
                .with_context(|| format!("`{}` does not export `{name}`", input.name))?
        } else if runtime_exports.contains(&name) {
            runtime_alias(&mut graph, &name)?
        } else {
            host_node(&name)
                .ok_or_else(|| anyhow!("the driver's import `{name}` has no provider"))?
        };
        graph
            .set_instantiation_argument(drive, &name, node)
            .with_context(|| format!("cannot give the driver its import `{name}`"))?;
    }

    let mut exports = Vec::new();
    if let Some(handler) = &plan.http_handler {
        let node = graph
            .alias_instance_export(drive, INCOMING_HANDLER)
            .with_context(|| format!("the driver does not export `{INCOMING_HANDLER}`"))?;
        graph
            .export(node, INCOMING_HANDLER.to_string())
            .with_context(|| format!("cannot export `{INCOMING_HANDLER}`"))?;
        exports.push(Export {
            name: INCOMING_HANDLER.to_string(),
            kind: ExportKind::Driven {
                input: handler.clone(),
            },
        });
    }
    for wrapped in &plan.interfaces {
        let driver_export = format!("{}/{}", wit_text::PACKAGE, wrapped.driver_name);
        let node = graph
            .alias_instance_export(drive, &driver_export)
            .with_context(|| format!("the driver does not export `{driver_export}`"))?;
        graph
            .export(node, wrapped.bundle_name.clone())
            .with_context(|| format!("cannot export `{}`", wrapped.bundle_name))?;
        exports.push(Export {
            name: wrapped.bundle_name.clone(),
            kind: ExportKind::Driven {
                input: wrapped.input_name.clone(),
            },
        });
    }
    for name in &plan.unchanged {
        let node = graph
            .alias_instance_export(guest, name)
            .with_context(|| format!("`{}` does not export `{name}`", input.name))?;
        graph
            .export(node, name.clone())
            .with_context(|| format!("cannot export `{name}`"))?;
        exports.push(Export {
            name: name.clone(),
            kind: ExportKind::Unchanged,
        });
    }

    let options = EncodeOptions {
        processor: Some(Processor {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        }),
        ..EncodeOptions::default()
    };
    let bytes = graph.encode(options).map_err(|error| match error {
        EncodeError::ValidationFailure { source } => {
            anyhow!(
                "the bundle of `{}` is not a valid component: {source:#}",
                input.name
            )
        }
        other => anyhow!(other).context(format!("cannot encode the bundle of `{}`", input.name)),
    })?;
    Ok(Bundle { bytes, exports })
}
