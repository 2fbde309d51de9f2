//! `isyswasfa compose` on real guests: chains of the same component, the poll exports of every
//! instance under distinct names, plain WASI 0.2 components, and WAC documents.

use isyswasfa_bindgen::wit_parser::WorldKey;
use isyswasfa_bindgen::{LowerOptions, lower_path};
use isyswasfa_compose::{self as compose, Component, Plug, PollExport};
use isyswasfa_test_support::{Guest, repo_root};

use crate::common;
use crate::common::{isyswasfa, scratch_dir, stderr, surface};

const BAZ: &str = "component:test/baz";
const TASKS: &str = "component:tasks/tasks";
const POLL: &str = "isyswasfa-poll-round-trip";

fn polls(exports: &[String]) -> Vec<&str> {
    exports
        .iter()
        .map(String::as_str)
        .filter(|name| name.starts_with(compose::POLL_EXPORT_PREFIX))
        .collect()
}

/// `ROOT -d X -d X`: the root's import goes to the first X, the first X's to the second X, and
/// the second X's import stays an import of the composition.
#[test]
fn repeated_dependency_makes_a_chain() {
    let round_trip = Component::read(&Guest::RoundTrip.path()).unwrap();
    let composition =
        compose::compose(&round_trip, &[round_trip.clone(), round_trip.clone()]).unwrap();
    let file = round_trip.name();
    let plug = |importer: String, exporter: String| Plug {
        importer,
        import: BAZ.to_string(),
        exporter,
        export: BAZ.to_string(),
    };
    assert_eq!(
        composition.plugs,
        [
            plug(format!("root `{file}`"), format!("dependency 1 `{file}`")),
            plug(
                format!("dependency 1 `{file}`"),
                format!("dependency 2 `{file}`")
            ),
        ]
    );
    let poll = |instance: String, name: &str| PollExport {
        instance,
        original: POLL.to_string(),
        name: name.to_string(),
    };
    assert_eq!(
        composition.poll_exports,
        [
            poll(format!("root `{file}`"), POLL),
            poll(format!("dependency 1 `{file}`"), &format!("{POLL}-2")),
            poll(format!("dependency 2 `{file}`"), &format!("{POLL}-3")),
        ]
    );
    let surface = surface(&composition.bytes);
    assert!(
        surface.exports.iter().any(|e| e == BAZ),
        "{:?}",
        surface.exports
    );
    assert_eq!(
        polls(&surface.exports),
        [POLL.to_string(), format!("{POLL}-2"), format!("{POLL}-3")]
    );
    // Only the last link of the chain imports `baz` from the host.
    assert!(
        surface.imports.iter().any(|i| i == BAZ),
        "{:?}",
        surface.imports
    );
}

/// The command line writes the composed component and logs each plug and each renamed poll
/// export at `info` level.
#[test]
fn cli_composes_two_instances_of_a_guest() {
    let dir = scratch_dir("cli_composes_two_instances_of_a_guest");
    let out = dir.join("composed.wasm");
    let guest = Guest::RoundTrip.path();
    let output = isyswasfa([
        "compose".as_ref(),
        guest.as_os_str(),
        "-d".as_ref(),
        guest.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("INFO") && log.contains(&format!("as `{POLL}-2`")),
        "{log}"
    );
    assert!(
        log.contains(&format!("plugged `{BAZ}` of root `")) && log.contains("← dependency 1"),
        "{log}"
    );
    let surface = surface(&std::fs::read(&out).unwrap());
    assert_eq!(
        polls(&surface.exports),
        [POLL.to_string(), format!("{POLL}-2")]
    );
    assert!(surface.exports.iter().any(|e| e == BAZ));
}

/// A plain WASI 0.2 component (no poll export) plugs into an isyswasfa one: the composition has
/// the root's poll export only.
#[test]
fn plain_component_composes() {
    let mut lowered = lower_path(
        &repo_root().join("test-cases/round-trip/wit"),
        None,
        &LowerOptions::for_crate("plain"),
    )
    .unwrap();
    let world = &mut lowered.resolve.worlds[lowered.world];
    let before = world.exports.len();
    world.exports.retain(
        |key, _| !matches!(key, WorldKey::Name(name) if name.starts_with("isyswasfa-poll")),
    );
    assert_eq!(world.exports.len(), before - 1, "the poll export is gone");
    let plain = Component::new(
        "plain.wasm",
        common::dummy_component(&lowered.resolve, lowered.world),
    );
    assert!(polls(&surface(plain.bytes()).exports).is_empty());

    let root = Component::read(&Guest::RoundTrip.path()).unwrap();
    let composition = compose::compose(&root, &[plain]).unwrap();
    assert_eq!(composition.plugs.len(), 1);
    assert_eq!(composition.plugs[0].exporter, "dependency 1 `plain.wasm`");
    assert_eq!(polls(&surface(&composition.bytes).exports), [POLL]);
}

/// A WAC document: two instances of one guest chained, a second guest beside them; every
/// instance's poll export is exported once, the one the document exports itself included.
#[test]
fn wac_document_exports_every_poll_function() {
    let dir = scratch_dir("wac_document_exports_every_poll_function");
    let document = dir.join("composition.wac");
    std::fs::write(
        &document,
        format!(
            r#"package test:composition;

let inner = new test:round-trip {{ ... }};
let outer = new test:round-trip {{ "{BAZ}": inner["{BAZ}"], ... }};
let tasks = new test:tasks {{ ... }};

export outer["{BAZ}"];
export outer["{POLL}"];
export tasks["{TASKS}"];
"#
        ),
    )
    .unwrap();
    let out = dir.join("composed.wasm");
    let round_trip = format!("test:round-trip={}", Guest::RoundTrip.path().display());
    let tasks = format!("test:tasks={}", Guest::Tasks.path().display());
    let output = isyswasfa([
        "compose".as_ref(),
        "--wac".as_ref(),
        document.as_os_str(),
        "-d".as_ref(),
        round_trip.as_ref(),
        "-d".as_ref(),
        tasks.as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "instance `inner` of `test:round-trip` (`{}`) exports `{POLL}`, a name already taken: \
             the composition exports it as `{POLL}-2`",
            Guest::RoundTrip.path().display()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("plugged `{BAZ}` of instance `outer`")),
        "{log}"
    );
    let surface = surface(&std::fs::read(&out).unwrap());
    let mut found = polls(&surface.exports);
    found.sort();
    assert_eq!(
        found,
        [
            POLL.to_string(),
            format!("{POLL}-2"),
            "isyswasfa-poll-tasks".to_string()
        ]
    );
    assert!(surface.exports.iter().any(|e| e == BAZ));
    assert!(surface.exports.iter().any(|e| e == TASKS));
}
