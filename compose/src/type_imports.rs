//! Works around wac-graph 0.12 failing on one kind of import: a type that a component imports at
//! its top level (a world's `use` of an imported interface's type, such as the poll function's
//! `isyswasfa-poll-input`) and that refers to a resource. When such a type is left for the
//! composition to import, wac-graph's encoder looks the resource up by a name it never recorded
//! and panics. Instead, this module imports the interface explicitly and satisfies the type import
//! with an alias of the interface's own export of that type, which is what the component meant.

use std::collections::HashSet;

use anyhow::{Context, Result};
use wac_graph::types::{Interface, InterfaceId, ItemKind, SubtypeChecker, Type, Types, World};
use wac_graph::{CompositionGraph, NodeId};

/// A top-level type import of an instance and the interface import it comes from.
struct TypeImport {
    import: String,
    interface: String,
    export: String,
}

/// Satisfies every top-level value-type import of `instances` that nothing plugs with the type
/// exported by the imported interface it was taken from.
pub(super) fn satisfy(graph: &mut CompositionGraph, instances: &[(NodeId, String)]) -> Result<()> {
    let used: Vec<(NodeId, &str, Vec<TypeImport>)> = instances
        .iter()
        .map(|(node, instance)| {
            (
                *node,
                instance.as_str(),
                unsatisfied_used_types(graph, *node),
            )
        })
        .collect();
    let mut interfaces: Vec<&str> = used
        .iter()
        .flat_map(|(_, _, used)| used.iter().map(|u| u.interface.as_str()))
        .collect();
    interfaces.sort_unstable();
    interfaces.dedup();

    // An explicit import replaces the implicit one in every instance (wac-graph refuses both at
    // once), so it must offer what each of them imports.
    let mut explicit = Vec::new();
    for name in interfaces {
        let importers: Vec<(NodeId, &str, InterfaceId)> = instances
            .iter()
            .filter_map(|(node, instance)| {
                let id = unsatisfied_interface(graph, *node, name)?;
                Some((*node, instance.as_str(), id))
            })
            .collect();
        let ids: Vec<InterfaceId> = importers.iter().map(|(_, _, id)| *id).collect();
        let Some(union) = union_of(graph, &ids) else {
            continue;
        };
        let kind = ItemKind::Instance(union);
        let interface = explicit_import(graph, name, kind)
            .with_context(|| format!("cannot import `{name}`"))?;
        for (node, instance, _) in importers {
            graph
                .set_instantiation_argument(node, name, interface)
                .with_context(|| format!("cannot give {instance} its import `{name}`"))?;
        }
        explicit.push((name.to_string(), interface));
    }

    for (node, instance, used) in used {
        for used in used {
            let Some((_, interface)) = explicit.iter().find(|(name, _)| *name == used.interface)
            else {
                continue;
            };
            let context = || {
                format!(
                    "cannot give {instance} the type `{}` of `{}` for its import `{}`",
                    used.export, used.interface, used.import
                )
            };
            let alias = graph
                .alias_instance_export(*interface, &used.export)
                .with_context(context)?;
            graph
                .set_instantiation_argument(node, &used.import, alias)
                .with_context(context)?;
        }
    }
    Ok(())
}

/// The interface type `node` imports as `name`, when nothing plugs that import yet.
fn unsatisfied_interface(
    graph: &CompositionGraph,
    node: NodeId,
    name: &str,
) -> Option<InterfaceId> {
    if !imports_unsatisfied(graph, node).contains(name) {
        return None;
    }
    let package = graph[node].package()?;
    match graph.types()[graph[package].ty()].imports.get(name)? {
        ItemKind::Instance(id) => Some(*id),
        _ => None,
    }
}

/// One interface type with every export of `ids` (components import only the parts of an
/// interface they use). wac-graph relates resources by name, so the first export of each name is
/// kept.
fn union_of(graph: &mut CompositionGraph, ids: &[InterfaceId]) -> Option<InterfaceId> {
    let first = *ids.first()?;
    if ids.iter().all(|id| *id == first) {
        return Some(first);
    }
    let types = graph.types();
    let mut union = Interface {
        id: types[first].id.clone(),
        uses: Default::default(),
        exports: Default::default(),
    };
    for id in ids {
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
    Some(graph.types_mut().add_interface(union))
}

/// The names of `node`'s imports that nothing plugs yet.
fn imports_unsatisfied(graph: &CompositionGraph, node: NodeId) -> HashSet<String> {
    let Some(package) = graph[node].package() else {
        return HashSet::new();
    };
    let satisfied: HashSet<&str> = graph
        .get_instantiation_arguments(node)
        .map(|(name, _)| name)
        .collect();
    graph.types()[graph[package].ty()]
        .imports
        .keys()
        .filter(|name| !satisfied.contains(name.as_str()))
        .cloned()
        .collect()
}

/// `node`'s unplugged top-level value-type imports that an interface it imports exports.
fn unsatisfied_used_types(graph: &CompositionGraph, node: NodeId) -> Vec<TypeImport> {
    let Some(package) = graph[node].package() else {
        return Vec::new();
    };
    let unsatisfied = imports_unsatisfied(graph, node);
    let types = graph.types();
    let world = &types[graph[package].ty()];
    let mut used = Vec::new();
    for (import, kind) in &world.imports {
        let ItemKind::Type(ty @ Type::Value(_)) = kind else {
            continue;
        };
        if !unsatisfied.contains(import) {
            continue;
        }
        if let Some((interface, export)) = source_of(types, world, import, *ty) {
            used.push(TypeImport {
                import: import.clone(),
                interface,
                export,
            });
        }
    }
    used
}

/// The interface import of `world` and its export that `import`, of type `ty`,
/// was taken from. A component's type import is a distinct copy of the interface's type, so the
/// types are compared by structure; among equal ones, the export whose name ends the import's
/// (`isyswasfa-poll-input` ← `poll-input`) wins, and an ambiguous match is no match.
fn source_of(types: &Types, world: &World, import: &str, ty: Type) -> Option<(String, String)> {
    let mut cache = Default::default();
    let mut checker = SubtypeChecker::new(&mut cache);
    let mut candidates = Vec::new();
    for (interface, kind) in &world.imports {
        let ItemKind::Instance(id) = kind else {
            continue;
        };
        for (export, export_kind) in &types[*id].exports {
            let ItemKind::Type(export_ty @ Type::Value(_)) = export_kind else {
                continue;
            };
            let (a, b) = (ItemKind::Type(ty), ItemKind::Type(*export_ty));
            if checker.is_subtype(a, types, b, types).is_ok()
                && checker.is_subtype(b, types, a, types).is_ok()
            {
                candidates.push((interface.clone(), export.clone()));
            }
        }
    }
    let named: Vec<_> = candidates
        .iter()
        .filter(|(_, export)| import == export || import.ends_with(&format!("-{export}")))
        .collect();
    match (named.as_slice(), candidates.as_slice()) {
        ([only], _) => Some((*only).clone()),
        ([], [only]) => Some(only.clone()),
        _ => None,
    }
}

/// The graph's explicit import named `name`, added with `kind` if there is none yet.
fn explicit_import(graph: &mut CompositionGraph, name: &str, kind: ItemKind) -> Result<NodeId> {
    let existing = graph
        .node_ids()
        .find(|id| graph[*id].import_name() == Some(name));
    match existing {
        Some(node) => Ok(node),
        None => Ok(graph.import(name, kind)?),
    }
}
