//! `wasi:sockets@0.3.0`, lowered, on wasmtime-wasi's own sockets: every operation is
//! wasmtime-wasi's WASI 0.2 implementation (its address checks, `-S tcp`/`udp`/`allow-ip-name-lookup`
//! switches and error mapping), on a view of its own.
//!
//! A guest's `tcp-socket` is a [`TcpSocket`]: the WASI 0.2 socket in a private table
//! ([`SocketView`]) shared, behind a lock taken only between waits, with the tasks that connect
//! it and copy its bytes. `connect` waits for the 0.2 socket's readiness from a host task;
//! `send` and `receive` copy between the guest's pipes and the 0.2 connection's streams (see
//! [`super::io`]); `listen` gives a stream that a task fills with accepted connections, each
//! made a resource by the store's event loop (a task cannot make one itself). A `udp-socket`
//! ([`UdpSocket`]) is the same: its `send` and `receive` wait for the 0.2 datagram streams'
//! readiness.

use std::sync::{Mutex, PoisonError};

use wasmtime::component::{Linker, Resource, ResourceTable, ResourceType, Val};
use wasmtime::{Result, StoreContextMut};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::sockets::instance_network;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    Host as _, HostResolveAddressStream as _,
};
use wasmtime_wasi::p2::bindings::sockets::network::{self as p2, Network};
use wasmtime_wasi::p2::{Pollable as _, SocketResult};
use wasmtime_wasi::p3::bindings::sockets::ip_name_lookup as p3_lookup;
use wasmtime_wasi::p3::bindings::sockets::types as p3;
use wasmtime_wasi::sockets::{WasiSocketsCtx, WasiSocketsCtxView};

use super::io::lend;
use crate::ctx::IsyswasfaView;
use crate::funcs::func_wrap_async_with_store;

/// Defines the synchronous method `$name` of the socket resource `$resource` (host type `$ty`,
/// whose shared state has a `call`) as the WASI 0.2 method called in `$call`, its value
/// converted by `$from`.
macro_rules! sync_method {
    ($types:ident, $resource:literal, $ty:ty, $name:literal,
     |$view:ident, $socket:ident $(, $param:ident: $pty:ty)?| $call:expr, $from:expr) => {
        $types.func_wrap(
            concat!("[method]", $resource, ".", $name),
            |mut store, (socket, $($param,)?): (Resource<$ty>, $($pty,)?)| {
                let socket = store.data_mut().ctx().table.get(&socket)?;
                let answer = lock(&socket.shared).call(|$view, $socket| $call)?;
                Ok((answer.map($from),))
            },
        )?;
    };
}

mod tcp;
mod udp;

pub use tcp::TcpSocket;
pub use udp::UdpSocket;

/// The interface names, as components import them.
pub const TYPES: &str = "wasi:sockets/types@0.3.0";
/// See [`TYPES`].
pub const IP_NAME_LOOKUP: &str = "wasi:sockets/ip-name-lookup@0.3.0";

/// A private WASI sockets view: a copy of the store's socket settings and a table of its own
/// with the `network` capability (and, for a TCP socket, the WASI 0.2 socket).
pub(crate) struct SocketView {
    ctx: WasiSocketsCtx,
    pub(crate) table: ResourceTable,
    pub(crate) network: Resource<Network>,
}

impl SocketView {
    pub(crate) fn new<T: WasiView>(store: &mut StoreContextMut<'_, T>) -> Result<Self> {
        let ctx = store.data_mut().ctx().ctx.sockets().clone();
        Self::with(ctx)
    }

    fn with(mut ctx: WasiSocketsCtx) -> Result<Self> {
        let mut table = ResourceTable::new();
        let network = instance_network::Host::instance_network(&mut WasiSocketsCtxView {
            ctx: &mut ctx,
            table: &mut table,
        })?;
        Ok(SocketView {
            ctx,
            table,
            network,
        })
    }

    /// A new view with the same settings (for a socket that another one made: an accepted
    /// connection).
    pub(crate) fn sibling(&self) -> Result<Self> {
        Self::with(self.ctx.clone())
    }

    pub(crate) fn view(&mut self) -> WasiSocketsCtxView<'_> {
        WasiSocketsCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Adds the lowered `types` and `ip-name-lookup` to `linker`.
pub fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    let mut types = linker.instance(TYPES)?;
    types.resource(
        "tcp-socket",
        ResourceType::host::<TcpSocket>(),
        drop_resource::<T, TcpSocket>,
    )?;
    types.resource(
        "udp-socket",
        ResourceType::host::<UdpSocket>(),
        drop_resource::<T, UdpSocket>,
    )?;
    tcp::add_to_linker(&mut types)?;
    udp::add_to_linker(&mut types)?;
    let mut lookup = linker.instance(IP_NAME_LOOKUP)?;
    func_wrap_async_with_store(
        &mut lookup,
        "resolve-addresses",
        |mut store: StoreContextMut<'_, T>, (name,): (String,)| {
            let view = SocketView::new(&mut store)?;
            Ok(resolve(view, name))
        },
    )?;
    Ok(())
}

/// Drops a guest's socket: its entry in the store's WASI table.
fn drop_resource<T: WasiView, R: 'static>(
    mut store: StoreContextMut<'_, T>,
    rep: u32,
) -> Result<()> {
    store
        .data_mut()
        .ctx()
        .table
        .delete(Resource::<R>::new_own(rep))?;
    Ok(())
}

/// Runs the WASI 0.2 method `f` on `socket` (in `view`'s table), its error as WASI 0.3's.
pub(crate) fn call<S: 'static, R>(
    view: &mut SocketView,
    socket: &Resource<S>,
    f: impl FnOnce(&mut WasiSocketsCtxView<'_>, Resource<S>) -> SocketResult<R>,
) -> Result<Result<R, p3::ErrorCode>> {
    match f(&mut view.view(), lend(socket)) {
        Ok(value) => Ok(Ok(value)),
        Err(e) => Ok(Err(error_code(e.downcast()?))),
    }
}

/// Locks what a socket shares with its tasks (a task that panicked left it usable: every
/// change to it is one assignment).
pub(crate) fn lock<S>(shared: &Mutex<S>) -> std::sync::MutexGuard<'_, S> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Polls `stream`'s readiness once: `Ready` asks the caller to try again at once (the stream
/// has something), `Pending` that it wait (the waker is registered).
pub(crate) fn poll_ready<S: wasmtime_wasi::p2::Pollable>(
    stream: &mut S,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<()> {
    let mut ready = std::pin::pin!(stream.ready());
    ready.as_mut().poll(cx)
}

/// `resolve-addresses`: wasmtime-wasi's WASI 0.2 lookup, read to its end.
async fn resolve(
    mut view: SocketView,
    name: String,
) -> Result<Vec<p3::IpAddress>, p3_lookup::ErrorCode> {
    let lookup_error = |e: wasmtime_wasi::p2::SocketError| match e.downcast() {
        Ok(code) => lookup_error_code(code),
        Err(e) => p3_lookup::ErrorCode::Other(Some(e.to_string())),
    };
    let network = lend(&view.network);
    let stream = view
        .view()
        .resolve_addresses(network, name)
        .map_err(lookup_error)?;
    let mut addresses = Vec::new();
    loop {
        match view.view().resolve_next_address(lend(&stream)) {
            Ok(Some(address)) => addresses.push(ip_address(address)),
            Ok(None) => return Ok(addresses),
            Err(e) => match e.downcast() {
                Ok(p2::ErrorCode::WouldBlock) => match view.table.get_mut(&stream) {
                    Ok(stream) => stream.ready().await,
                    Err(e) => return Err(p3_lookup::ErrorCode::Other(Some(e.to_string()))),
                },
                Ok(code) => return Err(lookup_error_code(code)),
                Err(e) => return Err(p3_lookup::ErrorCode::Other(Some(e.to_string()))),
            },
        }
    }
}

/// The value of `future` if it is ready at once.
pub(crate) fn ready_at_once<R>(future: impl Future<Output = R>) -> Option<R> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(value) => Some(value),
        std::task::Poll::Pending => None,
    }
}

pub(crate) fn host_or_code(code: Result<p2::ErrorCode>) -> p3::ErrorCode {
    match code {
        Ok(code) => error_code(code),
        Err(e) => other(&e),
    }
}

pub(crate) fn other(error: &dyn std::fmt::Display) -> p3::ErrorCode {
    p3::ErrorCode::Other(Some(error.to_string()))
}

/// The error a failed connection stream stands for, as a WIT value.
pub(crate) fn stream_error(error: &wasmtime_wasi::p2::StreamError) -> Val {
    use wasmtime_wasi::p2::StreamError;
    let code = match error {
        StreamError::LastOperationFailed(e) => match e.downcast_ref::<std::io::Error>() {
            Some(io) => match io.kind() {
                std::io::ErrorKind::ConnectionReset => p3::ErrorCode::ConnectionReset,
                std::io::ErrorKind::ConnectionAborted => p3::ErrorCode::ConnectionAborted,
                std::io::ErrorKind::BrokenPipe => p3::ErrorCode::ConnectionBroken,
                _ => other(io),
            },
            None => other(e),
        },
        StreamError::Trap(e) => other(e),
        StreamError::Closed => p3::ErrorCode::ConnectionBroken,
    };
    error_value(&code)
}

/// The WASI 0.3 `error-code` of a WASI 0.2 one (0.3 dropped the cases of 0.2's non-blocking
/// calls and of name lookup, which has its own).
pub(crate) fn error_code(code: p2::ErrorCode) -> p3::ErrorCode {
    use p2::ErrorCode as E2;
    use p3::ErrorCode as E3;
    match code {
        E2::AccessDenied => E3::AccessDenied,
        E2::NotSupported => E3::NotSupported,
        E2::InvalidArgument => E3::InvalidArgument,
        E2::OutOfMemory | E2::NewSocketLimit => E3::OutOfMemory,
        E2::Timeout => E3::Timeout,
        E2::ConcurrencyConflict | E2::NotInProgress | E2::InvalidState => E3::InvalidState,
        E2::AddressNotBindable => E3::AddressNotBindable,
        E2::AddressInUse => E3::AddressInUse,
        E2::RemoteUnreachable => E3::RemoteUnreachable,
        E2::ConnectionRefused => E3::ConnectionRefused,
        E2::ConnectionReset => E3::ConnectionReset,
        E2::ConnectionAborted => E3::ConnectionAborted,
        E2::DatagramTooLarge => E3::DatagramTooLarge,
        E2::Unknown
        | E2::WouldBlock
        | E2::NameUnresolvable
        | E2::TemporaryResolverFailure
        | E2::PermanentResolverFailure => E3::Other(Some(format!("{code:?}"))),
    }
}

/// `error-code` as a WIT value (for the futures of `send` and `receive`).
pub(crate) fn error_value(code: &p3::ErrorCode) -> Val {
    use p3::ErrorCode as E;
    let name = match code {
        E::AccessDenied => "access-denied",
        E::NotSupported => "not-supported",
        E::InvalidArgument => "invalid-argument",
        E::OutOfMemory => "out-of-memory",
        E::Timeout => "timeout",
        E::InvalidState => "invalid-state",
        E::AddressNotBindable => "address-not-bindable",
        E::AddressInUse => "address-in-use",
        E::RemoteUnreachable => "remote-unreachable",
        E::ConnectionRefused => "connection-refused",
        E::ConnectionBroken => "connection-broken",
        E::ConnectionReset => "connection-reset",
        E::ConnectionAborted => "connection-aborted",
        E::DatagramTooLarge => "datagram-too-large",
        E::Other(text) => {
            let text = Val::Option(text.clone().map(|t| Box::new(Val::String(t))));
            return Val::Variant("other".to_string(), Some(Box::new(text)));
        }
    };
    Val::Variant(name.to_string(), None)
}

fn lookup_error_code(code: p2::ErrorCode) -> p3_lookup::ErrorCode {
    use p2::ErrorCode as E2;
    use p3_lookup::ErrorCode as E3;
    match code {
        E2::AccessDenied => E3::AccessDenied,
        E2::InvalidArgument => E3::InvalidArgument,
        E2::NameUnresolvable => E3::NameUnresolvable,
        E2::TemporaryResolverFailure => E3::TemporaryResolverFailure,
        E2::PermanentResolverFailure => E3::PermanentResolverFailure,
        other => E3::Other(Some(format!("{other:?}"))),
    }
}

pub(crate) fn to_p2_family(family: p3::IpAddressFamily) -> p2::IpAddressFamily {
    match family {
        p3::IpAddressFamily::Ipv4 => p2::IpAddressFamily::Ipv4,
        p3::IpAddressFamily::Ipv6 => p2::IpAddressFamily::Ipv6,
    }
}

fn ip_address(address: p2::IpAddress) -> p3::IpAddress {
    match address {
        p2::IpAddress::Ipv4(a) => p3::IpAddress::Ipv4(a),
        p2::IpAddress::Ipv6(a) => p3::IpAddress::Ipv6(a),
    }
}

pub(crate) fn to_p2_address(address: p3::IpSocketAddress) -> p2::IpSocketAddress {
    match address {
        p3::IpSocketAddress::Ipv4(a) => p2::IpSocketAddress::Ipv4(p2::Ipv4SocketAddress {
            port: a.port,
            address: a.address,
        }),
        p3::IpSocketAddress::Ipv6(a) => p2::IpSocketAddress::Ipv6(p2::Ipv6SocketAddress {
            port: a.port,
            flow_info: a.flow_info,
            address: a.address,
            scope_id: a.scope_id,
        }),
    }
}

pub(crate) fn from_p2_address(address: p2::IpSocketAddress) -> p3::IpSocketAddress {
    match address {
        p2::IpSocketAddress::Ipv4(a) => p3::IpSocketAddress::Ipv4(p3::Ipv4SocketAddress {
            port: a.port,
            address: a.address,
        }),
        p2::IpSocketAddress::Ipv6(a) => p3::IpSocketAddress::Ipv6(p3::Ipv6SocketAddress {
            port: a.port,
            flow_info: a.flow_info,
            address: a.address,
            scope_id: a.scope_id,
        }),
    }
}
