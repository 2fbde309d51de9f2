//! A guest written for wit-bindgen 0.61's native async support moves to isyswasfa by changing
//! one dependency line: `test-cases/port-unmodified` (isyswasfa-guest renamed to `wit-bindgen`)
//! and `test-cases/port-unmodified-native` (wit-bindgen 0.61 itself) build the very same `src/`
//! and `wit/`, and give the same answers — the first on isyswasfa, the second on wasmtime's
//! native WASI 0.3 support.

use std::path::Path;

use isyswasfa_host::{Host, ReaderEnd, State};
use isyswasfa_test_support::Guest;
use wasmtime::component::{
    Accessor, ComponentType, FutureReader, Lift, Lower, Resource, StreamReader, Val,
};
use wasmtime::{Result, Store};

use crate::common;
use crate::common::native::{self, Native};

type Stream = Resource<ReaderEnd>;

const API: &str = "component:port/api";

/// `component:port/api.point`, a type the guest's exported interface defines.
#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq)]
#[component(record)]
struct Point {
    x: i32,
    y: i32,
}

fn point_val(p: Point) -> Val {
    Val::Record(vec![
        ("x".into(), Val::S32(p.x)),
        ("y".into(), Val::S32(p.y)),
    ])
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

/// The guest's answers, whichever build gave them.
#[derive(Debug, PartialEq)]
struct Answers {
    count: u32,
    shift: Vec<Point>,
    mirror: Option<Point>,
    total: Point,
}

const POINTS: [Point; 3] = [
    Point { x: 1, y: 2 },
    Point { x: -5, y: 0 },
    Point { x: 7, y: -9 },
];

fn expected() -> Answers {
    Answers {
        count: 50,
        shift: vec![
            Point { x: 11, y: 22 },
            Point { x: 5, y: 20 },
            Point { x: 17, y: 11 },
        ],
        mirror: Some(Point { x: 4, y: 3 }),
        total: Point { x: 3, y: -7 },
    }
}

async fn polyfilled_stream(host: &Host<State>) -> Result<Stream> {
    let (mut writer, reader) = host.new_stream::<Val>().await?;
    let _ = writer
        .write(POINTS.iter().copied().map(point_val).collect())
        .await;
    drop(writer);
    Ok(reader)
}

async fn polyfilled_answers() -> Result<Answers> {
    let mut linker = isyswasfa_host::linker::<State>(common::engine())?;
    let mut imports = linker.instance("component:port/host")?;
    isyswasfa_host::func_wrap_async(&mut imports, "next", |(x,): (u32,)| async move {
        tokio::task::yield_now().await;
        x + 1
    })?;
    let store = Store::new(common::engine(), State::new());
    let host = Host::instantiate(store, &linker, &common::component(Guest::PortUnmodified)).await?;

    let count = host.func::<(u32,), u32>(Some(API), "count").await?;
    let count = host.call(&count, (50,)).await?;

    let shift = host
        .func::<(Stream, i32, i32), Stream>(Some(API), "shift")
        .await?;
    let out = host
        .call(&shift, (polyfilled_stream(&host).await?, 10, 20))
        .await?;
    let mut reader = host.open_stream::<Val>(out).await?;
    let mut shift = Vec::new();
    while let Some(chunk) = reader.read(16).await {
        for value in &chunk {
            shift.push(point_of(value)?);
        }
    }

    let mirror = host.func::<(Stream,), Stream>(Some(API), "mirror").await?;
    let (writer, input) = host.new_future::<Val>().await?;
    let _ = writer.write(point_val(Point { x: 3, y: 4 }));
    let out = host.call(&mirror, (input,)).await?;
    let mirror = match host.open_future::<Val>(out).await?.await {
        Some(value) => Some(point_of(&value)?),
        None => None,
    };

    let total = host.func::<(Stream,), Point>(Some(API), "total").await?;
    let total = host
        .call(&total, (polyfilled_stream(&host).await?,))
        .await?;
    Ok(Answers {
        count,
        shift,
        mirror,
        total,
    })
}

async fn native_answers(component: &Path) -> Result<Answers> {
    let mut linker = native::linker()?;
    let mut imports = linker.instance("component:port/host")?;
    imports.func_wrap_concurrent("next", |_: &Accessor<State>, (x,): (u32,)| {
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok((x + 1,))
        })
    })?;
    let mut guest = Native::new(&linker, component.to_path_buf()).await?;

    let count = guest.func::<(u32,), (u32,)>(API, "count")?;
    let (count,) = guest.call(count, (50,)).await?;

    let shift =
        guest.func::<(StreamReader<Point>, i32, i32), (StreamReader<Point>,)>(API, "shift")?;
    let input = StreamReader::new(&mut guest.store, POINTS.to_vec())?;
    let (out,) = guest.call(shift, (input, 10, 20)).await?;
    let shift = guest.collect(out).await?;

    let mirror = guest.func::<(FutureReader<Point>,), (FutureReader<Point>,)>(API, "mirror")?;
    let input = FutureReader::new(&mut guest.store, async {
        Ok::<_, wasmtime::Error>(Point { x: 3, y: 4 })
    })?;
    let (out,) = guest.call(mirror, (input,)).await?;
    let mirror = guest.value(out).await?;

    let total = guest.func::<(StreamReader<Point>,), (Point,)>(API, "total")?;
    let input = StreamReader::new(&mut guest.store, POINTS.to_vec())?;
    let (total,) = guest.call(total, (input,)).await?;
    Ok(Answers {
        count,
        shift,
        mirror,
        total,
    })
}

#[tokio::test]
async fn port_unmodified_guest() -> Result<()> {
    // Both crates build the same files: the one in test-cases/port-unmodified.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-cases");
    for dir in ["src", "wit"] {
        assert_eq!(
            std::fs::canonicalize(root.join("port-unmodified-native").join(dir))?,
            std::fs::canonicalize(root.join("port-unmodified").join(dir))?,
        );
    }
    let manifest = std::fs::read_to_string(root.join("port-unmodified/Cargo.toml"))?;
    assert!(manifest.contains("wit-bindgen = { package = \"isyswasfa-guest\""));

    let polyfilled = polyfilled_answers().await?;
    let native = native_answers(&Guest::PortUnmodifiedNative.path()).await?;
    assert_eq!(polyfilled, expected(), "port-unmodified on isyswasfa");
    assert_eq!(native, expected(), "port-unmodified-native on wasmtime");
    Ok(())
}

/// `component:shared/types.pair`.
#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq)]
#[component(record)]
struct Pair {
    a: u32,
    b: u32,
}

/// `test-cases/port-options` uses `generate!` options as wit-bindgen guests do: a `path` list,
/// `inline`, `world`, `with` onto another `generate!`'s module, `generate_all`,
/// `pub_export_macro`, `export_macro_name`, `default_bindings_module`, `additional_derives`.
#[tokio::test]
async fn port_generate_options() -> Result<()> {
    let mut linker = isyswasfa_host::linker::<State>(common::engine())?;
    let mut imports = linker.instance("component:shared/types")?;
    isyswasfa_host::func_wrap_async(&mut imports, "swap", |(p,): (Pair,)| async move {
        tokio::task::yield_now().await;
        Pair { a: p.b, b: p.a }
    })?;
    let store = Store::new(common::engine(), State::new());
    let host = Host::instantiate(store, &linker, &common::component(Guest::PortOptions)).await?;
    let digits = host
        .func::<(Pair,), u32>(Some("component:options/api"), "digits")
        .await?;
    assert_eq!(host.call(&digits, (Pair { a: 1, b: 2 },)).await?, 21);
    assert_eq!(host.call(&digits, (Pair { a: 7, b: 3 },)).await?, 37);
    Ok(())
}
