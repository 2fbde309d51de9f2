//! The command-line composition: a root and its dependencies, each import plugged with the first
//! dependency listed after its importer that exports it (the rule is in the crate documentation).

use anyhow::{Context, Result, anyhow, bail};
use wac_graph::types::{ItemKind, Package, are_semver_compatible};
use wac_graph::{CompositionGraph, InstantiationArgumentError, NodeId, PackageId};

use super::{
    Component, Composition, Instance, POLL_EXPORT_PREFIX, Plug, encode, poll, type_imports,
};

/// One instance of the composition being built.
struct Member {
    instance: Instance,
    package: PackageId,
    node: NodeId,
}

/// An import of `importer` plugged with an export of `exporter` (indexes into the members).
struct Plugged {
    importer: usize,
    import: String,
    exporter: usize,
    export: String,
}

/// Composes `root` with `dependencies` (each instantiated once per occurrence, in this order):
/// the result exports the root's exports and every instance's poll export.
///
/// A panic inside wac-graph is caught and returned as an error naming the components.
pub fn compose(root: &Component, dependencies: &[Component]) -> Result<Composition> {
    let inputs = || {
        let mut names = format!("`{}`", root.name());
        for dependency in dependencies {
            names.push_str(&format!(" with `{}`", dependency.name()));
        }
        names
    };
    super::guarded(inputs, || compose_unguarded(root, dependencies))
}

/// [`compose`], without the guard against panics.
fn compose_unguarded(root: &Component, dependencies: &[Component]) -> Result<Composition> {
    let mut graph = CompositionGraph::new();
    let members = instantiate_all(&mut graph, root, dependencies)?;
    let plugged = plug_in_order(&mut graph, &members)?;
    check_every_dependency_plugs(&graph, &members, &plugged)?;
    export_root(&mut graph, &members[0])?;
    let instances: Vec<(NodeId, String)> = members
        .iter()
        .map(|m| (m.node, m.instance.to_string()))
        .collect();
    let poll_exports = poll::export_all(&mut graph, &instances)?;
    type_imports::satisfy(&mut graph, &instances)?;
    let bytes = encode::encode(&graph, &instances)?;
    let plugs = plugged
        .into_iter()
        .map(|p| Plug {
            importer: members[p.importer].instance.to_string(),
            import: p.import,
            exporter: members[p.exporter].instance.to_string(),
            export: p.export,
        })
        .collect();
    Ok(Composition {
        bytes,
        plugs,
        poll_exports,
    })
}

/// Registers each distinct component once and instantiates it once per occurrence.
fn instantiate_all(
    graph: &mut CompositionGraph,
    root: &Component,
    dependencies: &[Component],
) -> Result<Vec<Member>> {
    let mut registered: Vec<(&[u8], PackageId)> = Vec::new();
    let mut members = Vec::with_capacity(dependencies.len() + 1);
    for (position, component) in std::iter::once(root).chain(dependencies).enumerate() {
        let instance = match position {
            0 => Instance::Root {
                file: component.name().to_string(),
            },
            _ => Instance::Dependency {
                position,
                file: component.name().to_string(),
            },
        };
        let known = registered
            .iter()
            .find(|(bytes, _)| *bytes == component.bytes())
            .map(|(_, package)| *package);
        let package = match known {
            Some(package) => package,
            None => {
                // Package names only need to be unique within the graph.
                let name = format!("isyswasfa:component{position}");
                let package =
                    Package::from_bytes(&name, None, component.bytes().to_vec(), graph.types_mut())
                        .map_err(|error| {
                            anyhow!("{instance} is not a valid WebAssembly component: {error:#}")
                        })?;
                let package = graph.register_package(package)?;
                registered.push((component.bytes(), package));
                package
            }
        };
        let node = graph.instantiate(package);
        members.push(Member {
            instance,
            package,
            node,
        });
    }
    Ok(members)
}

/// The name under which `package` exports `import`: the same name, else a semver-compatible one.
fn matching_export(graph: &CompositionGraph, package: PackageId, import: &str) -> Option<String> {
    let exports = &graph.types()[graph[package].ty()].exports;
    if exports.contains_key(import) {
        return Some(import.to_string());
    }
    exports
        .keys()
        .find(|export| are_semver_compatible(export, import))
        .cloned()
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

/// Plugs every import with the first later dependency that exports it.
fn plug_in_order(graph: &mut CompositionGraph, members: &[Member]) -> Result<Vec<Plugged>> {
    let mut plugged = Vec::new();
    for (importer, member) in members.iter().enumerate() {
        for (import, _) in imports_of(graph, member.package) {
            let provider =
                members
                    .iter()
                    .enumerate()
                    .skip(importer + 1)
                    .find_map(|(exporter, candidate)| {
                        matching_export(graph, candidate.package, &import).map(|e| (exporter, e))
                    });
            let Some((exporter, export)) = provider else {
                continue;
            };
            let source = &members[exporter];
            let alias = graph
                .alias_instance_export(source.node, &export)
                .with_context(|| format!("cannot use `{export}` of {}", source.instance))?;
            graph
                .set_instantiation_argument(member.node, &import, alias)
                .map_err(|error| match error {
                    InstantiationArgumentError::ArgumentTypeMismatch { source: why, .. } => anyhow!(
                        "{} imports `{import}`, but {} exports `{export}` with another type: {why:#}",
                        member.instance,
                        source.instance
                    ),
                    other => anyhow!(other).context(format!(
                        "cannot plug `{import}` of {} with {}",
                        member.instance, source.instance
                    )),
                })?;
            tracing::debug!(
                "plugged `{import}` of {} with {}",
                member.instance,
                source.instance
            );
            plugged.push(Plugged {
                importer,
                import,
                exporter,
                export,
            });
        }
    }
    Ok(plugged)
}

/// A dependency that plugs nothing is a mistake (a wrong file, or a wrong order): say which, and
/// why its exports went unused.
fn check_every_dependency_plugs(
    graph: &CompositionGraph,
    members: &[Member],
    plugged: &[Plugged],
) -> Result<()> {
    for (position, member) in members.iter().enumerate().skip(1) {
        if plugged.iter().any(|p| p.exporter == position) {
            continue;
        }
        let exports: Vec<String> = exports_of(graph, member.package)
            .into_iter()
            .filter(|name| !name.starts_with(POLL_EXPORT_PREFIX))
            .collect();
        let matches = |name: &str| {
            exports
                .iter()
                .any(|e| e == name || are_semver_compatible(e, name))
        };
        let mut reasons = Vec::new();
        for p in plugged.iter().filter(|p| p.importer < position) {
            if matches(&p.import) {
                reasons.push(format!(
                    "`{}` of {} is already plugged with {}",
                    p.import, members[p.importer].instance, members[p.exporter].instance
                ));
            }
        }
        for later in &members[position + 1..] {
            for (import, _) in imports_of(graph, later.package) {
                if matches(&import) {
                    reasons.push(format!(
                        "{} imports `{import}` but is listed after it (a dependency plugs only \
                         the components listed before it)",
                        later.instance
                    ));
                }
            }
        }
        let listed = if exports.is_empty() {
            "it has no exports besides poll functions".to_string()
        } else {
            let names: Vec<String> = exports.iter().map(|e| format!("`{e}`")).collect();
            format!(
                "no component listed before it imports what it exports ({})",
                names.join(", ")
            )
        };
        let mut message = format!("{} satisfies no import: {listed}", member.instance);
        for reason in reasons {
            message.push_str("; ");
            message.push_str(&reason);
        }
        bail!(message);
    }
    Ok(())
}

/// Exports each of the root's exports under its own name.
fn export_root(graph: &mut CompositionGraph, root: &Member) -> Result<()> {
    for name in exports_of(graph, root.package) {
        let alias = graph
            .alias_instance_export(root.node, &name)
            .with_context(|| format!("cannot export `{name}` of {}", root.instance))?;
        graph
            .export(alias, &name)
            .with_context(|| format!("cannot export `{name}` of {}", root.instance))?;
    }
    Ok(())
}
