//! Defines a component's `stream<T>` / `future<T>` imports in a linker: the pipe interfaces
//! (`isyswasfa:pipes/<payload>`: the reader and writer resources, `new`, the waits) and the typed
//! reads and writes of its ops interface.

use std::sync::Arc;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, Linker, LinkerInstance, Resource, ResourceAny, ResourceType, Val, WasmList,
};
use wasmtime::{AsContextMut, Engine, Result, StoreContextMut, bail, format_err};

use crate::ctx::IsyswasfaView;
use crate::funcs::func_wrap_async_with_store;
use crate::limits::MAX_BYTES_PER_WRITE;
use crate::pipes::byte_list::ByteList;
use crate::pipes::element::AnyPipe;
use crate::pipes::element::End;
use crate::pipes::element::PipeElement;
use crate::pipes::element::ReaderEnd;
use crate::pipes::element::WriterEnd;
use crate::pipes::element::split_op;
use crate::pipes::guest::pipes;
use crate::pipes::payload::PayloadTypes;
use isyswasfa_protocol::names::{OPS_STEM, PIPES_PREFIX};
use isyswasfa_protocol::pipe::Pipe;

/// Defines, in `linker`, every pipe interface and ops interface `component` imports.
///
/// Fails, naming both operations, when two typed operations of one pipe (in one ops interface or
/// in two, as in a composition) declare different payload types: the host passes `Val`s through
/// unchecked, so a component that wrote `u32`s into a `stream<string>` would otherwise make its
/// reader trap.
pub fn add_to_linker_for<T: IsyswasfaView + 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
) -> Result<()> {
    let mut payloads = PayloadTypes::default();
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if let Some(rest) = name.strip_prefix(PIPES_PREFIX) {
            let pipe = rest.split('@').next().unwrap_or(rest);
            add_pipe_interface(&mut linker.instance(name)?, pipe.into())?;
        } else if name.contains(OPS_STEM) {
            let mut ops = linker.instance(name)?;
            for (func, ty) in instance.exports(engine) {
                let ComponentItem::ComponentFunc(ty) = ty.ty else {
                    continue;
                };
                let defined = payloads
                    .check(name, func, &ty)
                    .and_then(|()| add_op(&mut ops, func));
                defined.map_err(|e| e.context(format!("defining `{func}` of `{name}`")))?;
            }
        }
    }
    Ok(())
}

/// Defines `export` of an ops interface, when it names a pipe end (`…-reader`/`…-writer`), as
/// the host's end type.
pub(crate) fn define_end_alias<T: IsyswasfaView + 'static>(
    instance: &mut LinkerInstance<'_, T>,
    export: &str,
) -> Result<()> {
    if export.ends_with("-reader") {
        instance.resource(
            export,
            ResourceType::host::<ReaderEnd>(),
            |mut store, rep| {
                store
                    .data_mut()
                    .isyswasfa()
                    .ctx
                    .pipes
                    .close(rep, End::Reader)
            },
        )?;
    } else if export.ends_with("-writer") {
        instance.resource(
            export,
            ResourceType::host::<WriterEnd>(),
            |mut store, rep| {
                store
                    .data_mut()
                    .isyswasfa()
                    .ctx
                    .pipes
                    .close(rep, End::Writer)
            },
        )?;
    }
    Ok(())
}

/// `reader`, `writer`, `new` and the waits of the pipe interface of pipe `name`. The pipes `new`
/// makes are bound to `name`; the waits check that they are given one.
fn add_pipe_interface<T: IsyswasfaView + 'static>(
    instance: &mut LinkerInstance<'_, T>,
    name: Arc<str>,
) -> Result<()> {
    instance.resource(
        "reader",
        ResourceType::host::<ReaderEnd>(),
        |mut store, rep| {
            store
                .data_mut()
                .isyswasfa()
                .ctx
                .pipes
                .close(rep, End::Reader)
        },
    )?;
    instance.resource(
        "writer",
        ResourceType::host::<WriterEnd>(),
        |mut store, rep| {
            store
                .data_mut()
                .isyswasfa()
                .ctx
                .pipes
                .close(rep, End::Writer)
        },
    )?;
    let payload = Arc::clone(&name);
    instance.func_wrap("new", move |mut store, (): ()| {
        let table = pipes(&mut store);
        let pipe = AnyPipe::for_name(&payload, table.capacities);
        // A new pipe is unbound, so binding cannot fail.
        pipe.bind(&payload).ok();
        let writer = table.insert(pipe.clone(), End::Writer);
        let reader = table.insert(pipe, End::Reader);
        Ok(((
            Resource::<WriterEnd>::new_own(writer),
            Resource::<ReaderEnd>::new_own(reader),
        ),))
    })?;
    let payload = Arc::clone(&name);
    func_wrap_async_with_store(
        instance,
        "wait-readable",
        move |mut store, (end,): (Resource<ReaderEnd>,)| {
            let pipe =
                pipes(&mut store).get_for(end.rep(), End::Reader, &payload, "wait-readable")?;
            Ok(pipe.readable())
        },
    )?;
    // Futures have no `wait-writable`; defining it anyway is harmless.
    func_wrap_async_with_store(
        instance,
        "wait-writable",
        move |mut store, (end,): (Resource<WriterEnd>,)| {
            let pipe = pipes(&mut store).get_for(end.rep(), End::Writer, &name, "wait-writable")?;
            Ok(pipe.writable())
        },
    )?;
    Ok(())
}

/// What a typed operation may be given: ends of pipes of one payload, checked on every call.
struct OpTarget {
    /// The pipe interface whose payload the operation carries.
    payload: Arc<str>,
    /// The operation's name, for errors.
    call: Arc<str>,
}

impl OpTarget {
    /// The pipe behind `rep`, checked to carry this operation's payload.
    fn get<'a, T: IsyswasfaView>(
        &self,
        store: &'a mut StoreContextMut<'_, T>,
        rep: u32,
        end: End,
    ) -> Result<&'a AnyPipe> {
        pipes(store).get_for(rep, end, &self.payload, &self.call)
    }

    /// Like [`OpTarget::get`], taking the end out of the table (a future's one read or write).
    fn take<T: IsyswasfaView>(
        &self,
        store: &mut StoreContextMut<'_, T>,
        rep: u32,
        end: End,
    ) -> Result<AnyPipe> {
        pipes(store).remove_for(rep, end, &self.payload, &self.call)
    }
}

/// One typed operation of an ops interface: `<pipe>-read` or `<pipe>-write`. Each checks that the
/// end it is given belongs to a pipe of `<pipe>` ([`PipeTable::get_for`]).
fn add_op<T: IsyswasfaView + 'static>(
    instance: &mut LinkerInstance<'_, T>,
    func: &str,
) -> Result<()> {
    let (pipe, op) = split_op(func)?;
    let future = pipe.starts_with("future");
    let target = OpTarget {
        payload: pipe.into(),
        call: func.into(),
    };
    match (pipe, future, op) {
        ("stream-u8", _, End::Reader) => instance.func_wrap(
            func,
            move |mut store, (end, max): (Resource<ReaderEnd>, u32)| {
                let pipe = bytes(target.get(&mut store, end.rep(), End::Reader)?)?;
                Ok((pipe.take(max as usize),))
            },
        ),
        ("stream-u8", _, End::Writer) => instance.func_wrap(
            func,
            move |mut store, (end, values): (Resource<WriterEnd>, WasmList<u8>)| {
                let pipe = bytes(target.get(&mut store, end.rep(), End::Writer)?)?;
                // The offered bytes stay in the guest's memory (no copy of the whole list);
                // only what fits is copied into the pipe.
                if values.len() > MAX_BYTES_PER_WRITE {
                    return Err(isyswasfa_protocol::Error::limit(format!(
                        "isyswasfa: `{}` was offered {} bytes in one call; a write may offer at \
                         most {MAX_BYTES_PER_WRITE} (`isyswasfa_host::limits::MAX_BYTES_PER_WRITE`)",
                        target.call,
                        values.len()
                    ))
                    .into());
                }
                let offered = values.as_le_slice(&store);
                // The excess beyond the room left comes back, as when the reader is gone.
                let taken = pipe.push_slice(offered).unwrap_or(0);
                Ok((offered[taken..].to_vec(),))
            },
        ),
        ("stream", _, End::Reader) => instance.func_wrap(
            func,
            move |mut store, (end, max): (Resource<ReaderEnd>, u32)| {
                let pipe = units(target.get(&mut store, end.rep(), End::Reader)?)?;
                Ok((pipe.take(max as usize).map(|v| v.len() as u32),))
            },
        ),
        ("stream", _, End::Writer) => instance.func_wrap(
            func,
            move |mut store, (end, count): (Resource<WriterEnd>, u32)| {
                let pipe = units(target.get(&mut store, end.rep(), End::Writer)?)?;
                // Never more than the room left: a huge count cannot allocate.
                let room = pipe.capacity().min(count as usize);
                let rejected = match pipe.push(vec![(); room]) {
                    Ok(excess) => excess.len() + (count as usize - room),
                    Err(_) => count as usize,
                };
                Ok((rejected as u32,))
            },
        ),
        ("future", _, End::Reader) => {
            instance.func_wrap(func, move |mut store, (end,): (Resource<ReaderEnd>,)| {
                let pipe = target.take(&mut store, end.rep(), End::Reader)?;
                let value = units(&pipe).map(|p| p.take(1).is_some_and(|v| !v.is_empty()));
                pipe.close(End::Reader);
                Ok((value?,))
            })
        }
        ("future", _, End::Writer) => {
            instance.func_wrap(func, move |mut store, (end,): (Resource<WriterEnd>,)| {
                let pipe = target.take(&mut store, end.rep(), End::Writer)?;
                let rejected =
                    !matches!(units(&pipe)?.push(vec![()]), Ok(excess) if excess.is_empty());
                pipe.close(End::Writer);
                Ok((rejected,))
            })
        }
        // `list<u8>` values pass as bytes (typed, never as a `Val` per byte), weighed against
        // the pipe's and the store's byte budgets.
        ("stream-list-u8", false, End::Reader) => instance.func_wrap(
            func,
            move |mut store, (end, max): (Resource<ReaderEnd>, u32)| {
                let pipe = byte_lists(target.get(&mut store, end.rep(), End::Reader)?)?;
                let read = pipe.take(max as usize).map(|values| {
                    values
                        .into_iter()
                        .map(ByteList::into_vec)
                        .collect::<Vec<_>>()
                });
                Ok((read,))
            },
        ),
        ("stream-list-u8", false, End::Writer) => instance.func_wrap(
            func,
            move |mut store, (end, values): (Resource<WriterEnd>, WasmList<WasmList<u8>>)| {
                let pipe = byte_lists(target.get(&mut store, end.rep(), End::Writer)?)?;
                Ok((write_byte_lists(&mut store, &pipe, &values, &target.call)?,))
            },
        ),
        (_, false, End::Reader) => instance.func_new(func, move |mut store, _, params, results| {
            let [end, Val::U32(max)] = params else {
                bail!("unexpected parameters");
            };
            let rep = rep_of::<ReaderEnd, T>(&mut store, end)?;
            let pipe = values(target.get(&mut store, rep, End::Reader)?)?;
            results[0] = Val::Option(pipe.take(*max as usize).map(|v| Box::new(Val::List(v))));
            Ok(())
        }),
        (_, false, End::Writer) => instance.func_new(func, move |mut store, _, params, results| {
            let [end, Val::List(list)] = params else {
                bail!("unexpected parameters");
            };
            let rep = rep_of::<WriterEnd, T>(&mut store, end)?;
            let pipe = values(target.get(&mut store, rep, End::Writer)?)?;
            results[0] = Val::List(pipe.push(list.clone()).unwrap_or_else(|all| all));
            Ok(())
        }),
        (_, true, End::Reader) => instance.func_new(func, move |mut store, _, params, results| {
            let [end] = params else {
                bail!("unexpected parameters");
            };
            let rep = rep_of::<ReaderEnd, T>(&mut store, end)?;
            let pipe = target.take(&mut store, rep, End::Reader)?;
            let value = values(&pipe).map(|p| p.take(1).and_then(|mut v| v.pop()));
            pipe.close(End::Reader);
            let value = value?;
            results[0] = Val::Option(value.map(Box::new));
            Ok(())
        }),
        (_, true, End::Writer) => instance.func_new(func, move |mut store, _, params, results| {
            let [end, value] = params else {
                bail!("unexpected parameters");
            };
            let rep = rep_of::<WriterEnd, T>(&mut store, end)?;
            let pipe = target.take(&mut store, rep, End::Writer)?;
            let rejected = values(&pipe)?
                .push(vec![value.clone()])
                .unwrap_or_else(|all| all);
            pipe.close(End::Writer);
            results[0] = Val::Option(rejected.into_iter().next().map(Box::new));
            Ok(())
        }),
    }
}

/// A guest's write of `values` into a `stream<list<u8>>`: takes what the pipe's byte budget
/// allows (copying only those values out of the guest's memory) and gives back the rest. The
/// offer is bounded as wasmtime bounds what a host call lifts (the store's hostcall fuel, 128 MiB
/// by default), since the values given back are copied; values that would take the store's pipes
/// beyond their byte budget are refused.
fn write_byte_lists<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
    pipe: &Pipe<ByteList>,
    values: &WasmList<WasmList<u8>>,
    call: &str,
) -> Result<Vec<Vec<u8>>> {
    let fuel = store.hostcall_fuel();
    let too_much = |offered: usize| -> wasmtime::Error {
        isyswasfa_protocol::Error::limit(format!(
            "isyswasfa: `{call}` was offered {offered} bytes (with {} per value) in one call; a \
             call may pass the host at most {fuel} (the store's hostcall fuel)",
            size_of::<Vec<u8>>()
        ))
        .into()
    };
    let mut offered = values.len().saturating_mul(size_of::<Vec<u8>>());
    if offered > fuel {
        return Err(too_much(offered));
    }
    let mut lists = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        let list = values
            .get(&mut *store, i)
            .ok_or_else(|| format_err!("isyswasfa: `{call}`: value {i} vanished"))??;
        offered = offered.saturating_add(list.len());
        if offered > fuel {
            return Err(too_much(offered));
        }
        lists.push(list);
    }
    let taken = pipe.accepts(lists.iter().map(WasmList::len));
    let bytes: usize = lists[..taken].iter().map(WasmList::len).sum();
    let budget = &pipes(store).byte_budget;
    let Some(mut charge) = budget.charge(bytes) else {
        return Err(isyswasfa_protocol::Error::limit(format!(
            "isyswasfa: `{call}` would make this store's `stream<list<u8>>` pipes hold {} bytes \
             nobody has read; a store's may hold at most {} \
             (`isyswasfa_host::limits::STORE_PIPE_BYTES_BUDGET`)",
            budget.used().saturating_add(bytes),
            budget.limit()
        ))
        .into());
    };
    let accepted: Vec<ByteList> = lists[..taken]
        .iter()
        .map(|list| {
            let bytes = list.as_le_slice(&*store).to_vec();
            let share = charge.split(bytes.len());
            ByteList::charged(bytes, share)
        })
        .collect();
    // Nothing is taken when the reader is gone; everything comes back, in order.
    let mut back: Vec<Vec<u8>> = match pipe.push(accepted) {
        Ok(excess) | Err(excess) => excess.into_iter().map(ByteList::into_vec).collect(),
    };
    back.extend(
        lists[taken..]
            .iter()
            .map(|list| list.as_le_slice(&*store).to_vec()),
    );
    Ok(back)
}

fn rep_of<R: 'static, T: 'static>(store: &mut StoreContextMut<'_, T>, end: &Val) -> Result<u32> {
    let Val::Resource(any) = end else {
        bail!("expected a pipe handle");
    };
    let any: ResourceAny = *any;
    Ok(any.try_into_resource::<R>(store.as_context_mut())?.rep())
}

fn mismatch() -> wasmtime::Error {
    format_err!("isyswasfa: a pipe was used with a payload type it does not carry")
}

fn bytes(pipe: &AnyPipe) -> Result<Arc<Pipe<u8>>> {
    u8::unwrap(pipe).ok_or_else(mismatch)
}

fn byte_lists(pipe: &AnyPipe) -> Result<Arc<Pipe<ByteList>>> {
    ByteList::unwrap(pipe).ok_or_else(mismatch)
}

fn units(pipe: &AnyPipe) -> Result<Arc<Pipe<()>>> {
    <()>::unwrap(pipe).ok_or_else(mismatch)
}

fn values(pipe: &AnyPipe) -> Result<Arc<Pipe<Val>>> {
    Val::unwrap(pipe).ok_or_else(mismatch)
}
