//! `isyswasfa bundle`: polyfilled components and compositions turned into plain WASI 0.2
//! components, checked with a validator that knows no component-model async and run by a plain
//! wasmtime host (only wasmtime-wasi's WASI 0.2 linker, component-model async off).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use isyswasfa_test_support::Guest;
use wasmtime::component::{Component, Instance, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::common::composition::compose_root;
use crate::common::{isyswasfa, stderr};

/// Bundles `input` through the CLI into `name`.wasm; returns the bundle's path.
pub(crate) fn bundle(input: &Path, name: &str) -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.wasm"));
    let output = isyswasfa([
        "bundle".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(
        output.status.success(),
        "bundle failed: {}",
        stderr(&output)
    );
    out
}

/// The error `isyswasfa bundle` gives for `input`.
fn bundle_error(input: &Path) -> String {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("never-written.wasm");
    let output = isyswasfa([
        "bundle".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(!output.status.success(), "bundling {input:?} succeeded");
    stderr(&output)
}

/// `port-dropin-command`: a program exporting `wasi:cli/run@0.3.0` (a binary, so its file name
/// keeps its dashes, unlike what `Guest::file_name` spells for libraries).
fn command_guest() -> PathBuf {
    Guest::PortDropinCommand
        .path()
        .with_file_name("port-dropin-command.wasm")
}

/// `caller -d callee -d service-leaf`, composed and bundled by the CLI into files named after
/// `test` (tests run at once must not write the same file).
pub(crate) fn bundled_caller(test: &str) -> PathBuf {
    let composed = compose_root(
        Guest::Caller,
        &format!("{test}-composed"),
        &[Guest::Callee, Guest::ServiceLeaf],
    );
    bundle(&composed, test)
}

/// Checks `bytes` with every component-model async feature of the validator off, and returns
/// its imports.
fn validate_p2(bytes: &[u8]) -> Vec<String> {
    use wasmparser::WasmFeatures;
    let mut features = WasmFeatures::default();
    for async_feature in [
        WasmFeatures::CM_ASYNC,
        WasmFeatures::CM_ASYNC_STACKFUL,
        WasmFeatures::CM_MORE_ASYNC_BUILTINS,
        WasmFeatures::CM_THREADING,
        WasmFeatures::CM_ERROR_CONTEXT,
    ] {
        features.remove(async_feature);
    }
    wasmparser::Validator::new_with_features(features)
        .validate_all(bytes)
        .expect("the bundle is not a valid component without component-model async");
    let mut imports = Vec::new();
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.expect("parsing the bundle") {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) if depth > 0 => depth -= 1,
            wasmparser::Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    imports.push(import.expect("reading an import").name.name.to_string());
                }
            }
            _ => {}
        }
    }
    imports
}

fn assert_plain_p2(path: &Path) {
    let imports = validate_p2(&std::fs::read(path).expect("reading the bundle"));
    assert!(!imports.is_empty(), "the bundle imports nothing at all");
    for import in &imports {
        assert!(
            import.starts_with("wasi:") && import.contains("@0.2.") && !import.contains("@0.3."),
            "the bundle imports `{import}`: {imports:?}"
        );
    }
}

#[test]
fn bundle_is_plain_p2() {
    // The demo router: the inputs import the protocol, the pipes and the lowered WASI 0.3
    // `wasi:http`, and export the lowered `wasi:http/handler@0.3.0`.
    let router = crate::common::http::router_composition_named("bundle_is_plain_p2-router");
    let imports = validate_p2(&std::fs::read(&router).unwrap());
    assert!(
        imports.iter().any(|i| i.starts_with("isyswasfa:"))
            && imports
                .iter()
                .any(|i| i.starts_with("wasi:http/types@0.3.")),
        "{imports:?}"
    );
    let bundled = bundle(&router, "bundle_is_plain_p2-router-bundled");
    assert_plain_p2(&bundled);
    // The client side goes out through WASI 0.2's `outgoing-handler`.
    let imports = validate_p2(&std::fs::read(&bundled).unwrap());
    for needed in ["wasi:http/types@0.2.", "wasi:http/outgoing-handler@0.2."] {
        assert!(
            imports.iter().any(|i| i.starts_with(needed)),
            "no `{needed}*` among {imports:?}"
        );
    }
    let exports = crate::common::surface(&std::fs::read(&bundled).unwrap()).exports;
    assert_eq!(exports, ["wasi:http/incoming-handler@0.2.0"]);

    // A command and a composition of async exports, too.
    let command = command_guest();
    assert_plain_p2(&bundle(&command, "bundle_is_plain_p2-command"));
    assert_plain_p2(&bundled_caller("bundle_is_plain_p2"));
}

struct P2 {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for P2 {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A plain wasmtime host: wasmtime-wasi's WASI 0.2 linker, synchronous, no component-model
/// async; the bundle at `path` instantiated in it.
fn p2_instance(path: &Path) -> (Store<P2>, Instance) {
    let mut config = Config::new();
    config.wasm_component_model_async(false);
    let engine = Engine::new(&config).expect("engine");
    let mut linker = Linker::<P2>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("the WASI 0.2 linker");
    let component = Component::from_file(&engine, path).expect("compiling the bundle");
    let wasi = WasiCtx::builder().inherit_stdout().inherit_stderr().build();
    let mut store = Store::new(
        &engine,
        P2 {
            wasi,
            table: ResourceTable::new(),
        },
    );
    let instance = linker
        .instantiate(&mut store, &component)
        .expect("instantiating the bundle on plain wasmtime");
    (store, instance)
}

fn api_func<Params, Results>(
    store: &mut Store<P2>,
    instance: &Instance,
    name: &str,
) -> wasmtime::component::TypedFunc<Params, Results>
where
    Params: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
    Results: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
{
    let api = instance
        .get_export_index(&mut *store, None, "component:compose/api")
        .expect("the bundle exports component:compose/api");
    let func = instance
        .get_export_index(&mut *store, Some(&api), name)
        .unwrap_or_else(|| panic!("the bundle's api has no `{name}`"));
    instance
        .get_typed_func::<Params, Results>(&mut *store, func)
        .unwrap_or_else(|e| panic!("`{name}` has another type: {e}"))
}

#[test]
fn bundle_run_concurrent_waits() {
    let (mut store, instance) = p2_instance(&bundled_caller("bundle_run_concurrent_waits"));
    let both = api_func::<(u32,), (String,)>(&mut store, &instance, "both");
    let call = |store: &mut Store<P2>, millis: u32| {
        let (answer,) = both.call(&mut *store, (millis,)).expect("calling both");
        answer
    };
    assert_eq!(
        call(&mut store, 1),
        "caller slept 1 ms beside [callee slept 1 ms]"
    );
    let start = Instant::now();
    let answer = call(&mut store, 200);
    let took = start.elapsed();
    assert_eq!(answer, "caller slept 200 ms beside [callee slept 200 ms]");
    // The caller's timer and the callee's ran at once: one wait, not two in a row.
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_millis(350), "both(200) took {took:?}");
}

/// A stream made by one component of the bundle and read by another: the numbers go through
/// the runtime's pipe (its typed operations through the generated ops adapter).
#[test]
fn bundle_streams_across_components() {
    let (mut store, instance) = p2_instance(&bundled_caller("bundle_streams_across_components"));
    let stream_sum = api_func::<(u32,), ((u64, u32),)>(&mut store, &instance, "stream-sum");
    for count in [0, 1, 10, 1000] {
        let (answer,) = stream_sum
            .call(&mut store, (count,))
            .expect("calling stream-sum");
        let expected = u64::from(count) * (u64::from(count) + 1) / 2;
        assert_eq!(answer, (expected, count), "stream-sum({count})");
    }
}

/// A synchronous export waiting with `block_on` on the runtime's clock (the runtime's `block`),
/// and one refused because it waits for a sibling that cannot be entered (the host's rule and
/// message).
#[test]
fn bundle_block_on() {
    let (mut store, instance) = p2_instance(&bundled_caller("bundle_block_on"));
    let block_on_timer = api_func::<(u32,), (u32,)>(&mut store, &instance, "block-on-timer");
    let (waited,) = block_on_timer
        .call(&mut store, (50,))
        .expect("block-on-timer");
    assert!((50..200).contains(&waited), "waited {waited} ms");

    let block_on_service =
        api_func::<(u32,), (Result<String, String>,)>(&mut store, &instance, "block-on-service");
    let (refused,) = block_on_service
        .call(&mut store, (10,))
        .expect("block-on-service");
    let message = refused.expect_err("waiting for the callee inside the caller was allowed");
    assert!(
        message.contains("cannot wait in `block_on`") && message.contains("callee"),
        "{message}"
    );
}

/// A bundled `wasi:cli/run@0.3.0` is run by a WASI 0.2 command host as `wasi:cli/run@0.2.0`.
#[test]
fn bundle_command_runs_as_p2() {
    let (mut store, instance) = p2_instance(&bundle(&command_guest(), "bundle_command_runs_as_p2"));
    let run_interface = instance
        .get_export_index(&mut store, None, "wasi:cli/run@0.2.0")
        .expect("the bundle exports wasi:cli/run@0.2.0");
    let run = instance
        .get_export_index(&mut store, Some(&run_interface), "run")
        .expect("run");
    let run = instance
        .get_typed_func::<(), (Result<(), ()>,)>(&mut store, run)
        .expect("run's type");
    let (outcome,) = run.call(&mut store, ()).expect("running");
    assert_eq!(outcome, Ok(()));
}

#[test]
fn bundle_errors() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bundle-errors");
    std::fs::create_dir_all(&dir).unwrap();

    let text = dir.join("notes.txt");
    std::fs::write(&text, "not wasm").unwrap();
    let error = bundle_error(&text);
    assert!(
        error.contains("notes.txt") && error.contains("is not WebAssembly"),
        "{error}"
    );

    let core = dir.join("core.wasm");
    std::fs::write(&core, wasm_encoder::Module::new().finish()).unwrap();
    let error = bundle_error(&core);
    assert!(
        error.contains("core.wasm") && error.contains("core WebAssembly module"),
        "{error}"
    );

    let plain = Guest::ProxyP2.path();
    let error = bundle_error(&plain);
    assert!(
        error.contains("proxy_p2.wasm") && error.contains("plain WASI 0.2 component"),
        "{error}"
    );

    // `callee` imports the next `service`, which nothing in this composition exports.
    let open_chain = compose_root(Guest::Caller, "bundle-open-chain", &[Guest::Callee]);
    let error = bundle_error(&open_chain);
    assert!(
        error.contains("bundle-open-chain.wasm")
            && error.contains("imports `component:compose/service`")
            && error.contains("cannot provide"),
        "{error}"
    );
}
