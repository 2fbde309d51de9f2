//! Streams and futures of many payload types between the host and the `streams` guest.

use std::time::Duration;

use isyswasfa_host::ReaderEnd;
use wasmtime::Result;
use wasmtime::component::{Resource, Val};

use crate::common;
use crate::common::{STREAMS, ThingRes};

type Stream = Resource<ReaderEnd>;

fn point(x: i32, y: i32) -> Val {
    Val::Record(vec![("x".into(), Val::S32(x)), ("y".into(), Val::S32(y))])
}

async fn read_all<E: isyswasfa_host::PipeElement>(
    host: &isyswasfa_host::Host<isyswasfa_host::State>,
    reader: Stream,
) -> Result<Vec<E>> {
    let mut reader = host.open_stream::<E>(reader).await?;
    let mut all = Vec::new();
    while let Some(chunk) = reader.read(1024).await {
        all.extend(chunk);
    }
    Ok(all)
}

/// Polls the guest's `writer-status` until it is no longer "running" (or a second has passed).
async fn status_after_running(
    host: &isyswasfa_host::Host<isyswasfa_host::State>,
    status: &isyswasfa_host::SyncFunc<(), (String,)>,
) -> Result<String> {
    let mut last = String::new();
    for _ in 0..200 {
        last = host.call_sync(status, ()).await?.0;
        if last != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(last)
}

#[tokio::test]
async fn stream_u32_through_guest() -> Result<()> {
    let host = common::streams().await?;
    let double = host.func::<(Stream,), Stream>(STREAMS, "double").await?;
    let (mut writer, reader) = host.new_stream::<Val>().await?;
    let out = host.call(&double, (reader,)).await?;
    let values: Vec<Val> = (0..1000).map(Val::U32).collect();
    let write = async move {
        for chunk in values.chunks(100) {
            writer.write(chunk.to_vec()).await.expect("reader alive");
        }
    };
    let (read, ()) = tokio::join!(read_all::<Val>(&host, out), write);
    let expected: Vec<Val> = (0..1000).map(|v| Val::U32(v * 2)).collect();
    assert_eq!(read?, expected);
    Ok(())
}

#[tokio::test]
async fn stream_of_records() -> Result<()> {
    let host = common::streams().await?;
    let shift = host
        .func::<(Stream, i32, i32), Stream>(STREAMS, "shift")
        .await?;
    // More records than a value stream buffers: the host buffers exactly its capacity, and the
    // rest waits in the writer until the guest reads.
    let count = isyswasfa_host::limits::VALUE_CAPACITY as i32 + 6;
    let (mut writer, reader) = host.new_stream::<Val>().await?;
    let input = std::sync::Arc::clone(writer.pipe());
    let writing = tokio::spawn(async move {
        let records = (0..count).map(|i| point(i, -i)).collect();
        writer.write(records).await.is_ok()
    });
    assert_eq!(
        settled_len(|| input.len()).await,
        isyswasfa_host::limits::VALUE_CAPACITY
    );
    assert!(!writing.is_finished(), "the writer waits for room");

    let out = host.call(&shift, (reader, 10, 20)).await?;
    let mut out = host.open_stream::<Val>(out).await?;
    let output = std::sync::Arc::clone(out.pipe());
    // The guest's output, unread, fills its stream to exactly the capacity too.
    assert_eq!(
        settled_len(|| output.len()).await,
        isyswasfa_host::limits::VALUE_CAPACITY
    );
    let mut shifted = Vec::new();
    while let Some(chunk) = out.read(1024).await {
        shifted.extend(chunk);
        assert!(output.len() <= output.capacity());
    }
    assert!(writing.await?, "every record was taken");
    let expected: Vec<Val> = (0..count).map(|i| point(i + 10, 20 - i)).collect();
    assert_eq!(shifted, expected);
    Ok(())
}

#[tokio::test]
async fn stream_of_resources() -> Result<()> {
    let host = common::streams().await?;
    // Guest → host: things made by the guest arrive as handles of the host's resource.
    let things = host.func::<(u32,), Stream>(STREAMS, "things").await?;
    let out = host.call(&things, (5,)).await?;
    let handles = read_all::<Val>(&host, out).await?;
    let values = host
        .with_store(move |store, _| {
            let values: Result<Vec<u32>> = handles
                .into_iter()
                .map(|val| match val {
                    Val::Resource(any) => Ok(any.try_into_resource::<ThingRes>(&mut *store)?.rep()),
                    other => wasmtime::bail!("not a resource: {other:?}"),
                })
                .collect();
            Box::pin(async move { values })
        })
        .await??;
    assert_eq!(values, vec![0, 1, 2, 3, 4]);

    // Host → guest: the guest reads the handles and calls their methods.
    let sum = host.func::<(Stream,), u32>(STREAMS, "sum-things").await?;
    let items = host
        .with_store(|store, _| {
            let items: Result<Vec<Val>> = [10u32, 20, 12]
                .into_iter()
                .map(|v| {
                    let any =
                        Resource::<ThingRes>::new_own(v).try_into_resource_any(&mut *store)?;
                    Ok(Val::Resource(any))
                })
                .collect();
            Box::pin(async move { items })
        })
        .await??;
    let (mut writer, reader) = host.new_stream::<Val>().await?;
    writer.write(items).await.ok();
    drop(writer);
    assert_eq!(host.call(&sum, (reader,)).await?, 42);
    Ok(())
}

#[tokio::test]
async fn payloadless_stream() -> Result<()> {
    let host = common::streams().await?;
    let count = host.func::<(Stream,), u32>(STREAMS, "count").await?;
    let (mut writer, reader) = host.new_stream::<()>().await?;
    writer.write(vec![(); 7]).await.ok();
    drop(writer);
    assert_eq!(host.call(&count, (reader,)).await?, 7);
    Ok(())
}

#[tokio::test]
async fn future_string_written_before_and_after_read() -> Result<()> {
    let host = common::streams().await?;
    let later = host.func::<(Stream,), Stream>(STREAMS, "later").await?;

    // Written before the guest reads it.
    let (writer, reader) = host.new_future::<Val>().await?;
    writer.write(Val::String("early".into())).ok();
    let out = host.call(&later, (reader,)).await?;
    let value = host.open_future::<Val>(out).await?.await;
    assert_eq!(value, Some(Val::String("early later".into())));

    // Read (awaited by the guest's task) before it is written.
    let (writer, reader) = host.new_future::<Val>().await?;
    let out = host.call(&later, (reader,)).await?;
    let result = host.open_future::<Val>(out).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    writer.write(Val::String("late".into())).ok();
    assert_eq!(result.await, Some(Val::String("late later".into())));
    Ok(())
}

#[tokio::test]
async fn future_of_nested_result() -> Result<()> {
    let host = common::streams().await?;
    let outcome = host.func::<(u32,), Stream>(STREAMS, "outcome").await?;
    let mut seen = Vec::new();
    for which in 0..3 {
        let out = host.call(&outcome, (which,)).await?;
        seen.push(host.open_future::<Val>(out).await?.await);
    }
    let ok = |v: Option<Val>| {
        Some(Val::Result(Ok(Some(Box::new(Val::Option(
            v.map(Box::new),
        ))))))
    };
    assert_eq!(seen[0], ok(Some(point(1, 2))));
    assert_eq!(seen[1], ok(None));
    assert_eq!(
        seen[2],
        Some(Val::Result(Err(Some(Box::new(Val::Variant(
            "missing".into(),
            Some(Box::new(Val::String("nothing here".into())))
        ))))))
    );
    Ok(())
}

#[tokio::test]
async fn dropped_future_writer_delivers_default() -> Result<()> {
    let host = common::streams().await?;
    let unwritten = host.func::<(), Stream>(STREAMS, "unwritten").await?;
    let out = host.call(&unwritten, ()).await?;
    let value = host.open_future::<Val>(out).await?.await;
    assert_eq!(value, Some(Val::String("the default".into())));
    Ok(())
}

#[tokio::test]
async fn dropping_the_host_future_reader_fails_the_guest_write() -> Result<()> {
    // The guest's `later` writes after the host has dropped the result's reader: the write
    // fails in the guest (it is ignored there) and nothing leaks.
    let host = common::streams().await?;
    let later = host.func::<(Stream,), Stream>(STREAMS, "later").await?;
    let before = host.table_sizes().await?;
    let (writer, reader) = host.new_future::<Val>().await?;
    let out = host.call(&later, (reader,)).await?;
    drop(host.open_future::<Val>(out).await?);
    assert!(writer.write(Val::String("x".into())).is_ok());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(host.table_sizes().await?, before);
    Ok(())
}

#[tokio::test]
async fn writer_sees_dropped_when_reader_goes_away() -> Result<()> {
    let host = common::streams().await?;
    let produce = host.func::<(), Stream>(STREAMS, "produce").await?;
    let status = host
        .sync_func::<(), (String,)>(STREAMS, "writer-status")
        .await?;
    let out = host.call(&produce, ()).await?;
    let mut reader = host.open_stream::<Val>(out).await?;
    let first = reader.read(3).await.expect("values");
    assert_eq!(first[0], Val::U32(0));
    assert_eq!(host.call_sync(&status, ()).await?.0, "running");
    drop(reader);
    let last = status_after_running(&host, &status).await?;
    assert_eq!(last, "dropped");
    Ok(())
}

#[tokio::test]
async fn cancelled_read_loses_nothing() -> Result<()> {
    let host = common::streams().await?;
    let cancel_read = host
        .func::<(Stream, u32), (String, Vec<u32>)>(STREAMS, "cancel-read")
        .await?;
    let (mut writer, reader) = host.new_stream::<Val>().await?;
    let call = host.call(&cancel_read, (reader, 30));
    let write = async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.write(vec![Val::U32(1), Val::U32(2)]).await.ok();
        writer.write(vec![Val::U32(3)]).await.ok();
    };
    let (result, ()) = tokio::join!(call, write);
    assert_eq!(result?, ("Cancelled".to_string(), vec![1, 2, 3]));
    Ok(())
}

#[tokio::test]
async fn backpressure_and_cancelled_write() -> Result<()> {
    let host = common::streams().await?;
    let cancel_write = host
        .func::<(u32, u32), Stream>(STREAMS, "cancel-write")
        .await?;
    let status = host
        .sync_func::<(), (String,)>(STREAMS, "writer-status")
        .await?;
    // Nobody reads: the guest's writes fill the bounded buffer, then one waits and is cancelled.
    let out = host.call(&cancel_write, (1000, 30)).await?;
    let last = status_after_running(&host, &status).await?;
    assert_eq!(last, "cancelled", "a writer faster than its reader waits");
    let values = read_all::<Val>(&host, out).await?;
    let buffered = values.len();
    assert_eq!(
        buffered,
        isyswasfa_host::limits::VALUE_CAPACITY,
        "the buffer holds exactly its capacity before the writer waits"
    );
    let buffered = buffered as u32;
    let expected: Vec<Val> = (0..buffered).map(Val::U32).collect();
    assert_eq!(values, expected, "the cancelled write added nothing");
    Ok(())
}

#[tokio::test]
async fn stream_ends_release_their_handles() -> Result<()> {
    let host = common::streams().await?;
    let double = host.func::<(Stream,), Stream>(STREAMS, "double").await?;
    let before = host.table_sizes().await?;
    for _ in 0..50 {
        let (mut writer, reader) = host.new_stream::<Val>().await?;
        let out = host.call(&double, (reader,)).await?;
        writer.write(vec![Val::U32(1)]).await.ok();
        drop(writer);
        assert_eq!(read_all::<Val>(&host, out).await?, vec![Val::U32(2)]);
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(host.table_sizes().await?, before);
    Ok(())
}

/// Waits until `len()` stops changing (the guest has written all it could), for at most 1 s.
async fn settled_len(len: impl Fn() -> usize) -> usize {
    let mut last = usize::MAX;
    for _ in 0..100 {
        let now = len();
        if now == last && now > 0 {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    len()
}

#[tokio::test]
async fn pipe_write_beyond_room() -> Result<()> {
    let host = common::streams().await?;
    // One guest write of 100 000 values into a stream of capacity 64, nobody reading yet.
    let flood = host.func::<(u32,), Stream>(STREAMS, "flood").await?;
    let out = host.call(&flood, (100_000,)).await?;
    let mut reader = host.open_stream::<Val>(out).await?;
    let pipe = std::sync::Arc::clone(reader.pipe());
    let held = settled_len(|| pipe.len()).await;
    assert_eq!(
        held,
        isyswasfa_host::limits::VALUE_CAPACITY,
        "values buffered in host memory"
    );
    assert_eq!(pipe.capacity(), isyswasfa_host::limits::VALUE_CAPACITY);
    // The rest follows as the reader makes room, in order, and the buffer never grows.
    let mut next = 0u32;
    while let Some(chunk) = reader.read(1000).await {
        for value in chunk {
            assert_eq!(value, Val::U32(next));
            next += 1;
        }
        assert!(pipe.len() <= pipe.capacity());
    }
    assert_eq!(next, 100_000);

    // The same through the byte stream's own write operation: 1 MiB in one write.
    let flood = host.func::<(u32,), Stream>(STREAMS, "flood-bytes").await?;
    let out = host.call(&flood, (1 << 20,)).await?;
    let mut reader = host.open_stream::<u8>(out).await?;
    let pipe = std::sync::Arc::clone(reader.pipe());
    let held = settled_len(|| pipe.len()).await;
    assert_eq!(
        held,
        isyswasfa_host::limits::BYTE_CAPACITY,
        "bytes buffered in host memory"
    );
    let mut count = 0u32;
    while let Some(chunk) = reader.read(100_000).await {
        for byte in chunk {
            assert_eq!(byte, (count % 251) as u8);
            count += 1;
        }
        assert!(pipe.len() <= pipe.capacity());
    }
    assert_eq!(count, 1 << 20);
    Ok(())
}

/// One guest `write_all` of 64 MiB costs about four times one of 16 MiB, not sixteen: each write
/// offers the host one chunk, not the whole rest of the buffer (which made a big `write_all`
/// quadratic in host copying). The best of two runs of each, after a warm-up.
#[tokio::test]
async fn write_all_is_linear() -> Result<()> {
    let host = common::streams().await?;
    let flood = host.func::<(u32,), Stream>(STREAMS, "flood-bytes").await?;
    let time = async |bytes: u32| -> Result<Duration> {
        let mut best = Duration::MAX;
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let out = host.call(&flood, (bytes,)).await?;
            let mut reader = host.open_stream::<u8>(out).await?;
            let mut buf = vec![0; 1 << 20];
            let mut read = 0usize;
            loop {
                match tokio::io::AsyncReadExt::read(&mut reader, &mut buf).await? {
                    0 => break,
                    n => read += n,
                }
            }
            assert_eq!(read, bytes as usize);
            best = best.min(started.elapsed());
        }
        Ok(best)
    };
    time(1 << 20).await?;
    let small = time(16 << 20).await?;
    let large = time(64 << 20).await?;
    assert!(
        large < small * 6,
        "64 MiB took {large:?}, 16 MiB {small:?}: {:.1}×",
        large.as_secs_f64() / small.as_secs_f64()
    );
    Ok(())
}

/// The buffer sizes are the store's setting: the same floods stop at the smaller capacities.
#[tokio::test]
async fn stream_capacities_are_configurable() -> Result<()> {
    let ctx = isyswasfa_host::IsyswasfaCtx::builder()
        .byte_stream_capacity(1000)
        .value_stream_capacity(8)
        .build();
    let state = isyswasfa_host::State::with_isyswasfa(ctx);
    let host = common::streams_in(state, Default::default()).await?;
    let flood = host.func::<(u32,), Stream>(STREAMS, "flood").await?;
    let reader = host
        .open_stream::<Val>(host.call(&flood, (100,)).await?)
        .await?;
    assert_eq!(settled_len(|| reader.pipe().len()).await, 8);
    assert_eq!(read_all_from(reader).await.len(), 100);

    let flood = host.func::<(u32,), Stream>(STREAMS, "flood-bytes").await?;
    let reader = host
        .open_stream::<u8>(host.call(&flood, (10_000,)).await?)
        .await?;
    assert_eq!(settled_len(|| reader.pipe().len()).await, 1000);
    assert_eq!(read_all_from(reader).await.len(), 10_000);
    Ok(())
}

/// Everything left in `reader`.
async fn read_all_from<E>(mut reader: isyswasfa_host::pipes::StreamReader<E>) -> Vec<E> {
    let mut all = Vec::new();
    while let Some(chunk) = reader.read(1024).await {
        all.extend(chunk);
    }
    all
}

#[tokio::test]
async fn buffered_resources_are_released() -> Result<()> {
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let host = common::streams_counting_drops(std::sync::Arc::clone(&dropped)).await?;
    let before = host.table_sizes().await?;
    // The guest writes 3 things (resources) into a stream; its reader is dropped unread.
    let things = host.func::<(u32,), Stream>(STREAMS, "things").await?;
    let out = host.call(&things, (3,)).await?;
    let reader = host.open_stream::<Val>(out).await?;
    let pipe = std::sync::Arc::clone(reader.pipe());
    assert_eq!(settled_len(|| pipe.len()).await, 3);
    assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 0);
    drop(reader);
    for _ in 0..100 {
        if dropped.load(std::sync::atomic::Ordering::SeqCst) == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "each buffered resource is released with its destructor"
    );
    assert_eq!(host.table_sizes().await?, before);
    Ok(())
}
