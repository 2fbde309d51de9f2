//! The CLI tests' harness: runs the built `isyswasfa` binary, makes components from WIT text, and
//! reads what a component imports and exports. The guests of `test-cases/` come from
//! isyswasfa-test-support.

#![allow(dead_code)]

pub mod composition;
pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use isyswasfa_bindgen::wit_parser::{
    IndexMap, ManglingAndAbi, Resolve, WorldId, WorldItem, WorldKey,
};

/// A fresh directory for one test's files.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a directory");
    for entry in std::fs::read_dir(from).expect("reading a directory") {
        let entry = entry.expect("reading a directory entry");
        let target = to.join(entry.file_name());
        // `metadata` follows symlinks (the WIT `deps` are links to shared directories).
        if std::fs::metadata(entry.path())
            .expect("reading metadata")
            .is_dir()
        {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a file");
        }
    }
}

/// Runs the built `isyswasfa` binary with `args`.
pub fn isyswasfa<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_isyswasfa"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("running isyswasfa")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A component (with a dummy core module) for `world` of `resolve`: real types, no behavior.
pub fn dummy_component(resolve: &Resolve, world: WorldId) -> Vec<u8> {
    let mut module = wit_component::dummy_module(resolve, world, ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embedding the component type");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("reading the dummy module")
        .validate(true)
        .encode()
        .expect("encoding the dummy component")
}

/// A component for the world `world` of the WIT package `wit`.
pub fn component_from_wit(wit: &str, world: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str("test.wit", wit)
        .expect("parsing the test WIT");
    let world = resolve
        .select_world(&[package], Some(world))
        .expect("selecting the test world");
    dummy_component(&resolve, world)
}

/// What a component imports and exports, as WIT names (`ns:pkg/iface` or plain names).
pub struct Surface {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

pub fn surface(bytes: &[u8]) -> Surface {
    let decoded = wit_component::decode(bytes).expect("decoding the component");
    let wit_component::DecodedWasm::Component(resolve, world) = decoded else {
        panic!("expected a component, got a WIT package");
    };
    let world = &resolve.worlds[world];
    let names = |items: &IndexMap<WorldKey, WorldItem>| -> Vec<String> {
        items
            .keys()
            .map(|key| resolve.name_world_key(key))
            .collect()
    };
    Surface {
        imports: names(&world.imports),
        exports: names(&world.exports),
    }
}
