//! Lowered worlds encode into real components (wit-component, as the guest linker does).

use std::path::Path;

use isyswasfa_bindgen::{LowerOptions, lower_path, wit_parser};

fn encode(dir: &str, world: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut lowered = lower_path(&path, Some(world), &LowerOptions::for_crate(world)).unwrap();
    let mut module = wit_component::dummy_module(
        &lowered.resolve,
        lowered.world,
        wit_parser::ManglingAndAbi::Standard32,
    );
    wit_component::embed_component_metadata(
        &mut module,
        &lowered.resolve,
        lowered.world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    let _ = &mut lowered;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap();
}

#[test]
fn streams_world_encodes() {
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(|| encode("../test-cases/streams/wit", "guest"))
        .unwrap()
        .join()
        .unwrap();
}
