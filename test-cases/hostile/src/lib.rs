//! A guest that speaks the isyswasfa protocol with its own raw bindings and breaks its rules on
//! demand: every attack must end in a clear error naming the protocol call and the component,
//! and break nothing but this guest's own store. Probes are the misbehaviours the host must
//! survive: they return the numbers the guest observed, for the host's test to check.

wit_bindgen::generate!({
    path: ["../../protocol/wit", "wit"],
    world: "component:hostile/hostile",
    generate_all,
});

use std::cell::{Cell, RefCell};

use component::hostile::isyswasfa_ops_hostile as ops;
use isyswasfa::isyswasfa::isyswasfa::Poller;
use isyswasfa::pipes::{future_u32, stream_list_u8, stream_u32, stream_u8};
use wasi::clocks::monotonic_clock as clock;

/// An hour, in nanoseconds: a wait that never ends during a test.
const HOUR: u64 = 3_600_000_000_000;
/// A millisecond, in nanoseconds: a wait that never finishes in its start half.
const MILLISECOND: u64 = 1_000_000;

thread_local! {
    static POLLER: RefCell<Option<Poller>> = const { RefCell::new(None) };
    static MODE: RefCell<String> = RefCell::new("normal".into());
    static POLLS: Cell<u64> = const { Cell::new(0) };
    /// Handles kept across calls (so that they can be used again after they went stale).
    static KEPT: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    /// `ready` handles kept across calls.
    static KEPT_READY: RefCell<Vec<Ready>> = const { RefCell::new(Vec::new()) };
    /// The ends of the stream the last `pipe-flood` probe wrote.
    static FLOODED: RefCell<Option<(stream_u32::Writer, Option<stream_u32::Reader>)>> =
        const { RefCell::new(None) };
    /// The ends of the streams the `list-flood` probes wrote (never read).
    static LIST_FLOODED: RefCell<Vec<(stream_list_u8::Writer, stream_list_u8::Reader)>> =
        const { RefCell::new(Vec::new()) };
    /// The next token of a task of `slow`.
    static NEXT_SLOW: Cell<u32> = const { Cell::new(50_000) };
}

fn with_poller<R>(f: impl FnOnce(&Poller) -> R) -> R {
    POLLER.with(|p| {
        f(p.borrow()
            .as_ref()
            .expect("the host delivers the poller first"))
    })
}

/// Listens to `pending` with `token` and waits (inside a synchronous export) for its `ready`.
fn wait(poller: &Poller, pending: Pending, token: u32) -> Ready {
    poller.listen(pending, token);
    loop {
        for event in poller.block(&[token]) {
            match event {
                PollInput::Ready(event) if event.state == token => return event.ready,
                // Nothing else is awaited here: another `ready` is dropped (which cancels
                // nothing: its task finished), a `cancel` ignored.
                _ => {}
            }
        }
    }
}

/// Starts a one-millisecond wait and waits for its `ready`.
fn timer_ready(poller: &Poller, token: u32) -> Ready {
    match clock::wait_for_isyswasfa_start(MILLISECOND) {
        Ok(()) => panic!("hostile: a 1 ms wait finished in its start half"),
        Err(pending) => wait(poller, pending, token),
    }
}

/// A `ready` of this guest's own task (started, listened to by itself, finished).
fn own_ready(poller: &Poller, state: u32, token: u32) -> Ready {
    let pending = poller.start_task(state);
    poller.listen(pending, token);
    poller.task_ready(state);
    wait_listened(poller, token)
}

/// Waits for the `ready` of a task already listened to with `token`.
fn wait_listened(poller: &Poller, token: u32) -> Ready {
    loop {
        for event in poller.block(&[token]) {
            if let PollInput::Ready(event) = event
                && event.state == token
            {
                return event.ready;
            }
        }
    }
}

struct Component;

impl Guest for Component {
    fn isyswasfa_poll_hostile(input: Vec<PollInput>) {
        POLLS.with(|p| p.set(p.get() + 1));
        for event in input {
            if let PollInput::Init(poller) = event {
                POLLER.with(|p| *p.borrow_mut() = Some(poller));
            }
        }
        match MODE.with(|m| m.borrow().clone()).as_str() {
            // Never done: asks to be polled again every time.
            "run-again" => with_poller(|p| p.run_again()),
            "trap" => panic!("hostile: trap in the poll export"),
            _ => {}
        }
    }

    fn set_poll_mode(mode: String) {
        MODE.with(|m| *m.borrow_mut() = mode.clone());
        if mode == "run-again" || mode == "trap" {
            with_poller(|p| p.run_again());
        }
    }

    fn polls() -> u64 {
        POLLS.with(Cell::get)
    }

    fn attack(which: String) {
        with_poller(|poller| match which.as_str() {
            // `task-ready` for a task it never started.
            "unknown-task" => poller.task_ready(999),
            // Confirms a cancellation nobody asked for, to free a task its caller waits for.
            "unasked-cancel" => {
                let pending = poller.start_task(1);
                KEPT.with(|k| k.borrow_mut().push(pending));
                poller.task_cancelled(1);
            }
            // Finishes the same task twice.
            "double-ready" => {
                let pending = poller.start_task(2);
                KEPT.with(|k| k.borrow_mut().push(pending));
                poller.task_ready(2);
                poller.task_ready(2);
            }
            // Uses one token for two tasks.
            "token-reuse" => {
                let first = poller.start_task(3);
                let second = poller.start_task(3);
                KEPT.with(|k| k.borrow_mut().extend([first, second]));
            }
            // Starts tasks until the host's cap stops it.
            "task-flood" => {
                for state in 100.. {
                    let pending = poller.start_task(state);
                    KEPT.with(|k| k.borrow_mut().push(pending));
                }
            }
            // Listens to tasks that never finish, until the host's cap stops it (as a loop of
            // far-future waits would).
            "listen-flood" => {
                for state in 1000.. {
                    let pending = poller.start_task(state);
                    poller.listen(pending, state);
                }
            }
            // Listens to its own task twice under the same token.
            "listen-token-reuse" => {
                let first = poller.start_task(4);
                let second = poller.start_task(5);
                poller.listen(first, 7);
                poller.listen(second, 7);
            }
            // A handle it never received (a forged table index).
            "forged-handle" => {
                // SAFETY (for the guest): deliberately wrong; the host must refuse it.
                let forged = unsafe { Pending::from_handle(0x7fff) };
                poller.listen(forged, 8);
            }
            // Waits inside a synchronous export for nothing the host could finish.
            "block-on-nothing" => {
                let _ = poller.block(&[]);
            }
            // The `ready` of `wait-for` passed to the result half of `wait-until`.
            "wrong-function" => {
                let ready = timer_ready(poller, 20);
                clock::wait_until_isyswasfa_result(ready);
            }
            // The `ready` of a host function claimed as one of its own tasks.
            "host-ready-claimed" => {
                let ready = timer_ready(poller, 21);
                poller.take_result(ready);
            }
            // The `ready` of its own task passed to a host function's result half.
            "own-ready-to-host" => {
                let ready = own_ready(poller, 22, 23);
                clock::wait_for_isyswasfa_result(ready);
            }
            // A `ready` collected, then used again through its old handle index.
            "stale-ready" => {
                let ready = timer_ready(poller, 24);
                let index = ready.handle();
                clock::wait_for_isyswasfa_result(ready);
                // SAFETY (for the guest): deliberately stale; the host must refuse it.
                let stale = unsafe { Ready::from_handle(index) };
                clock::wait_for_isyswasfa_result(stale);
            }
            // A `ready` collected, then used again through its old handle index once a new
            // `pending` (of a new task in the host's table) took that index.
            "stale-ready-reused" => {
                let ready = timer_ready(poller, 25);
                let index = ready.handle();
                clock::wait_for_isyswasfa_result(ready);
                let Err(pending) = clock::wait_for_isyswasfa_start(HOUR) else {
                    panic!("hostile: an hour passed at once");
                };
                assert_eq!(pending.handle(), index, "hostile: the index was not reused");
                KEPT.with(|k| k.borrow_mut().push(pending));
                // SAFETY (for the guest): deliberately stale; the host must refuse it.
                let stale = unsafe { Ready::from_handle(index) };
                clock::wait_for_isyswasfa_result(stale);
            }
            // Far-future waits, each listened to, until a cap of the host stops it.
            "far-future-listen" => {
                for token in 30_000.. {
                    let Err(pending) = clock::wait_for_isyswasfa_start(HOUR) else {
                        panic!("hostile: an hour passed at once");
                    };
                    poller.listen(pending, token);
                }
            }
            // Computes forever.
            "busy" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            // A plain trap in a synchronous export.
            "trap" => panic!("hostile: trap in a synchronous export"),
            // A pipe end dropped twice (the second time through its old handle index).
            // One 1 MiB value into each of 32 new `stream<list<u8>>` pipes nobody reads: every
            // pipe takes its value (an empty pipe takes any value), until the store's pipes
            // hold more than the store's byte budget.
            "list-flood-pipes" => {
                let value = vec![7u8; 1024 * 1024];
                for _ in 0..32 {
                    let (writer, reader) = stream_list_u8::new();
                    ops::stream_list_u8_write(&writer, std::slice::from_ref(&value));
                    LIST_FLOODED.with(|f| f.borrow_mut().push((writer, reader)));
                }
            }
            "pipe-double-drop" => {
                let (writer, reader) = stream_u32::new();
                let index = reader.handle();
                drop(reader);
                // SAFETY (for the guest): deliberately stale; the host must refuse it.
                drop(unsafe { stream_u32::Reader::from_handle(index) });
                drop(writer);
            }
            // A future's writer used again after `future-write` consumed it.
            "future-write-consumed" => {
                let (writer, reader) = future_u32::new();
                let index = writer.handle();
                ops::future_u32_write(writer, 1);
                // SAFETY (for the guest): deliberately stale; the host must refuse it.
                let stale = unsafe { future_u32::Writer::from_handle(index) };
                ops::future_u32_write(stale, 2);
                drop(reader);
            }
            // A future's writer passed where a stream's writer is expected.
            "future-as-stream" => {
                let (writer, reader) = future_u32::new();
                // SAFETY (for the guest): deliberately mistyped; the host must refuse it.
                let forged = unsafe { stream_u32::Writer::from_handle(writer.handle()) };
                ops::stream_u32_write(&forged, &[1, 2, 3]);
                std::mem::forget(forged);
                drop((writer, reader));
            }
            // Writes 64 MiB into a byte stream nobody reads, again and again, in one entry (512
            // MiB would be refused by wasmtime itself: it copies at most 128 MiB per host call):
            // each write gives nearly all of it back, so only the host's work on the offered
            // bytes (not the guest's own computing) could make this take long.
            "huge-byte-writes" => {
                let (writer, _reader) = stream_u8::new();
                let huge = vec![7u8; 64 << 20];
                for _ in 0..1_000 {
                    let back = ops::stream_u8_write(&writer, &huge);
                    std::hint::black_box(back);
                }
            }
            other => panic!("hostile: no attack `{other}`"),
        })
    }

    fn probe(which: String) -> Vec<u64> {
        with_poller(|poller| match which.as_str() {
            // Far-future waits started and dropped at once, 100 000 times: each drop cancels
            // its host future, so the host's tables do not grow.
            "far-future-drop" => {
                let mut started = 0u64;
                for _ in 0..100_000 {
                    if let Err(pending) = clock::wait_for_isyswasfa_start(HOUR) {
                        drop(pending);
                        started += 1;
                    }
                }
                vec![started]
            }
            // One write of a million values into a stream with room for a few: returns how
            // many came back, the first value that came back, and how many of a second write
            // of 10 came back. Keeps both ends (see `take-reader`, `drop-flooded-writer`).
            "pipe-flood" => {
                let (writer, reader) = stream_u32::new();
                let values: Vec<u32> = (0..1_000_000).collect();
                let back = ops::stream_u32_write(&writer, &values);
                let first = back.first().copied().map_or(u64::MAX, u64::from);
                let again = ops::stream_u32_write(&writer, &[7; 10]);
                FLOODED.with(|f| *f.borrow_mut() = Some((writer, Some(reader))));
                vec![back.len() as u64, first, again.len() as u64]
            }
            "drop-flooded-writer" => {
                FLOODED.with(|f| f.borrow_mut().take());
                vec![]
            }
            // The writer goes while a `wait-readable` on the reader is pending: the wait ends,
            // and the read sees the end of the stream. Returns [1 when the read saw the end].
            "writer-dropped-while-waiting" => {
                let (writer, reader) = stream_u32::new();
                let Err(pending) = stream_u32::wait_readable_isyswasfa_start(&reader) else {
                    panic!("hostile: an empty stream was readable");
                };
                poller.listen(pending, 40);
                drop(writer);
                stream_u32::wait_readable_isyswasfa_result(wait_listened(poller, 40));
                let end = ops::stream_u32_read(&reader, 10).is_none();
                vec![u64::from(end)]
            }
            // The reader goes, then the writer writes: everything comes back, and the writer is
            // told at once that the stream has no room any more. Returns [values back,
            // 1 when writable].
            "reader-dropped-then-write" => {
                let (writer, reader) = stream_u32::new();
                drop(reader);
                let back = ops::stream_u32_write(&writer, &[1, 2, 3]);
                let writable = match stream_u32::wait_writable_isyswasfa_start(&writer) {
                    Ok(writable) => writable,
                    Err(pending) => {
                        stream_u32::wait_writable_isyswasfa_result(wait(poller, pending, 41))
                    }
                };
                vec![back.len() as u64, u64::from(writable)]
            }
            // The reader goes while a `wait-writable` on the full writer is pending: the wait
            // ends with false. Returns [values accepted, 1 when writable].
            "reader-dropped-while-waiting" => {
                let (writer, reader) = stream_u32::new();
                let values: Vec<u32> = (0..1000).collect();
                let accepted = 1000 - ops::stream_u32_write(&writer, &values).len();
                let Err(pending) = stream_u32::wait_writable_isyswasfa_start(&writer) else {
                    panic!("hostile: a full stream was writable");
                };
                poller.listen(pending, 42);
                drop(reader);
                let writable =
                    stream_u32::wait_writable_isyswasfa_result(wait_listened(poller, 42));
                vec![accepted as u64, u64::from(writable)]
            }
            // Both ends go while a wait on each is pending; the waits are cancelled (one by
            // `poller.cancel`, one by dropping its `pending`). Returns [].
            "both-dropped-while-waiting" => {
                let (writer, reader) = stream_u32::new();
                let values: Vec<u32> = (0..1000).collect();
                ops::stream_u32_write(&writer, &values);
                let Err(write_wait) = stream_u32::wait_writable_isyswasfa_start(&writer) else {
                    panic!("hostile: a full stream was writable");
                };
                let (writer2, reader2) = stream_u32::new();
                let Err(read_wait) = stream_u32::wait_readable_isyswasfa_start(&reader2) else {
                    panic!("hostile: an empty stream was readable");
                };
                poller.listen(write_wait, 43);
                drop((reader, writer, reader2, writer2));
                poller.cancel(43);
                drop(read_wait);
                vec![]
            }
            // A future read before it was written (nothing yet), then written after its reader
            // went with that read: the value comes back. Returns [1 when the read found
            // nothing, 1 when the value came back].
            "future-read-first" => {
                let (writer, reader) = future_u32::new();
                let read = ops::future_u32_read(reader);
                let back = ops::future_u32_write(writer, 5);
                vec![u64::from(read.is_none()), u64::from(back == Some(5))]
            }
            // A future whose reader is dropped while its `wait-readable` is pending, then
            // written. Returns [1 when the value came back].
            "future-reader-dropped-while-waiting" => {
                let (writer, reader) = future_u32::new();
                let Err(pending) = future_u32::wait_readable_isyswasfa_start(&reader) else {
                    panic!("hostile: an unwritten future was readable");
                };
                poller.listen(pending, 44);
                drop(reader);
                future_u32::wait_readable_isyswasfa_result(wait_listened(poller, 44));
                let back = ops::future_u32_write(writer, 6);
                vec![u64::from(back == Some(6))]
            }
            // `list-flood:SIZE:COUNT`: COUNT writes of one SIZE-byte value each into one new
            // `stream<list<u8>>` nobody reads (both ends kept). Returns, per write, how many
            // values the pipe took, then how many bytes this guest's memory grew meanwhile.
            flood if flood.starts_with("list-flood:") => {
                let memory = || core::arch::wasm32::memory_size::<0>() as u64 * 65536;
                let before = memory();
                let mut numbers = flood.split(':').skip(1).map(|n| n.parse::<usize>());
                let (Some(Ok(size)), Some(Ok(count))) = (numbers.next(), numbers.next()) else {
                    panic!("hostile: `{flood}` is not `list-flood:SIZE:COUNT`");
                };
                let value = vec![7u8; size];
                let (writer, reader) = stream_list_u8::new();
                let mut seen: Vec<u64> = (0..count)
                    .map(|_| {
                        let back = ops::stream_list_u8_write(&writer, std::slice::from_ref(&value));
                        1 - back.len() as u64
                    })
                    .collect();
                LIST_FLOODED.with(|f| f.borrow_mut().push((writer, reader)));
                drop(value);
                seen.push(memory() - before);
                seen
            }
            // Three values (one empty) through a `stream<list<u8>>` and back. Returns how many
            // the write gave back, then each value read's length and its bytes' sum.
            "list-round-trip" => {
                let (writer, reader) = stream_list_u8::new();
                let values = vec![vec![1u8, 2, 3], Vec::new(), vec![9u8; 5]];
                let back = ops::stream_list_u8_write(&writer, &values);
                let read = ops::stream_list_u8_read(&reader, 10).unwrap_or_default();
                let mut seen = vec![back.len() as u64];
                for value in read {
                    seen.push(value.len() as u64);
                    seen.push(value.iter().map(|&b| u64::from(b)).sum());
                }
                seen
            }
            other => panic!("hostile: no probe `{other}`"),
        })
    }

    fn take_reader() -> stream_u32::Reader {
        FLOODED.with(|f| {
            f.borrow_mut()
                .as_mut()
                .and_then(|(_, reader)| reader.take())
                .expect("hostile: `pipe-flood` ran first")
        })
    }

    fn slow_isyswasfa_start(mode: String) -> Result<u32, Pending> {
        with_poller(|poller| {
            if mode == "trap-start" {
                panic!("hostile: trap in `slow-isyswasfa-start`");
            }
            let state = NEXT_SLOW.with(|n| n.replace(n.get() + 1));
            MODE_OF_SLOW.with(|m| m.borrow_mut().push((state, mode)));
            let pending = poller.start_task(state);
            poller.task_ready(state);
            Err(pending)
        })
    }

    fn mismatched_isyswasfa_start() -> Result<u32, Pending> {
        Ok(1)
    }

    fn mismatched_isyswasfa_result(_ready: Ready) -> String {
        unreachable!("the host refuses the pair before any call")
    }

    fn slow_isyswasfa_result(ready: Ready) -> u32 {
        with_poller(|poller| {
            let mode = MODE_OF_SLOW.with(|m| m.borrow_mut().pop().map(|(_, mode)| mode));
            match mode.as_deref() {
                Some("trap-result") => panic!("hostile: trap in `slow-isyswasfa-result`"),
                // Returns without claiming the `ready` (keeps it).
                Some("unclaimed") => {
                    KEPT_READY.with(|k| k.borrow_mut().push(ready));
                    7
                }
                _ => {
                    poller.take_result(ready);
                    7
                }
            }
        })
    }
}

thread_local! {
    /// The mode of each call of `slow` in flight, by token.
    static MODE_OF_SLOW: RefCell<Vec<(u32, String)>> = const { RefCell::new(Vec::new()) };
}

export!(Component);
