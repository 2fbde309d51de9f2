//! `tcp-socket`: a WASI 0.2 socket in a private view, shared with the tasks that connect it
//! and copy its bytes.

use std::sync::{Arc, Mutex};

use wasmtime::component::{LinkerInstance, Resource};
use wasmtime::{Result, StoreContextMut};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::sockets::network as p2;
use wasmtime_wasi::p2::bindings::sockets::tcp::{HostTcpSocket as _, ShutdownType};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};
use wasmtime_wasi::p3::bindings::sockets::types as p3;

use super::{
    SocketView, call, error_code, error_value, from_p2_address, host_or_code, lock, other,
    poll_ready, ready_at_once, stream_error, to_p2_address, to_p2_family,
};
use crate::ctx::IsyswasfaView;
use crate::funcs::func_wrap_async_with_store;
use crate::host::{Host, WeakHost};
use crate::pipes::FutureWriter;
use crate::pipes::StreamReader;
use crate::pipes::StreamWriter;
use crate::pipes::element::{AnyPipe, ReaderEnd};
use crate::pipes::guest::{guest_future, take_reader};
use crate::wasi::io::{
    byte_stream_to_guest, copy_input, copy_output, failed, lend, value_stream_to_guest,
};
use wasmtime::component::Val;

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

impl TcpState {
    /// Runs the WASI 0.2 method `f` on the socket.
    fn call<R>(
        &mut self,
        f: impl FnOnce(
            &mut wasmtime_wasi::sockets::WasiSocketsCtxView<'_>,
            Resource<wasmtime_wasi::p2::TcpSocket>,
        ) -> wasmtime_wasi::p2::SocketResult<R>,
    ) -> Result<Result<R, p3::ErrorCode>> {
        call(&mut self.view, &self.socket, f)
    }
}

/// The `tcp-socket` functions.
pub(super) fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(
    types: &mut LinkerInstance<'_, T>,
) -> Result<()> {
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
            let mut state = lock(&socket.shared);
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
        |mut store, (socket,): (Resource<TcpSocket>,)| {
            let shared = Arc::clone(&store.data_mut().ctx().table.get(&socket)?.shared);
            let listened = {
                let mut state = lock(&shared);
                // wasmtime-wasi's start-listen does not wait: its future is ready at once.
                let started = state.call(|view, socket| {
                    ready_at_once(view.start_listen(socket))
                        .unwrap_or_else(|| Err(p2::ErrorCode::WouldBlock.into()))
                })?;
                match started {
                    Ok(()) => state.call(|view, socket| view.finish_listen(socket))?,
                    Err(code) => Err(code),
                }
            };
            if let Err(code) = listened {
                return Ok((Err(code),));
            }
            // Accepted connections become resources in the store: the accepting task hands
            // each to the store's event loop to make (see `accept`).
            let Some(host) = Host::<T>::of(store.data_mut()) else {
                return Ok((Err(other(
                    &"listening needs a store run by isyswasfa's Host",
                )),));
            };
            let (connections, writer) = value_stream_to_guest(&mut store);
            tokio::spawn(accept(shared, writer, host.downgrade()));
            Ok((Ok(connections),))
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
            let output = lock(&shared).output.take();
            match output {
                Some(mut output) => {
                    tokio::spawn(async move {
                        let outcome =
                            copy_output(StreamReader::new(data), &mut output, stream_error);
                        let outcome = outcome.await;
                        // The end of the guest's data ends the sending half of the connection.
                        drop(output);
                        let mut state = lock(&shared);
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
            let input = lock(&store.data_mut().ctx().table.get(&socket)?.shared)
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

    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "get-local-address",
        |v, s| v.local_address(s),
        from_p2_address
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "get-remote-address",
        |v, s| v.remote_address(s),
        from_p2_address
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "set-listen-backlog-size",
        |v, s, value: u64| v.set_listen_backlog_size(s, value),
        |()| ()
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "get-keep-alive-enabled",
        |v, s| v.keep_alive_enabled(s),
        |on| on
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "set-keep-alive-enabled",
        |v, s, value: bool| v.set_keep_alive_enabled(s, value),
        |()| ()
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "get-keep-alive-idle-time",
        |v, s| v.keep_alive_idle_time(s),
        |t| t
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "set-keep-alive-idle-time",
        |v, s, value: u64| v.set_keep_alive_idle_time(s, value),
        |()| ()
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "get-keep-alive-interval",
        |v, s| v.keep_alive_interval(s),
        |t| t
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "set-keep-alive-interval",
        |v, s, value: u64| v.set_keep_alive_interval(s, value),
        |()| ()
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "get-keep-alive-count",
        |v, s| v.keep_alive_count(s),
        |n| n
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "set-keep-alive-count",
        |v, s, value: u32| v.set_keep_alive_count(s, value),
        |()| ()
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "get-hop-limit",
        |v, s| v.hop_limit(s),
        |n| n
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "set-hop-limit",
        |v, s, value: u8| v.set_hop_limit(s, value),
        |()| ()
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "get-receive-buffer-size",
        |v, s| v.receive_buffer_size(s),
        |n| n
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "set-receive-buffer-size",
        |v, s, value: u64| v.set_receive_buffer_size(s, value),
        |()| ()
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "get-send-buffer-size",
        |v, s| v.send_buffer_size(s),
        |n| n
    );
    sync_method!(
        types,
        "tcp-socket",
        TcpSocket,
        "set-send-buffer-size",
        |v, s, value: u64| v.set_send_buffer_size(s, value),
        |()| ()
    );
    types.func_wrap(
        "[method]tcp-socket.get-is-listening",
        |mut store, (socket,): (Resource<TcpSocket>,)| {
            let socket = store.data_mut().ctx().table.get(&socket)?;
            let mut state = lock(&socket.shared);
            let socket = lend(&state.socket);
            Ok((state.view.view().is_listening(socket)?,))
        },
    )?;
    types.func_wrap(
        "[method]tcp-socket.get-address-family",
        |mut store, (socket,): (Resource<TcpSocket>,)| {
            let socket = store.data_mut().ctx().table.get(&socket)?;
            let mut state = lock(&socket.shared);
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

/// Accepts connections on the listening socket `shared` and writes each into `connections`, one
/// at a time, as the guest takes them (no connection is accepted while the stream is full), until
/// the guest drops the stream, its store's loop stops, or accepting fails.
async fn accept<T: WasiView + IsyswasfaView + Send + 'static>(
    shared: Arc<Mutex<TcpState>>,
    mut connections: StreamWriter<Val>,
    host: WeakHost<T>,
) {
    loop {
        if !std::future::poll_fn(|cx| connections.pipe().poll_writable(cx)).await {
            return;
        }
        let accepted = std::future::poll_fn(|cx| {
            let mut state = lock(&shared);
            let socket = lend(&state.socket);
            let error = match state.view.view().accept(socket) {
                Ok(accepted) => {
                    return std::task::Poll::Ready(
                        adopt(&mut state, accepted).map_err(|e| other(&e)),
                    );
                }
                Err(error) => error,
            };
            match error.downcast() {
                // No connection waiting yet: wait for the listener to be ready.
                Ok(p2::ErrorCode::WouldBlock) => {
                    let socket = lend(&state.socket);
                    match state.view.table.get_mut(&socket) {
                        Ok(socket) => {
                            if poll_ready(socket, cx).is_ready() {
                                cx.waker().wake_by_ref();
                            }
                            std::task::Poll::Pending
                        }
                        Err(e) => std::task::Poll::Ready(Err(other(&e))),
                    }
                }
                Ok(code) => std::task::Poll::Ready(Err(error_code(code))),
                Err(e) => std::task::Poll::Ready(Err(other(&e))),
            }
        })
        .await;
        let connection = match accepted {
            Ok(connection) => connection,
            Err(code) => {
                tracing::debug!("isyswasfa: accepting a TCP connection failed: {code:?}");
                return;
            }
        };
        let Some(host) = host.upgrade() else {
            return;
        };
        let made = host
            .with_store(move |store, _| {
                Box::pin(async move {
                    let socket = store.data_mut().ctx().table.push(connection)?;
                    Ok::<_, wasmtime::Error>(Val::Resource(socket.try_into_resource_any(store)?))
                })
            })
            .await;
        let value = match made {
            Ok(Ok(value)) => value,
            _ => return,
        };
        if let Err(unread) = connections.write(vec![value]).await {
            // The guest dropped the stream meanwhile: the loop releases the socket, as it does
            // for values left in any closed pipe.
            let _ = host
                .with_store(move |store, _| {
                    Box::pin(async move {
                        store
                            .data_mut()
                            .isyswasfa()
                            .ctx
                            .pipes
                            .discarded
                            .push(unread);
                    })
                })
                .await;
            return;
        }
    }
}

/// An accepted WASI 0.2 connection (its socket and streams in the listener's private table),
/// taken out into a socket of its own.
fn adopt(
    listener: &mut TcpState,
    (socket, input, output): (
        Resource<wasmtime_wasi::p2::TcpSocket>,
        Resource<DynInputStream>,
        Resource<DynOutputStream>,
    ),
) -> Result<TcpSocket> {
    let table = &mut listener.view.table;
    let input = table.delete(input)?;
    let output = table.delete(output)?;
    let socket = table.delete(socket)?;
    let mut view = listener.view.sibling()?;
    let socket = view.table.push(socket)?;
    Ok(TcpSocket {
        shared: Arc::new(Mutex::new(TcpState {
            view,
            socket,
            input: Some(input),
            output: Some(output),
        })),
    })
}

/// `connect`: starts wasmtime-wasi's connect, waits for the socket to be ready (taking the lock
/// only to poll), and keeps the connection's streams for `send` and `receive`.
async fn connect(
    shared: Arc<Mutex<TcpState>>,
    address: p3::IpSocketAddress,
) -> Result<(), p3::ErrorCode> {
    let lock = || lock(&shared);
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
            Ok(socket) => poll_ready(socket, cx),
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
