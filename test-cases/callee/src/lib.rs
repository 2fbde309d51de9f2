//! The callee of the composition tests: async exports that wait on their own clock, call the
//! next service (another callee, or the host), read a stream made by another component, and
//! await WASI 0.2 pollables (timers and a TCP socket).

isyswasfa_guest::generate!({ path: "wit", world: "callee", generate_all });

use std::cell::Cell;

use crate::wasi::clocks::monotonic_clock;
use ::wasi::clocks::monotonic_clock as clock_02;
use ::wasi::io::poll;
use ::wasi::io::streams::{InputStream, OutputStream, StreamError};
use ::wasi::sockets::instance_network::instance_network;
use ::wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use ::wasi::sockets::tcp::TcpSocket;
use ::wasi::sockets::tcp_create_socket::create_tcp_socket;
use component::compose::service as next;
use isyswasfa_guest::StreamReader;
use isyswasfa_guest::wait_pollable;

thread_local! {
    static CANCELLED: Cell<u32> = const { Cell::new(0) };
}

/// Counts a `never` call whose future was dropped.
struct CountDrop;

impl Drop for CountDrop {
    fn drop(&mut self) {
        CANCELLED.with(|c| c.set(c.get() + 1));
    }
}

/// Connects a TCP socket to 127.0.0.1:`port`, awaiting the socket's pollable meanwhile.
async fn connect(port: u16) -> Result<(TcpSocket, InputStream, OutputStream), String> {
    let network = instance_network();
    let socket = create_tcp_socket(IpAddressFamily::Ipv4).map_err(|e| format!("{e:?}"))?;
    let address = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (127, 0, 0, 1),
    });
    socket
        .start_connect(&network, address)
        .map_err(|e| format!("start-connect: {e:?}"))?;
    loop {
        match socket.finish_connect() {
            Ok((input, output)) => return Ok((socket, input, output)),
            Err(ErrorCode::WouldBlock) => wait_pollable(socket.subscribe()).await,
            Err(e) => return Err(format!("finish-connect: {e:?}")),
        }
    }
}

fn millis_to_nanos(millis: u32) -> u64 {
    u64::from(millis) * 1_000_000
}

struct Component;

impl exports::component::compose::service::Guest for Component {
    async fn sleep(millis: u32) -> String {
        monotonic_clock::wait_for(millis_to_nanos(millis)).await;
        format!("callee slept {millis} ms")
    }

    async fn relay(millis: u32) -> String {
        let ((), answer) = futures::join!(
            monotonic_clock::wait_for(millis_to_nanos(millis)),
            next::sleep(millis)
        );
        format!("callee slept {millis} ms beside [{answer}]")
    }

    async fn never() {
        let _count = CountDrop;
        next::never().await;
    }

    fn cancelled() -> u32 {
        CANCELLED.with(Cell::get)
    }

    async fn sum(numbers: StreamReader<u32>) -> (u64, u32) {
        let mut numbers = numbers;
        let (mut sum, mut count) = (0u64, 0u32);
        while let Some(n) = numbers.next().await {
            sum += u64::from(n);
            count += 1;
        }
        (sum, count)
    }

    fn tables() -> (u32, u32, u32) {
        let (listeners, exports) = isyswasfa_guest::table_sizes();
        (
            isyswasfa_guest::live_tasks() as u32,
            listeners as u32,
            exports as u32,
        )
    }
}

impl exports::component::compose::probe::Guest for Component {
    async fn sleep_clocks(count: u32, nanos: u64) -> u32 {
        let waits = (0..count).map(|_| monotonic_clock::wait_for(nanos));
        futures::future::join_all(waits).await.len() as u32
    }

    async fn sleep_pollables(count: u32, nanos: u64) -> u32 {
        let waits = (0..count).map(|_| wait_pollable(clock_02::subscribe_duration(nanos)));
        futures::future::join_all(waits).await.len() as u32
    }

    async fn tcp_read(port: u16) -> Result<Vec<u8>, String> {
        let (_socket, input, _output) = connect(port).await?;
        let mut bytes = Vec::new();
        loop {
            match input.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => wait_pollable(input.subscribe()).await,
                Ok(chunk) => bytes.extend(chunk),
                Err(StreamError::Closed) => return Ok(bytes),
                Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
            }
        }
    }

    async fn tcp_cancel_wait(port: u16) -> Result<String, String> {
        let (socket, input, output) = connect(port).await?;
        {
            let readable = std::pin::pin!(wait_pollable(input.subscribe()));
            let timer = std::pin::pin!(monotonic_clock::wait_for(20_000_000));
            if let futures::future::Either::Left(_) = futures::future::select(readable, timer).await
            {
                return Err("the silent stream became readable".into());
            }
            // The pollable wait is dropped here, unfinished: the host cancels it.
        }
        drop(input);
        drop(output);
        drop(socket);
        Ok("dropped".into())
    }

    fn blocking_sleep(nanos: u64) {
        let timer = clock_02::subscribe_duration(nanos);
        poll::poll(&[&timer]);
    }
}

export!(Component);
