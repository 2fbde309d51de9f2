//! Guest code generation over real lowered worlds.

use std::path::Path;

use isyswasfa_bindgen::{LowerOptions, lower_path, rust};

fn generate(dir: &str, world: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let lowered = lower_path(&path, Some(world), &LowerOptions::for_crate(world)).unwrap();
    rust::generate(
        &lowered,
        &rust::GuestOptions {
            generate_all: true,
            ..Default::default()
        },
    )
    .unwrap()
    .to_string()
}

#[test]
fn round_trip_bindings_have_the_async_facade() {
    let code = generate("test-cases/round-trip/wit", "round-trip");
    assert!(code.contains("pub async fn foo"), "{code}");
    assert!(
        code.contains(
            "async fn foo (s : :: std :: string :: String) -> :: std :: string :: String ;"
        ) || code.contains("async fn foo"),
        "{code}"
    );
}
