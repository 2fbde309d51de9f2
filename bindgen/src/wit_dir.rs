//! Writes a lowered world as a WIT directory that other tools (componentize-py, wit-bindgen for
//! other languages, `wasm-tools`) can read without isyswasfa: the world's package at the top and
//! every package it needs, protocol and pipes included, under `deps/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wit_bindgen_core::wit_parser::{InterfaceId, PackageId, Resolve, WorldItem};

use crate::Lowered;

impl Lowered {
    /// Writes the lowered world's package to `dir/<package name>.wit` and each package it
    /// needs, transitively, to `dir/deps/<namespace>-<name>[-<version>].wit`; `dir` is created
    /// when missing. Returns the files written, the world's package first. The result parses
    /// with wit-parser's `push_dir` (and `isyswasfa wit DIR` lowers nothing more in it).
    pub fn write_wit_dir(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let main = self.resolve.worlds[self.world]
            .package
            .context("the world has no package")?;
        let deps = dir.join("deps");
        std::fs::create_dir_all(&deps)
            .with_context(|| format!("cannot create `{}`", deps.display()))?;
        let mut written = Vec::new();
        for pkg in needed_packages(&self.resolve, main) {
            let mut printer = wit_component::WitPrinter::default();
            printer.print(&self.resolve, pkg, &[])?;
            let path = match pkg == main {
                true => dir.join(format!("{}.wit", self.resolve.packages[pkg].name.name)),
                false => deps.join(format!("{}.wit", file_stem(&self.resolve, pkg))),
            };
            std::fs::write(&path, printer.output.to_string())
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}

/// `namespace-name[-version]` of a package, for its file name.
fn file_stem(resolve: &Resolve, pkg: PackageId) -> String {
    let name = &resolve.packages[pkg].name;
    match &name.version {
        Some(version) => format!("{}-{}-{version}", name.namespace, name.name),
        None => format!("{}-{}", name.namespace, name.name),
    }
}

/// `main` and every package that something printed with it refers to, transitively (a printed
/// package carries all its interfaces and worlds, so everything they use must be there too).
fn needed_packages(resolve: &Resolve, main: PackageId) -> Vec<PackageId> {
    let mut order = vec![main];
    let mut seen: BTreeSet<PackageId> = BTreeSet::from([main]);
    let mut next = 0;
    while let Some(&pkg) = order.get(next) {
        next += 1;
        let package = &resolve.packages[pkg];
        let mut interfaces: Vec<InterfaceId> = package.interfaces.values().copied().collect();
        for world in package.worlds.values() {
            let world = &resolve.worlds[*world];
            for item in world.imports.values().chain(world.exports.values()) {
                if let WorldItem::Interface { id, .. } = item {
                    interfaces.push(*id);
                }
            }
        }
        let mut used: Vec<InterfaceId> = Vec::new();
        for id in interfaces {
            used.push(id);
            used.extend(resolve.interface_direct_deps(id));
        }
        for id in used {
            if let Some(dep) = resolve.interfaces[id].package
                && seen.insert(dep)
            {
                order.push(dep);
            }
        }
    }
    order
}
