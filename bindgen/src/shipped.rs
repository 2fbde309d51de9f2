//! The WASI 0.3 WIT packages that isyswasfa polyfills, shipped with it, and the loading of a
//! guest's WIT with them.
//!
//! The packages are the files under `wit/deps/` in this crate's directory, embedded at build time
//! (nothing is read from the source tree at run time, so an installed binary has them too):
//! every package of WASI 0.3.0 — `wasi:clocks`, `wasi:random`, `wasi:filesystem`, `wasi:sockets`,
//! `wasi:cli` (with its `imports` and `command` worlds) and `wasi:http` (with its `service` and
//! `middleware` worlds). A test (`wit_conformance_all`, in `bindgen/tests/all/wit_conformance.rs`)
//! checks them against the WIT that wasmtime-wasi and wasmtime-wasi-http ship.
//!
//! [`push_path`] and [`push_str`] read a guest's WIT like wit-parser's `push_path`/`push_str`, but
//! a package that the WIT uses and provides nowhere (neither in its `deps/` nor already in the
//! `Resolve`) is taken from the shipped copies, so a guest author need not copy them. A package
//! the guest provides always wins, and the shipped packages that remain then resolve against it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wit_bindgen_core::wit_parser::{
    PackageId, PackageName, Resolve, SourceMap, UnresolvedPackageGroup,
};

/// One shipped package: its full name and its files (path under `wit/deps/`, contents).
struct ShippedPackage {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
}

/// Embeds `wit/deps/<path>` as a `(path, contents)` pair.
macro_rules! deps_file {
    ($path:literal) => {
        ($path, include_str!(concat!("../wit/deps/", $path)))
    };
}

/// Every shipped package. A test checks that this lists every `.wit` file under `wit/deps/`.
const SHIPPED: &[ShippedPackage] = &[
    ShippedPackage {
        name: "wasi:clocks@0.3.0",
        files: &[deps_file!("clocks/clocks.wit")],
    },
    ShippedPackage {
        name: "wasi:random@0.3.0",
        files: &[deps_file!("random/random.wit")],
    },
    ShippedPackage {
        name: "wasi:filesystem@0.3.0",
        files: &[deps_file!("filesystem/filesystem.wit")],
    },
    ShippedPackage {
        name: "wasi:sockets@0.3.0",
        files: &[deps_file!("sockets/sockets.wit")],
    },
    ShippedPackage {
        name: "wasi:cli@0.3.0",
        files: &[deps_file!("cli/cli.wit")],
    },
    ShippedPackage {
        name: "wasi:http@0.3.0",
        files: &[
            deps_file!("http/types.wit"),
            deps_file!("http/handler.wit"),
            deps_file!("http/worlds.wit"),
        ],
    },
];

/// The names (`namespace:name@version`) of the packages isyswasfa ships.
pub fn shipped_package_names() -> impl Iterator<Item = &'static str> {
    SHIPPED.iter().map(|package| package.name)
}

/// Parses `path` (a WIT file, or a directory with an optional `deps/`) into `resolve`, taking
/// the packages it needs but does not provide from the shipped ones. Returns the main package
/// and the files read from disk. Errors carry the file, line and column, with the source line.
pub fn push_path(resolve: &mut Resolve, path: &Path) -> Result<(PackageId, Vec<PathBuf>)> {
    let context = || format!("failed to read WIT from {}", path.display());
    let (main, deps) = read_path(resolve, path).with_context(context)?;
    let files = std::iter::once(&main)
        .chain(&deps)
        .flat_map(|group| group.source_map.source_files())
        .map(Path::to_path_buf)
        .collect();
    let package = push_groups(resolve, main, deps).with_context(context)?;
    Ok((package, files))
}

/// Parses the package at `path` and, when `path` is a directory, the packages in its `deps/`.
fn read_path(
    resolve: &mut Resolve,
    path: &Path,
) -> Result<(UnresolvedPackageGroup, Vec<UnresolvedPackageGroup>)> {
    if path.is_dir() {
        let main = parse_dir(path)?;
        let deps = parse_deps_dir(resolve, &path.join("deps"))?;
        Ok((main, deps))
    } else {
        Ok((parse_file(path)?, Vec::new()))
    }
}

/// Parses the WIT text `wit` (named `name` in errors) into `resolve`, taking the packages it
/// needs but that `resolve` does not hold from the shipped ones.
pub fn push_str(resolve: &mut Resolve, name: &str, wit: &str) -> Result<PackageId> {
    let mut map = SourceMap::default();
    map.push_str(name, wit);
    push_groups(resolve, parse(map)?, Vec::new())
}

/// Adds every shipped package that `resolve` does not hold yet; returns the ids of all of them.
pub fn push_all(resolve: &mut Resolve) -> Result<Vec<PackageId>> {
    SHIPPED
        .iter()
        .map(|package| {
            let name = parse_name(package.name)?;
            match resolve.package_names.get(&name) {
                Some(id) => Ok(*id),
                None => push_groups(resolve, package.parse()?, Vec::new()),
            }
        })
        .collect()
}

impl ShippedPackage {
    fn parse(&self) -> Result<UnresolvedPackageGroup> {
        let mut map = SourceMap::default();
        for (path, contents) in self.files {
            map.push_str(&format!("<isyswasfa>/wit/deps/{path}"), *contents);
        }
        parse(map).with_context(|| format!("shipped package {} does not parse", self.name))
    }
}

/// Pushes `main` and `deps` into `resolve` together (wit-parser orders them), with whichever
/// shipped packages they need, directly or through each other, and do not provide.
fn push_groups(
    resolve: &mut Resolve,
    main: UnresolvedPackageGroup,
    mut deps: Vec<UnresolvedPackageGroup>,
) -> Result<PackageId> {
    // wit-parser panics when a package is added twice. A dependency already loaded (several WIT
    // paths sharing one `deps/`) is kept as loaded; the main package twice is an error.
    if resolve.package_names.contains_key(&main.main.name) {
        bail!("package `{}` is already loaded", main.main.name);
    }
    deps.retain(|group| !resolve.package_names.contains_key(&group.main.name));
    let mut provided: HashSet<PackageName> = resolve.package_names.keys().cloned().collect();
    let mut wanted: Vec<PackageName> = Vec::new();
    for group in std::iter::once(&main).chain(&deps) {
        note_group(group, &mut provided, &mut wanted);
    }
    while let Some(name) = wanted.pop() {
        if provided.contains(&name) {
            continue;
        }
        // A package neither provided nor shipped is left for wit-parser to report, with the
        // position of the `use` that needs it.
        let Some(shipped) = SHIPPED.iter().find(|p| p.name == name.to_string()) else {
            continue;
        };
        let group = shipped.parse()?;
        note_group(&group, &mut provided, &mut wanted);
        deps.push(group);
    }
    resolve
        .push_groups(main, deps)
        .map_err(|error| anyhow::anyhow!("{}", resolve.render_error(&error.into())))
}

/// Records the packages `group` defines in `provided` and the ones it uses in `wanted`.
fn note_group(
    group: &UnresolvedPackageGroup,
    provided: &mut HashSet<PackageName>,
    wanted: &mut Vec<PackageName>,
) {
    for package in std::iter::once(&group.main).chain(&group.nested) {
        provided.insert(package.name.clone());
        wanted.extend(package.foreign_deps.keys().cloned());
    }
}

/// Reads the `deps/` directory of a WIT package the way wit-parser does: each subdirectory is a
/// package, each `.wit` file is a package, and a `.wasm`/`.wat` file is an encoded package that is
/// merged into `resolve` at once (it carries its own dependencies). Other files are ignored.
fn parse_deps_dir(resolve: &mut Resolve, deps: &Path) -> Result<Vec<UnresolvedPackageGroup>> {
    if !deps.exists() {
        return Ok(Vec::new());
    }
    let mut entries = std::fs::read_dir(deps)
        .and_then(|entries| entries.collect::<std::io::Result<Vec<_>>>())
        .with_context(|| format!("failed to read directory {}", deps.display()))?;
    entries.sort_by_key(|entry| entry.file_name());
    let mut groups = Vec::new();
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            groups.push(parse_dir(&path)?);
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("wit") => groups.push(parse_file(&path)?),
            Some("wasm" | "wat") => {
                resolve.push_file(&path)?;
            }
            _ => {}
        }
    }
    Ok(groups)
}

/// Parses the `*.wit` files of directory `path` as one package.
fn parse_dir(path: &Path) -> Result<UnresolvedPackageGroup> {
    let mut map = SourceMap::default();
    map.push_dir(path)?;
    parse(map)
}

/// Parses one WIT file as a package.
fn parse_file(path: &Path) -> Result<UnresolvedPackageGroup> {
    let mut map = SourceMap::default();
    map.push_file(path)?;
    parse(map)
}

/// Parses `map`, rendering an error with its file, line and source line.
fn parse(map: SourceMap) -> Result<UnresolvedPackageGroup> {
    map.parse()
        .map_err(|(map, error)| anyhow::anyhow!("{}", error.render(&map)))
}

fn parse_name(name: &str) -> Result<PackageName> {
    let (namespace, rest) = name
        .split_once(':')
        .with_context(|| format!("bad package name {name}"))?;
    let (name, version) = rest
        .split_once('@')
        .with_context(|| format!("bad package name {name}"))?;
    Ok(PackageName {
        namespace: namespace.to_string(),
        name: name.to_string(),
        version: Some(version.parse()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.wit` file under `wit/deps/` is embedded, so none is forgotten when one is added.
    #[test]
    fn every_deps_file_is_embedded() {
        let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("wit/deps");
        let mut on_disk = Vec::new();
        for package in std::fs::read_dir(&deps).unwrap() {
            let package = package.unwrap().path();
            for file in std::fs::read_dir(&package).unwrap() {
                let file = file.unwrap().path();
                let relative = file.strip_prefix(&deps).unwrap();
                on_disk.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = SHIPPED
            .iter()
            .flat_map(|p| p.files.iter().map(|(path, _)| path.to_string()))
            .collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    /// Each shipped package parses, and is named as [`SHIPPED`] says.
    #[test]
    fn shipped_names_match_their_packages() {
        for package in SHIPPED {
            let group = package.parse().unwrap();
            assert_eq!(group.main.name.to_string(), package.name);
            assert_eq!(parse_name(package.name).unwrap(), group.main.name);
        }
        let mut resolve = Resolve::default();
        let ids = push_all(&mut resolve).unwrap();
        assert_eq!(ids.len(), SHIPPED.len());
        // Pushing again adds nothing.
        assert_eq!(push_all(&mut resolve).unwrap(), ids);
        assert_eq!(resolve.packages.len(), SHIPPED.len());
    }
}
