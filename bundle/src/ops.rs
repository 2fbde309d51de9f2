//! The ops adapter: a component generated for the input's typed stream operations (its
//! `isyswasfa-ops-*` imports). The runtime keeps every pipe's values as bytes; the adapter turns
//! `stream-T-read` / `stream-T-write` of a plain-data payload `T` (no strings, lists or handles)
//! into the runtime's byte-level `read` / `write`, with `T`'s size. The values' bytes are the
//! canonical ABI's layout of `T`, which is the same in every component's memory.

use anyhow::{Context, Result, anyhow, bail};
use wasm_encoder::{ExportKind, Function, Instruction, ValType};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::abi::AbiVariant;
use wit_parser::{
    Function as WitFunction, FunctionKind, Handle, Int, InterfaceId, Param, Resolve,
    ResourceIntrinsic, SizeAlign, Type, TypeDef, TypeDefKind, TypeOwner, WasmExport,
    WasmExportKind, WasmImport, WorldItem,
};

use crate::core::{BUMP, Core, define_alloc, define_realloc, mem};
use crate::driver::{MANGLING, find_function, interface_key};
use crate::input::{Input, is_stream_pipe};

/// The runtime's stream interface, which plugs every `isyswasfa:pipes/stream-*` import.
pub(crate) const STREAMS: &str = "isyswasfa:bundle/streams@0.1.0";

/// The generated ops adapter, if the input has ops imports.
pub(crate) struct Ops {
    /// The adapter's bytes.
    pub bytes: Vec<u8>,
    /// The ops interfaces it exports (the input's imports).
    pub interfaces: Vec<String>,
}

enum Op {
    Read,
    Write,
}

/// Whether `ty` is plain data: its canonical ABI bytes hold no pointer and no handle.
fn plain(resolve: &Resolve, ty: &Type) -> bool {
    match ty {
        Type::String | Type::ErrorContext => false,
        Type::Id(id) => match &resolve.types[*id].kind {
            TypeDefKind::Type(t) => plain(resolve, t),
            TypeDefKind::Record(r) => r.fields.iter().all(|f| plain(resolve, &f.ty)),
            TypeDefKind::Tuple(t) => t.types.iter().all(|t| plain(resolve, t)),
            TypeDefKind::Flags(_) | TypeDefKind::Enum(_) => true,
            TypeDefKind::Variant(v) => v
                .cases
                .iter()
                .all(|c| c.ty.as_ref().is_none_or(|t| plain(resolve, t))),
            TypeDefKind::Option(t) => plain(resolve, t),
            TypeDefKind::Result(r) => {
                r.ok.as_ref().is_none_or(|t| plain(resolve, t))
                    && r.err.as_ref().is_none_or(|t| plain(resolve, t))
            }
            TypeDefKind::FixedLengthList(t, _) => plain(resolve, t),
            _ => false,
        },
        _ => true,
    }
}

/// Imports `[resource-drop]` of the resource `end` of the pipe interface `pipe`.
fn drop_import(
    core: &mut Core,
    resolve: &Resolve,
    world: &wit_parser::World,
    pipe: &str,
    end: &str,
) -> Result<u32> {
    let key = interface_key(resolve, world, pipe, true)?;
    let WorldItem::Interface { id, .. } = &world.imports[&key] else {
        bail!("`{pipe}` is no interface");
    };
    let resource = *resolve.interfaces[*id]
        .types
        .get(end)
        .ok_or_else(|| anyhow!("`{pipe}` has no `{end}`"))?;
    let names = resolve.wasm_import_name(
        MANGLING,
        WasmImport::ResourceIntrinsic {
            interface: Some(&key),
            resource,
            intrinsic: ResourceIntrinsic::ImportedDrop,
        },
    );
    if let Some(index) = core
        .imports
        .iter()
        .position(|(module, field, _)| *module == names.0 && *field == names.1)
    {
        return Ok(index as u32);
    }
    let ty = core.ty(vec![ValType::I32], Vec::new());
    core.imports.push((names.0, names.1, ty));
    Ok((core.imports.len() - 1) as u32)
}

fn anonymous(resolve: &mut Resolve, kind: TypeDefKind) -> Type {
    Type::Id(resolve.types.alloc(TypeDef {
        name: None,
        kind,
        owner: TypeOwner::None,
        docs: Default::default(),
        stability: Default::default(),
        span: Default::default(),
        external_id: None,
    }))
}

fn param(name: &str, ty: Type) -> Param {
    Param {
        name: name.to_string(),
        ty,
        span: Default::default(),
    }
}

/// Adds the runtime's byte-level `read` and `write` (see `runtime/wit/streams.wit`) to the pipe
/// interface `pipe`.
fn add_raw_ops(resolve: &mut Resolve, pipe: InterfaceId) -> Result<()> {
    let iface = &resolve.interfaces[pipe];
    let end = |name: &str| {
        iface
            .types
            .get(name)
            .copied()
            .ok_or_else(|| anyhow!("a stream pipe interface without `{name}`"))
    };
    let (reader, writer) = (end("reader")?, end("writer")?);
    let borrow_reader = anonymous(resolve, TypeDefKind::Handle(Handle::Borrow(reader)));
    let borrow_writer = anonymous(resolve, TypeDefKind::Handle(Handle::Borrow(writer)));
    let bytes = anonymous(resolve, TypeDefKind::List(Type::U8));
    let some_bytes = anonymous(resolve, TypeDefKind::Option(bytes));
    let function = |name: &str, params: Vec<Param>, result: Type| WitFunction {
        name: name.to_string(),
        kind: FunctionKind::Freestanding,
        params,
        result: Some(result),
        docs: Default::default(),
        stability: Default::default(),
        span: Default::default(),
        external_id: None,
    };
    let read = function(
        "read",
        vec![
            param("end", borrow_reader),
            param("payload", Type::String),
            param("size", Type::U32),
            param("max", Type::U32),
        ],
        some_bytes,
    );
    let write = function(
        "write",
        vec![
            param("end", borrow_writer),
            param("payload", Type::String),
            param("size", Type::U32),
            param("values", bytes),
        ],
        Type::U32,
    );
    let functions = &mut resolve.interfaces[pipe].functions;
    functions.insert("read".into(), read);
    functions.insert("write".into(), write);
    Ok(())
}

/// The runtime's interfaces with the typed operations of the futures it keeps itself: those of
/// `wasi:http`, and the one of the `wasi:cli` standard streams.
const HTTP_FUTURES: &str = "isyswasfa:bundle/http-futures@0.1.0";
const CLI_FUTURES: &str = "isyswasfa:bundle/cli-futures@0.1.0";

/// The futures whose values the runtime keeps itself (their payloads hold strings and
/// resources), with the WIT of their payload, and whether they are `wasi:http`'s (in
/// `http-futures`, `true`) or `wasi:cli`'s (in `cli-futures`, `false`).
const KNOWN_FUTURES: [(&str, &str, bool); 3] = [
    (
        "result-none-wasi-http-types-error-code",
        "result<_, error-code>",
        true,
    ),
    (
        "result-option-wasi-http-types-fields-wasi-http-types-error-code",
        "result<option<fields>, error-code>",
        true,
    ),
    (
        "result-none-wasi-cli-types-error-code",
        "result<_, cli-error-code>",
        false,
    ),
];

/// A future operation of the input forwarded to the runtime.
struct Forward {
    /// The ops interface the adapter exports it in.
    export_key: wit_parser::WorldKey,
    func: String,
    import: u32,
    retptr: bool,
}

/// The payloads of the futures `input`'s ops use; fails naming a future the runtime cannot
/// keep.
fn used_futures(input: &Input) -> Result<Vec<&'static (&'static str, &'static str, bool)>> {
    let world = &input.resolve.worlds[input.world];
    let mut used = Vec::new();
    for (key, item) in &world.imports {
        let name = input.resolve.name_world_key(key);
        let WorldItem::Interface { id, .. } = item else {
            continue;
        };
        if !name.contains(isyswasfa_protocol::names::OPS_STEM) {
            continue;
        }
        for func in input.resolve.interfaces[*id].functions.values() {
            let Some(rest) = func.name.strip_prefix("future-") else {
                continue;
            };
            let payload = rest
                .strip_suffix("-read")
                .or_else(|| rest.strip_suffix("-write"))
                .unwrap_or(rest);
            let Some(known) = KNOWN_FUTURES.iter().find(|(p, _, _)| *p == payload) else {
                bail!(
                    "`{}` imports `{name}` with `{}`: futures are not bundled yet, except those \
                     of `wasi:http` and `wasi:cli` ({})",
                    input.name,
                    func.name,
                    KNOWN_FUTURES
                        .iter()
                        .map(|(p, _, _)| format!("`future-{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            if !used.contains(&known) {
                used.push(known);
            }
        }
    }
    Ok(used)
}

/// The runtime's `http-futures` and `cli-futures` interfaces, as the adapter imports them: the
/// operations of the futures in `used` only (the types of the others may not be in the input).
fn futures_wit(used: &[&(&str, &str, bool)]) -> String {
    let mut text = String::from("package isyswasfa:bundle@0.1.0;\n");
    for (interface, http) in [("http-futures", true), ("cli-futures", false)] {
        let mine: Vec<_> = used.iter().filter(|(_, _, h)| *h == http).collect();
        if mine.is_empty() {
            continue;
        }
        text.push_str(&format!("\ninterface {interface} {{\n"));
        for (payload, _, _) in &mine {
            let pipe = isyswasfa_protocol::names::pipe_interface(&format!("future-{payload}"));
            text.push_str(&format!(
                "  use {pipe}.{{reader as future-{payload}-reader, writer as \
                 future-{payload}-writer}};\n"
            ));
        }
        if http {
            if mine.iter().any(|(p, _, _)| p.contains("fields")) {
                text.push_str("  use wasi:http/types@0.3.0.{fields};\n");
            }
            text.push_str("  use wasi:http/types@0.3.0.{error-code};\n");
        } else {
            text.push_str("  use wasi:cli/types@0.3.0.{error-code as cli-error-code};\n");
        }
        for (payload, ty, _) in &mine {
            text.push_str(&format!(
                "  future-{payload}-read: func(end: future-{payload}-reader) -> option<{ty}>;\n  \
                 future-{payload}-write: func(end: future-{payload}-writer, value: {ty}) -> \
                 option<{ty}>;\n"
            ));
        }
        text.push_str("}\n");
    }
    text
}

/// The ops interfaces `input` imports, if any.
pub(crate) fn ops_imports(input: &Input) -> Vec<String> {
    let world = &input.resolve.worlds[input.world];
    world
        .imports
        .keys()
        .map(|key| input.resolve.name_world_key(key))
        .filter(|name| name.contains(isyswasfa_protocol::names::OPS_STEM))
        .collect()
}

/// Generates the ops adapter of `input`, or `None` when it imports no ops interface.
pub(crate) fn generate(input: &Input) -> Result<Option<Ops>> {
    let interfaces = ops_imports(input);
    if interfaces.is_empty() {
        return Ok(None);
    }
    let mut resolve = input.types();
    // The adapter calls the byte-level `read` and `write` through the very pipe interfaces the
    // ops take their ends from: a handle is only accepted as the resource type it was received
    // as, so the functions must be in the same (imported) interface. The runtime's
    // `isyswasfa:bundle/streams`, which plugs them, has both.
    let pipes: Vec<InterfaceId> = resolve
        .interfaces
        .iter()
        .filter(|(id, _)| resolve.id_of(*id).is_some_and(|name| is_stream_pipe(&name)))
        .map(|(id, _)| id)
        .collect();
    for pipe in pipes {
        add_raw_ops(&mut resolve, pipe)?;
    }
    let futures = used_futures(input)?;
    if !futures.is_empty() {
        resolve
            .push_str("isyswasfa-bundle-futures.wit", &futures_wit(&futures))
            .with_context(|| {
                format!(
                    "cannot make the ops adapter of `{}`: its futures' types",
                    input.name
                )
            })?;
    }
    let mut text = String::from("package isyswasfa-bundle:ops;\n\nworld ops {\n");
    for name in &interfaces {
        text.push_str(&format!("  export {name};\n"));
    }
    if futures.iter().any(|(_, _, http)| *http) {
        text.push_str(&format!("  import {HTTP_FUTURES};\n"));
    }
    if futures.iter().any(|(_, _, http)| !*http) {
        text.push_str(&format!("  import {CLI_FUTURES};\n"));
    }
    text.push_str("}\n");
    let package = resolve
        .push_str("isyswasfa-bundle-ops.wit", &text)
        .with_context(|| format!("cannot make the ops adapter of `{}`", input.name))?;
    let world_id = resolve.select_world(&[package], Some("ops"))?;
    let world = &resolve.worlds[world_id];
    let mut sizes = SizeAlign::default();
    sizes.fill(&resolve);
    let mut core = Core::default();

    // The raw functions of each pipe interface, imported when first used.
    let mut raw_imports: Vec<(String, &'static str, u32)> = Vec::new();
    let mut raw = |core: &mut Core, pipe: &str, name: &'static str| -> Result<u32> {
        if let Some((_, _, index)) = raw_imports.iter().find(|(p, n, _)| p == pipe && *n == name) {
            return Ok(*index);
        }
        let key = interface_key(&resolve, world, pipe, true)?;
        let func = find_function(&resolve, &key, name, world, true)?;
        let sig = resolve.wasm_signature(AbiVariant::GuestImport, func);
        let names = resolve.wasm_import_name(
            MANGLING,
            WasmImport::Func {
                interface: Some(&key),
                func,
            },
        );
        let index = core.import(names, &sig);
        raw_imports.push((pipe.to_string(), name, index));
        Ok(index)
    };

    struct Planned {
        key: wit_parser::WorldKey,
        func: String,
        op: Op,
        payload: String,
        size: u32,
        raw: u32,
        /// `[resource-drop]` of the end the op borrows: a borrow received must be dropped
        /// before returning.
        drop_end: u32,
    }
    let mut planned = Vec::new();
    let mut forwards: Vec<Forward> = Vec::new();
    for (key, item) in &world.exports {
        let WorldItem::Interface { id, .. } = item else {
            continue;
        };
        let key_of_export = key.clone();
        let name = resolve.name_world_key(key);
        for func in resolve.interfaces[*id].functions.values() {
            let culprit = || format!("`{}` imports `{name}` with `{}`", input.name, func.name);
            let (op, payload) = if let Some(p) = func
                .name
                .strip_prefix("stream-")
                .and_then(|p| p.strip_suffix("-read"))
            {
                (Op::Read, p)
            } else if let Some(p) = func
                .name
                .strip_prefix("stream-")
                .and_then(|p| p.strip_suffix("-write"))
            {
                (Op::Write, p)
            } else if func.name.starts_with("future-") {
                // One of the futures the runtime keeps itself (`used_futures` refused the
                // others): forwarded to the runtime's function of the same name and type.
                let http = KNOWN_FUTURES
                    .iter()
                    .find(|(p, _, _)| func.name.contains(p))
                    .is_none_or(|(_, _, http)| *http);
                let interface = if http { HTTP_FUTURES } else { CLI_FUTURES };
                let key = interface_key(&resolve, world, interface, true)?;
                let target =
                    find_function(&resolve, &key, &func.name, world, true).with_context(culprit)?;
                let sig = resolve.wasm_signature(AbiVariant::GuestImport, target);
                let names = resolve.wasm_import_name(
                    MANGLING,
                    WasmImport::Func {
                        interface: Some(&key),
                        func: target,
                    },
                );
                forwards.push(Forward {
                    export_key: key_of_export.clone(),
                    func: func.name.clone(),
                    import: core.import(names, &sig),
                    retptr: sig.retptr,
                });
                continue;
            } else {
                bail!("{}: an operation the bundle does not know", culprit());
            };
            // The payload type: the element of `write`'s values, or of `read`'s result list.
            let element = match op {
                Op::Write => func.params.get(1).map(|p| p.ty),
                Op::Read => func.result.and_then(|t| match t {
                    Type::Id(id) => match &resolve.types[id].kind {
                        TypeDefKind::Option(t) => Some(*t),
                        _ => None,
                    },
                    _ => None,
                }),
            }
            .and_then(|t| match t {
                Type::Id(id) => match &resolve.types[id].kind {
                    TypeDefKind::List(t) => Some(*t),
                    _ => None,
                },
                _ => None,
            })
            .ok_or_else(|| {
                anyhow!(
                    "{}: a payload-less stream, which is not bundled yet",
                    culprit()
                )
            })?;
            if !plain(&resolve, &element) {
                bail!(
                    "{}: streams of values with strings, lists or resources are not bundled yet",
                    culprit()
                );
            }
            let pipe = isyswasfa_protocol::names::pipe_interface(&format!("stream-{payload}"));
            let raw_index = match op {
                Op::Read => raw(&mut core, &pipe, "read"),
                Op::Write => raw(&mut core, &pipe, "write"),
            }
            .with_context(culprit)?;
            let end = match op {
                Op::Read => "reader",
                Op::Write => "writer",
            };
            let drop_end =
                drop_import(&mut core, &resolve, world, &pipe, end).with_context(culprit)?;
            planned.push(Planned {
                key: key.clone(),
                func: func.name.clone(),
                op,
                payload: format!("stream-{payload}"),
                size: sizes.size(&element).size_wasm32() as u32,
                raw: raw_index,
                drop_end,
            });
        }
    }

    let payloads: Vec<(i32, i32)> = planned.iter().map(|p| core.string(&p.payload)).collect();
    let heap_base = core.heap_base() as i32;
    let realloc = define_realloc(&mut core);
    let alloc = define_alloc(&mut core, realloc);
    core.exports
        .push(("cabi_realloc".into(), ExportKind::Func, realloc));
    for (p, (payload_at, payload_len)) in planned.iter().zip(payloads) {
        let func = find_function(&resolve, &p.key, &p.func, world, false)?;
        let sig = resolve.wasm_signature(AbiVariant::GuestExport, func);
        let ty = core.sig_type(&sig);
        let result = func
            .result
            .ok_or_else(|| anyhow!("`{}` returns nothing", p.func))?;
        let result_size = sizes.size(&result).size_wasm32() as i32;
        let result_align = sizes.align(&result).align_wasm32() as i32;
        let size = p.size as i32;
        use Instruction::*;
        let code = match p.op {
            // (end, max) -> option<list<T>>, from the runtime's option<list<u8>> in place.
            Op::Read => {
                let Type::Id(id) = result else {
                    bail!("`{}` returns no option", p.func);
                };
                let TypeDefKind::Option(inner) = &resolve.types[id].kind else {
                    bail!("`{}` returns no option", p.func);
                };
                let payload = sizes.payload_offset(Int::U8, [Some(inner)]).size_wasm32() as u32;
                let ret = 2;
                vec![
                    I32Const(result_size),
                    I32Const(result_align),
                    Call(alloc),
                    LocalSet(ret),
                    LocalGet(0),
                    I32Const(payload_at),
                    I32Const(payload_len),
                    I32Const(size),
                    LocalGet(1),
                    LocalGet(ret),
                    Call(p.raw),
                    LocalGet(0),
                    Call(p.drop_end),
                    LocalGet(ret),
                    I32Load8U(mem(0, 0)),
                    If(wasm_encoder::BlockType::Empty),
                    LocalGet(ret),
                    LocalGet(ret),
                    I32Load(mem(payload + 4, 2)),
                    I32Const(size),
                    I32DivU,
                    I32Store(mem(payload + 4, 2)),
                    End,
                    LocalGet(ret),
                    End,
                ]
            }
            // (end, ptr, len) -> list<T>: the values not taken, in place.
            Op::Write => {
                let (taken, ret) = (3, 4);
                vec![
                    LocalGet(0),
                    I32Const(payload_at),
                    I32Const(payload_len),
                    I32Const(size),
                    LocalGet(1),
                    LocalGet(2),
                    I32Const(size),
                    I32Mul,
                    Call(p.raw),
                    LocalSet(taken),
                    LocalGet(0),
                    Call(p.drop_end),
                    // A runtime answering more than it was given would make a wild pointer.
                    LocalGet(taken),
                    LocalGet(2),
                    I32GtU,
                    If(wasm_encoder::BlockType::Empty),
                    Unreachable,
                    End,
                    I32Const(result_size),
                    I32Const(result_align),
                    Call(alloc),
                    LocalSet(ret),
                    LocalGet(ret),
                    LocalGet(1),
                    LocalGet(taken),
                    I32Const(size),
                    I32Mul,
                    I32Add,
                    I32Store(mem(0, 2)),
                    LocalGet(ret),
                    LocalGet(2),
                    LocalGet(taken),
                    I32Sub,
                    I32Store(mem(4, 2)),
                    LocalGet(ret),
                    End,
                ]
            }
        };
        let mut f = Function::new([(2, ValType::I32)]);
        for i in &code {
            f.instruction(i);
        }
        let index = core.define(ty, f);
        export_resetting(&mut core, &resolve, &p.key, func, (index, ty), heap_base);
    }
    for forward in &forwards {
        let func = find_function(&resolve, &forward.export_key, &forward.func, world, false)?;
        let sig = resolve.wasm_signature(AbiVariant::GuestExport, func);
        let ty = core.sig_type(&sig);
        let nparams = sig.params.len() as u32;
        let mut f = Function::new([(1, ValType::I32)]);
        use Instruction::*;
        if forward.retptr {
            let result = func
                .result
                .ok_or_else(|| anyhow!("`{}` returns nothing", forward.func))?;
            crate::core::alloc_call(&mut f, alloc, &sizes, &result);
            f.instruction(&LocalSet(nparams));
        }
        for i in 0..nparams {
            f.instruction(&LocalGet(i));
        }
        if forward.retptr {
            f.instruction(&LocalGet(nparams));
        }
        f.instruction(&Call(forward.import));
        if forward.retptr {
            f.instruction(&LocalGet(nparams));
        }
        f.instruction(&End);
        let index = core.define(ty, f);
        export_resetting(
            &mut core,
            &resolve,
            &forward.export_key,
            func,
            (index, ty),
            heap_base,
        );
    }
    let mut module = core.finish();
    wit_component::embed_component_metadata(&mut module, &resolve, world_id, StringEncoding::UTF8)?;
    let bytes = ComponentEncoder::default()
        .module(&module)
        .context("the generated ops adapter module is invalid")?
        .validate(true)
        .encode()
        .context("cannot make the ops adapter component")?;
    Ok(Some(Ops { bytes, interfaces }))
}

/// Exports function `index` (of core type `ty`) as `func` of the interface `key`, with a
/// post-return function that frees everything the call allocated (it resets the bump allocator
/// to `heap_base`).
fn export_resetting(
    core: &mut Core,
    resolve: &Resolve,
    key: &wit_parser::WorldKey,
    func: &WitFunction,
    (index, ty): (u32, u32),
    heap_base: i32,
) {
    let export = |kind| {
        resolve.wasm_export_name(
            MANGLING,
            WasmExport::Func {
                interface: Some(key),
                func,
                kind,
            },
        )
    };
    core.exports
        .push((export(WasmExportKind::Normal), ExportKind::Func, index));
    let post_ty = core.ty(core.types[ty as usize].1.clone(), Vec::new());
    let mut post = Function::new([]);
    post.instruction(&Instruction::I32Const(heap_base));
    post.instruction(&Instruction::GlobalSet(BUMP));
    post.instruction(&Instruction::End);
    let post_index = core.define(post_ty, post);
    core.exports.push((
        export(WasmExportKind::PostReturn),
        ExportKind::Func,
        post_index,
    ));
}
