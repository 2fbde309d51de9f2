//! The host side of a component's `stream<T>` / `future<T>` imports.
//!
//! A lowered component imports one pipe interface per payload (`isyswasfa:pipes/<name>@0.1.0`:
//! the `reader`/`writer` resources, `new`, and the waits) and one ops interface with the typed
//! reads and writes (`…/isyswasfa-ops-<suffix>`; see `isyswasfa_bindgen::pipes`). This module
//! defines both for a given component, from the component's own import types: nothing is written
//! per payload type. Values travel as [`Val`]s through a [`Pipe<Val>`]; byte streams
//! (`stream-u8`) use a [`Pipe<u8>`] and typed functions, and payload-less pipes a [`Pipe<()>`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use futures::task::AtomicWaker;

use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{
    Component, Linker, LinkerInstance, Resource, ResourceAny, ResourceType, Val,
};
use wasmtime::{AsContextMut, Engine, Result, Store, StoreContextMut, bail, format_err};

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

/// Buffer size of a byte stream (`stream<u8>`), in bytes: large enough for a network read or
/// write in one go, and the most host memory one byte pipe can hold, since writes beyond the room
/// left give back the excess.
pub const BYTE_CAPACITY: usize = 64 * 1024;
/// Buffer size of a stream of any other payload, in values: each value is a [`Val`] tree of
/// unbounded size, so fewer of them are buffered.
pub const VALUE_CAPACITY: usize = 64;
/// Buffer size of a payload-less stream, in items (which take no memory).
pub const UNIT_CAPACITY: usize = 64 * 1024;

/// The buffer sizes of the pipes a store's components make with `new` (see
/// [`crate::IsyswasfaCtx::set_stream_capacities`]); futures always buffer one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCapacities {
    /// Bytes of a `stream<u8>` ([`BYTE_CAPACITY`] by default).
    pub bytes: usize,
    /// Values of a stream of any other payload ([`VALUE_CAPACITY`] by default).
    pub values: usize,
}

impl Default for StreamCapacities {
    fn default() -> Self {
        Self {
            bytes: BYTE_CAPACITY,
            values: VALUE_CAPACITY,
        }
    }
}

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
    fn for_name(name: &str, capacities: StreamCapacities) -> Self {
        let future = name.starts_with("future");
        let capacity = |n: usize| if future { 1 } else { n };
        match name {
            "stream-u8" => Self::Bytes(Pipe::new(capacities.bytes)),
            "stream" | "future" => Self::Units(Pipe::new(capacity(UNIT_CAPACITY))),
            _ => Self::Values(Pipe::new(capacity(capacities.values))),
        }
    }

    /// Binds the pipe to the payload named `payload` (a pipe interface's name), or checks that it
    /// is bound to it (see [`Pipe::bind_payload`]); `Err` names the payload it carries instead.
    fn bind(&self, payload: &Arc<str>) -> Result<(), Arc<str>> {
        match self {
            Self::Bytes(p) => p.bind_payload(payload),
            Self::Values(p) => p.bind_payload(payload),
            Self::Units(p) => p.bind_payload(payload),
        }
    }

    /// Sends the values a `Val` pipe drops unread to `discarded` (other pipes hold no resources).
    fn attach(&self, discarded: &Arc<Discarded>) {
        if let Self::Values(pipe) = self {
            let discarded = Arc::clone(discarded);
            pipe.set_discard(Arc::new(move |values| discarded.push(values)));
        }
    }

    pub(crate) fn close(&self, end: End) {
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

/// Values that closed pipes dropped unread, waiting for the event loop to release the resource
/// handles inside them (which runs guest destructors, so it needs the store with no component on
/// the stack). Readers close from anywhere (an embedder's task, a guest's `resource.drop`), so the
/// values are queued here and the loop is woken.
#[derive(Default)]
pub(crate) struct Discarded {
    values: Mutex<Vec<Val>>,
    waker: AtomicWaker,
}

impl Discarded {
    fn push(&self, values: Vec<Val>) {
        // Only values that hold resources need the store; the others are dropped here.
        let mut held: Vec<Val> = values.into_iter().filter(holds_resources).collect();
        if held.is_empty() {
            return;
        }
        self.lock().append(&mut held);
        self.waker.wake();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Val>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Completes once values wait for [`release_discarded`] (at once if some already do).
    pub fn ready(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.lock().is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
    }
}

/// Whether `value` contains a resource handle (which must be released with `resource_drop`).
fn holds_resources(value: &Val) -> bool {
    let mut found = false;
    visit_resources(value, &mut |_| found = true);
    found
}

/// Calls `f` on every resource handle inside `value`.
fn visit_resources(value: &Val, f: &mut impl FnMut(ResourceAny)) {
    match value {
        Val::Resource(any) => f(*any),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            items.iter().for_each(|v| visit_resources(v, f))
        }
        Val::Record(fields) => fields.iter().for_each(|(_, v)| visit_resources(v, f)),
        Val::Map(entries) => entries.iter().for_each(|(k, v)| {
            visit_resources(k, f);
            visit_resources(v, f);
        }),
        Val::Variant(_, Some(v)) | Val::Option(Some(v)) => visit_resources(v, f),
        Val::Result(Ok(Some(v)) | Err(Some(v))) => visit_resources(v, f),
        _ => {}
    }
}

/// Releases (with `resource_drop`, running guest destructors) every resource handle inside the
/// values closed pipes of this store dropped unread. The event loop calls it while no component
/// is on the stack.
pub(crate) async fn release_discarded<T: IsyswasfaView + Send + 'static>(
    store: &mut Store<T>,
) -> Result<()> {
    loop {
        let values = std::mem::take(&mut *store.data_mut().isyswasfa().pipes.discarded.lock());
        if values.is_empty() {
            return Ok(());
        }
        let mut resources = Vec::new();
        for value in &values {
            visit_resources(value, &mut |any| resources.push(any));
        }
        for resource in resources {
            resource
                .resource_drop_async(&mut *store)
                .await
                .map_err(|e| e.context("releasing a resource left in a closed stream failed"))?;
        }
    }
}

/// The pipe ends that components (or the embedder, before handing them over) hold, by the `rep`
/// of their resource handles. Dropping the table (with its store) closes every end it holds, so
/// the embedder's ends of those pipes see the end of the stream or a closed pipe.
#[derive(Default)]
pub(crate) struct PipeTable {
    ends: Vec<Option<(AnyPipe, End)>>,
    free: Vec<u32>,
    live: usize,
    discarded: Arc<Discarded>,
    /// The buffer sizes of the pipes `new` makes.
    pub(crate) capacities: StreamCapacities,
}

impl Drop for PipeTable {
    fn drop(&mut self) {
        self.close_all();
    }
}

impl PipeTable {
    /// The queue of values closed pipes left behind, for the event loop to wait on
    /// ([`Discarded::ready`]) without borrowing the store.
    pub fn discarded(&self) -> Arc<Discarded> {
        Arc::clone(&self.discarded)
    }

    /// How many values wait for [`release_discarded`].
    pub fn discarded_len(&self) -> usize {
        self.discarded.lock().len()
    }

    /// Adds an end; returns its rep. A pipe of `Val`s sends the values it drops unread to this
    /// table's discard queue, so that their resources are released.
    pub fn insert(&mut self, pipe: AnyPipe, end: End) -> u32 {
        pipe.attach(&self.discarded);
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

    /// The pipe behind a handle given to `call`, an operation of the pipe interface `payload`:
    /// checks which end it is and that the pipe carries that payload (a guest can pass the end of
    /// one pipe interface as another's, since every interface's ends are the same host resource;
    /// the first typed use of a pipe the host made binds it).
    pub fn get_for(&self, rep: u32, end: End, payload: &Arc<str>, call: &str) -> Result<&AnyPipe> {
        let pipe = self.get(rep, end)?;
        pipe.bind(payload).map_err(|carried| {
            format_err!(
                "isyswasfa: `{call}` was given a pipe of `{carried}`: a pipe made for one \
                 payload type never carries another"
            )
        })?;
        Ok(pipe)
    }

    /// [`PipeTable::get_for`], then removes the end from the table without closing it.
    pub fn remove_for(
        &mut self,
        rep: u32,
        end: End,
        payload: &Arc<str>,
        call: &str,
    ) -> Result<AnyPipe> {
        self.get_for(rep, end, payload, call)?;
        self.remove(rep, end)
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

    /// Closes every end the table holds (the store is broken or going away): the other ends see
    /// the end of the stream, or a closed pipe. Values waiting for release are dropped with them.
    pub fn close_all(&mut self) {
        self.free.clear();
        self.live = 0;
        for (pipe, end) in self.ends.drain(..).flatten() {
            pipe.close(end);
        }
        self.discarded.lock().clear();
    }

    /// How many ends the table holds.
    pub fn len(&self) -> usize {
        self.live
    }
}

/// Takes the reading end `end` a guest handed over (the guest's handle is consumed).
pub(crate) fn take_reader<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
    end: Resource<ReaderEnd>,
) -> Result<AnyPipe> {
    pipes(store).remove(end.rep(), End::Reader)
}

/// A new `future<T>` (T any payload but a plain byte or unit one) whose reading end goes to a
/// guest: the host keeps the pipe, to write the value.
pub(crate) fn guest_future<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
) -> (Arc<Pipe<Val>>, Resource<ReaderEnd>) {
    let pipe = Pipe::<Val>::new(1);
    let rep = pipes(store).insert(AnyPipe::Values(Arc::clone(&pipe)), End::Reader);
    (pipe, Resource::new_own(rep))
}

fn pipes<'a, T: IsyswasfaView>(store: &'a mut StoreContextMut<'_, T>) -> &'a mut PipeTable {
    &mut store.data_mut().isyswasfa().pipes
}

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

/// The payload type each pipe's typed operations declare, first come first kept, for
/// [`add_to_linker_for`]'s check that they all agree.
#[derive(Default)]
struct PayloadTypes {
    /// Pipe interface name → the payload type and the operation (`interface#function`) that
    /// declared it first.
    seen: HashMap<String, (Type, String)>,
}

impl PayloadTypes {
    /// Records the payload types `func` (of ops interface `interface`) declares, failing when
    /// they differ from each other or from what an earlier operation of the same pipe declared.
    fn check(&mut self, interface: &str, func: &str, ty: &ComponentFunc) -> Result<()> {
        let (pipe, op) = split_op(func)?;
        let here = format!("{interface}#{func}");
        for payload in declared_payloads(func, pipe, op, ty)? {
            match self.seen.get(pipe) {
                None => {
                    self.seen.insert(pipe.to_string(), (payload, here.clone()));
                }
                Some((first, _)) if *first == payload => {}
                Some((first, there)) => bail!(
                    "isyswasfa: `{here}` declares payload `{}` for pipe `{pipe}`, but `{there}` \
                     declares `{}`",
                    describe(&payload),
                    describe(first)
                ),
            }
        }
        Ok(())
    }
}

/// The payload types a typed operation's signature names (the `T` of every `list<T>` or
/// `option<T>` around it), for plain `Val` pipes; none for byte and unit pipes, whose operations
/// have fixed Rust signatures that wasmtime checks itself.
fn declared_payloads(func: &str, pipe: &str, op: End, ty: &ComponentFunc) -> Result<Vec<Type>> {
    if matches!(pipe, "stream-u8" | "stream" | "future") {
        return Ok(Vec::new());
    }
    let future = pipe.starts_with("future");
    let malformed =
        || format_err!("isyswasfa: `{func}` does not have a pipe operation's signature");
    let inner = |ty: Type, list: bool| -> Result<Type> {
        match (ty, list) {
            (Type::List(l), true) => Ok(l.ty()),
            (Type::Option(o), false) => Ok(o.ty()),
            _ => Err(malformed()),
        }
    };
    let mut types = Vec::new();
    // Writes take the values after the end (stream: a list; future: one value) and give back
    // those not taken; reads give `option` of a list (stream) or of a value (future).
    if op == End::Writer {
        let value = ty.params().nth(1).map(|(_, t)| t).ok_or_else(malformed)?;
        types.push(if future { value } else { inner(value, true)? });
        let rest = ty.results().next().ok_or_else(malformed)?;
        types.push(if future {
            inner(rest, false)?
        } else {
            inner(rest, true)?
        });
    } else {
        let read = inner(ty.results().next().ok_or_else(malformed)?, false)?;
        types.push(if future { read } else { inner(read, true)? });
    }
    Ok(types)
}

/// A short WIT-like description of `ty`, for error messages.
fn describe(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", describe(&l.ty())),
        Type::Option(o) => format!("option<{}>", describe(&o.ty())),
        Type::Tuple(t) => {
            let items: Vec<String> = t.types().map(|t| describe(&t)).collect();
            format!("tuple<{}>", items.join(", "))
        }
        Type::Record(r) => {
            let fields: Vec<String> = r
                .fields()
                .map(|f| format!("{}: {}", f.name, describe(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map_or("_".into(), |t| describe(&t)),
            r.err().map_or("_".into(), |t| describe(&t))
        ),
        Type::Variant(_) => "variant".into(),
        Type::Enum(_) => "enum".into(),
        Type::Flags(_) => "flags".into(),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        other => format!("{other:?}"),
    }
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
            |mut store, rep| store.data_mut().isyswasfa().pipes.close(rep, End::Reader),
        )?;
    } else if export.ends_with("-writer") {
        instance.resource(
            export,
            ResourceType::host::<WriterEnd>(),
            |mut store, rep| store.data_mut().isyswasfa().pipes.close(rep, End::Writer),
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
        |mut store, rep| store.data_mut().isyswasfa().pipes.close(rep, End::Reader),
    )?;
    instance.resource(
        "writer",
        ResourceType::host::<WriterEnd>(),
        |mut store, rep| store.data_mut().isyswasfa().pipes.close(rep, End::Writer),
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

/// The pipe and the side of an ops interface's function: `<pipe>-read` reads, `<pipe>-write`
/// writes.
fn split_op(func: &str) -> Result<(&str, End)> {
    match (func.strip_suffix("-read"), func.strip_suffix("-write")) {
        (Some(pipe), _) => Ok((pipe, End::Reader)),
        (_, Some(pipe)) => Ok((pipe, End::Writer)),
        _ => bail!("not a pipe operation"),
    }
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
            move |mut store, (end, values): (Resource<WriterEnd>, Vec<u8>)| {
                let pipe = bytes(target.get(&mut store, end.rep(), End::Writer)?)?;
                // The excess beyond the room left comes back, as when the reader is gone.
                Ok((pipe.push(values).unwrap_or_else(|all| all),))
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
