//! The same guest source built twice — polyfilled (run on isyswasfa) and with isyswasfa-guest's
//! `native` feature (a native WASI 0.3 component, run on wasmtime's own concurrency support) —
//! gives the same answers.

use std::time::Duration;

use isyswasfa_host::{Host, ReaderEnd, State};
use isyswasfa_test_support::Guest;
use wasmtime::Result;
use wasmtime::component::{
    Accessor, ComponentType, FutureReader, Lift, Lower, Resource, StreamReader, Val,
};

use crate::common;
use crate::common::STREAMS;
use crate::common::native::{self, Native};

type Stream = Resource<ReaderEnd>;

#[tokio::test]
async fn native_same_source_round_trip() -> Result<()> {
    let host = common::round_trip(Duration::ZERO).await?;
    let foo = host
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    let polyfilled = host.call(&foo, ("hello".to_string(),)).await?;

    let mut linker = native::linker()?;
    let mut baz = linker.instance("component:test/baz")?;
    baz.func_wrap_concurrent("foo", |_: &Accessor<State>, (s,): (String,)| {
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok((format!("{s} - entered host - exited host"),))
        })
    })?;
    let mut guest = Native::new(&linker, Guest::RoundTrip.native_path()).await?;
    let foo = guest.func::<(String,), (String,)>("component:test/baz", "foo")?;
    let (answer,) = guest.call(foo, ("hello".to_string(),)).await?;

    assert_eq!(
        answer,
        "hello - entered guest - entered host - exited host - exited guest"
    );
    assert_eq!(answer, polyfilled);
    Ok(())
}

/// `component:streams/types.point` on the native host.
#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq)]
#[component(record)]
struct Point {
    x: i32,
    y: i32,
}

/// `component:streams/types.problem` on the native host.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq)]
#[component(variant)]
enum Problem {
    #[component(name = "missing")]
    Missing(String),
    #[component(name = "bad")]
    Bad(u32),
}

fn point_val(p: Point) -> Val {
    Val::Record(vec![
        ("x".into(), Val::S32(p.x)),
        ("y".into(), Val::S32(p.y)),
    ])
}

fn point_of(val: &Val) -> Option<Point> {
    let Val::Record(fields) = val else {
        return None;
    };
    match fields.as_slice() {
        [(_, Val::S32(x)), (_, Val::S32(y))] => Some(Point { x: *x, y: *y }),
        _ => None,
    }
}

/// What the streams guest answers, in the native host's types, whichever build produced it.
#[derive(Debug, PartialEq)]
struct StreamAnswers {
    echo: Vec<u8>,
    double: Vec<u32>,
    shift: Vec<Point>,
    later: Option<String>,
    outcomes: Vec<Option<Result<Option<Point>, Problem>>>,
}

const BYTES: &[u8] = b"the same bytes, both ways";
const POINTS: [Point; 2] = [Point { x: 1, y: 2 }, Point { x: -5, y: 0 }];

async fn read_all<E: isyswasfa_host::PipeElement>(
    host: &Host<State>,
    reader: Stream,
) -> Result<Vec<E>> {
    let mut reader = host.open_stream::<E>(reader).await?;
    let mut all = Vec::new();
    while let Some(chunk) = reader.read(1024).await {
        all.extend(chunk);
    }
    Ok(all)
}

/// A polyfilled stream carrying `values`, ended.
async fn polyfilled_stream<E: isyswasfa_host::PipeElement>(
    host: &Host<State>,
    values: Vec<E>,
) -> Result<Stream> {
    let (mut writer, reader) = host.new_stream::<E>().await?;
    // Writes wait for room (the pipe holds fewer values than some inputs): write while the
    // guest reads.
    tokio::spawn(async move {
        let _ = writer.write(values).await;
    });
    Ok(reader)
}

async fn polyfilled_answers() -> Result<StreamAnswers> {
    let host = common::streams().await?;
    let echo = host.func::<(Stream,), Stream>(STREAMS, "echo").await?;
    let double = host.func::<(Stream,), Stream>(STREAMS, "double").await?;
    let shift = host
        .func::<(Stream, i32, i32), Stream>(STREAMS, "shift")
        .await?;
    let later = host.func::<(Stream,), Stream>(STREAMS, "later").await?;
    let outcome = host.func::<(u32,), Stream>(STREAMS, "outcome").await?;

    let input = polyfilled_stream(&host, BYTES.to_vec()).await?;
    let out = host.call(&echo, (input,)).await?;
    let echo = read_all::<u8>(&host, out).await?;

    let input = polyfilled_stream(&host, (0..100).map(Val::U32).collect()).await?;
    let out = host.call(&double, (input,)).await?;
    let double = read_all::<Val>(&host, out)
        .await?
        .iter()
        .map(|v| match v {
            Val::U32(v) => Ok(*v),
            other => wasmtime::bail!("not a u32: {other:?}"),
        })
        .collect::<Result<_>>()?;

    let input = polyfilled_stream(&host, POINTS.iter().copied().map(point_val).collect()).await?;
    let out = host.call(&shift, (input, 10, 20)).await?;
    let shift = read_all::<Val>(&host, out)
        .await?
        .iter()
        .map(|v| point_of(v).ok_or_else(|| wasmtime::format_err!("not a point: {v:?}")))
        .collect::<Result<_>>()?;

    let (writer, input) = host.new_future::<Val>().await?;
    let _ = writer.write(Val::String("early".into()));
    let out = host.call(&later, (input,)).await?;
    let later = match host.open_future::<Val>(out).await?.await {
        Some(Val::String(s)) => Some(s),
        None => None,
        Some(other) => wasmtime::bail!("not a string: {other:?}"),
    };

    let mut outcomes = Vec::new();
    for which in 0..3 {
        let out = host.call(&outcome, (which,)).await?;
        let value = host.open_future::<Val>(out).await?.await;
        outcomes.push(match value {
            None => None,
            Some(Val::Result(Ok(Some(inner)))) => match *inner {
                Val::Option(None) => Some(Ok(None)),
                Val::Option(Some(p)) => Some(Ok(point_of(&p))),
                other => wasmtime::bail!("unexpected {other:?}"),
            },
            Some(Val::Result(Err(Some(problem)))) => match *problem {
                Val::Variant(case, Some(payload)) => match (case.as_str(), *payload) {
                    ("missing", Val::String(s)) => Some(Err(Problem::Missing(s))),
                    ("bad", Val::U32(n)) => Some(Err(Problem::Bad(n))),
                    other => wasmtime::bail!("unexpected {other:?}"),
                },
                other => wasmtime::bail!("unexpected {other:?}"),
            },
            Some(other) => wasmtime::bail!("unexpected {other:?}"),
        });
    }
    Ok(StreamAnswers {
        echo,
        double,
        shift,
        later,
        outcomes,
    })
}

async fn native_answers() -> Result<StreamAnswers> {
    let linker = native::streams_linker()?;
    let mut guest = Native::new(&linker, Guest::Streams.native_path()).await?;
    let iface = "component:streams/streams";

    let echo = guest.func::<(StreamReader<u8>,), (StreamReader<u8>,)>(iface, "echo")?;
    let input = StreamReader::new(&mut guest.store, BYTES.to_vec())?;
    let (out,) = guest.call(echo, (input,)).await?;
    let echo = guest.collect(out).await?;

    let double = guest.func::<(StreamReader<u32>,), (StreamReader<u32>,)>(iface, "double")?;
    let input = StreamReader::new(&mut guest.store, (0..100).collect::<Vec<u32>>())?;
    let (out,) = guest.call(double, (input,)).await?;
    let double = guest.collect(out).await?;

    let shift =
        guest.func::<(StreamReader<Point>, i32, i32), (StreamReader<Point>,)>(iface, "shift")?;
    let input = StreamReader::new(&mut guest.store, POINTS.to_vec())?;
    let (out,) = guest.call(shift, (input, 10, 20)).await?;
    let shift = guest.collect(out).await?;

    let later = guest.func::<(FutureReader<String>,), (FutureReader<String>,)>(iface, "later")?;
    let input = FutureReader::new(&mut guest.store, async {
        Ok::<_, wasmtime::Error>("early".to_string())
    })?;
    let (out,) = guest.call(later, (input,)).await?;
    let later = guest.value(out).await?;

    type Outcome = Result<Option<Point>, Problem>;
    let outcome = guest.func::<(u32,), (FutureReader<Outcome>,)>(iface, "outcome")?;
    let mut outcomes = Vec::new();
    for which in 0..3 {
        let (out,) = guest.call(outcome, (which,)).await?;
        outcomes.push(guest.value(out).await?);
    }
    Ok(StreamAnswers {
        echo,
        double,
        shift,
        later,
        outcomes,
    })
}

#[tokio::test]
async fn native_same_source_streams() -> Result<()> {
    let polyfilled = polyfilled_answers().await?;
    let native = native_answers().await?;
    let expected = StreamAnswers {
        echo: BYTES.to_vec(),
        double: (0..100).map(|v| v * 2).collect(),
        shift: vec![Point { x: 11, y: 22 }, Point { x: 5, y: 20 }],
        later: Some("early later".to_string()),
        outcomes: vec![
            Some(Ok(Some(Point { x: 1, y: 2 }))),
            Some(Ok(None)),
            Some(Err(Problem::Missing("nothing here".to_string()))),
        ],
    };
    assert_eq!(polyfilled, expected, "polyfilled build on isyswasfa");
    assert_eq!(native, expected, "native build on wasmtime");
    Ok(())
}
