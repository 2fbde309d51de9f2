//! Guest code generation over real lowered worlds: the façade has wit-bindgen's native async
//! signatures and delegates to the lowered functions.

use std::path::Path;

use isyswasfa_bindgen::{LowerOptions, lower_path, rust};

fn generate(dir: &str, world: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let lowered = lower_path(&path, Some(world), &LowerOptions::for_crate(world)).unwrap();
    let options = rust::GuestOptions {
        generate_all: true,
        ..Default::default()
    };
    let tokens = rust::generate(&lowered, &options).unwrap();
    // Normalize token spacing for the assertions below.
    tokens
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn imported_async_func_is_an_async_fn_with_owned_params() {
    let code = generate("tests/lowering/round-trip/wit", "round-trip");
    assert!(code.contains(
        "pub async fn foo (s : :: std :: string :: String) -> :: std :: string :: String"
    ),);
    assert!(code.contains("foo_isyswasfa_start (& s)"));
}

#[test]
fn exported_async_func_is_an_async_trait_fn() {
    let code = generate("tests/lowering/round-trip/wit", "round-trip");
    assert!(
        code.contains(
            "async fn foo (s : :: std :: string :: String) -> :: std :: string :: String ;"
        ),
    );
    assert!(code.contains(":: isyswasfa_guest :: rt :: start_export"));
    assert!(code.contains("macro_rules ! __isyswasfa_export"));
}

#[test]
fn resource_methods_get_async_methods() {
    let code = generate("tests/lowering/resources/wit", "app");
    // Import side: an inherent async method on the imported resource type.
    assert!(code.contains("pub async fn read (& self , len : u32) -> :: std :: vec :: Vec :: < u8 > { match self . read_isyswasfa_start (len)"));
    assert!(code.contains("pub async fn open (name : :: std :: string :: String) -> File"));
    // Export side: the façade `GuestFile` trait has async methods, and the sync ones unchanged.
    assert!(code.contains("async fn read (& self , len : u32) ->"));
    assert!(code.contains("fn size (& self ,) -> u64 ;"));
}
