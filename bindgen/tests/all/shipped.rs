//! Loading a guest's WIT with the WASI 0.3 packages isyswasfa ships: what the guest uses and does
//! not provide comes from the shipped copies; what it provides in its own `deps/` wins.

use std::path::{Path, PathBuf};

use isyswasfa_bindgen::wit_parser::{PackageId, PackageName, Resolve};
use isyswasfa_bindgen::{LowerOptions, lower_path, push_wit, rust, shipped};

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/shipped")
        .join(name)
        .join("wit")
}

fn package(resolve: &Resolve, name: &str) -> Option<PackageId> {
    resolve
        .package_names
        .iter()
        .find(|(n, _)| n.to_string() == name)
        .map(|(_, id)| *id)
}

fn functions_of(resolve: &Resolve, interface: &str) -> Vec<String> {
    let (_, iface) = resolve
        .interfaces
        .iter()
        .find(|(id, _)| resolve.id_of(*id).as_deref() == Some(interface))
        .unwrap_or_else(|| panic!("{interface} not found"));
    iface.functions.keys().cloned().collect()
}

#[test]
fn clocks_come_from_the_shipped_copy_without_deps() {
    let dir = case("no-deps");
    assert!(!dir.join("deps").exists());
    let lowered = lower_path(&dir, None, &LowerOptions::for_crate("sleeper")).unwrap();
    // Every world of the lowered resolve stays valid, the shipped `wasi:clocks/imports` too
    // (its monotonic-clock now uses the protocol interface): wit-parser panics if not.
    lowered.resolve.assert_valid();
    let wit = lowered.to_wit().unwrap();
    assert!(
        wit.contains(
            "wait-for-isyswasfa-start: func(how-long: duration) -> result<_, isyswasfa-pending>;"
        ),
        "{wit}"
    );
    assert!(
        wit.contains("nap-isyswasfa-start: func(ms: u32) -> result<string, isyswasfa-pending>;"),
        "{wit}"
    );

    // The guest code generator gets the shipped functions too.
    let options = rust::GuestOptions {
        generate_all: true,
        ..Default::default()
    };
    let code = rust::generate(&lowered, &options).unwrap().to_string();
    let code = code.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        code.contains("pub async fn wait_for (how_long : Duration)"),
        "{code}"
    );
}

#[test]
fn only_the_packages_used_are_added() {
    let mut resolve = Resolve::default();
    push_wit(&mut resolve, &case("no-deps")).unwrap();
    let mut names: Vec<String> = resolve
        .package_names
        .keys()
        .map(PackageName::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["demo:sleeper", "wasi:clocks@0.3.0"]);
}

#[test]
fn files_read_are_only_the_guests() {
    let mut resolve = Resolve::default();
    let (_, files) = push_wit(&mut resolve, &case("no-deps")).unwrap();
    assert_eq!(files, [case("no-deps").join("world.wit")]);
}

#[test]
fn a_guests_own_deps_win() {
    let mut resolve = Resolve::default();
    let (_, files) = push_wit(&mut resolve, &case("own-clocks")).unwrap();
    let functions = functions_of(&resolve, "wasi:clocks/monotonic-clock@0.3.0");
    assert_eq!(functions, ["now", "only-in-the-guests-copy"]);
    assert_eq!(resolve.packages.len(), 2);
    assert!(files.contains(&case("own-clocks").join("deps/clocks/clocks.wit")));
}

#[test]
fn shipped_packages_use_the_guests_own_deps() {
    // The guest provides wasi:clocks but not wasi:http: the shipped wasi:http is added and its
    // `use wasi:clocks/types@0.3.0.{duration}` resolves to the guest's copy.
    let mut resolve = Resolve::default();
    push_wit(&mut resolve, &case("own-clocks-http")).unwrap();
    assert!(package(&resolve, "wasi:http@0.3.0").is_some());
    let functions = functions_of(&resolve, "wasi:clocks/monotonic-clock@0.3.0");
    assert_eq!(functions, ["now", "only-in-the-guests-copy"]);
    let clocks: Vec<_> = resolve
        .package_names
        .keys()
        .filter(|n| n.name == "clocks")
        .collect();
    assert_eq!(clocks.len(), 1);
}

#[test]
fn the_http_worlds_resolve_without_deps() {
    let mut resolve = Resolve::default();
    let main = shipped::push_str(
        &mut resolve,
        "inline.wit",
        "package demo:proxy;\n\
         world proxy { include wasi:http/middleware@0.3.0; }\n",
    )
    .unwrap();
    let world = isyswasfa_bindgen::select_world(&resolve, main, Some("proxy")).unwrap();
    let imports: Vec<String> = resolve.worlds[world]
        .imports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .collect();
    for expected in [
        "wasi:http/handler@0.3.0",
        "wasi:http/client@0.3.0",
        "wasi:cli/stdout@0.3.0",
        "wasi:random/insecure-seed@0.3.0",
        "wasi:clocks/system-clock@0.3.0",
    ] {
        assert!(
            imports.iter().any(|i| i == expected),
            "{expected}: {imports:?}"
        );
    }
    let exports: Vec<String> = resolve.worlds[world]
        .exports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .collect();
    assert_eq!(exports, ["wasi:http/handler@0.3.0"]);
}

#[test]
fn inline_wit_reuses_packages_already_loaded() {
    let mut resolve = Resolve::default();
    push_wit(&mut resolve, &case("own-clocks")).unwrap();
    shipped::push_str(
        &mut resolve,
        "inline.wit",
        "package demo:inline;\nworld w { import wasi:clocks/monotonic-clock@0.3.0; }\n",
    )
    .unwrap();
    // The guest's clocks, loaded first, are kept; no second wasi:clocks appears.
    let functions = functions_of(&resolve, "wasi:clocks/monotonic-clock@0.3.0");
    assert_eq!(functions, ["now", "only-in-the-guests-copy"]);
}

#[test]
fn a_package_neither_provided_nor_shipped_is_an_error_with_its_position() {
    let mut resolve = Resolve::default();
    let error = push_wit(&mut resolve, &case("unknown-package")).unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("wasi:keyvalue"), "{message}");
    assert!(message.contains("world.wit:4:"), "{message}");
}

#[test]
fn a_syntax_error_names_the_file_and_line() {
    let mut resolve = Resolve::default();
    let error = shipped::push_str(
        &mut resolve,
        "broken.wit",
        "package a:b;\nworld w { import }\n",
    )
    .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("broken.wit:2:"), "{message}");
}

#[test]
fn an_http_handler_world_lowers_and_generates() {
    let mut resolve = Resolve::default();
    let main = shipped::push_str(
        &mut resolve,
        "inline.wit",
        "package demo:svc;\nworld svc {\n  import wasi:http/client@0.3.0;\n  export wasi:http/handler@0.3.0;\n}\n",
    )
    .unwrap();
    let world = isyswasfa_bindgen::select_world(&resolve, main, None).unwrap();
    let lowered =
        isyswasfa_bindgen::lower(&resolve, world, &LowerOptions::for_crate("svc")).unwrap();
    let wit = lowered.to_wit().unwrap();
    assert!(
        wit.contains("handle-isyswasfa-start: func(request: request) -> result<result<response, error-code>, isyswasfa-pending>;"),
        "{wit}"
    );
    let options = rust::GuestOptions {
        generate_all: true,
        ..Default::default()
    };
    let code = rust::generate(&lowered, &options).unwrap().to_string();
    let code = code.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        code.contains("async fn handle (request : Request)"),
        "{code}"
    );
}

#[test]
fn several_paths_may_share_their_deps() {
    let mut resolve = Resolve::default();
    push_wit(&mut resolve, &case("own-clocks")).unwrap();
    push_wit(&mut resolve, &case("also-own-clocks")).unwrap();
    let functions = functions_of(&resolve, "wasi:clocks/monotonic-clock@0.3.0");
    assert_eq!(functions, ["now", "only-in-the-guests-copy"]);
    assert_eq!(resolve.packages.len(), 3);

    // The same package twice is an error, not a wit-parser panic.
    let error = push_wit(&mut resolve, &case("own-clocks")).unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("package `demo:own-clocks` is already loaded"),
        "{message}"
    );
}
