//! Composition from a WAC document (`--wac FILE`): `wac-parser` builds the graph the document
//! describes, then every instance's poll export is exported as in the command-line composition.

use anyhow::{Result, anyhow, bail};
use indexmap::IndexMap;
use miette::Diagnostic;
use semver::Version;
use wac_graph::types::BorrowedPackageKey;
use wac_graph::{CompositionGraph, NodeId, NodeKind};
use wac_parser::Document;
use wac_parser::resolution::Error as ResolutionError;

use super::{Component, Composition, Instance, Plug, encode, poll, type_imports};

/// A package the document may instantiate: `namespace:name[@version]` and its component.
struct Given<'a> {
    key: &'a str,
    name: &'a str,
    version: Option<Version>,
    component: &'a Component,
}

/// Composes the WAC document `source` (read from `file`, the name messages use) with
/// `packages`, each a `namespace:name[@version]` key and the component it stands for. Besides
/// what the document exports, the result exports every instance's poll export.
///
/// A panic inside wac-parser or wac-graph is caught and returned as an error naming the
/// document and the packages.
pub fn compose_wac(
    file: &str,
    source: &str,
    packages: &[(String, Component)],
) -> Result<Composition> {
    let inputs = || {
        let given: Vec<String> = packages
            .iter()
            .map(|(key, component)| format!("`{key}` = `{}`", component.name()))
            .collect();
        format!("`{file}` with {}", given.join(", "))
    };
    super::guarded(inputs, || compose_wac_unguarded(file, source, packages))
}

/// [`compose_wac`], without the guard against panics.
fn compose_wac_unguarded(
    file: &str,
    source: &str,
    packages: &[(String, Component)],
) -> Result<Composition> {
    let given = packages
        .iter()
        .map(|(key, component)| parse_key(key, component))
        .collect::<Result<Vec<_>>>()?;
    let document = Document::parse(source).map_err(|error| located(file, source, error))?;
    let mut bytes_by_key = IndexMap::new();
    for package in &given {
        let key = BorrowedPackageKey::from_name_and_version(package.name, package.version.as_ref());
        if bytes_by_key
            .insert(key, package.component.bytes().to_vec())
            .is_some()
        {
            bail!("package `{}` is given more than once", package.key);
        }
    }
    let resolution = document
        .resolve(bytes_by_key)
        .map_err(|error| resolution_error(file, source, error, &given))?;
    let mut graph = resolution.into_graph();
    for package in &given {
        if graph
            .get_package_by_name(package.name, package.version.as_ref())
            .is_none()
        {
            bail!(
                "package `{}` (`{}`) is not used by `{file}`",
                package.key,
                package.component.name()
            );
        }
    }
    let instances = instances(&graph, &given);
    let poll_exports = poll::export_all(&mut graph, &instances)?;
    let plugs = plugs(&graph, &instances);
    type_imports::satisfy(&mut graph, &instances)?;
    let bytes = encode::encode(&graph, &instances)?;
    Ok(Composition {
        bytes,
        plugs,
        poll_exports,
    })
}

/// Splits `namespace:name[@version]`.
fn parse_key<'a>(key: &'a str, component: &'a Component) -> Result<Given<'a>> {
    let (name, version) = match key.split_once('@') {
        Some((name, version)) => {
            let version = Version::parse(version).map_err(|error| {
                anyhow!("`{key}` (for `{}`): bad version: {error}", component.name())
            })?;
            (name, Some(version))
        }
        None => (key, None),
    };
    let well_formed = name
        .split_once(':')
        .is_some_and(|(namespace, name)| !namespace.is_empty() && !name.is_empty());
    if !well_formed {
        bail!(
            "`{key}` (for `{}`) is not a package name: expected `namespace:name[@version]`",
            component.name()
        );
    }
    Ok(Given {
        key,
        name,
        version,
        component,
    })
}

/// Every instantiation node of `graph`, with the name messages call it by.
fn instances(graph: &CompositionGraph, given: &[Given]) -> Vec<(NodeId, String)> {
    graph
        .node_ids()
        .filter(|id| matches!(graph[*id].kind(), NodeKind::Instantiation(_)))
        .filter_map(|id| {
            let node = &graph[id];
            let package = &graph[node.package()?];
            let file = given
                .iter()
                .find(|g| g.name == package.name() && g.version.as_ref() == package.version())
                .map(|g| g.component.name().to_string())
                .unwrap_or_default();
            let instance = Instance::Package {
                variable: node.name().map(str::to_string),
                package: package.name().to_string(),
                file,
            };
            Some((id, instance.to_string()))
        })
        .collect()
}

/// The imports of instances that the document plugs with other instances' exports.
fn plugs(graph: &CompositionGraph, instances: &[(NodeId, String)]) -> Vec<Plug> {
    let name_of = |node: NodeId| {
        instances
            .iter()
            .find(|(id, _)| *id == node)
            .map(|(_, name)| name.clone())
    };
    let mut plugs = Vec::new();
    for (node, importer) in instances {
        for (import, argument) in graph.get_instantiation_arguments(*node) {
            let Some((source, export)) = graph.get_alias_source(argument) else {
                continue;
            };
            let Some(exporter) = name_of(source) else {
                continue;
            };
            plugs.push(Plug {
                importer: importer.clone(),
                import: import.to_string(),
                exporter,
                export: export.to_string(),
            });
        }
    }
    plugs
}

/// A resolution error, placed in the document and naming the component file it is about.
fn resolution_error(
    file: &str,
    source: &str,
    error: ResolutionError,
    given: &[Given],
) -> anyhow::Error {
    let hint = match &error {
        ResolutionError::UnknownPackage { name, .. } => Some(format!(
            "give the component for it as `-d {name}=FILE.wasm`"
        )),
        ResolutionError::PackageParseFailure { name, .. } => given
            .iter()
            .find(|g| g.name == name)
            .map(|g| format!("`{}` is not a valid component", g.component.name())),
        _ => None,
    };
    let error = located(file, source, error);
    match hint {
        Some(hint) => anyhow!("{error:#} ({hint})"),
        None => error,
    }
}

/// `error` prefixed with `file:line:column` of its first label.
fn located<E>(file: &str, source: &str, error: E) -> anyhow::Error
where
    E: Diagnostic + Send + Sync + 'static,
{
    let offset = error
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset());
    let place = match offset {
        Some(offset) => {
            let before = &source[..floor_char_boundary(source, offset)];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{file}:{line}:{column}")
        }
        None => file.to_string(),
    };
    anyhow::Error::new(error).context(place)
}

/// The largest char boundary of `text` at or before `offset`.
fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
