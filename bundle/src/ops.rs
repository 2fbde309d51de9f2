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
    Int, Resolve, SizeAlign, Type, TypeDefKind, WasmExport, WasmExportKind, WasmImport, WorldItem,
};

use crate::core::{BUMP, Core, define_alloc, define_realloc, mem};
use crate::driver::{MANGLING, find_function, interface_key};
use crate::input::Input;

/// The runtime's stream interface.
pub(crate) const STREAMS: &str = "isyswasfa:bundle/streams@0.1.0";
/// Its WIT.
const STREAMS_WIT: &str = include_str!("../runtime/wit/streams.wit");

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
    resolve
        .push_str("isyswasfa-bundle-streams.wit", STREAMS_WIT)
        .context("the runtime's stream interface does not fit the input's protocol types")?;
    let mut text = String::from("package isyswasfa-bundle:ops;\n\nworld ops {\n");
    text.push_str(&format!("  import {STREAMS};\n"));
    for name in &interfaces {
        text.push_str(&format!("  export {name};\n"));
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

    let streams_key = interface_key(&resolve, world, STREAMS, true)?;
    let raw = |core: &mut Core, name: &str| -> Result<u32> {
        let func = find_function(&resolve, &streams_key, name, world, true)?;
        let sig = resolve.wasm_signature(AbiVariant::GuestImport, func);
        let names = resolve.wasm_import_name(
            MANGLING,
            WasmImport::Func {
                interface: Some(&streams_key),
                func,
            },
        );
        Ok(core.import(names, &sig))
    };
    let raw_read = raw(&mut core, "read")?;
    let raw_write = raw(&mut core, "write")?;

    struct Planned {
        key: wit_parser::WorldKey,
        func: String,
        op: Op,
        payload: String,
        size: u32,
    }
    let mut planned = Vec::new();
    for (key, item) in &world.exports {
        let WorldItem::Interface { id, .. } = item else {
            continue;
        };
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
                bail!("{}: futures are not bundled yet", culprit());
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
            planned.push(Planned {
                key: key.clone(),
                func: func.name.clone(),
                op,
                payload: format!("stream-{payload}"),
                size: sizes.size(&element).size_wasm32() as u32,
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
                let payload = sizes
                    .payload_offset(Int::U8, [Some(inner)])
                    .size_wasm32() as u32;
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
                    Call(raw_read),
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
                    Call(raw_write),
                    LocalSet(taken),
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
        let export = |kind| {
            resolve.wasm_export_name(
                MANGLING,
                WasmExport::Func {
                    interface: Some(&p.key),
                    func,
                    kind,
                },
            )
        };
        core.exports
            .push((export(WasmExportKind::Normal), ExportKind::Func, index));
        let post_ty = core.ty(core.types[ty as usize].1.clone(), Vec::new());
        let mut post = Function::new([]);
        post.instruction(&I32Const(heap_base));
        post.instruction(&GlobalSet(BUMP));
        post.instruction(&End);
        let post_index = core.define(post_ty, post);
        core.exports
            .push((export(WasmExportKind::PostReturn), ExportKind::Func, post_index));
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
