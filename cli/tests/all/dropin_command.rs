//! A `wasi:cli/command@0.3.0` program, built unmodified both ways (`port-command-world` with
//! isyswasfa, `port-command-world-native` with wit-bindgen 0.61), run by the same `isyswasfa run`
//! with the same standard input, arguments, environment, preopened directory and TCP server:
//! everything it reports, the file it writes, and its exit code must be the same.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use crate::common;
use crate::dropin::{Outcome, dropin_guest, isyswasfa_fed};
use isyswasfa_test_support::Guest;

/// A TCP server that answers each connection, once the client has sent all it will, with
/// `pong: ` and what it got.
fn pong_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the test server");
    let address = listener.local_addr().expect("the test server's address");
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            let Ok(mut connection) = connection else {
                continue;
            };
            let mut got = Vec::new();
            if connection.read_to_end(&mut got).is_ok() {
                let _ = connection.write_all(&[b"pong: ".as_slice(), &got].concat());
            }
        }
    });
    address
}

/// A UDP server that answers each datagram with `echo: ` and the datagram.
fn udp_echo_server() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("binding the UDP test server");
    let port = socket
        .local_addr()
        .expect("the UDP server's address")
        .port();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buffer) {
            let _ = socket.send_to(&[b"echo: ".as_slice(), &buffer[..n]].concat(), from);
        }
    });
    port
}

/// Runs `guest` in a fresh directory of its own (with `input.txt`) as `/data`; gives back what
/// it printed and exited with, and what it wrote to `output.txt`.
fn run_command(guest: Guest, server: std::net::SocketAddr, udp_port: u16) -> (Outcome, String) {
    let dir = common::scratch_dir(&format!("port_command_world-{guest:?}"));
    std::fs::write(dir.join("input.txt"), "contents of the input file\n").unwrap();
    std::fs::write(dir.join("keep.txt"), "").unwrap();
    std::fs::create_dir(dir.join("subdir")).unwrap();
    let component = dropin_guest(guest);
    let data = format!("{}::/data", dir.display());
    let address = format!("PORT_ADDRESS=localhost:{}", server.port());
    let udp = format!("PORT_UDP_PORT={udp_port}");
    let args: [&std::ffi::OsStr; 14] = [
        "run".as_ref(),
        "-S".as_ref(),
        "allow-ip-name-lookup".as_ref(),
        "--dir".as_ref(),
        data.as_ref(),
        "--env".as_ref(),
        address.as_ref(),
        "--env".as_ref(),
        "GREETING=hello".as_ref(),
        "--env".as_ref(),
        udp.as_ref(),
        component.as_os_str(),
        "first".as_ref(),
        "--second".as_ref(),
    ];
    let input = b"what stdin says\n".to_vec();
    let outcome = isyswasfa_fed(&args, &[], input, Duration::from_secs(60));
    let written = std::fs::read_to_string(dir.join("output.txt")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(Path::new(&dir));
    (outcome, written)
}

#[test]
fn port_command_world() {
    let server = pong_server();
    let udp_port = udp_echo_server();
    let (polyfilled, written) = run_command(Guest::PortCommandWorld, server, udp_port);
    let (native, native_written) = run_command(Guest::PortCommandWorldNative, server, udp_port);
    for expected in [
        "arguments [\"first\", \"--second\"]\n",
        "(\"GREETING\", \"hello\")",
        "stdin \"what stdin says\\n\" Ok(())\n",
        "preopens [\"/data\"]\n",
        "\"input.txt:DescriptorType::RegularFile\"",
        "\"subdir:DescriptorType::Directory\"",
        "read \"contents of the input file\\n\" Ok(())\n",
        "write Ok(())\noutput.txt size Ok(27)\n",
        "open missing.txt: Some(ErrorCode::NoEntry)\n",
        "resolved Ok([IpAddress::Ipv4((127, 0, 0, 1))])\n",
        "connect Ok(())\n",
        "sent Ok(())\n",
        "answer \"pong: ping from the guest\\n\" Ok(())\n",
        "udp bind Ok(())\nudp local Ok((127, 0, 0, 1))\n",
        "udp send Ok(())\n",
        "udp answer \"echo: datagram from the guest\" from the server: true\n",
        "udp connect Ok(())\nudp send connected Ok(())\n",
        "udp disconnect Ok(())\n",
        "listener bind Ok(())\nis listening true\nclient connect Ok(())\n",
        "server got \"hello, listener\" Ok(())\n",
        "client got \"hello, client\" Ok(())\n",
    ] {
        assert!(
            polyfilled.stdout.contains(expected),
            "`{expected}` not in the polyfilled build's output:\n{}\nstderr:\n{}",
            polyfilled.stdout,
            polyfilled.stderr
        );
    }
    assert_eq!(written, "CONTENTS OF THE INPUT FILE\n");
    assert!(
        polyfilled.stderr.contains("done, exiting with 1\n"),
        "{}",
        polyfilled.stderr
    );
    assert_eq!(polyfilled.code, Some(1), "{}", polyfilled.stderr);
    assert_eq!(
        (&polyfilled.stdout, &written, polyfilled.code),
        (&native.stdout, &native_written, native.code),
        "polyfilled (left) and native (right)"
    );
    assert_eq!(
        polyfilled.stderr, native.stderr,
        "polyfilled (left) and native (right)"
    );
}

/// Every function of every WASI 0.3.0 interface is polyfilled: a lowered component that imports
/// all of `wasi:cli/imports@0.3.0` (clocks, random, filesystem, sockets, cli) and of `wasi:http`
/// links against the host's linker with nothing left undefined.
#[test]
fn polyfill_links_every_wasi_03_import() {
    let dir = common::scratch_dir("polyfill_links_every_wasi_03_import");
    std::fs::write(
        dir.join("world.wit"),
        "package test:everything;\n\
         world everything {\n\
           include wasi:cli/imports@0.3.0;\n\
           import wasi:http/types@0.3.0;\n\
           import wasi:http/client@0.3.0;\n\
         }\n",
    )
    .unwrap();
    let options = isyswasfa_bindgen::LowerOptions::for_crate("everything");
    let lowered = isyswasfa_bindgen::lower_path(&dir, None, &options).expect("lowering");
    let bytes = common::dummy_component(&lowered.resolve, lowered.world);
    let engine = common::composition::engine();
    let component = wasmtime::component::Component::new(engine, &bytes).expect("compiling");
    let mut linker = isyswasfa_host::linker::<isyswasfa_host::State>(engine).expect("linker");
    isyswasfa_host::add_component_imports(&mut linker, engine, &component)
        .expect("defining the component's pipe imports");
    if let Err(error) = linker.instantiate_pre(&component) {
        panic!("an import of WASI 0.3.0 is not polyfilled: {error:#}");
    }
    let imports: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    for interface in [
        "wasi:filesystem/types@0.3.0",
        "wasi:filesystem/preopens@0.3.0",
        "wasi:sockets/types@0.3.0",
        "wasi:sockets/ip-name-lookup@0.3.0",
        "wasi:cli/terminal-stdin@0.3.0",
        "wasi:random/insecure-seed@0.3.0",
        "wasi:http/client@0.3.0",
    ] {
        assert!(
            imports.iter().any(|i| i == interface),
            "{interface} not in {imports:?}"
        );
    }
}
