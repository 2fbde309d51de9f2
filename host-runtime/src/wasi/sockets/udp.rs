//! `udp-socket`: a WASI 0.2 socket and its datagram streams in a private view, shared with
//! the tasks that send and receive.

use std::sync::{Arc, Mutex};

use wasmtime::component::{LinkerInstance, Resource};
use wasmtime::{Result, StoreContextMut};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::sockets::network as p2;
use wasmtime_wasi::p2::bindings::sockets::udp::{
    self as p2_udp, HostIncomingDatagramStream as _, HostOutgoingDatagramStream as _,
    HostUdpSocket as _,
};
use wasmtime_wasi::p2::bindings::sockets::udp_create_socket as p2_udp_create;
use wasmtime_wasi::p3::bindings::sockets::types as p3;

use super::{
    SocketView, call, error_code, from_p2_address, host_or_code, lock, other, poll_ready,
    ready_at_once, to_p2_address, to_p2_family,
};
use crate::ctx::IsyswasfaView;
use crate::funcs::func_wrap_async_with_store;
use crate::wasi::io::lend;

/// A guest's `udp-socket`.
pub struct UdpSocket {
    shared: Arc<Mutex<UdpState>>,
}

/// What a [`UdpSocket`] and the tasks sending and receiving on it share: the WASI 0.2 socket
/// and, once it is bound, its datagram streams (children of the socket in the private table).
struct UdpState {
    view: SocketView,
    socket: Resource<wasmtime_wasi::p2::UdpSocket>,
    family: p3::IpAddressFamily,
    streams: Option<(
        Resource<p2_udp::IncomingDatagramStream>,
        Resource<p2_udp::OutgoingDatagramStream>,
    )>,
    connected: bool,
}

impl UdpState {
    /// Runs the WASI 0.2 method `f` on the socket.
    fn call<R>(
        &mut self,
        f: impl FnOnce(
            &mut wasmtime_wasi::sockets::WasiSocketsCtxView<'_>,
            Resource<wasmtime_wasi::p2::UdpSocket>,
        ) -> wasmtime_wasi::p2::SocketResult<R>,
    ) -> Result<Result<R, p3::ErrorCode>> {
        call(&mut self.view, &self.socket, f)
    }

    /// Binds the socket to `address` (WASI 0.2's two halves; neither waits).
    fn bind(&mut self, address: p3::IpSocketAddress) -> Result<Result<(), p3::ErrorCode>> {
        let network = lend(&self.view.network);
        let started = self.call(|view, socket| {
            let start = view.start_bind(socket, network, to_p2_address(address));
            ready_at_once(start).unwrap_or_else(|| Err(p2::ErrorCode::WouldBlock.into()))
        })?;
        match started {
            Ok(()) => self.call(|view, socket| view.finish_bind(socket)),
            Err(code) => Ok(Err(code)),
        }
    }

    /// (Re)opens the datagram streams, to `remote` only or to anyone, binding the socket first
    /// to any address when it is not bound yet (WASI 0.3 binds implicitly, 0.2 did not).
    fn open(&mut self, remote: Option<p3::IpSocketAddress>) -> Result<Result<(), p3::ErrorCode>> {
        if let Some((incoming, outgoing)) = self.streams.take() {
            self.view.table.delete(incoming)?;
            self.view.table.delete(outgoing)?;
        }
        if self
            .call(|view, socket| view.local_address(socket))?
            .is_err()
        {
            let any = match self.family {
                p3::IpAddressFamily::Ipv4 => p3::IpSocketAddress::Ipv4(p3::Ipv4SocketAddress {
                    port: 0,
                    address: (0, 0, 0, 0),
                }),
                p3::IpAddressFamily::Ipv6 => p3::IpSocketAddress::Ipv6(p3::Ipv6SocketAddress {
                    port: 0,
                    flow_info: 0,
                    address: (0, 0, 0, 0, 0, 0, 0, 0),
                    scope_id: 0,
                }),
            };
            if let Err(code) = self.bind(any)? {
                return Ok(Err(code));
            }
        }
        let connected = remote.is_some();
        let opened = self.call(|view, socket| {
            let stream = view.stream(socket, remote.map(to_p2_address));
            ready_at_once(stream).unwrap_or_else(|| Err(p2::ErrorCode::WouldBlock.into()))
        })?;
        Ok(opened.map(|streams| {
            self.streams = Some(streams);
            self.connected = connected;
        }))
    }
}

/// The `udp-socket` functions.
pub(super) fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(
    types: &mut LinkerInstance<'_, T>,
) -> Result<()> {
    types.func_wrap(
        "[static]udp-socket.create",
        |mut store, (family,): (p3::IpAddressFamily,)| {
            let mut view = SocketView::new(&mut store)?;
            let created = create(&mut view, to_p2_family(family));
            let socket = match created {
                Ok(socket) => socket,
                Err(e) => return Ok((Err(error_code(e.downcast()?)),)),
            };
            let state = UdpState {
                view,
                socket,
                family,
                streams: None,
                connected: false,
            };
            let socket = UdpSocket {
                shared: Arc::new(Mutex::new(state)),
            };
            Ok((Ok(store.data_mut().ctx().table.push(socket)?),))
        },
    )?;
    types.func_wrap(
        "[method]udp-socket.bind",
        |mut store, (socket, address): (Resource<UdpSocket>, p3::IpSocketAddress)| {
            let socket = store.data_mut().ctx().table.get(&socket)?;
            let mut state = lock(&socket.shared);
            let bound = match state.bind(address)? {
                Ok(()) => state.open(None)?,
                Err(code) => Err(code),
            };
            Ok((bound,))
        },
    )?;
    types.func_wrap(
        "[method]udp-socket.connect",
        |mut store, (socket, address): (Resource<UdpSocket>, p3::IpSocketAddress)| {
            let socket = store.data_mut().ctx().table.get(&socket)?;
            Ok((lock(&socket.shared).open(Some(address))?,))
        },
    )?;
    types.func_wrap(
        "[method]udp-socket.disconnect",
        |mut store, (socket,): (Resource<UdpSocket>,)| {
            let socket = store.data_mut().ctx().table.get(&socket)?;
            let mut state = lock(&socket.shared);
            if !state.connected {
                return Ok((Err(p3::ErrorCode::InvalidState),));
            }
            Ok((state.open(None)?,))
        },
    )?;
    func_wrap_async_with_store(
        types,
        "[method]udp-socket.send",
        |mut store: StoreContextMut<'_, T>,
         (socket, data, remote): (Resource<UdpSocket>, Vec<u8>, Option<p3::IpSocketAddress>)| {
            let shared = Arc::clone(&store.data_mut().ctx().table.get(&socket)?.shared);
            Ok(send_datagram(shared, data, remote))
        },
    )?;
    func_wrap_async_with_store(
        types,
        "[method]udp-socket.receive",
        |mut store: StoreContextMut<'_, T>, (socket,): (Resource<UdpSocket>,)| {
            let shared = Arc::clone(&store.data_mut().ctx().table.get(&socket)?.shared);
            Ok(receive_datagram(shared))
        },
    )?;

    sync_method!(
        types,
        "udp-socket",
        UdpSocket,
        "get-local-address",
        |v, s| v.local_address(s),
        from_p2_address
    );
    sync_method!(
        types,
        "udp-socket",
        UdpSocket,
        "get-remote-address",
        |v, s| v.remote_address(s),
        from_p2_address
    );
    sync_method!(
        types,
        "udp-socket",
        UdpSocket,
        "get-unicast-hop-limit",
        |v, s| v.unicast_hop_limit(s),
        |n| n
    );
    sync_method!(
        types,
        "udp-socket",
        UdpSocket,
        "set-unicast-hop-limit",
        |v, s, value: u8| v.set_unicast_hop_limit(s, value),
        |()| ()
    );
    sync_method!(
        types,
        "udp-socket",
        UdpSocket,
        "get-receive-buffer-size",
        |v, s| v.receive_buffer_size(s),
        |n| n
    );
    sync_method!(
        types,
        "udp-socket",
        UdpSocket,
        "set-receive-buffer-size",
        |v, s, value: u64| v.set_receive_buffer_size(s, value),
        |()| ()
    );
    sync_method!(
        types,
        "udp-socket",
        UdpSocket,
        "get-send-buffer-size",
        |v, s| v.send_buffer_size(s),
        |n| n
    );
    sync_method!(
        types,
        "udp-socket",
        UdpSocket,
        "set-send-buffer-size",
        |v, s, value: u64| v.set_send_buffer_size(s, value),
        |()| ()
    );
    types.func_wrap(
        "[method]udp-socket.get-address-family",
        |mut store, (socket,): (Resource<UdpSocket>,)| {
            let socket = store.data_mut().ctx().table.get(&socket)?;
            Ok((lock(&socket.shared).family,))
        },
    )?;
    Ok(())
}

/// wasmtime-wasi's WASI 0.2 `create-udp-socket`. It waits, briefly, for tokio to register the
/// new socket (so that it is writable at once, as a native one); `create` is synchronous in
/// WASI 0.3, so that wait blocks this thread, handing its other tasks to the runtime's other
/// workers (`block_in_place`). On a current-thread runtime, which cannot, UDP is not supported.
fn create(
    view: &mut SocketView,
    family: p2::IpAddressFamily,
) -> wasmtime_wasi::p2::SocketResult<Resource<wasmtime_wasi::p2::UdpSocket>> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let mut view = view.view();
    let future = p2_udp_create::Host::create_udp_socket(&mut view, family);
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        _ => ready_at_once(future).unwrap_or_else(|| Err(p2::ErrorCode::NotSupported.into())),
    }
}

/// `udp-socket.send`: one datagram, once the socket can take it.
async fn send_datagram(
    shared: Arc<Mutex<UdpState>>,
    data: Vec<u8>,
    remote: Option<p3::IpSocketAddress>,
) -> Result<(), p3::ErrorCode> {
    let lock = || lock(&shared);
    {
        let mut state = lock();
        if state.streams.is_none() {
            state.open(None).map_err(|e| other(&e))??;
        }
    }
    let datagram = p2_udp::OutgoingDatagram {
        data,
        // WASI 0.2 checks the address against the connection, as 0.3 asks.
        remote_address: remote.map(to_p2_address),
    };
    let mut datagram = Some(datagram);
    std::future::poll_fn(|cx| {
        let mut state = lock();
        let Some((_, outgoing)) = state.streams.as_ref().map(|(i, o)| (lend(i), lend(o))) else {
            return std::task::Poll::Ready(Err(p3::ErrorCode::InvalidState));
        };
        let permits = match state.view.view().check_send(lend(&outgoing)) {
            Ok(permits) => permits,
            Err(e) => return std::task::Poll::Ready(Err(host_or_code(e.downcast()))),
        };
        if permits == 0 {
            return match state.view.table.get_mut(&outgoing) {
                Ok(stream) => {
                    if poll_ready(stream, cx).is_ready() {
                        // Room now: try again at once.
                        cx.waker().wake_by_ref();
                    }
                    std::task::Poll::Pending
                }
                Err(e) => std::task::Poll::Ready(Err(other(&e))),
            };
        }
        let Some(one) = datagram.take() else {
            return std::task::Poll::Ready(Err(p3::ErrorCode::InvalidState));
        };
        std::task::Poll::Ready(match state.view.view().send(outgoing, vec![one]) {
            Ok(1) => Ok(()),
            Ok(_) => Err(p3::ErrorCode::Other(Some(
                "the datagram was not sent".to_string(),
            ))),
            Err(e) => Err(host_or_code(e.downcast())),
        })
    })
    .await
}

/// `udp-socket.receive`: the next datagram and where it came from.
async fn receive_datagram(
    shared: Arc<Mutex<UdpState>>,
) -> Result<(Vec<u8>, p3::IpSocketAddress), p3::ErrorCode> {
    let lock = || lock(&shared);
    std::future::poll_fn(|cx| {
        let mut state = lock();
        let Some(incoming) = state.streams.as_ref().map(|(i, _)| lend(i)) else {
            // Not bound: nothing can arrive.
            return std::task::Poll::Ready(Err(p3::ErrorCode::InvalidState));
        };
        match state.view.view().receive(lend(&incoming), 1) {
            Ok(mut datagrams) => {
                if let Some(datagram) = datagrams.pop() {
                    let from = from_p2_address(datagram.remote_address);
                    return std::task::Poll::Ready(Ok((datagram.data, from)));
                }
            }
            Err(e) => return std::task::Poll::Ready(Err(host_or_code(e.downcast()))),
        }
        match state.view.table.get_mut(&incoming) {
            Ok(stream) => {
                if poll_ready(stream, cx).is_ready() {
                    // Something arrived: try again at once.
                    cx.waker().wake_by_ref();
                }
                std::task::Poll::Pending
            }
            Err(e) => std::task::Poll::Ready(Err(other(&e))),
        }
    })
    .await
}
