//! A `wasi:cli/command@0.3.0` program written for wit-bindgen 0.61 async, built unmodified by
//! `port-command-world` with isyswasfa and by `port-command-world-native` with wit-bindgen.
//!
//! It uses WASI 0.3 only (no std I/O): it reads its arguments, environment and standard input;
//! lists the preopened directory `/data`, reads `/data/input.txt`, writes `/data/output.txt`
//! (the input upper-cased) and reads back its size; connects over TCP to `PORT_ADDRESS` (an
//! IPv4 `a.b.c.d:port`, resolved by `wasi:sockets/ip-name-lookup` when it is a name), sends a line
//! and reads the answer to its end; reports all of it on standard output and a line on standard
//! error; and exits with code 1 through `wasi:cli/exit`.

wit_bindgen::generate!({ path: "wit", world: "command", generate_all });

use wasi::cli::{environment, exit, stdin};
use wasi::filesystem::preopens;
use wasi::filesystem::types::{Descriptor, DescriptorFlags, OpenFlags, PathFlags};
use wasi::sockets::ip_name_lookup;
use wasi::sockets::types::{
    IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, TcpSocket, UdpSocket,
};
use wit_bindgen::{StreamReader, StreamResult};

struct Command;

impl exports::wasi::cli::run::Guest for Command {
    async fn run() -> Result<(), ()> {
        let mut report = String::new();
        // The first argument is the program's name: the file, which differs between the builds.
        let arguments: Vec<String> = environment::get_arguments().into_iter().skip(1).collect();
        report += &format!("arguments {arguments:?}\n");
        let mut vars = environment::get_environment();
        vars.sort();
        report += &format!("environment {vars:?}\n");

        let (input, ended) = stdin::read_via_stream();
        let input = read_all(input).await;
        report += &format!("stdin {:?} {:?}\n", String::from_utf8_lossy(&input), ended.await);

        report += &files().await;
        report += &tcp().await;
        report += &udp().await;
        report += &listen().await;

        write(wasi::cli::stdout::write_via_stream, report).await;
        write(wasi::cli::stderr::write_via_stream, "done, exiting with 1\n".to_string()).await;
        exit::exit(Err(()));
        Ok(())
    }
}

export!(Command);

/// The preopened directory, its listing, and a file read and written in it.
async fn files() -> String {
    let mut report = String::new();
    let directories = preopens::get_directories();
    let paths: Vec<&str> = directories.iter().map(|(_, path)| path.as_str()).collect();
    report += &format!("preopens {paths:?}\n");
    let Some((data, _)) = directories.iter().find(|(_, path)| path == "/data") else {
        return report + "no /data\n";
    };

    let (mut entries, listed) = data.read_directory();
    let mut names = Vec::new();
    loop {
        let (result, batch) = entries.read(Vec::with_capacity(16)).await;
        names.extend(batch.into_iter().map(|entry| format!("{}:{:?}", entry.name, entry.type_)));
        if !matches!(result, StreamResult::Complete(_)) {
            break;
        }
    }
    names.sort();
    report += &format!("listing {names:?} {:?}\n", listed.await);

    let text = match open(data, "input.txt", OpenFlags::empty(), DescriptorFlags::READ).await {
        Ok(file) => {
            let (contents, read) = file.read_via_stream(0);
            let contents = read_all(contents).await;
            report += &format!("read {:?} {:?}\n", String::from_utf8_lossy(&contents), read.await);
            contents.to_ascii_uppercase()
        }
        Err(code) => {
            report += &format!("open input.txt: {code:?}\n");
            Vec::new()
        }
    };
    let flags = DescriptorFlags::READ | DescriptorFlags::WRITE;
    match open(data, "output.txt", OpenFlags::CREATE | OpenFlags::TRUNCATE, flags).await {
        Ok(file) => {
            let (mut writer, reader) = wit_stream::new::<u8>();
            let written = file.write_via_stream(reader, 0);
            writer.write_all(text).await;
            drop(writer);
            report += &format!("write {:?}\n", written.await);
            let size = file.stat().await.map(|stat| stat.size);
            report += &format!("output.txt size {size:?}\n");
        }
        Err(code) => report += &format!("open output.txt: {code:?}\n"),
    }
    let missing = open(data, "missing.txt", OpenFlags::empty(), DescriptorFlags::READ).await;
    report += &format!("open missing.txt: {:?}\n", missing.err());
    report
}

async fn open(
    dir: &Descriptor,
    path: &str,
    open_flags: OpenFlags,
    flags: DescriptorFlags,
) -> Result<Descriptor, wasi::filesystem::types::ErrorCode> {
    dir.open_at(PathFlags::empty(), path.to_string(), open_flags, flags).await
}

/// A TCP exchange with the server at `PORT_ADDRESS`.
async fn tcp() -> String {
    let Some((_, address)) = environment::get_environment()
        .into_iter()
        .find(|(name, _)| name == "PORT_ADDRESS")
    else {
        return "no PORT_ADDRESS\n".to_string();
    };
    let Some((host, port)) = address.rsplit_once(':') else {
        return format!("bad PORT_ADDRESS {address}\n");
    };
    let port: u16 = port.parse().unwrap_or(0);
    let resolved = ip_name_lookup::resolve_addresses(host.to_string()).await;
    let mut report = format!("resolved {resolved:?}\n");
    let Ok(addresses) = resolved else {
        return report;
    };
    let Some(IpAddress::Ipv4(ip)) = addresses.into_iter().next() else {
        return report + "no IPv4 address\n";
    };
    let socket = match TcpSocket::create(IpAddressFamily::Ipv4) {
        Ok(socket) => socket,
        Err(code) => return report + &format!("create: {code:?}\n"),
    };
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address: ip });
    report += &format!("connect {:?}\n", socket.connect(remote).await);
    report += &format!("remote {:?}\n", socket.get_remote_address());
    report += &format!("family {:?}\n", socket.get_address_family());
    let (mut writer, reader) = wit_stream::new::<u8>();
    let sent = socket.send(reader);
    writer.write_all(b"ping from the guest\n".to_vec()).await;
    drop(writer);
    report += &format!("sent {:?}\n", sent.await);
    let (answer, received) = socket.receive();
    let answer = read_all(answer).await;
    report += &format!("answer {:?} {:?}\n", String::from_utf8_lossy(&answer), received.await);
    let refused = TcpSocket::create(IpAddressFamily::Ipv4)
        .map_err(|_| ())
        .map(|socket| socket.get_is_listening());
    report += &format!("listening {refused:?}\n");
    report
}

/// A listening TCP socket, connected to from this program itself: one line each way.
async fn listen() -> String {
    let loopback = IpSocketAddress::Ipv4(Ipv4SocketAddress { port: 0, address: (127, 0, 0, 1) });
    let listener = match TcpSocket::create(IpAddressFamily::Ipv4) {
        Ok(listener) => listener,
        Err(code) => return format!("listener create: {code:?}\n"),
    };
    let mut report = format!("listener bind {:?}\n", listener.bind(loopback));
    let mut incoming = match listener.listen() {
        Ok(incoming) => incoming,
        Err(code) => return report + &format!("listen: {code:?}\n"),
    };
    report += &format!("is listening {:?}\n", listener.get_is_listening());
    let Ok(address) = listener.get_local_address() else {
        return report + "no local address\n";
    };
    let client = match TcpSocket::create(IpAddressFamily::Ipv4) {
        Ok(client) => client,
        Err(code) => return report + &format!("client create: {code:?}\n"),
    };
    report += &format!("client connect {:?}\n", client.connect(address).await);
    let (_, mut accepted) = incoming.read(Vec::with_capacity(1)).await;
    let Some(server) = accepted.pop() else {
        return report + "nothing accepted\n";
    };
    let (mut writer, reader) = wit_stream::new::<u8>();
    let sent = client.send(reader);
    writer.write_all(b"hello, listener".to_vec()).await;
    drop(writer);
    report += &format!("client sent {:?}\n", sent.await);
    let (got, ended) = server.receive();
    let got = read_all(got).await;
    report += &format!("server got {:?} {:?}\n", String::from_utf8_lossy(&got), ended.await);
    let (mut writer, reader) = wit_stream::new::<u8>();
    let sent = server.send(reader);
    writer.write_all(b"hello, client".to_vec()).await;
    drop(writer);
    report += &format!("server sent {:?}\n", sent.await);
    let (got, ended) = client.receive();
    let got = read_all(got).await;
    report += &format!("client got {:?} {:?}\n", String::from_utf8_lossy(&got), ended.await);
    report
}

/// A UDP datagram to the echo server at `PORT_UDP_PORT` on 127.0.0.1, and its answer.
async fn udp() -> String {
    let Some((_, port)) = environment::get_environment()
        .into_iter()
        .find(|(name, _)| name == "PORT_UDP_PORT")
    else {
        return "no PORT_UDP_PORT\n".to_string();
    };
    let port: u16 = port.parse().unwrap_or(0);
    let socket = match UdpSocket::create(IpAddressFamily::Ipv4) {
        Ok(socket) => socket,
        Err(code) => return format!("udp create: {code:?}\n"),
    };
    let any = IpSocketAddress::Ipv4(Ipv4SocketAddress { port: 0, address: (127, 0, 0, 1) });
    let mut report = format!("udp bind {:?}\n", socket.bind(any));
    let bound = socket.get_local_address().map(|address| match address {
        IpSocketAddress::Ipv4(a) => a.address,
        IpSocketAddress::Ipv6(_) => (0, 0, 0, 0),
    });
    report += &format!("udp local {bound:?}\n");
    let server = IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address: (127, 0, 0, 1) });
    let unaddressed = socket.send(b"nowhere".to_vec(), None).await;
    report += &format!("udp send without an address {unaddressed:?}\n");
    let sent = socket.send(b"datagram from the guest".to_vec(), Some(server)).await;
    report += &format!("udp send {sent:?}\n");
    match socket.receive().await {
        Ok((data, from)) => {
            let from_server = matches!(from, IpSocketAddress::Ipv4(a) if a.port == port);
            report += &format!(
                "udp answer {:?} from the server: {from_server}\n",
                String::from_utf8_lossy(&data)
            );
        }
        Err(code) => report += &format!("udp receive {code:?}\n"),
    }
    report += &format!("udp connect {:?}\n", socket.connect(server));
    report += &format!("udp send connected {:?}\n", socket.send(b"again".to_vec(), None).await);
    report += &format!("udp answer {:?}\n", socket.receive().await.map(|(data, _)| data));
    report += &format!("udp disconnect {:?}\n", socket.disconnect());
    report
}

/// Everything a byte stream gives until it ends.
async fn read_all(mut stream: StreamReader<u8>) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        let (result, chunk) = stream.read(Vec::with_capacity(4096)).await;
        all.extend_from_slice(&chunk);
        if !matches!(result, StreamResult::Complete(_)) {
            return all;
        }
    }
}

/// Writes `text` through a standard stream (`write-via-stream` of `stdout` or `stderr`) and
/// waits until it is written.
async fn write<F>(write_via_stream: fn(StreamReader<u8>) -> F, text: String)
where
    F: std::future::IntoFuture,
{
    let (mut writer, reader) = wit_stream::new::<u8>();
    let done = write_via_stream(reader);
    writer.write_all(text.into_bytes()).await;
    drop(writer);
    let _ = done.await;
}
