//! The host side of a component's `stream<T>` / `future<T>` imports.
//!
//! A lowered component imports one pipe interface per payload (`isyswasfa:pipes/<name>@0.1.0`:
//! the `reader`/`writer` resources, `new`, and the waits) and one ops interface with the typed
//! reads and writes (`…/isyswasfa-ops-<suffix>`; see `isyswasfa_bindgen::pipes`). This module
//! defines both for a given component, from the component's own import types: nothing is written
//! per payload type. Values travel as [`Val`]s through a [`Pipe<Val>`]; byte streams
//! (`stream-u8`) use a [`Pipe<u8>`] and typed functions, and payload-less pipes a [`Pipe<()>`].

use std::sync::Arc;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, Linker, LinkerInstance, Resource, ResourceAny, ResourceType, Val,
};
use wasmtime::{AsContextMut, Engine, Result, StoreContextMut, bail, format_err};

use crate::funcs::func_wrap_async_with_store;
use crate::pipes::Pipe;
use crate::protocol::IsyswasfaView;

/// The package of the pipe interfaces.
pub const PIPES_PREFIX: &str = "isyswasfa:pipes/";
/// The name stem of every component's ops interface.
pub const OPS_STEM: &str = "/isyswasfa-ops-";

/// Marker type of the `reader` resources of every pipe interface.
pub struct ReaderEnd;
/// Marker type of the `writer` resources of every pipe interface.
pub struct WriterEnd;

/// Buffer sizes: bytes of a byte stream, values of any other stream.
const BYTE_CAPACITY: usize = 64 * 1024;
const VALUE_CAPACITY: usize = 64;
const UNIT_CAPACITY: usize = 64 * 1024;

/// A pipe of any element type.
#[derive(Clone)]
pub enum AnyPipe {
    /// `stream<u8>`.
    Bytes(Arc<Pipe<u8>>),
    /// Any other payload.
    Values(Arc<Pipe<Val>>),
    /// Payload-less `stream` / `future`.
    Units(Arc<Pipe<()>>),
}

impl AnyPipe {
    /// A new pipe for the pipe interface named `name` (`stream-u8`, `future-string`, …).
    fn for_name(name: &str) -> Self {
        let future = name.starts_with("future");
        let capacity = |n: usize| if future { 1 } else { n };
        match name {
            "stream-u8" => Self::Bytes(Pipe::new(BYTE_CAPACITY)),
            "stream" | "future" => Self::Units(Pipe::new(capacity(UNIT_CAPACITY))),
            _ => Self::Values(Pipe::new(capacity(VALUE_CAPACITY))),
        }
    }

    fn close(&self, end: End) {
        match (self, end) {
            (Self::Bytes(p), End::Reader) => p.close_reader(),
            (Self::Bytes(p), End::Writer) => p.close_writer(),
            (Self::Values(p), End::Reader) => p.close_reader(),
            (Self::Values(p), End::Writer) => p.close_writer(),
            (Self::Units(p), End::Reader) => p.close_reader(),
            (Self::Units(p), End::Writer) => p.close_writer(),
        }
    }

    fn readable(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        match self {
            Self::Bytes(p) => Box::pin(p.readable()),
            Self::Values(p) => Box::pin(p.readable()),
            Self::Units(p) => Box::pin(p.readable()),
        }
    }

    fn writable(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> {
        match self {
            Self::Bytes(p) => Box::pin(p.writable()),
            Self::Values(p) => Box::pin(p.writable()),
            Self::Units(p) => Box::pin(p.writable()),
        }
    }
}

/// The element types a pipe can have, for the embedder's typed ends.
pub trait PipeElement: Sized + Send + 'static {
    /// Wraps a pipe of this element type.
    fn wrap(pipe: Arc<Pipe<Self>>) -> AnyPipe;
    /// The pipe, if it has this element type.
    fn unwrap(pipe: &AnyPipe) -> Option<Arc<Pipe<Self>>>;
    /// The buffer size of a new stream of this element type.
    const CAPACITY: usize;
}

impl PipeElement for u8 {
    fn wrap(pipe: Arc<Pipe<Self>>) -> AnyPipe {
        AnyPipe::Bytes(pipe)
    }
    fn unwrap(pipe: &AnyPipe) -> Option<Arc<Pipe<Self>>> {
        match pipe {
            AnyPipe::Bytes(p) => Some(Arc::clone(p)),
            _ => None,
        }
    }
    const CAPACITY: usize = BYTE_CAPACITY;
}

impl PipeElement for Val {
    fn wrap(pipe: Arc<Pipe<Self>>) -> AnyPipe {
        AnyPipe::Values(pipe)
    }
    fn unwrap(pipe: &AnyPipe) -> Option<Arc<Pipe<Self>>> {
        match pipe {
            AnyPipe::Values(p) => Some(Arc::clone(p)),
            _ => None,
        }
    }
    const CAPACITY: usize = VALUE_CAPACITY;
}

impl PipeElement for () {
    fn wrap(pipe: Arc<Pipe<Self>>) -> AnyPipe {
        AnyPipe::Units(pipe)
    }
    fn unwrap(pipe: &AnyPipe) -> Option<Arc<Pipe<Self>>> {
        match pipe {
            AnyPipe::Units(p) => Some(Arc::clone(p)),
            _ => None,
        }
    }
    const CAPACITY: usize = UNIT_CAPACITY;
}

/// Which end of a pipe a handle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The readable end.
    Reader,
    /// The writable end.
    Writer,
}

/// The pipe ends that components (or the embedder, before handing them over) hold, by the `rep`
/// of their resource handles.
#[derive(Default)]
pub(crate) struct PipeTable {
    ends: Vec<Option<(AnyPipe, End)>>,
    free: Vec<u32>,
    live: usize,
}

impl PipeTable {
    /// Adds an end; returns its rep.
    pub fn insert(&mut self, pipe: AnyPipe, end: End) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(rep) => {
                self.ends[rep as usize] = Some((pipe, end));
                rep
            }
            None => {
                self.ends.push(Some((pipe, end)));
                (self.ends.len() - 1) as u32
            }
        }
    }

    /// The pipe behind a handle, checking which end it is.
    pub fn get(&self, rep: u32, end: End) -> Result<&AnyPipe> {
        match self.ends.get(rep as usize) {
            Some(Some((pipe, e))) if *e == end => Ok(pipe),
            _ => bail!("isyswasfa: no pipe {end:?} with handle {rep}"),
        }
    }

    /// Removes an end from the table without closing it (it changes hands).
    pub fn remove(&mut self, rep: u32, end: End) -> Result<AnyPipe> {
        self.get(rep, end)?;
        let (pipe, _) = self.ends[rep as usize]
            .take()
            .ok_or_else(|| format_err!("isyswasfa: pipe handle {rep} vanished"))?;
        self.free.push(rep);
        self.live -= 1;
        Ok(pipe)
    }

    /// Removes an end and closes it (its holder dropped it).
    pub fn close(&mut self, rep: u32, end: End) -> Result<()> {
        let pipe = self.remove(rep, end)?;
        pipe.close(end);
        Ok(())
    }

    /// How many ends the table holds.
    pub fn len(&self) -> usize {
        self.live
    }
}

fn pipes<'a, T: IsyswasfaView>(store: &'a mut StoreContextMut<'_, T>) -> &'a mut PipeTable {
    &mut store.data_mut().isyswasfa().pipes
}

/// Defines, in `linker`, every pipe interface and ops interface `component` imports.
pub fn add_to_linker_for<T: IsyswasfaView + 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
) -> Result<()> {
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if let Some(rest) = name.strip_prefix(PIPES_PREFIX) {
            let pipe = rest.split('@').next().unwrap_or(rest).to_string();
            add_pipe_interface(&mut linker.instance(name)?, pipe)?;
        } else if name.contains(OPS_STEM) {
            let mut ops = linker.instance(name)?;
            for (func, ty) in instance.exports(engine) {
                if !matches!(ty.ty, ComponentItem::ComponentFunc(_)) {
                    continue;
                }
                add_op(&mut ops, func)
                    .map_err(|e| e.context(format!("defining `{func}` of `{name}`")))?;
            }
        }
    }
    Ok(())
}

/// `reader`, `writer`, `new` and the waits of the pipe interface of pipe `name`.
fn add_pipe_interface<T: IsyswasfaView + 'static>(
    instance: &mut LinkerInstance<'_, T>,
    name: String,
) -> Result<()> {
    instance.resource(
        "reader",
        ResourceType::host::<ReaderEnd>(),
        |mut store, rep| store.data_mut().isyswasfa().pipes.close(rep, End::Reader),
    )?;
    instance.resource(
        "writer",
        ResourceType::host::<WriterEnd>(),
        |mut store, rep| store.data_mut().isyswasfa().pipes.close(rep, End::Writer),
    )?;
    instance.func_wrap("new", move |mut store, (): ()| {
        let pipe = AnyPipe::for_name(&name);
        let table = pipes(&mut store);
        let writer = table.insert(pipe.clone(), End::Writer);
        let reader = table.insert(pipe, End::Reader);
        Ok(((
            Resource::<WriterEnd>::new_own(writer),
            Resource::<ReaderEnd>::new_own(reader),
        ),))
    })?;
    func_wrap_async_with_store(
        instance,
        "wait-readable",
        |mut store, (end,): (Resource<ReaderEnd>,)| {
            Ok(pipes(&mut store).get(end.rep(), End::Reader)?.readable())
        },
    )?;
    // Futures have no `wait-writable`; defining it anyway is harmless.
    func_wrap_async_with_store(
        instance,
        "wait-writable",
        |mut store, (end,): (Resource<WriterEnd>,)| {
            Ok(pipes(&mut store).get(end.rep(), End::Writer)?.writable())
        },
    )?;
    Ok(())
}

/// One typed operation of an ops interface: `<pipe>-read` or `<pipe>-write`.
fn add_op<T: IsyswasfaView + 'static>(
    instance: &mut LinkerInstance<'_, T>,
    func: &str,
) -> Result<()> {
    let (pipe, op) = match (func.strip_suffix("-read"), func.strip_suffix("-write")) {
        (Some(pipe), _) => (pipe, End::Reader),
        (_, Some(pipe)) => (pipe, End::Writer),
        _ => bail!("not a pipe operation"),
    };
    let future = pipe.starts_with("future");
    match (pipe, future, op) {
        ("stream-u8", _, End::Reader) => {
            instance.func_wrap(func, |mut store, (end, max): (Resource<ReaderEnd>, u32)| {
                let pipe = bytes(pipes(&mut store).get(end.rep(), End::Reader)?)?;
                Ok((pipe.take(max as usize),))
            })
        }
        ("stream-u8", _, End::Writer) => instance.func_wrap(
            func,
            |mut store, (end, values): (Resource<WriterEnd>, Vec<u8>)| {
                let pipe = bytes(pipes(&mut store).get(end.rep(), End::Writer)?)?;
                Ok((pipe.push(values).err().unwrap_or_default(),))
            },
        ),
        ("stream", _, End::Reader) => {
            instance.func_wrap(func, |mut store, (end, max): (Resource<ReaderEnd>, u32)| {
                let pipe = units(pipes(&mut store).get(end.rep(), End::Reader)?)?;
                Ok((pipe.take(max as usize).map(|v| v.len() as u32),))
            })
        }
        ("stream", _, End::Writer) => instance.func_wrap(
            func,
            |mut store, (end, count): (Resource<WriterEnd>, u32)| {
                let pipe = units(pipes(&mut store).get(end.rep(), End::Writer)?)?;
                let rejected = pipe
                    .push(vec![(); count as usize])
                    .err()
                    .map_or(0, |v| v.len());
                Ok((rejected as u32,))
            },
        ),
        ("future", _, End::Reader) => {
            instance.func_wrap(func, |mut store, (end,): (Resource<ReaderEnd>,)| {
                let pipe = pipes(&mut store).remove(end.rep(), End::Reader)?;
                let value = units(&pipe).map(|p| p.take(1).is_some_and(|v| !v.is_empty()));
                pipe.close(End::Reader);
                Ok((value?,))
            })
        }
        ("future", _, End::Writer) => {
            instance.func_wrap(func, |mut store, (end,): (Resource<WriterEnd>,)| {
                let pipe = pipes(&mut store).remove(end.rep(), End::Writer)?;
                let rejected = units(&pipe)?.push(vec![()]).is_err();
                pipe.close(End::Writer);
                Ok((rejected,))
            })
        }
        (_, false, End::Reader) => instance.func_new(func, |mut store, _, params, results| {
            let [end, Val::U32(max)] = params else {
                bail!("unexpected parameters");
            };
            let rep = rep_of::<ReaderEnd, T>(&mut store, end)?;
            let pipe = values(pipes(&mut store).get(rep, End::Reader)?)?;
            results[0] = Val::Option(pipe.take(*max as usize).map(|v| Box::new(Val::List(v))));
            Ok(())
        }),
        (_, false, End::Writer) => instance.func_new(func, |mut store, _, params, results| {
            let [end, Val::List(list)] = params else {
                bail!("unexpected parameters");
            };
            let rep = rep_of::<WriterEnd, T>(&mut store, end)?;
            let pipe = values(pipes(&mut store).get(rep, End::Writer)?)?;
            results[0] = Val::List(pipe.push(list.clone()).err().unwrap_or_default());
            Ok(())
        }),
        (_, true, End::Reader) => instance.func_new(func, |mut store, _, params, results| {
            let [end] = params else {
                bail!("unexpected parameters");
            };
            let rep = rep_of::<ReaderEnd, T>(&mut store, end)?;
            let pipe = pipes(&mut store).remove(rep, End::Reader)?;
            let value = values(&pipe).map(|p| p.take(1).and_then(|mut v| v.pop()));
            pipe.close(End::Reader);
            let value = value?;
            results[0] = Val::Option(value.map(Box::new));
            Ok(())
        }),
        (_, true, End::Writer) => instance.func_new(func, |mut store, _, params, results| {
            let [end, value] = params else {
                bail!("unexpected parameters");
            };
            let rep = rep_of::<WriterEnd, T>(&mut store, end)?;
            let pipe = pipes(&mut store).remove(rep, End::Writer)?;
            let rejected = values(&pipe)?.push(vec![value.clone()]).err();
            pipe.close(End::Writer);
            results[0] = Val::Option(rejected.and_then(|mut v| v.pop()).map(Box::new));
            Ok(())
        }),
    }
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

fn units(pipe: &AnyPipe) -> Result<Arc<Pipe<()>>> {
    <()>::unwrap(pipe).ok_or_else(mismatch)
}

fn values(pipe: &AnyPipe) -> Result<Arc<Pipe<Val>>> {
    Val::unwrap(pipe).ok_or_else(mismatch)
}
