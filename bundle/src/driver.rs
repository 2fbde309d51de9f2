//! The driver: a component generated for the input's exports. Its core module is written here
//! instruction by instruction (it only moves flat values and pointers between the input's
//! lowered functions and its own exports); `wit-component` wraps it into a component from the
//! driver's WIT world.
//!
//! For each async export `f`, the driver exports a synchronous `f` that:
//! 1. registers the poll exports with the runtime on the first call, tells the runtime which
//!    export runs, and delivers what is queued (the `init` events first);
//! 2. calls `f-isyswasfa-start` with its own parameters, unchanged;
//! 3. on `ok`, returns the value in place; on `err(pending)`, hands the `pending` to the runtime
//!    and loops on `step`: each step either names a poll export to call with events, or
//!    returns the `ready` of the call;
//! 4. calls `f-isyswasfa-result(ready)` and returns its value.
//!
//! Memory is a bump allocator: a call's allocations are freed when it returns (or in its
//! post-return function, when its result is in memory), and each step's once its events are
//! delivered.

use anyhow::{Context, Result, anyhow, bail};
use wasm_encoder::{ExportKind, Function, Instruction, ValType};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::abi::{AbiVariant, FlatTypes, WasmSignature, WasmType};
use wit_parser::{
    Function as WitFunction, Int, LiftLowerAbi, ManglingAndAbi, Resolve, SizeAlign, Type,
    TypeDefKind, WasmExport, WasmExportKind, WasmImport, WorldId, WorldItem, WorldKey,
};

use crate::core::{BUMP, Core, alloc_call, define_alloc, define_realloc, mem};
use crate::input::{Input, Plan, WrappedFunc};
use crate::wit_text;

/// The generated driver component.
pub(crate) struct Driver {
    /// Its bytes.
    pub bytes: Vec<u8>,
}

pub(crate) const MANGLING: ManglingAndAbi = ManglingAndAbi::Legacy(LiftLowerAbi::Sync);

/// Global 1: whether the poll exports are registered with the runtime.
const REGISTERED: u32 = 1;

/// How to read a value that flattens to one core value from memory.
#[derive(Clone, Copy)]
enum Load {
    U8,
    S8,
    U16,
    S16,
    I32,
    I64,
    F32,
    F64,
}

impl Load {
    fn instruction(self, offset: u32) -> Instruction<'static> {
        match self {
            Load::U8 => Instruction::I32Load8U(mem(offset, 0)),
            Load::S8 => Instruction::I32Load8S(mem(offset, 0)),
            Load::U16 => Instruction::I32Load16U(mem(offset, 1)),
            Load::S16 => Instruction::I32Load16S(mem(offset, 1)),
            Load::I32 => Instruction::I32Load(mem(offset, 2)),
            Load::I64 => Instruction::I64Load(mem(offset, 3)),
            Load::F32 => Instruction::F32Load(mem(offset, 2)),
            Load::F64 => Instruction::F64Load(mem(offset, 3)),
        }
    }
}

fn flat_count(resolve: &Resolve, ty: &Type) -> usize {
    let mut storage = [WasmType::I32; 2];
    let mut flat = FlatTypes::new(&mut storage);
    if resolve.push_flat(ty, &mut flat) {
        flat.to_vec().len()
    } else {
        2
    }
}

fn tag_load(cases: usize) -> Load {
    match cases {
        0..=256 => Load::U8,
        257..=65536 => Load::U16,
        _ => Load::I32,
    }
}

/// The offset (within `ty`) and the load of the one core value `ty` flattens to.
fn scalar(resolve: &Resolve, sizes: &SizeAlign, ty: &Type) -> Result<(u32, Load)> {
    Ok(match ty {
        Type::Bool | Type::U8 => (0, Load::U8),
        Type::S8 => (0, Load::S8),
        Type::U16 => (0, Load::U16),
        Type::S16 => (0, Load::S16),
        Type::U32 | Type::S32 | Type::Char => (0, Load::I32),
        Type::U64 | Type::S64 => (0, Load::I64),
        Type::F32 => (0, Load::F32),
        Type::F64 => (0, Load::F64),
        Type::Id(id) => {
            let one_of = |types: Vec<&Type>| -> Result<(u32, Load)> {
                let offsets = sizes.field_offsets(types.iter().copied());
                for (offset, ty) in offsets {
                    if flat_count(resolve, ty) == 1 {
                        let (inner, load) = scalar(resolve, sizes, ty)?;
                        return Ok((offset.size_wasm32() as u32 + inner, load));
                    }
                }
                bail!("no field holds the value")
            };
            match &resolve.types[*id].kind {
                TypeDefKind::Type(t) => scalar(resolve, sizes, t)?,
                TypeDefKind::Handle(_) => (0, Load::I32),
                TypeDefKind::Enum(e) => (0, tag_load(e.cases.len())),
                TypeDefKind::Flags(f) => (
                    0,
                    match f.repr() {
                        wit_parser::FlagsRepr::U8 => Load::U8,
                        wit_parser::FlagsRepr::U16 => Load::U16,
                        wit_parser::FlagsRepr::U32(_) => Load::I32,
                    },
                ),
                TypeDefKind::Variant(v) => (0, tag_load(v.cases.len())),
                TypeDefKind::Option(_) | TypeDefKind::Result(_) => (0, Load::U8),
                TypeDefKind::Record(r) => one_of(r.fields.iter().map(|f| &f.ty).collect())?,
                TypeDefKind::Tuple(t) => one_of(t.types.iter().collect())?,
                TypeDefKind::FixedLengthList(t, _) => scalar(resolve, sizes, t)?,
                _ => bail!("a type that does not flatten to one value"),
            }
        }
        Type::String | Type::ErrorContext => bail!("a type that does not flatten to one value"),
    })
}

/// The functions every wrapper calls.
struct Runtime {
    register: u32,
    enter: u32,
    leave: u32,
    listen: u32,
    step: u32,
    /// Size, alignment and offsets of `next-step`: payload, then `delivery`'s fields.
    step_size: u32,
    step_align: u32,
    step_payload: u32,
    delivery_component: u32,
    delivery_events: u32,
}

/// The wrapper's imports of one function of the input.
struct Imported {
    index: u32,
    sig: WasmSignature,
}

pub(crate) fn find_function<'a>(
    resolve: &'a Resolve,
    key: &WorldKey,
    name: &str,
    world: &'a wit_parser::World,
    import: bool,
) -> Result<&'a WitFunction> {
    let items = if import {
        &world.imports
    } else {
        &world.exports
    };
    match items.get(key) {
        Some(WorldItem::Interface { id, .. }) => resolve.interfaces[*id]
            .functions
            .get(name)
            .ok_or_else(|| anyhow!("the driver's world lacks `{name}`")),
        Some(WorldItem::Function(f)) => Ok(f),
        _ => bail!("the driver's world lacks `{}`", resolve.name_world_key(key)),
    }
}

pub(crate) fn interface_key(
    resolve: &Resolve,
    world: &wit_parser::World,
    name: &str,
    import: bool,
) -> Result<WorldKey> {
    let items = if import {
        &world.imports
    } else {
        &world.exports
    };
    items
        .keys()
        .find(|key| resolve.name_world_key(key) == name)
        .cloned()
        .ok_or_else(|| anyhow!("the driver's world lacks `{name}`"))
}

/// Generates the driver of `input` for `plan`.
pub(crate) fn generate(input: &Input, plan: &Plan) -> Result<Driver> {
    let mut resolve = input.types();
    let http = plan.http_handler.is_some();
    if http
        && !resolve
            .packages
            .iter()
            .any(|(_, p)| p.name.to_string() == "wasi:http@0.2.0")
    {
        resolve
            .push_str("isyswasfa-bundle-http-p2.wit", wit_text::HTTP_P2_WIT)
            .context("cannot add WASI 0.2's `wasi:http` types to the driver")?;
    }
    resolve
        .push_str(
            "isyswasfa-bundle-driver.wit",
            &wit_text::driver_package(http),
        )
        .with_context(|| {
            format!(
                "`{}` does not import the isyswasfa protocol the bundle runtime implements",
                input.name
            )
        })?;
    let text = wit_text::driver_wit(&input.name, &resolve, plan)?;
    tracing::debug!("the driver's WIT:\n{text}");
    let package = resolve
        .push_str("isyswasfa-bundle-driver-world.wit", &text)
        .with_context(|| {
            format!(
                "cannot make the driver of `{}`; its WIT:\n{text}",
                input.name
            )
        })?;
    let world_id = resolve.select_world(&[package], Some(wit_text::WORLD))?;
    let core = core_module(&resolve, world_id, plan)?;
    let mut core = core;
    wit_component::embed_component_metadata(&mut core, &resolve, world_id, StringEncoding::UTF8)?;
    let bytes = ComponentEncoder::default()
        .module(&core)
        .context("the generated driver module is invalid")?
        .validate(true)
        .encode()
        .context("cannot make the driver component")?;
    Ok(Driver { bytes })
}

fn core_module(resolve: &Resolve, world_id: WorldId, plan: &Plan) -> Result<Vec<u8>> {
    let world = &resolve.worlds[world_id];
    let mut sizes = SizeAlign::default();
    sizes.fill(resolve);
    let mut core = Core::default();

    // Imports first: defined functions are numbered after them.
    let driver_key = interface_key(resolve, world, wit_text::DRIVER_INTERFACE, true)?;
    let runtime_import = |core: &mut Core, name: &str| -> Result<(u32, &WitFunction)> {
        let func = find_function(resolve, &driver_key, name, world, true)?;
        let sig = resolve.wasm_signature(AbiVariant::GuestImport, func);
        let names = resolve.wasm_import_name(
            MANGLING,
            WasmImport::Func {
                interface: Some(&driver_key),
                func,
            },
        );
        Ok((core.import(names, &sig), func))
    };
    let (register, _) = runtime_import(&mut core, "register")?;
    let (enter, _) = runtime_import(&mut core, "enter")?;
    let (leave, _) = runtime_import(&mut core, "leave")?;
    let (listen, _) = runtime_import(&mut core, "listen")?;
    let (step, step_func) = runtime_import(&mut core, "step")?;
    let step_type = step_func
        .result
        .ok_or_else(|| anyhow!("`step` has no result"))?;
    let (step_size, step_align) = (
        sizes.size(&step_type).size_wasm32() as u32,
        sizes.align(&step_type).align_wasm32() as u32,
    );
    let Type::Id(step_id) = step_type else {
        bail!("`step` returns no variant");
    };
    let TypeDefKind::Variant(variant) = &resolve.types[step_id].kind else {
        bail!("`step` returns no variant");
    };
    let step_payload = sizes
        .payload_offset(Int::U8, variant.cases.iter().map(|c| c.ty.as_ref()))
        .size_wasm32() as u32;
    let delivery = variant
        .cases
        .first()
        .and_then(|c| c.ty)
        .ok_or_else(|| anyhow!("`next-step` has no delivery"))?;
    let Type::Id(delivery_id) = delivery else {
        bail!("`delivery` is no record");
    };
    let TypeDefKind::Record(record) = &resolve.types[delivery_id].kind else {
        bail!("`delivery` is no record");
    };
    let offsets = sizes.field_offsets(record.fields.iter().map(|f| &f.ty));
    let runtime = Runtime {
        register,
        enter,
        leave,
        listen,
        step,
        step_size,
        step_align,
        step_payload,
        delivery_component: offsets[0].0.size_wasm32() as u32,
        delivery_events: offsets[1].0.size_wasm32() as u32,
    };

    let mut polls = Vec::new();
    for poll in &plan.polls {
        let key = WorldKey::Name(poll.clone());
        let func = find_function(resolve, &key, poll, world, true)?;
        let sig = resolve.wasm_signature(AbiVariant::GuestImport, func);
        let names = resolve.wasm_import_name(
            MANGLING,
            WasmImport::Func {
                interface: None,
                func,
            },
        );
        polls.push(core.import(names, &sig));
    }

    // The HTTP handler's functions and the runtime's HTTP driver.
    let http = match &plan.http_handler {
        Some(handler) => Some(http_imports(resolve, world, &mut core, handler)?),
        None => None,
    };

    // The input's functions each wrapper calls.
    struct Planned<'a> {
        export_key: WorldKey,
        export_name: String,
        func: &'a WrappedFunc,
        calls: Vec<Imported>,
    }
    let mut planned = Vec::new();
    for wrapped in &plan.interfaces {
        let import_key = interface_key(resolve, world, &wrapped.input_name, true)?;
        let export_name = format!("{}/{}", wit_text::PACKAGE, wrapped.driver_name);
        let export_key = interface_key(resolve, world, &export_name, false)?;
        for func in &wrapped.funcs {
            let names: Vec<&str> = match func {
                WrappedFunc::Async { start, result, .. } => vec![&start.name, &result.name],
                WrappedFunc::Sync(f) => vec![&f.name],
            };
            let mut calls = Vec::new();
            for name in names {
                let f = find_function(resolve, &import_key, name, world, true)?;
                let sig = resolve.wasm_signature(AbiVariant::GuestImport, f);
                let import_names = resolve.wasm_import_name(
                    MANGLING,
                    WasmImport::Func {
                        interface: Some(&import_key),
                        func: f,
                    },
                );
                calls.push(Imported {
                    index: core.import(import_names, &sig),
                    sig,
                });
            }
            planned.push(Planned {
                export_key: export_key.clone(),
                export_name: format!("{}#{}", wrapped.bundle_name, func.name()),
                func,
                calls,
            });
        }
    }

    // Every string first: the heap starts after them.
    let names: Vec<(i32, i32)> = plan.polls.iter().map(|p| core.string(p)).collect();
    let handle_name = core.string(&format!("{}#handle", crate::input::INCOMING_HANDLER));
    let http = http.map(|mut h| {
        h.name = handle_name;
        h
    });
    let export_strings: Vec<(i32, i32)> = planned
        .iter()
        .map(|p| core.string(&p.export_name))
        .collect();
    let heap_base = core.heap_base() as i32;

    // Defined functions.
    let realloc = define_realloc(&mut core);
    let alloc = define_alloc(&mut core, realloc);
    let run = define_run(&mut core, &runtime, &polls, alloc);
    let prologue = define_prologue(&mut core, &runtime, &names, run);
    core.exports
        .push(("cabi_realloc".into(), ExportKind::Func, realloc));

    let heap_reset = |f: &mut Function, core_heap: i32| {
        f.instruction(&Instruction::I32Const(core_heap));
        f.instruction(&Instruction::GlobalSet(BUMP));
    };
    if let Some(http) = &http {
        define_handle(
            &mut core, resolve, world, &sizes, &runtime, http, alloc, run, prologue, heap_base,
        )?;
    }
    let mut post_returns = Vec::new();
    for (p, name) in planned.iter().zip(export_strings) {
        let export_func = find_function(resolve, &p.export_key, p.func.name(), world, false)?;
        let export_sig = resolve.wasm_signature(AbiVariant::GuestExport, export_func);
        let export_names = |kind| {
            resolve.wasm_export_name(
                MANGLING,
                WasmExport::Func {
                    interface: Some(&p.export_key),
                    func: export_func,
                    kind,
                },
            )
        };
        let ty = core.sig_type(&export_sig);
        let nparams = export_sig.params.len() as u32;
        let result = export_func.result;
        // Locals after the parameters: ret, task, ready, res.
        let (ret, task, ready, res) = (nparams, nparams + 1, nparams + 2, nparams + 3);
        let mut f = Function::new([(4, ValType::I32)]);
        f.instruction(&Instruction::I32Const(name.0));
        f.instruction(&Instruction::I32Const(name.1));
        f.instruction(&Instruction::Call(prologue));
        match p.func {
            WrappedFunc::Async {
                start,
                result: result_func,
                ..
            } => {
                let (start_call, result_call) = (&p.calls[0], &p.calls[1]);
                let start_result = start
                    .result
                    .ok_or_else(|| anyhow!("`{}` returns nothing", start.name))?;
                let Type::Id(id) = start_result else {
                    bail!("`{}` does not return a result", start.name);
                };
                let TypeDefKind::Result(r) = &resolve.types[id].kind else {
                    bail!("`{}` does not return a result", start.name);
                };
                let payload = sizes
                    .payload_offset(Int::U8, [r.ok.as_ref(), r.err.as_ref()])
                    .size_wasm32() as u32;
                alloc_call(&mut f, alloc, &sizes, &start_result);
                f.instruction(&Instruction::LocalSet(ret));
                for i in 0..nparams {
                    f.instruction(&Instruction::LocalGet(i));
                }
                if !start_call.sig.retptr {
                    bail!("`{}` returns its result in registers", start.name);
                }
                f.instruction(&Instruction::LocalGet(ret));
                f.instruction(&Instruction::Call(start_call.index));
                // ok: the value is in place.
                f.instruction(&Instruction::LocalGet(ret));
                f.instruction(&Instruction::I32Load8U(mem(0, 0)));
                f.instruction(&Instruction::I32Eqz);
                f.instruction(&Instruction::If(wasm_encoder::BlockType::Empty));
                f.instruction(&Instruction::Call(runtime.leave));
                match &result {
                    Some(_) if export_sig.retptr => {
                        f.instruction(&Instruction::LocalGet(ret));
                        f.instruction(&Instruction::I32Const(payload as i32));
                        f.instruction(&Instruction::I32Add);
                    }
                    Some(ty) => {
                        let (offset, load) = scalar(resolve, &sizes, ty)
                            .with_context(|| format!("the result of `{}`", start.name))?;
                        f.instruction(&Instruction::LocalGet(ret));
                        f.instruction(&load.instruction(payload + offset));
                        heap_reset(&mut f, heap_base);
                    }
                    None => heap_reset(&mut f, heap_base),
                }
                f.instruction(&Instruction::Return);
                f.instruction(&Instruction::End);
                // err: wait for the task, then collect its value.
                f.instruction(&Instruction::LocalGet(ret));
                f.instruction(&Instruction::I32Load(mem(payload, 2)));
                f.instruction(&Instruction::Call(runtime.listen));
                f.instruction(&Instruction::LocalSet(task));
                f.instruction(&Instruction::I32Const(1));
                f.instruction(&Instruction::LocalGet(task));
                f.instruction(&Instruction::Call(run));
                f.instruction(&Instruction::LocalSet(ready));
                if result_call.sig.retptr {
                    let result_ty = result_func
                        .result
                        .ok_or_else(|| anyhow!("`{}` returns nothing", result_func.name))?;
                    alloc_call(&mut f, alloc, &sizes, &result_ty);
                    f.instruction(&Instruction::LocalSet(res));
                    f.instruction(&Instruction::LocalGet(ready));
                    f.instruction(&Instruction::LocalGet(res));
                    f.instruction(&Instruction::Call(result_call.index));
                    f.instruction(&Instruction::Call(runtime.leave));
                    f.instruction(&Instruction::LocalGet(res));
                } else {
                    f.instruction(&Instruction::LocalGet(ready));
                    f.instruction(&Instruction::Call(result_call.index));
                    f.instruction(&Instruction::Call(runtime.leave));
                    heap_reset(&mut f, heap_base);
                }
                f.instruction(&Instruction::End);
            }
            WrappedFunc::Sync(sync) => {
                let call = &p.calls[0];
                if call.sig.retptr {
                    let result_ty = sync
                        .result
                        .ok_or_else(|| anyhow!("`{}` returns nothing", sync.name))?;
                    alloc_call(&mut f, alloc, &sizes, &result_ty);
                    f.instruction(&Instruction::LocalSet(res));
                }
                for i in 0..nparams {
                    f.instruction(&Instruction::LocalGet(i));
                }
                if call.sig.retptr {
                    f.instruction(&Instruction::LocalGet(res));
                }
                f.instruction(&Instruction::Call(call.index));
                f.instruction(&Instruction::Call(runtime.leave));
                if call.sig.retptr {
                    f.instruction(&Instruction::LocalGet(res));
                } else {
                    heap_reset(&mut f, heap_base);
                }
                f.instruction(&Instruction::End);
            }
        }
        let _ = (ret, task, ready);
        let index = core.define(ty, f);
        core.exports.push((
            export_names(WasmExportKind::Normal),
            ExportKind::Func,
            index,
        ));
        if export_sig.retptr {
            post_returns.push((export_names(WasmExportKind::PostReturn), ty));
        }
    }
    for (name, export_ty) in post_returns {
        let params = core.types[export_ty as usize].1.clone();
        let ty = core.ty(params, Vec::new());
        let mut f = Function::new([]);
        heap_reset(&mut f, heap_base);
        f.instruction(&Instruction::End);
        let index = core.define(ty, f);
        core.exports.push((name, ExportKind::Func, index));
    }
    Ok(core.finish())
}

/// `run(has-task, task) -> ready`: steps until the task is done (its `ready`), delivering
/// events to the poll exports; without a task, until nothing is left to deliver (-1).
fn define_run(core: &mut Core, runtime: &Runtime, polls: &[u32], alloc: u32) -> u32 {
    let ty = core.ty(vec![ValType::I32; 2], vec![ValType::I32]);
    let (has, task, mark, area, component, ptr, len) = (0, 1, 2, 3, 4, 5, 6);
    let mut f = Function::new([(5, ValType::I32)]);
    use Instruction::*;
    let p = runtime.step_payload;
    let mut code = vec![
        Loop(wasm_encoder::BlockType::Empty),
        GlobalGet(BUMP),
        LocalSet(mark),
        I32Const(runtime.step_size as i32),
        I32Const(runtime.step_align as i32),
        Call(alloc),
        LocalSet(area),
        LocalGet(has),
        LocalGet(task),
        LocalGet(area),
        Call(runtime.step),
        // done(ready)
        LocalGet(area),
        I32Load8U(mem(0, 0)),
        I32Const(1),
        I32Eq,
        If(wasm_encoder::BlockType::Empty),
        LocalGet(area),
        I32Load(mem(p, 2)),
        LocalGet(mark),
        GlobalSet(BUMP),
        Return,
        End,
        // idle
        LocalGet(area),
        I32Load8U(mem(0, 0)),
        I32Const(2),
        I32Eq,
        If(wasm_encoder::BlockType::Empty),
        LocalGet(mark),
        GlobalSet(BUMP),
        I32Const(-1),
        Return,
        End,
        // deliver(delivery)
        LocalGet(area),
        I32Load(mem(p + runtime.delivery_component, 2)),
        LocalSet(component),
        LocalGet(area),
        I32Load(mem(p + runtime.delivery_events, 2)),
        LocalSet(ptr),
        LocalGet(area),
        I32Load(mem(p + runtime.delivery_events + 4, 2)),
        LocalSet(len),
        LocalGet(component),
        I32Const(polls.len() as i32),
        I32GeU,
        If(wasm_encoder::BlockType::Empty),
        Unreachable,
        End,
    ];
    for (i, poll) in polls.iter().enumerate() {
        code.extend([
            LocalGet(component),
            I32Const(i as i32),
            I32Eq,
            If(wasm_encoder::BlockType::Empty),
            LocalGet(ptr),
            LocalGet(len),
            Call(*poll),
            End,
        ]);
    }
    code.extend([
        LocalGet(mark),
        GlobalSet(BUMP),
        Br(0),
        End,
        Unreachable,
        End,
    ]);
    for i in &code {
        f.instruction(i);
    }
    core.define(ty, f)
}

/// `prologue(name, name-len)`: registers the poll exports on the first call, enters the
/// export, and delivers what is queued.
fn define_prologue(core: &mut Core, runtime: &Runtime, polls: &[(i32, i32)], run: u32) -> u32 {
    let ty = core.ty(vec![ValType::I32; 2], Vec::new());
    let mut f = Function::new([]);
    use Instruction::*;
    let mut code = vec![
        GlobalGet(REGISTERED),
        I32Eqz,
        If(wasm_encoder::BlockType::Empty),
    ];
    for (i, (at, len)) in polls.iter().enumerate() {
        code.extend([
            I32Const(*at),
            I32Const(*len),
            Call(runtime.register),
            I32Const(i as i32),
            I32Ne,
            If(wasm_encoder::BlockType::Empty),
            Unreachable,
            End,
        ]);
    }
    code.extend([
        I32Const(1),
        GlobalSet(REGISTERED),
        End,
        LocalGet(0),
        LocalGet(1),
        Call(runtime.enter),
        I32Const(0),
        I32Const(0),
        Call(run),
        Drop,
        End,
    ]);
    for i in &code {
        f.instruction(i);
    }
    core.define(ty, f)
}

/// What the driver's `incoming-handler.handle` calls.
struct HttpImports {
    start: Imported,
    result: Imported,
    /// The handler's start and result halves, for their result types.
    start_func: WitFunction,
    result_func: WitFunction,
    incoming: u32,
    respond: u32,
    respond_error: u32,
    finish: u32,
    /// The export's name in the driver's data, for `enter`.
    name: (i32, i32),
}

fn http_imports(
    resolve: &Resolve,
    world: &wit_parser::World,
    core: &mut Core,
    handler: &str,
) -> Result<HttpImports> {
    let handler_key = interface_key(resolve, world, handler, true)?;
    let mut import = |key: &WorldKey, name: &str| -> Result<(Imported, WitFunction)> {
        let func = find_function(resolve, key, name, world, true)?;
        let sig = resolve.wasm_signature(AbiVariant::GuestImport, func);
        let names = resolve.wasm_import_name(
            MANGLING,
            WasmImport::Func {
                interface: Some(key),
                func,
            },
        );
        Ok((
            Imported {
                index: core.import(names, &sig),
                sig,
            },
            func.clone(),
        ))
    };
    let (start, start_func) = import(&handler_key, "handle-isyswasfa-start")?;
    let (result, result_func) = import(&handler_key, "handle-isyswasfa-result")?;
    let driver_key = interface_key(resolve, world, wit_text::HTTP_DRIVER_INTERFACE, true)?;
    let (incoming, _) = import(&driver_key, "incoming")?;
    let (respond, _) = import(&driver_key, "respond")?;
    let (respond_error, _) = import(&driver_key, "respond-error")?;
    let (finish, _) = import(&driver_key, "finish")?;
    if !start.sig.retptr || !result.sig.retptr {
        bail!("`{handler}`'s `handle` returns its result in registers");
    }
    Ok(HttpImports {
        start,
        result,
        start_func,
        result_func,
        incoming: incoming.index,
        respond: respond.index,
        respond_error: respond_error.index,
        finish: finish.index,
        name: (0, 0),
    })
}

/// The payload offset of the `result` type `ty`.
fn result_payload(resolve: &Resolve, sizes: &SizeAlign, ty: &Type, what: &str) -> Result<u32> {
    let Type::Id(id) = ty else {
        bail!("{what} is not a result");
    };
    let TypeDefKind::Result(r) = &resolve.types[*id].kind else {
        bail!("{what} is not a result");
    };
    Ok(sizes
        .payload_offset(Int::U8, [r.ok.as_ref(), r.err.as_ref()])
        .size_wasm32() as u32)
}

/// Where the text of an `internal-error` is in an `error-code`: the case's number, the offset of
/// its `option<string>` in the `error-code`, and of the string in the option.
struct InternalErrorMessage {
    case: u32,
    option: u32,
    string: u32,
}

/// Finds `internal-error(option<string>)` in the error type of `handled` (`result<response,
/// error-code>`).
fn internal_error_message(
    resolve: &Resolve,
    sizes: &SizeAlign,
    handled: &Type,
) -> Result<InternalErrorMessage> {
    let error = match handled {
        Type::Id(id) => match &resolve.types[*id].kind {
            TypeDefKind::Result(r) => r.err,
            _ => None,
        },
        _ => None,
    };
    let mut error = error.ok_or_else(|| anyhow!("`handle` returns no `error-code`"))?;
    while let Type::Id(id) = error
        && let TypeDefKind::Type(inner) = &resolve.types[id].kind
    {
        error = *inner;
    }
    let Type::Id(id) = error else {
        bail!("`handle`'s `error-code` is no variant");
    };
    let TypeDefKind::Variant(variant) = &resolve.types[id].kind else {
        bail!("`handle`'s `error-code` is no variant");
    };
    let (case, payload) = variant
        .cases
        .iter()
        .enumerate()
        .find(|(_, c)| c.name == "internal-error")
        .and_then(|(i, c)| Some((i as u32, c.ty?)))
        .ok_or_else(|| {
            anyhow!("`handle`'s `error-code` has no `internal-error(option<string>)`")
        })?;
    let option = sizes
        .payload_offset(Int::U8, variant.cases.iter().map(|c| c.ty.as_ref()))
        .size_wasm32() as u32;
    let string = sizes
        .payload_offset(Int::U8, [Some(&Type::String)])
        .size_wasm32() as u32;
    let is_option_of_string = matches!(payload, Type::Id(id)
        if matches!(resolve.types[id].kind, TypeDefKind::Option(Type::String)));
    if !is_option_of_string {
        bail!("`handle`'s `internal-error` does not carry an `option<string>`");
    }
    Ok(InternalErrorMessage {
        case,
        option,
        string,
    })
}

/// `wasi:http/incoming-handler@0.2.0#handle(request, response-out)`: the 0.2 request made a
/// 0.3 one by the runtime, handed to the input's `handle`, its response (or error) handed to
/// the runtime with `response-out`, and the event loop run until the body and trailers are
/// sent.
#[allow(clippy::too_many_arguments)]
fn define_handle(
    core: &mut Core,
    resolve: &Resolve,
    world: &wit_parser::World,
    sizes: &SizeAlign,
    runtime: &Runtime,
    http: &HttpImports,
    alloc: u32,
    run: u32,
    prologue: u32,
    heap_base: i32,
) -> Result<()> {
    let export_key = interface_key(resolve, world, crate::input::INCOMING_HANDLER, false)?;
    let export_func = find_function(resolve, &export_key, "handle", world, false)?;
    let export_sig = resolve.wasm_signature(AbiVariant::GuestExport, export_func);
    let ty = core.sig_type(&export_sig);
    let start_result = http
        .start_func
        .result
        .ok_or_else(|| anyhow!("`handle-isyswasfa-start` returns nothing"))?;
    let handled = http
        .result_func
        .result
        .ok_or_else(|| anyhow!("`handle-isyswasfa-result` returns nothing"))?;
    let outer = result_payload(
        resolve,
        sizes,
        &start_result,
        "`handle-isyswasfa-start`'s result",
    )?;
    let inner = result_payload(resolve, sizes, &handled, "`handle`'s result")?;
    let message = internal_error_message(resolve, sizes, &handled)?;
    // Parameters: request (0), response-out (1); locals after them.
    let (request, out, ret, task, ready, answer) = (0, 1, 2, 3, 4, 5);
    let mut f = Function::new([(4, ValType::I32)]);
    use Instruction::*;
    let mut code = vec![
        I32Const(http.name.0),
        I32Const(http.name.1),
        Call(prologue),
        LocalGet(request),
        Call(http.incoming),
        LocalSet(request),
    ];
    for i in code.drain(..) {
        f.instruction(&i);
    }
    alloc_call(&mut f, alloc, sizes, &start_result);
    code.extend([
        LocalSet(ret),
        LocalGet(request),
        LocalGet(ret),
        Call(http.start.index),
        LocalGet(ret),
        I32Load8U(mem(0, 0)),
        I32Eqz,
        If(wasm_encoder::BlockType::Empty),
        // ok: the handler's result is in place.
        LocalGet(ret),
        I32Const(outer as i32),
        I32Add,
        LocalSet(answer),
        Else,
        LocalGet(ret),
        I32Load(mem(outer, 2)),
        Call(runtime.listen),
        LocalSet(task),
        I32Const(1),
        LocalGet(task),
        Call(run),
        LocalSet(ready),
    ]);
    for i in code.drain(..) {
        f.instruction(&i);
    }
    alloc_call(&mut f, alloc, sizes, &handled);
    code.extend([
        LocalSet(answer),
        LocalGet(ready),
        LocalGet(answer),
        Call(http.result.index),
        End,
        // `answer` points at `result<response, error-code>`.
        LocalGet(answer),
        I32Load8U(mem(0, 0)),
        I32Eqz,
        If(wasm_encoder::BlockType::Empty),
        LocalGet(out),
        LocalGet(answer),
        I32Load(mem(inner, 2)),
        Call(http.respond),
        Call(runtime.listen),
        LocalSet(task),
        I32Const(1),
        LocalGet(task),
        Call(run),
        Call(http.finish),
        Else,
        // The error's case number, and the text of an `internal-error` (its payloads stay
        // here, freed with the call).
        LocalGet(out),
        LocalGet(answer),
        I32Load8U(mem(inner, 0)),
        // option<string>: some only for `internal-error(some(text))`.
        LocalGet(answer),
        I32Load8U(mem(inner, 0)),
        I32Const(message.case as i32),
        I32Eq,
        If(wasm_encoder::BlockType::Result(ValType::I32)),
        LocalGet(answer),
        I32Load8U(mem(inner + message.option, 0)),
        Else,
        I32Const(0),
        End,
        LocalTee(task),
        LocalGet(task),
        If(wasm_encoder::BlockType::Result(ValType::I32)),
        LocalGet(answer),
        I32Load(mem(inner + message.option + message.string, 2)),
        Else,
        I32Const(0),
        End,
        LocalGet(task),
        If(wasm_encoder::BlockType::Result(ValType::I32)),
        LocalGet(answer),
        I32Load(mem(inner + message.option + message.string + 4, 2)),
        Else,
        I32Const(0),
        End,
        Call(http.respond_error),
        End,
        Call(runtime.leave),
        I32Const(heap_base),
        GlobalSet(BUMP),
        End,
    ]);
    for i in &code {
        f.instruction(i);
    }
    let index = core.define(ty, f);
    let name = resolve.wasm_export_name(
        MANGLING,
        WasmExport::Func {
            interface: Some(&export_key),
            func: export_func,
            kind: WasmExportKind::Normal,
        },
    );
    core.exports.push((name, ExportKind::Func, index));
    Ok(())
}
