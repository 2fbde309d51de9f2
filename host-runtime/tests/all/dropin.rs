//! Drop-in port (issue 17, point 0): `test-cases/port-dropin`, a guest written as wit-bindgen
//! 0.61 async guests are (built with its `wit-bindgen` dependency renamed to isyswasfa-guest),
//! and `test-cases/port-dropin-native` (the same files built with wit-bindgen 0.61) stream the
//! same records to the host. The record is defined in the exported interface and used there only
//! as a stream's payload; the guest `use`s it from `exports::…`, where it must be generated.
//! (The guests' other checks run under the CLI: `cli/tests/dropin.rs`.)

use crate::common;
use isyswasfa_test_support::Guest;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::common::native::{self, Native};
use isyswasfa_host::{Host, State};
use wasmtime::component::{ComponentType, Lift, Lower, StreamReader, Val};
use wasmtime::{Result, Store};

const API: &str = "component:dropin/api";

/// Builds the two guests (once per process), with only them selected, into a directory of their
/// own; the path of `name`'s component.
fn dropin_guest(name: Guest) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    const GUESTS: [Guest; 2] = [Guest::PortDropin, Guest::PortDropinNative];
    assert!(GUESTS.contains(&name), "{name:?} is not a drop-in guest");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("guests-dropin-host"),
        None => root.join("target").join("guests-dropin-host"),
    };
    BUILT.get_or_init(|| {
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        command
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root.join("test-cases").join("Cargo.toml"));
        for guest in GUESTS {
            command.args(["-p", guest.package()]);
        }
        let status = command
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("failed to run cargo to build the drop-in guests");
        assert!(status.success(), "building the drop-in guests failed");
    });
    target
        .join("wasm32-wasip2")
        .join("release")
        .join(name.file_name())
}

/// `component:dropin/api.point`.
#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq)]
#[component(record)]
struct Point {
    x: i32,
    y: i32,
}

fn point_of(val: &Val) -> Result<Point> {
    match val {
        Val::Record(fields) => match fields.as_slice() {
            [(_, Val::S32(x)), (_, Val::S32(y))] => Ok(Point { x: *x, y: *y }),
            _ => wasmtime::bail!("not a point: {val:?}"),
        },
        _ => wasmtime::bail!("not a point: {val:?}"),
    }
}

async fn polyfilled_points(n: u32) -> Result<Vec<Point>> {
    let linker = isyswasfa_host::linker::<State>(common::engine())?;
    let component = wasmtime::component::Component::from_file(
        common::engine(),
        dropin_guest(Guest::PortDropin),
    )?;
    let store = Store::new(common::engine(), State::new());
    let host = Host::instantiate(store, &linker, &component).await?;
    let points = host
        .func::<(u32,), wasmtime::component::Resource<isyswasfa_host::ReaderEnd>>(
            Some(API),
            "points",
        )
        .await?;
    let out = host.call(&points, (n,)).await?;
    let mut reader = host.open_stream::<Val>(out).await?;
    let mut all = Vec::new();
    while let Some(chunk) = reader.read(16).await {
        for value in &chunk {
            all.push(point_of(value)?);
        }
    }
    Ok(all)
}

async fn native_points(n: u32) -> Result<Vec<Point>> {
    let linker = native::linker()?;
    let mut guest = Native::new(&linker, dropin_guest(Guest::PortDropinNative)).await?;
    let points = guest.func::<(u32,), (StreamReader<Point>,)>(API, "points")?;
    let (out,) = guest.call(points, (n,)).await?;
    guest.collect(out).await
}

/// Point 0: the record `point`, which `component:dropin/api` uses only as the payload of
/// `points`' stream, is generated in `exports::component::dropin::api` (the guest does not build
/// otherwise), and both builds stream the same points.
#[tokio::test]
async fn port_payload_record_in_exports() -> Result<()> {
    let expected = vec![
        Point { x: 0, y: 0 },
        Point { x: 1, y: -1 },
        Point { x: 2, y: -2 },
    ];
    assert_eq!(polyfilled_points(3).await?, expected, "polyfilled");
    assert_eq!(native_points(3).await?, expected, "native");
    Ok(())
}
