//! Golden tests of the lowering: each `lowering/<case>/wit` is lowered (poll suffix `test`) and
//! printed as WIT; the text must equal `lowering/<case>/expected.wit`. Run with
//! `ISYSWASFA_BLESS=1` to rewrite the expected files after an intended change.
//! Bad input must give an error naming the item and its position.

use std::path::{Path, PathBuf};

use isyswasfa_bindgen::wit_parser::Resolve;
use isyswasfa_bindgen::{LowerOptions, Lowered, lower_path};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn options() -> LowerOptions {
    LowerOptions {
        poll_suffix: "test".to_string(),
    }
}

fn check_golden(case: &str) {
    let dir = cases_dir().join("lowering").join(case);
    let lowered = lower_path(&dir.join("wit"), Some("app"), &options())
        .or_else(|_| lower_path(&dir.join("wit"), None, &options()))
        .unwrap_or_else(|e| panic!("lowering {case} failed: {e:#}"));
    let wit = lowered.to_wit().unwrap();
    let expected_path = dir.join("expected.wit");
    if std::env::var_os("ISYSWASFA_BLESS").is_some() {
        std::fs::write(&expected_path, &wit).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    assert_eq!(
        wit, expected,
        "lowered WIT of `{case}` differs from expected.wit"
    );
    check_valid(&lowered, &wit);
}

/// The lowered world encodes as a component type, and its printed text parses again.
fn check_valid(lowered: &Lowered, wit: &str) {
    wit_component::metadata::encode(
        &lowered.resolve,
        lowered.world,
        wit_component::StringEncoding::UTF8,
        None,
    )
    .expect("the lowered world encodes");
    let mut reparsed = Resolve::default();
    reparsed
        .push_str("isyswasfa.wit", isyswasfa_bindgen::ISYSWASFA_WIT)
        .unwrap();
    reparsed
        .push_str("lowered.wit", wit)
        .expect("the printed WIT parses again");
}

#[test]
fn lowers_freestanding_import() {
    check_golden("freestanding-import");
}

#[test]
fn lowers_freestanding_export() {
    check_golden("freestanding-export");
}

#[test]
fn lowers_resource_methods_and_statics() {
    check_golden("resources");
}

#[test]
fn lowers_interface_used_by_another() {
    check_golden("interface-use");
}

#[test]
fn lowers_world_mixing_sync_and_async() {
    check_golden("mixed-world");
}

#[test]
fn lowers_function_without_result() {
    check_golden("no-result");
}

#[test]
fn lowers_round_trip_with_deps() {
    check_golden("round-trip");
}

#[test]
fn lowered_functions_are_listed() {
    let dir = cases_dir().join("lowering/resources/wit");
    let lowered = lower_path(&dir, Some("app"), &options()).unwrap();
    let names: Vec<(String, String)> = lowered
        .functions
        .iter()
        .map(|f| (f.start.clone(), f.result.clone()))
        .collect();
    // `files` is both imported and exported: each pair is listed in both directions.
    assert_eq!(lowered.functions.len(), 4);
    assert!(names.contains(&(
        "[method]file.read-isyswasfa-start".to_string(),
        "[static]file.read-isyswasfa-result".to_string()
    )));
    assert!(names.contains(&(
        "[static]file.open-isyswasfa-start".to_string(),
        "[static]file.open-isyswasfa-result".to_string()
    )));
    assert_eq!(lowered.poll_export, "isyswasfa-poll-test");
}

fn error_of(file: &str, world: Option<&str>) -> String {
    let path = cases_dir().join("bad-input").join(file);
    match lower_path(&path, world, &options()) {
        Ok(_) => panic!("{file} must not lower"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn unknown_world_lists_the_worlds() {
    let error = error_of("stream.wit", Some("nope"));
    assert!(
        error.contains("nope") && error.contains("worlds in this package: app"),
        "{error}"
    );
}

#[test]
fn syntax_error_names_file_and_line() {
    let error = error_of("syntax.wit", None);
    assert!(error.contains("syntax.wit:4:"), "{error}");
}

#[test]
fn payload_of_an_export_only_interface_is_copied_into_the_ops_interface() {
    check_golden("export-only-payload");
}

#[test]
fn resource_of_an_export_only_interface_is_a_clear_error() {
    let error = error_of("stream-exported-resource.wit", None);
    assert!(
        error.contains("payload `chunk`") && error.contains("resource"),
        "{error}"
    );
    assert!(
        error.contains("`forward`") && error.contains("test:bad-stream-resource/pipe"),
        "{error}"
    );
    assert!(error.contains("stream-exported-resource.wit:4:"), "{error}");
}

#[test]
fn unsupported_payload_is_a_clear_error() {
    let error = error_of("future-record.wit", None);
    assert!(
        error.contains("`error-context` cannot be carried"),
        "{error}"
    );
    assert!(
        error.contains("`envelope`") && error.contains("future-record.wit:4:"),
        "{error}"
    );
}

#[test]
fn lowers_streams_and_futures() {
    check_golden("streams");
}

#[test]
fn lowers_pipes_in_records_variants_resources_and_world_functions() {
    check_golden("pipes-everywhere");
}

#[test]
fn reserved_name_is_a_clear_error() {
    let error = error_of("reserved.wit", None);
    assert!(
        error.contains("`isyswasfa-pending`") && error.contains("reserved.wit:4:"),
        "{error}"
    );
}

#[test]
fn poll_suffix_derives_from_crate_name() {
    assert_eq!(
        LowerOptions::for_crate("round_trip").poll_suffix,
        "round-trip"
    );
    assert_eq!(
        LowerOptions::for_crate("My-Crate2").poll_suffix,
        "my-crate2"
    );
    assert_eq!(
        LowerOptions::for_crate("3d_engine").poll_suffix,
        "x3d-engine"
    );
    assert_eq!(LowerOptions::for_crate("__").poll_suffix, "component");
}
