//! `wasi:sockets@0.3.0`, lowered, on wasmtime-wasi's own sockets: every operation is
//! wasmtime-wasi's WASI 0.2 implementation (its address checks, `-S tcp`/`udp`/`allow-ip-name-lookup`
//! switches and error mapping), on a view of its own.
//!
//! A guest's `tcp-socket` is a [`TcpSocket`]: the WASI 0.2 socket in a private table
//! ([`SocketView`]) shared, behind a lock taken only between waits, with the tasks that connect
//! it and copy its bytes. `connect` waits for the 0.2 socket's readiness from a host task;
//! `send` and `receive` copy between the guest's pipes and the 0.2 connection's streams (see
//! [`super::io`]). `udp-socket` and `listen` are not polyfilled yet: they answer
//! `not-supported`.

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::component::{Linker, LinkerInstance, Resource, ResourceTable, ResourceType, Val};
use wasmtime::{Result, StoreContextMut};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    Host as _, HostResolveAddressStream as _,
};
use wasmtime_wasi::p2::bindings::sockets::network::{self as p2, Network};
use wasmtime_wasi::p2::bindings::sockets::tcp::{HostTcpSocket as _, ShutdownType};
use wasmtime_wasi::p2::bindings::sockets::{instance_network, tcp_create_socket};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, Pollable as _, SocketResult};
use wasmtime_wasi::p3::bindings::sockets::ip_name_lookup as p3_lookup;
use wasmtime_wasi::p3::bindings::sockets::types as p3;
use wasmtime_wasi::sockets::{WasiSocketsCtx, WasiSocketsCtxView};

use super::io::{byte_stream_to_guest, copy_input, copy_output, failed, lend};
use crate::ctx::IsyswasfaView;
use crate::funcs::func_wrap_async_with_store;
use crate::pipes::FutureWriter;
use crate::pipes::StreamReader;
use crate::pipes::element::{AnyPipe, ReaderEnd};
use crate::pipes::guest::{guest_future, take_reader};

/// The interface names, as components import them.
pub const TYPES: &str = "wasi:sockets/types@0.3.0";
/// See [`TYPES`].
pub const IP_NAME_LOOKUP: &str = "wasi:sockets/ip-name-lookup@0.3.0";

/// A private WASI sockets view: a copy of the store's socket settings and a table of its own
/// with the `network` capability (and, for a TCP socket, the WASI 0.2 socket).
struct SocketView {
    ctx: WasiSocketsCtx,
    table: ResourceTable,
    network: Resource<Network>,
}

impl SocketView {
    fn new<T: WasiView>(store: &mut StoreContextMut<'_, T>) -> Result<Self> {
        let mut ctx = store.data_mut().ctx().ctx.sockets().clone();
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

    fn view(&mut self) -> WasiSocketsCtxView<'_> {
        WasiSocketsCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// A guest's `tcp-socket`.
pub struct TcpSocket {
    shared: Arc<Mutex<TcpState>>,
}

/// What a [`TcpSocket`] and the tasks working on it share.
struct TcpState {
    view: SocketView,
    socket: Resource<wasmtime_wasi::p2::TcpSocket>,
    /// The connection's streams, from `connect` until `receive` / `send` take them.
    input: Option<DynInputStream>,
    output: Option<DynOutputStream>,
}

impl TcpSocket {
    fn lock(&self) -> std::sync::MutexGuard<'_, TcpState> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TcpState {
    /// Runs the WASI 0.2 method `f` on the socket.
    fn call<R>(
        &mut self,
        f: impl FnOnce(
            &mut WasiSocketsCtxView<'_>,
            Resource<wasmtime_wasi::p2::TcpSocket>,
        ) -> SocketResult<R>,
    ) -> Result<Result<R, p3::ErrorCode>> {
        let socket = lend(&self.socket);
        match f(&mut self.view.view(), socket) {
            Ok(value) => Ok(Ok(value)),
            Err(e) => Ok(Err(error_code(e.downcast()?))),
        }
    }
}

/// Adds the lowered `types` and `ip-name-lookup` to `linker`.
pub fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    let mut types = linker.instance(TYPES)?;
    types.resource(
        "tcp-socket",
        ResourceType::host::<TcpSocket>(),
        |mut store, rep| {
            store
                .data_mut()
                .ctx()
                .table
                .delete(Resource::<TcpSocket>::new_own(rep))?;
            Ok(())
        },
    )?;
    add_tcp(&mut types)?;
    add_udp(&mut types)?;
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

/// The `tcp-socket` functions.
fn add_tcp<T: WasiView + IsyswasfaView + 'static>(types: &mut LinkerInstance<'_, T>) -> Result<()> {
    types.func_wrap(
        "[static]tcp-socket.create",
        |mut store, (family,): (p3::IpAddressFamily,)| {
            let mut view = SocketView::new(&mut store)?;
            let created =
                tcp_create_socket::Host::create_tcp_socket(&mut view.view(), to_p2_family(family));
            let socket = match created {
                Ok(socket) => socket,
                Err(e) => return Ok((Err(error_code(e.downcast()?)),)),
            };
            let state = TcpState {
                view,
                socket,
                input: None,
                output: None,
            };
            let socket = TcpSocket {
                shared: Arc::new(Mutex::new(state)),
            };
            Ok((Ok(store.data_mut().ctx().table.push(socket)?),))
        },
    )?;
    types.func_wrap(
        "[method]tcp-socket.bind",
        |mut store, (socket, address): (Resource<TcpSocket>, p3::IpSocketAddress)| {
            let socket = store.data_mut().ctx().table.get(&socket)?;
            let mut state = socket.lock();
            let network = lend(&state.view.network);
            // wasmtime-wasi's bind does not wait: its future is ready at once (were it not, the
            // guest would be told to try again).
            let started = state.call(|view, socket| {
                let start = view.start_bind(socket, network, to_p2_address(address));
                ready_at_once(start).unwrap_or_else(|| Err(p2::ErrorCode::WouldBlock.into()))
            })?;
            let bound = match started {
                Ok(()) => state.call(|view, socket| view.finish_bind(socket))?,
                Err(code) => Err(code),
            };
            Ok((bound,))
        },
    )?;
    func_wrap_async_with_store(
        types,
        "[method]tcp-socket.connect",
        |mut store: StoreContextMut<'_, T>,
         (socket, address): (Resource<TcpSocket>, p3::IpSocketAddress)| {
            let shared = Arc::clone(&store.data_mut().ctx().table.get(&socket)?.shared);
            Ok(connect(shared, address))
        },
    )?;
    types.func_wrap(
        "[method]tcp-socket.listen",
        |_, (_socket,): (Resource<TcpSocket>,)| {
            Ok((Err::<Resource<ReaderEnd>, _>(p3::ErrorCode::NotSupported),))
        },
    )?;
    types.func_wrap(
        "[method]tcp-socket.send",
        |mut store, (socket, data): (Resource<TcpSocket>, Resource<ReaderEnd>)| {
            let AnyPipe::Bytes(data) = take_reader(&mut store, data)? else {
                wasmtime::bail!("isyswasfa: `send` was given a pipe that is not a stream<u8>");
            };
            let shared = Arc::clone(&store.data_mut().ctx().table.get(&socket)?.shared);
            let (done, future) = guest_future(&mut store);
            let done = FutureWriter::new(done);
            let output = shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .output
                .take();
            match output {
                Some(mut output) => {
                    tokio::spawn(async move {
                        let outcome =
                            copy_output(StreamReader::new(data), &mut output, stream_error);
                        let outcome = outcome.await;
                        // The end of the guest's data ends the sending half of the connection.
                        drop(output);
                        let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
                        let _ =
                            state.call(|view, socket| view.shutdown(socket, ShutdownType::Send));
                        drop(state);
                        let _ = done.write(outcome);
                    });
                }
                None => {
                    let _ = done.write(failed(error_value(&p3::ErrorCode::InvalidState)));
                }
            }
            Ok((future,))
        },
    )?;
    types.func_wrap(
        "[method]tcp-socket.receive",
        |mut store, (socket,): (Resource<TcpSocket>,)| {
            let input = store
                .data_mut()
                .ctx()
                .table
                .get(&socket)?
                .lock()
                .input
                .take();
            let (contents, writer) = byte_stream_to_guest(&mut store);
            let (done, future) = guest_future(&mut store);
            let done = FutureWriter::new(done);
            match input {
                Some(input) => {
                    tokio::spawn(copy_input(input, writer, done, stream_error));
                }
                None => {
                    drop(writer);
                    let _ = done.write(failed(error_value(&p3::ErrorCode::InvalidState)));
                }
            }
            Ok(((contents, future),))
        },
    )?;

    /// Defines the synchronous method `$name` as the WASI 0.2 method `$method`, its parameter
    /// and result converted by `$to` and `$from`.
    macro_rules! sync_method {
        ($name:literal, |$view:ident, $socket:ident $(, $param:ident: $ty:ty)?| $call:expr, $from:expr) => {
            types.func_wrap(
                concat!("[method]tcp-socket.", $name),
                |mut store, (socket, $($param,)?): (Resource<TcpSocket>, $($ty,)?)| {
                    let socket = store.data_mut().ctx().table.get(&socket)?;
                    let answer = socket.lock().call(|$view, $socket| $call)?;
                    Ok((answer.map($from),))
                },
            )?;
        };
    }
    sync_method!(
        "get-local-address",
        |v, s| v.local_address(s),
        from_p2_address
    );
    sync_method!(
        "get-remote-address",
        |v, s| v.remote_address(s),
        from_p2_address
    );
    sync_method!(
        "set-listen-backlog-size",
        |v, s, value: u64| v.set_listen_backlog_size(s, value),
        |()| ()
    );
    sync_method!(
        "get-keep-alive-enabled",
        |v, s| v.keep_alive_enabled(s),
        |on| on
    );
    sync_method!(
        "set-keep-alive-enabled",
        |v, s, value: bool| v.set_keep_alive_enabled(s, value),
        |()| ()
    );
    sync_method!(
        "get-keep-alive-idle-time",
        |v, s| v.keep_alive_idle_time(s),
        |t| t
    );
    sync_method!(
        "set-keep-alive-idle-time",
        |v, s, value: u64| v.set_keep_alive_idle_time(s, value),
        |()| ()
    );
    sync_method!(
        "get-keep-alive-interval",
        |v, s| v.keep_alive_interval(s),
        |t| t
    );
    sync_method!(
        "set-keep-alive-interval",
        |v, s, value: u64| v.set_keep_alive_interval(s, value),
        |()| ()
    );
    sync_method!("get-keep-alive-count", |v, s| v.keep_alive_count(s), |n| n);
    sync_method!(
        "set-keep-alive-count",
        |v, s, value: u32| v.set_keep_alive_count(s, value),
        |()| ()
    );
    sync_method!("get-hop-limit", |v, s| v.hop_limit(s), |n| n);
    sync_method!(
        "set-hop-limit",
        |v, s, value: u8| v.set_hop_limit(s, value),
        |()| ()
    );
    sync_method!(
        "get-receive-buffer-size",
        |v, s| v.receive_buffer_size(s),
        |n| n
    );
    sync_method!(
        "set-receive-buffer-size",
        |v, s, value: u64| v.set_receive_buffer_size(s, value),
        |()| ()
    );
    sync_method!("get-send-buffer-size", |v, s| v.send_buffer_size(s), |n| n);
    sync_method!(
        "set-send-buffer-size",
        |v, s, value: u64| v.set_send_buffer_size(s, value),
        |()| ()
    );
    types.func_wrap(
        "[method]tcp-socket.get-is-listening",
        |mut store, (socket,): (Resource<TcpSocket>,)| {
            let socket = store.data_mut().ctx().table.get(&socket)?;
            let mut state = socket.lock();
            let socket = lend(&state.socket);
            Ok((state.view.view().is_listening(socket)?,))
        },
    )?;
    types.func_wrap(
        "[method]tcp-socket.get-address-family",
        |mut store, (socket,): (Resource<TcpSocket>,)| {
            let socket = store.data_mut().ctx().table.get(&socket)?;
            let mut state = socket.lock();
            let socket = lend(&state.socket);
            let family = state.view.view().address_family(socket)?;
            Ok((match family {
                p2::IpAddressFamily::Ipv4 => p3::IpAddressFamily::Ipv4,
                p2::IpAddressFamily::Ipv6 => p3::IpAddressFamily::Ipv6,
            },))
        },
    )?;
    Ok(())
}

/// `connect`: starts wasmtime-wasi's connect, waits for the socket to be ready (taking the lock
/// only to poll), and keeps the connection's streams for `send` and `receive`.
async fn connect(
    shared: Arc<Mutex<TcpState>>,
    address: p3::IpSocketAddress,
) -> Result<(), p3::ErrorCode> {
    let lock = || shared.lock().unwrap_or_else(PoisonError::into_inner);
    {
        let mut state = lock();
        let network = lend(&state.view.network);
        let socket = lend(&state.socket);
        let started = state
            .view
            .view()
            .start_connect(socket, network, to_p2_address(address));
        started.map_err(|e| host_or_code(e.downcast()))?;
    }
    std::future::poll_fn(|cx| {
        let mut state = lock();
        let socket = lend(&state.socket);
        match state.view.table.get_mut(&socket) {
            Ok(socket) => {
                let mut ready = std::pin::pin!(socket.ready());
                ready.as_mut().poll(cx)
            }
            // Gone from its own table: nothing to wait for; `finish` says what happened.
            Err(_) => std::task::Poll::Ready(()),
        }
    })
    .await;
    let mut state = lock();
    let socket = lend(&state.socket);
    let (input, output) = state
        .view
        .view()
        .finish_connect(socket)
        .map_err(|e| host_or_code(e.downcast()))?;
    // The streams are children of the socket in the private table: taken out, they are the
    // guest's to `send` and `receive` with.
    let input = state.view.table.delete(input).map_err(|e| other(&e))?;
    let output = state.view.table.delete(output).map_err(|e| other(&e))?;
    state.input = Some(input);
    state.output = Some(output);
    Ok(())
}

/// The `udp-socket` functions: all defined (a guest that imports them links), and `create`
/// answers `not-supported` until UDP is polyfilled, so no other can be reached with a socket.
fn add_udp<T: WasiView + IsyswasfaView + 'static>(types: &mut LinkerInstance<'_, T>) -> Result<()> {
    /// A guest's `udp-socket`: never made yet.
    struct UdpSocket;
    types.resource("udp-socket", ResourceType::host::<UdpSocket>(), |_, _| {
        Ok(())
    })?;
    let unsupported = || failed(error_value(&p3::ErrorCode::NotSupported));
    types.func_new("[static]udp-socket.create", move |_, _, _, results| {
        if let Some(slot) = results.first_mut() {
            *slot = unsupported();
        }
        Ok(())
    })?;
    for name in [
        "bind",
        "connect",
        "disconnect",
        "send-isyswasfa-start",
        "receive-isyswasfa-start",
        "get-local-address",
        "get-remote-address",
        "get-address-family",
        "get-unicast-hop-limit",
        "set-unicast-hop-limit",
        "get-receive-buffer-size",
        "set-receive-buffer-size",
        "get-send-buffer-size",
        "set-send-buffer-size",
    ] {
        types.func_new(&format!("[method]udp-socket.{name}"), move |_, _, _, _| {
            wasmtime::bail!("isyswasfa: `udp-socket.{name}` on a socket that cannot exist")
        })?;
    }
    for name in ["send-isyswasfa-result", "receive-isyswasfa-result"] {
        types.func_new(&format!("[static]udp-socket.{name}"), move |_, _, _, _| {
            wasmtime::bail!("isyswasfa: `udp-socket.{name}` on a socket that cannot exist")
        })?;
    }
    Ok(())
}

/// The value of `future` if it is ready at once.
fn ready_at_once<R>(future: impl Future<Output = R>) -> Option<R> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(value) => Some(value),
        std::task::Poll::Pending => None,
    }
}

fn host_or_code(code: Result<p2::ErrorCode>) -> p3::ErrorCode {
    match code {
        Ok(code) => error_code(code),
        Err(e) => other(&e),
    }
}

fn other(error: &dyn std::fmt::Display) -> p3::ErrorCode {
    p3::ErrorCode::Other(Some(error.to_string()))
}

/// The error a failed connection stream stands for, as a WIT value.
fn stream_error(error: &wasmtime_wasi::p2::StreamError) -> Val {
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
fn error_code(code: p2::ErrorCode) -> p3::ErrorCode {
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
fn error_value(code: &p3::ErrorCode) -> Val {
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

fn to_p2_family(family: p3::IpAddressFamily) -> p2::IpAddressFamily {
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

fn to_p2_address(address: p3::IpSocketAddress) -> p2::IpSocketAddress {
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

fn from_p2_address(address: p2::IpSocketAddress) -> p3::IpSocketAddress {
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
