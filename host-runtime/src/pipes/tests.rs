//! Tests of pipes and their embedder ends.

use super::*;
use futures::{SinkExt, StreamExt};
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(fut).poll(&mut cx)
}

#[allow(dead_code)]
fn assert_send_sync_unpin<X: Send + Sync + Unpin>() {}

#[test]
fn ends_are_send_sync_unpin() {
    // `Cell` is `Send` but not `Sync`: the ends must still be `Send + Sync`.
    assert_send_sync_unpin::<StreamReader<Cell<u8>>>();
    assert_send_sync_unpin::<StreamWriter<Cell<u8>>>();
    assert_send_sync_unpin::<FutureReader<Cell<u8>>>();
    assert_send_sync_unpin::<FutureWriter<Cell<u8>>>();
    assert_send_sync_unpin::<StreamReader<wasmtime::component::Val>>();
    // `PhantomPinned` is `!Unpin`: the ends must still be `Unpin`.
    fn unpin<X: Unpin>() {}
    unpin::<StreamReader<std::marker::PhantomPinned>>();
    unpin::<FutureReader<std::marker::PhantomPinned>>();
    // `Rc` is neither `Send` nor `Sync`; the ends are still usable on one thread.
    let (_w, _r) = stream::<Rc<u8>>(1);
}

#[test]
fn pipe_protocol() {
    let pipe = Pipe::<u32>::new(0);
    assert_eq!(pipe.capacity(), 1);
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(pipe.poll_readable(&mut cx), Poll::Pending);
    assert_eq!(pipe.take(10), Some(vec![]));
    assert_eq!(pipe.poll_writable(&mut cx), Poll::Ready(true));
    // Only what fits is appended; the excess is given back.
    assert_eq!(pipe.push(vec![1, 2, 3]), Ok(vec![2, 3]));
    assert_eq!(pipe.len(), 1);
    assert_eq!(pipe.poll_writable(&mut cx), Poll::Pending);
    assert_eq!(pipe.push(vec![2, 3]), Ok(vec![2, 3]));
    assert_eq!(pipe.poll_readable(&mut cx), Poll::Ready(()));
    assert_eq!(pipe.take(0), Some(vec![]));
    assert_eq!(pipe.take(2), Some(vec![1]));
    assert_eq!(pipe.poll_writable(&mut cx), Poll::Ready(true));
    pipe.push(vec![4]).unwrap();
    pipe.close_writer();
    assert!(!pipe.is_writer_open());
    assert_eq!(pipe.take(10), Some(vec![4]));
    assert_eq!(pipe.poll_readable(&mut cx), Poll::Ready(()));
    assert_eq!(pipe.take(10), None);
    assert_eq!(pipe.take(0), None);
}

#[test]
fn wakers_are_woken() {
    struct Flag(std::sync::atomic::AtomicBool);
    impl std::task::Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let woken = |flag: &Arc<Flag>| flag.0.swap(false, std::sync::atomic::Ordering::SeqCst);
    let flag = Arc::new(Flag(false.into()));
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);

    let pipe = Pipe::<u8>::new(2);
    assert_eq!(pipe.poll_readable(&mut cx), Poll::Pending);
    assert!(!woken(&flag));
    pipe.push_slice(b"ab").unwrap();
    assert!(woken(&flag), "push wakes the reader");
    assert_eq!(pipe.poll_writable(&mut cx), Poll::Pending);
    let mut buf = [0; 1];
    assert_eq!(pipe.take_into(&mut buf), Some(1));
    assert_eq!(&buf, b"a");
    assert!(woken(&flag), "take wakes the writer");
    assert_eq!(pipe.take_into(&mut buf), Some(1));
    assert_eq!(pipe.poll_readable(&mut cx), Poll::Pending);
    pipe.close_writer();
    assert!(woken(&flag), "close_writer wakes the reader");
    assert_eq!(pipe.take_into(&mut buf), None);

    // Closing an end also wakes a wait registered on that same end.
    let pipe = Pipe::<u8>::new(1);
    assert_eq!(pipe.poll_readable(&mut cx), Poll::Pending);
    pipe.close_reader();
    assert!(woken(&flag), "close_reader wakes a wait on the reader side");
    assert_eq!(pipe.poll_readable(&mut cx), Poll::Ready(()));
    let pipe = Pipe::<u8>::new(1);
    pipe.push_slice(b"x").unwrap();
    assert_eq!(pipe.poll_writable(&mut cx), Poll::Pending);
    pipe.close_writer();
    assert!(woken(&flag), "close_writer wakes a wait on the writer side");
    assert_eq!(pipe.poll_writable(&mut cx), Poll::Ready(false));

    let pipe = Pipe::<u8>::new(1);
    pipe.push_slice(b"x").unwrap();
    assert_eq!(pipe.poll_writable(&mut cx), Poll::Pending);
    pipe.close_reader();
    assert!(woken(&flag), "close_reader wakes the writer");
    assert_eq!(pipe.len(), 0, "close_reader drops buffered values");
    assert_eq!(pipe.poll_writable(&mut cx), Poll::Ready(false));
    assert_eq!(pipe.push_slice(b"y"), Err(()));
}

#[tokio::test]
async fn readable_and_writable_futures() {
    let pipe = Pipe::<u8>::new(1);
    let readable = tokio::spawn(pipe.readable());
    tokio::task::yield_now().await;
    assert!(!readable.is_finished());
    pipe.push(vec![1]).unwrap();
    readable.await.unwrap();
    let writable = tokio::spawn(pipe.writable());
    tokio::task::yield_now().await;
    assert!(!writable.is_finished());
    assert_eq!(pipe.take(1), Some(vec![1]));
    assert!(writable.await.unwrap());
    pipe.push(vec![2]).unwrap();
    let writable = tokio::spawn(pipe.writable());
    pipe.close_reader();
    assert!(!writable.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure() {
    const CAPACITY: usize = 4;
    const CHUNK: usize = 3;
    let (mut writer, mut reader) = stream::<u32>(CAPACITY);
    let pipe = Arc::clone(reader.pipe());
    let max_seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writes = tokio::spawn({
        let max_seen = Arc::clone(&max_seen);
        let pipe = Arc::clone(&pipe);
        async move {
            let mut waited = 0;
            for chunk in 0..50u32 {
                let values: Vec<u32> = (0..CHUNK as u32).map(|i| chunk * 10 + i).collect();
                let mut write = Box::pin(writer.write(values));
                match poll_once(&mut write) {
                    Poll::Ready(result) => result.unwrap(),
                    Poll::Pending => {
                        waited += 1;
                        write.await.unwrap();
                    }
                }
                max_seen.fetch_max(pipe.len(), std::sync::atomic::Ordering::SeqCst);
            }
            waited
        }
    });
    let mut received = Vec::new();
    while let Some(values) = reader.read(2).await {
        assert!(!values.is_empty() && values.len() <= 2);
        received.extend(values);
        if received.len() % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let waited = writes.await.unwrap();
    let expected: Vec<u32> = (0..50u32)
        .flat_map(|chunk| (0..CHUNK as u32).map(move |i| chunk * 10 + i))
        .collect();
    assert_eq!(received, expected);
    assert!(waited > 0, "the faster writer must have waited for room");
    let max_seen = max_seen.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        max_seen <= CAPACITY - 1 + CHUNK,
        "buffer held {max_seen} values"
    );
}

#[tokio::test]
async fn writer_waits_exactly_while_full() {
    let (mut writer, mut reader) = stream::<u8>(2);
    writer.write(vec![1]).await.unwrap();
    // Room for one more: a write of three appends one value, then waits for room.
    let mut write = Box::pin(writer.write(vec![2, 3, 4]));
    assert!(poll_once(&mut write).is_pending());
    assert_eq!(reader.pipe().len(), 2);
    assert_eq!(reader.read(1).await, Some(vec![1]));
    assert!(poll_once(&mut write).is_pending());
    assert_eq!(reader.pipe().len(), 2, "never more than the capacity");
    assert_eq!(reader.read(3).await, Some(vec![2, 3]));
    assert_eq!(poll_once(&mut write), Poll::Ready(Ok(())));
    drop(write);
    // Only what fits is appended; a write that fits completes at once.
    let mut write = Box::pin(writer.write(vec![5, 6]));
    assert!(poll_once(&mut write).is_pending());
    assert_eq!(reader.read(3).await, Some(vec![4, 5]));
    assert_eq!(poll_once(&mut write), Poll::Ready(Ok(())));
    drop(write);
    assert_eq!(
        poll_once(&mut Box::pin(writer.write(vec![7]))),
        Poll::Ready(Ok(()))
    );
}

#[test]
fn push_never_exceeds_capacity_and_discards_to_the_sink() {
    let pipe = Pipe::<u32>::new(64);
    let excess = pipe.push((0..1000).collect()).unwrap();
    assert_eq!((pipe.len(), excess.len()), (64, 936));
    assert_eq!(excess[0], 64);
    assert_eq!(pipe.push(excess.clone()), Ok(excess));
    let discarded = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&discarded);
    pipe.set_discard(Arc::new(move |values| sink.lock().unwrap().extend(values)));
    pipe.close_reader();
    assert_eq!(*discarded.lock().unwrap(), (0..64).collect::<Vec<u32>>());
    assert_eq!(pipe.len(), 0);
}

#[tokio::test]
async fn end_of_stream_after_writer_dropped() {
    let (mut writer, mut reader) = stream::<String>(8);
    writer
        .write(vec!["a".into(), "b".into(), "c".into()])
        .await
        .unwrap();
    drop(writer);
    assert!(!reader.pipe().is_writer_open());
    assert_eq!(
        reader.read(2).await,
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(reader.read(2).await, Some(vec!["c".to_string()]));
    assert_eq!(reader.read(2).await, None);
    assert_eq!(reader.read(0).await, None);
}

#[tokio::test]
async fn pending_read_sees_end_of_stream() {
    let (writer, mut reader) = stream::<u8>(8);
    let read = tokio::spawn(async move { reader.read(4).await });
    tokio::task::yield_now().await;
    assert!(!read.is_finished());
    drop(writer);
    assert_eq!(read.await.unwrap(), None);
}

#[tokio::test]
async fn write_after_reader_dropped() {
    let (mut writer, reader) = stream::<u32>(2);
    writer.write(vec![1, 2]).await.unwrap();
    // A write pending for room fails once the reader goes away.
    let pending = tokio::spawn(async move {
        let result = writer.write(vec![3]).await;
        (writer, result)
    });
    tokio::task::yield_now().await;
    assert!(!pending.is_finished());
    drop(reader);
    let (mut writer, result) = pending.await.unwrap();
    assert_eq!(result, Err(vec![3]));
    assert_eq!(writer.write(vec![4, 5]).await, Err(vec![4, 5]));
    assert_eq!(writer.pipe().len(), 0);
    assert_eq!(writer.send(6).await, Err(Closed));

    let (mut writer, reader) = stream::<u8>(2);
    drop(reader);
    let error = std::future::poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, b"x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    assert_eq!(writer.pipe().push_slice(b"y"), Err(()));
}

#[tokio::test]
async fn cancelled_read_loses_nothing() {
    let (mut writer, mut reader) = stream::<u32>(4);
    {
        let mut read = Box::pin(reader.read(10));
        assert!(poll_once(&mut read).is_pending());
        // Dropped while pending.
    }
    writer.write(vec![1, 2]).await.unwrap();
    {
        // Cancelled even though values are buffered: nothing was taken without being polled.
        let _read = Box::pin(reader.read(10));
    }
    writer.write(vec![3]).await.unwrap();
    assert_eq!(reader.read(10).await, Some(vec![1, 2, 3]));
    // Via timeout, a real cancellation of a waiting read.
    let timed_out = tokio::time::timeout(Duration::from_millis(2), reader.read(10)).await;
    assert!(timed_out.is_err());
    writer.write(vec![4]).await.unwrap();
    writer.write(vec![5]).await.unwrap();
    drop(writer);
    assert_eq!(reader.read(10).await, Some(vec![4, 5]));
    assert_eq!(reader.read(10).await, None);
}

#[tokio::test]
async fn cancelled_write_loses_nothing() {
    let (mut writer, mut reader) = stream::<u32>(2);
    writer.write(vec![1, 2]).await.unwrap();
    {
        let mut write = Box::pin(writer.write(vec![100, 101]));
        assert!(poll_once(&mut write).is_pending());
        // Dropped while waiting for room: none of its values are written.
    }
    let timed_out = tokio::time::timeout(Duration::from_millis(2), writer.write(vec![200])).await;
    assert!(timed_out.is_err());
    assert_eq!(reader.pipe().len(), 2);
    assert_eq!(reader.read(2).await, Some(vec![1, 2]));
    writer.write(vec![3, 4]).await.unwrap();
    assert_eq!(reader.read(10).await, Some(vec![3, 4]));
    writer.write(vec![5]).await.unwrap();
    drop(writer);
    let rest: Vec<u32> = reader.collect().await;
    assert_eq!(rest, vec![5]);
}

#[tokio::test]
async fn future_written_before_read() {
    let (writer, reader) = future::<String>();
    writer.write("hello".to_string()).unwrap();
    assert_eq!(reader.await, Some("hello".to_string()));
}

#[tokio::test]
async fn future_read_before_written() {
    let (writer, reader) = future::<u64>();
    let read = tokio::spawn(reader);
    tokio::task::yield_now().await;
    assert!(!read.is_finished());
    writer.write(42).unwrap();
    assert_eq!(read.await.unwrap(), Some(42));
}

#[tokio::test]
async fn future_writer_dropped_without_value() {
    let (writer, reader) = future::<u64>();
    let read = tokio::spawn(reader);
    tokio::task::yield_now().await;
    assert!(!read.is_finished());
    drop(writer);
    assert_eq!(read.await.unwrap(), None);
}

#[tokio::test]
async fn future_reader_dropped() {
    let (writer, reader) = future::<String>();
    drop(reader);
    assert_eq!(writer.write("lost".to_string()), Err("lost".to_string()));
}

#[tokio::test]
async fn future_polled_again_after_value() {
    let (writer, mut reader) = future::<u8>();
    writer.write(7).unwrap();
    assert_eq!(poll_once(&mut reader), Poll::Ready(Some(7)));
    assert_eq!(poll_once(&mut reader), Poll::Ready(None));
}

/// Copies everything from `reader` to `writer` through a small stack buffer, then shuts the
/// writer down (what `tokio::io::copy` does, without needing tokio's `io-util` feature).
async fn copy(
    mut reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
) -> io::Result<u64> {
    let mut buf = [0u8; 1000];
    let mut total = 0;
    loop {
        let mut read_buf = ReadBuf::new(&mut buf);
        std::future::poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut read_buf)).await?;
        let filled = read_buf.filled();
        if filled.is_empty() {
            break;
        }
        let mut rest = filled;
        while !rest.is_empty() {
            let n = std::future::poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, rest)).await?;
            assert!(n > 0);
            rest = &rest[n..];
            total += n as u64;
        }
    }
    std::future::poll_fn(|cx| Pin::new(&mut writer).poll_shutdown(cx)).await?;
    Ok(total)
}

/// A source of bytes that yields them in odd-sized pieces.
struct Source<'a>(&'a [u8]);
impl AsyncRead for Source<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.0.len().min(buf.remaining()).min(777);
        buf.put_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Poll::Ready(Ok(()))
    }
}

/// A sink of bytes that records them and checks the pipe never exceeds its capacity.
struct Recorder(Vec<u8>);
impl AsyncWrite for Recorder {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_read_write_round_trip() {
    let data: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (writer, reader) = stream::<u8>(4096);
    let pipe = Arc::clone(writer.pipe());
    let source = data.clone();
    let produce = tokio::spawn(async move { copy(Source(&source), writer).await });
    let consume = tokio::spawn(async move {
        let mut recorder = Recorder(Vec::new());
        let n = copy(reader, &mut recorder).await?;
        io::Result::Ok((n, recorder.0))
    });
    assert_eq!(produce.await.unwrap().unwrap(), data.len() as u64);
    let (n, received) = consume.await.unwrap().unwrap();
    assert_eq!(n, data.len() as u64);
    assert!(received == data, "bytes differ");
    assert!(pipe.len() <= pipe.capacity());
    assert!(!pipe.is_reader_open() && !pipe.is_writer_open());
}

#[tokio::test]
async fn async_write_is_bounded_by_capacity() {
    let (mut writer, mut reader) = stream::<u8>(4);
    let n = std::future::poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, b"abcdef"))
        .await
        .unwrap();
    assert_eq!(n, 4);
    assert_eq!(writer.pipe().len(), 4);
    let mut pending = Box::pin(std::future::poll_fn(|cx| {
        Pin::new(&mut writer).poll_write(cx, b"ef")
    }));
    assert!(poll_once(&mut pending).is_pending());
    drop(pending);
    let mut buf = [0u8; 3];
    let mut read_buf = ReadBuf::new(&mut buf);
    std::future::poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut read_buf))
        .await
        .unwrap();
    assert_eq!(read_buf.filled(), b"abc");
    std::future::poll_fn(|cx| Pin::new(&mut writer).poll_shutdown(cx))
        .await
        .unwrap();
    let err = std::future::poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, b"z"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    let mut read_buf = ReadBuf::new(&mut buf);
    std::future::poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut read_buf))
        .await
        .unwrap();
    assert_eq!(read_buf.filled(), b"d");
    let mut read_buf = ReadBuf::new(&mut buf);
    std::future::poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut read_buf))
        .await
        .unwrap();
    assert!(read_buf.filled().is_empty(), "end of stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_and_sink_adapters() {
    let (mut writer, reader) = stream::<u32>(3);
    let send = tokio::spawn(async move {
        let mut values = futures::stream::iter(0..1000u32).map(Ok);
        writer.send_all(&mut values).await?;
        writer.close().await
    });
    let received: Vec<u32> = reader.collect().await;
    send.await.unwrap().unwrap();
    assert_eq!(received, (0..1000).collect::<Vec<_>>());
}

#[tokio::test]
async fn stream_adapter_mixes_with_read() {
    let (mut writer, mut reader) = stream::<u32>(8);
    writer.write(vec![1, 2, 3, 4]).await.unwrap();
    assert_eq!(reader.next().await, Some(1));
    // 2, 3 and 4 were taken into the reader's local buffer: `read` returns them first.
    assert_eq!(reader.pipe().len(), 0);
    writer.write(vec![5]).await.unwrap();
    assert_eq!(reader.read(2).await, Some(vec![2, 3]));
    assert_eq!(reader.read(0).await, Some(vec![]));
    assert_eq!(reader.read(5).await, Some(vec![4]));
    drop(writer);
    assert_eq!(reader.next().await, Some(5));
    assert_eq!(reader.next().await, None);
}

#[tokio::test]
async fn val_payloads() {
    use wasmtime::component::Val;
    let (mut writer, mut reader) = stream::<Val>(2);
    writer
        .write(vec![Val::String("a".into()), Val::U32(7)])
        .await
        .unwrap();
    drop(writer);
    assert_eq!(
        reader.read(10).await,
        Some(vec![Val::String("a".into()), Val::U32(7)])
    );
    assert_eq!(reader.read(10).await, None);
}
