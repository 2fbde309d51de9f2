//! The WASI 0.3 WIT that isyswasfa ships (`bindgen/wit/deps/`, see `isyswasfa_bindgen::shipped`)
//! must be type-identical to the WIT that wasmtime-wasi-http 48.0.8 ships in its sources
//! (`src/p3/wit`: `wasi:http`, and in `deps/` the same copies of every other WASI 0.3 package that
//! wasmtime-wasi 48.0.8 ships), for every package, interface and world: names, parameters,
//! results, resources, `async`, stability. Docs and layout may differ.
//!
//! wasmtime-wasi-http is a dev-dependency only so that cargo fetches, locks and locates its
//! sources; it is never compiled (see `bindgen/Cargo.toml`). The test asks `cargo metadata` where
//! they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use isyswasfa_bindgen::shipped;
use isyswasfa_bindgen::wit_parser::{
    Function, FunctionKind, Handle, InterfaceId, Resolve, Stability, Type, TypeDefKind, TypeId,
    TypeOwner, WorldId, WorldItem, WorldKey,
};

const WASMTIME_WASI_HTTP: &str = "wasmtime-wasi-http";
const WASMTIME_WASI_HTTP_VERSION: &str = "48.0.8";

/// Interfaces of wasmtime's copies of the shipped packages that isyswasfa does not polyfill, and
/// so does not ship. (Its `@unstable` items are not listed: wit-parser drops them unless their
/// feature is enabled.) None: every interface of the shipped packages is shipped. A new interface
/// in a future wasmtime shows up as a difference.
const LEFT_OUT: &[&str] = &[];

/// Worlds of wasmtime's copies that we leave out. None: every package is shipped whole, so
/// `wasi:cli/imports` and `wasi:cli/command` are compared too.
const LEFT_OUT_WORLDS: &[&str] = &[];

#[test]
fn wit_conformance_all() {
    let theirs = wasmtime_wit();
    let mut ours = Resolve::default();
    shipped::push_all(&mut ours).unwrap();
    let differences = compare(&ours, &theirs);
    assert!(
        differences.is_empty(),
        "the shipped WIT differs from wasmtime-wasi-http {WASMTIME_WASI_HTTP_VERSION}'s:\n{}",
        differences.join("\n")
    );
}

/// The comparison finds a changed type, a changed signature, a lost `async` and a missing
/// function, each by name: our WIT with those edits, compared with wasmtime's, reports them.
#[test]
fn a_changed_item_is_reported_by_name() {
    let theirs = wasmtime_wit();
    let edits: &[(&str, &str, &str)] = &[
        (
            "http/types.wit",
            "type status-code = u16;",
            "type status-code = u32;",
        ),
        (
            "http/types.wit",
            "has: func(name: field-name) -> bool;",
            "has: func(name: string) -> bool;",
        ),
        ("http/handler.wit", "send: async func(", "send: func("),
        (
            "clocks/clocks.wit",
            "@since(version = 0.3.0)\n  wait-until: async func(when: mark);",
            "",
        ),
    ];
    let ours = load_edited_deps(edits);
    let report = compare(&ours, &theirs).join("\n");
    for expected in [
        "wasi:http/types@0.3.0: type `status-code`",
        "wasi:http/types@0.3.0: function `[method]fields.has`",
        "wasi:http/client@0.3.0: function `send`",
        "wasi:clocks/monotonic-clock@0.3.0: function `wait-until` is missing",
    ] {
        assert!(report.contains(expected), "`{expected}` not in:\n{report}");
    }
    assert!(report.contains("ours `= u32"), "{report}");
    assert_eq!(report.lines().count(), 4, "{report}");
}

/// Parses wasmtime-wasi-http's `src/p3/wit`, located through `cargo metadata`.
fn wasmtime_wit() -> Resolve {
    let wit = wasmtime_wasi_http_dir().join("src/p3/wit");
    let mut resolve = Resolve::default();
    resolve
        .push_path(&wit)
        .unwrap_or_else(|e| panic!("parsing {}: {e:#}", wit.display()));
    resolve
}

/// The source directory of the locked wasmtime-wasi-http, as cargo reports it.
fn wasmtime_wasi_http_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == WASMTIME_WASI_HTTP && p["version"] == WASMTIME_WASI_HTTP_VERSION)
        .unwrap_or_else(|| {
            panic!("{WASMTIME_WASI_HTTP} {WASMTIME_WASI_HTTP_VERSION} is not in cargo metadata")
        });
    let manifest = Path::new(package["manifest_path"].as_str().unwrap());
    manifest.parent().unwrap().to_path_buf()
}

/// Our `wit/deps/` with each `(file, from, to)` edit applied, parsed from a scratch directory.
fn load_edited_deps(edits: &[(&str, &str, &str)]) -> Resolve {
    let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("wit/deps");
    let scratch =
        std::env::temp_dir().join(format!("isyswasfa-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    for package in std::fs::read_dir(&deps).unwrap() {
        let package = package.unwrap().path();
        let name = package.file_name().unwrap();
        std::fs::create_dir_all(scratch.join("deps").join(name)).unwrap();
        for file in std::fs::read_dir(&package).unwrap() {
            let file = file.unwrap().path();
            let relative = file.strip_prefix(&deps).unwrap();
            let mut text = std::fs::read_to_string(&file).unwrap();
            for (target, from, to) in edits {
                if Path::new(target) == relative {
                    assert!(text.contains(from), "{from} not in {target}");
                    text = text.replace(from, to);
                }
            }
            std::fs::write(scratch.join("deps").join(relative), text).unwrap();
        }
    }
    // A main package that uses nothing: wit-parser loads every package of `deps/` anyway.
    std::fs::write(scratch.join("main.wit"), "package test:main;\n").unwrap();
    let mut resolve = Resolve::default();
    let loaded = resolve.push_path(&scratch);
    std::fs::remove_dir_all(&scratch).unwrap();
    loaded.unwrap();
    resolve
}

/// Every difference between the shipped packages in `ours` and the same packages in `theirs`,
/// one line each, naming the item.
fn compare(ours: &Resolve, theirs: &Resolve) -> Vec<String> {
    let mut differences = Vec::new();
    for name in shipped::shipped_package_names() {
        let find = |r: &Resolve| {
            r.package_names
                .iter()
                .find(|(n, _)| n.to_string() == name)
                .map(|(_, id)| *id)
        };
        let Some(our_package) = find(ours) else {
            differences.push(format!("{name}: not among our packages"));
            continue;
        };
        let Some(their_package) = find(theirs) else {
            differences.push(format!("{name}: not in wasmtime's WIT"));
            continue;
        };
        let ours_p = &ours.packages[our_package];
        let theirs_p = &theirs.packages[their_package];

        for (iface_name, &their_iface) in &theirs_p.interfaces {
            let qualified = theirs.id_of(their_iface).unwrap();
            match ours_p.interfaces.get(iface_name) {
                Some(&our_iface) => compare_interface(
                    &qualified,
                    (ours, our_iface),
                    (theirs, their_iface),
                    &mut differences,
                ),
                None if LEFT_OUT.contains(&qualified.as_str()) => {}
                None => differences.push(format!("{qualified}: interface is missing")),
            }
        }
        for (iface_name, &our_iface) in &ours_p.interfaces {
            if !theirs_p.interfaces.contains_key(iface_name) {
                let qualified = ours.id_of(our_iface).unwrap();
                differences.push(format!("{qualified}: interface is not in wasmtime's WIT"));
            }
        }
        for (world_name, &our_world) in &ours_p.worlds {
            let qualified = format!("{}/{world_name}@0.3.0", name.trim_end_matches("@0.3.0"));
            match theirs_p.worlds.get(world_name) {
                Some(&their_world) => compare_world(
                    &qualified,
                    (ours, our_world),
                    (theirs, their_world),
                    &mut differences,
                ),
                None => differences.push(format!("{qualified}: world is not in wasmtime's WIT")),
            }
        }
        for world_name in theirs_p.worlds.keys() {
            let qualified = format!("{}/{world_name}@0.3.0", name.trim_end_matches("@0.3.0"));
            if !ours_p.worlds.contains_key(world_name)
                && !LEFT_OUT_WORLDS.contains(&qualified.as_str())
            {
                differences.push(format!("{qualified}: world is missing"));
            }
        }
    }
    differences
}

fn compare_interface(
    qualified: &str,
    (ours, our_iface): (&Resolve, InterfaceId),
    (theirs, their_iface): (&Resolve, InterfaceId),
    differences: &mut Vec<String>,
) {
    let our_i = &ours.interfaces[our_iface];
    let their_i = &theirs.interfaces[their_iface];
    if our_i.stability != their_i.stability {
        differences.push(format!(
            "{qualified}: stability: ours `{}`, wasmtime's `{}`",
            stability(&our_i.stability),
            stability(&their_i.stability)
        ));
    }
    let types = |r: &Resolve, iface: InterfaceId| {
        r.interfaces[iface]
            .types
            .iter()
            .map(|(name, id)| (name.clone(), describe_type_def(r, *id)))
            .collect::<BTreeMap<_, _>>()
    };
    report(
        qualified,
        "type",
        &types(ours, our_iface),
        &types(theirs, their_iface),
        differences,
    );
    let functions = |r: &Resolve, iface: InterfaceId| {
        r.interfaces[iface]
            .functions
            .values()
            .map(|f| (f.name.clone(), describe_function(r, f)))
            .collect::<BTreeMap<_, _>>()
    };
    report(
        qualified,
        "function",
        &functions(ours, our_iface),
        &functions(theirs, their_iface),
        differences,
    );
}

fn compare_world(
    qualified: &str,
    (ours, our_world): (&Resolve, WorldId),
    (theirs, their_world): (&Resolve, WorldId),
    differences: &mut Vec<String>,
) {
    let items = |r: &Resolve, world: WorldId, exports: bool| {
        let world = &r.worlds[world];
        let items = if exports {
            &world.exports
        } else {
            &world.imports
        };
        items
            .iter()
            .map(|(key, item)| (world_key(r, key), describe_world_item(r, item)))
            .collect::<BTreeMap<_, _>>()
    };
    report(
        qualified,
        "import",
        &items(ours, our_world, false),
        &items(theirs, their_world, false),
        differences,
    );
    report(
        qualified,
        "export",
        &items(ours, our_world, true),
        &items(theirs, their_world, true),
        differences,
    );
    let (our_s, their_s) = (
        &ours.worlds[our_world].stability,
        &theirs.worlds[their_world].stability,
    );
    if our_s != their_s {
        differences.push(format!(
            "{qualified}: stability: ours `{}`, wasmtime's `{}`",
            stability(our_s),
            stability(their_s)
        ));
    }
}

/// Adds one line per item that is missing on either side or described differently.
fn report(
    scope: &str,
    what: &str,
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
    differences: &mut Vec<String>,
) {
    for (name, their_description) in theirs {
        match ours.get(name) {
            None => differences.push(format!("{scope}: {what} `{name}` is missing")),
            Some(our_description) if our_description != their_description => {
                differences.push(format!(
                    "{scope}: {what} `{name}`: ours `{our_description}`, wasmtime's `{their_description}`"
                ))
            }
            Some(_) => {}
        }
    }
    for name in ours.keys().filter(|name| !theirs.contains_key(*name)) {
        differences.push(format!("{scope}: {what} `{name}` is not in wasmtime's WIT"));
    }
}

/// A named type's definition, with its stability.
fn describe_type_def(r: &Resolve, id: TypeId) -> String {
    let def = &r.types[id];
    format!(
        "{} {}",
        describe_kind(r, &def.kind),
        stability(&def.stability)
    )
}

/// A function's kind, `async`, parameters (names and types), result and stability.
fn describe_function(r: &Resolve, f: &Function) -> String {
    let kind = match &f.kind {
        FunctionKind::Freestanding => "func".to_string(),
        FunctionKind::AsyncFreestanding => "async func".to_string(),
        FunctionKind::Method(id) => format!("method of {}", type_name(r, *id)),
        FunctionKind::AsyncMethod(id) => format!("async method of {}", type_name(r, *id)),
        FunctionKind::Static(id) => format!("static func of {}", type_name(r, *id)),
        FunctionKind::AsyncStatic(id) => format!("async static func of {}", type_name(r, *id)),
        FunctionKind::Constructor(id) => format!("constructor of {}", type_name(r, *id)),
    };
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, describe(r, &p.ty)))
        .collect();
    let result = match &f.result {
        Some(ty) => format!(" -> {}", describe(r, ty)),
        None => String::new(),
    };
    format!(
        "{kind}({}){result} {}",
        params.join(", "),
        stability(&f.stability)
    )
}

fn describe_world_item(r: &Resolve, item: &WorldItem) -> String {
    match item {
        WorldItem::Interface {
            id, stability: s, ..
        } => {
            format!("interface {} {}", r.id_of(*id).unwrap(), stability(s))
        }
        WorldItem::Function(f) => describe_function(r, f),
        WorldItem::Type { id, .. } => describe_type_def(r, *id),
    }
}

fn world_key(r: &Resolve, key: &WorldKey) -> String {
    match key {
        WorldKey::Name(name) => name.clone(),
        WorldKey::Interface(id) => r.id_of(*id).unwrap(),
    }
}

/// A type use: a named type by its qualified name, an anonymous one by its structure.
fn describe(r: &Resolve, ty: &Type) -> String {
    if let Some(name) = isyswasfa_bindgen::pipes::primitive_name(ty) {
        return name.into();
    }
    match ty {
        Type::Id(id) if r.types[*id].name.is_some() => type_name(r, *id),
        Type::Id(id) => describe_kind(r, &r.types[*id].kind),
        _ => "error-context".into(),
    }
}

/// `package/interface.name` of a named type (or `world name.name` for a world's own type).
fn type_name(r: &Resolve, id: TypeId) -> String {
    let def = &r.types[id];
    let name = def.name.as_deref().unwrap_or("<anonymous>");
    match def.owner {
        TypeOwner::Interface(owner) => format!("{}.{name}", r.id_of(owner).unwrap()),
        TypeOwner::World(owner) => format!("world {}.{name}", r.worlds[owner].name),
        TypeOwner::None => name.to_string(),
    }
}

fn describe_kind(r: &Resolve, kind: &TypeDefKind) -> String {
    let opt = |ty: &Option<Type>| ty.as_ref().map_or("_".to_string(), |t| describe(r, t));
    match kind {
        TypeDefKind::Record(record) => {
            let fields: Vec<String> = record
                .fields
                .iter()
                .map(|f| format!("{}: {}", f.name, describe(r, &f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        TypeDefKind::Resource => "resource".into(),
        TypeDefKind::Handle(Handle::Own(id)) => format!("own<{}>", type_name(r, *id)),
        TypeDefKind::Handle(Handle::Borrow(id)) => format!("borrow<{}>", type_name(r, *id)),
        TypeDefKind::Flags(flags) => {
            let names: Vec<&str> = flags.flags.iter().map(|f| f.name.as_str()).collect();
            format!("flags {{ {} }}", names.join(", "))
        }
        TypeDefKind::Tuple(tuple) => {
            let types: Vec<String> = tuple.types.iter().map(|t| describe(r, t)).collect();
            format!("tuple<{}>", types.join(", "))
        }
        TypeDefKind::Variant(variant) => {
            let cases: Vec<String> = variant
                .cases
                .iter()
                .map(|c| match &c.ty {
                    Some(ty) => format!("{}({})", c.name, describe(r, ty)),
                    None => c.name.clone(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        TypeDefKind::Enum(e) => {
            let cases: Vec<&str> = e.cases.iter().map(|c| c.name.as_str()).collect();
            format!("enum {{ {} }}", cases.join(", "))
        }
        TypeDefKind::Option(ty) => format!("option<{}>", describe(r, ty)),
        TypeDefKind::Result(result) => {
            format!("result<{}, {}>", opt(&result.ok), opt(&result.err))
        }
        TypeDefKind::List(ty) => format!("list<{}>", describe(r, ty)),
        TypeDefKind::Map(key, value) => {
            format!("map<{}, {}>", describe(r, key), describe(r, value))
        }
        TypeDefKind::FixedLengthList(ty, n) => format!("list<{}, {n}>", describe(r, ty)),
        TypeDefKind::Future(ty) => format!("future<{}>", opt(ty)),
        TypeDefKind::Stream(ty) => format!("stream<{}>", opt(ty)),
        TypeDefKind::Type(ty) => format!("= {}", describe(r, ty)),
        TypeDefKind::Unknown => "unknown".into(),
    }
}

fn stability(s: &Stability) -> String {
    let deprecated = |d: &Option<_>| match d {
        Some(version) => format!(" @deprecated({version})"),
        None => String::new(),
    };
    match s {
        Stability::Unknown => "(no stability)".into(),
        Stability::Stable {
            since,
            deprecated: d,
        } => format!("@since({since}){}", deprecated(d)),
        Stability::Unstable {
            feature,
            deprecated: d,
        } => {
            format!("@unstable({feature}){}", deprecated(d))
        }
    }
}
