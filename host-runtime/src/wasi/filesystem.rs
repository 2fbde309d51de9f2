//! `wasi:filesystem@0.3.0`, lowered, on wasmtime-wasi's own filesystem: every operation is
//! wasmtime-wasi's WASI 0.2 implementation (its sandboxing, permissions and error mapping), run
//! on a view of its own so that no operation borrows the store while it waits.
//!
//! A guest's `descriptor` is wasmtime-wasi's [`Descriptor`] in the store's WASI table (the same
//! type its WASI 0.2 descriptors and preopens are). An async method clones the descriptors it
//! names (they are shared handles to the open file) into an [`Op`], a private WASI view, and
//! calls the WASI 0.2 method on it from a host task; a stream method hands the guest a pipe
//! copied from or into the WASI 0.2 stream (see [`super::io`]).

use wasmtime::component::{Linker, LinkerInstance, Resource, ResourceTable, ResourceType, Val};
use wasmtime::{Result, StoreContextMut};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtx, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::types::{self as p2, HostDescriptor as _};
use wasmtime_wasi::p2::{FsResult, StreamError};
use wasmtime_wasi::p3::bindings::clocks::system_clock::Instant;
use wasmtime_wasi::p3::bindings::filesystem::types as p3;

use super::io::{
    byte_stream_to_guest, copy_input, copy_output, failed, lend, succeeded, value_stream_to_guest,
};
use crate::ctx::IsyswasfaView;
use crate::funcs::{TypedFinish, func_wrap_async_finished, func_wrap_async_with_store};
use crate::pipes::element::{AnyPipe, ReaderEnd};
use crate::pipes::guest::{guest_future, take_reader};
use crate::pipes::{FutureWriter, StreamReader, StreamWriter};

/// The interface names, as components import them.
pub const TYPES: &str = "wasi:filesystem/types@0.3.0";
/// See [`TYPES`].
pub const PREOPENS: &str = "wasi:filesystem/preopens@0.3.0";

/// One operation's own WASI filesystem view: the descriptors it works on, cloned out of the
/// store, in a table of its own, and a copy of the store's filesystem settings.
struct Op {
    ctx: WasiFilesystemCtx,
    table: ResourceTable,
}

impl Op {
    /// An operation on `fds` (borrowed from the guest): their handles in the operation's table,
    /// in the same order.
    fn on<T: WasiView>(
        store: &mut StoreContextMut<'_, T>,
        fds: &[&Resource<Descriptor>],
    ) -> Result<(Self, Vec<Resource<Descriptor>>)> {
        let wasi = store.data_mut().ctx();
        let mut op = Op {
            ctx: wasi.ctx.filesystem().clone(),
            table: ResourceTable::new(),
        };
        let mut handles = Vec::with_capacity(fds.len());
        for fd in fds {
            let descriptor = wasi.table.get(fd)?.clone();
            handles.push(op.table.push(descriptor)?);
        }
        Ok((op, handles))
    }

    fn view(&mut self) -> WasiFilesystemCtxView<'_> {
        WasiFilesystemCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Adds the lowered `types` and `preopens` to `linker`.
pub fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    let mut types = linker.instance(TYPES)?;
    types.resource(
        "descriptor",
        ResourceType::host::<Descriptor>(),
        |mut store, rep| {
            store
                .data_mut()
                .ctx()
                .table
                .delete(Resource::<Descriptor>::new_own(rep))?;
            Ok(())
        },
    )?;
    add_streams(&mut types)?;
    add_methods(&mut types)?;
    linker
        .instance(PREOPENS)?
        .func_wrap("get-directories", |mut store, (): ()| {
            let mut view =
                wasmtime_wasi::filesystem::WasiFilesystemView::filesystem(store.data_mut());
            let directories =
                wasmtime_wasi::p2::bindings::filesystem::preopens::Host::get_directories(
                    &mut view,
                )?;
            Ok((directories,))
        })?;
    Ok(())
}

/// `read-via-stream`, `write-via-stream`, `append-via-stream` and `read-directory`.
fn add_streams<T: WasiView + IsyswasfaView + 'static>(
    types: &mut LinkerInstance<'_, T>,
) -> Result<()> {
    types.func_wrap(
        "[method]descriptor.read-via-stream",
        |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
            let (mut op, fds) = Op::on(&mut store, &[&fd])?;
            let input = op.view().read_via_stream(lend(&fds[0]), offset);
            let (contents, writer) = byte_stream_to_guest(&mut store);
            let (done, future) = guest_future(&mut store);
            let done = FutureWriter::new(done);
            match opened(&mut op, input)? {
                Ok(input) => {
                    tokio::spawn(copy_input(input, writer, done, stream_error));
                }
                Err(code) => {
                    drop(writer);
                    let _ = done.write(failed(code));
                }
            }
            Ok(((contents, future),))
        },
    )?;
    types.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut store, (fd, data, offset): (Resource<Descriptor>, Resource<ReaderEnd>, u64)| {
            write_from_guest(&mut store, fd, data, Some(offset)).map(|future| (future,))
        },
    )?;
    types.func_wrap(
        "[method]descriptor.append-via-stream",
        |mut store, (fd, data): (Resource<Descriptor>, Resource<ReaderEnd>)| {
            write_from_guest(&mut store, fd, data, None).map(|future| (future,))
        },
    )?;
    types.func_wrap(
        "[method]descriptor.read-directory",
        |mut store, (fd,): (Resource<Descriptor>,)| {
            let (mut op, fds) = Op::on(&mut store, &[&fd])?;
            let (entries, writer) = value_stream_to_guest(&mut store);
            let (done, future) = guest_future(&mut store);
            let done = FutureWriter::new(done);
            tokio::spawn(async move {
                let outcome = list_directory(&mut op, lend(&fds[0]), writer);
                let _ = done.write(outcome.await);
            });
            Ok(((entries, future),))
        },
    )?;
    Ok(())
}

/// `write-via-stream` (at `offset`) or, without one, `append-via-stream`: copies the guest's
/// `data` into the file; the future it gives back resolves when all is written.
fn write_from_guest<T: WasiView + IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
    fd: Resource<Descriptor>,
    data: Resource<ReaderEnd>,
    offset: Option<u64>,
) -> Result<Resource<ReaderEnd>> {
    let AnyPipe::Bytes(data) = take_reader(store, data)? else {
        wasmtime::bail!("isyswasfa: a file was given a pipe that is not a stream<u8> to write");
    };
    let (mut op, fds) = Op::on(store, &[&fd])?;
    let output = match offset {
        Some(offset) => op.view().write_via_stream(lend(&fds[0]), offset),
        None => op.view().append_via_stream(lend(&fds[0])),
    };
    let (done, future) = guest_future(store);
    let done = FutureWriter::new(done);
    match opened(&mut op, output)? {
        Ok(mut output) => {
            tokio::spawn(async move {
                let outcome = copy_output(StreamReader::new(data), &mut output, stream_error);
                let _ = done.write(outcome.await);
            });
        }
        Err(code) => {
            let _ = done.write(failed(code));
        }
    }
    Ok(future)
}

/// The 0.2 stream an operation opened, taken out of its table, or the error code that kept it
/// from opening (as a WIT value); `Err` only for a failure of the host's own.
fn opened<S: 'static>(op: &mut Op, stream: FsResult<Resource<S>>) -> Result<Result<S, Val>> {
    match stream {
        Ok(stream) => Ok(Ok(op.table.delete(stream)?)),
        Err(e) => Ok(Err(error_value(&convert_error(e)?))),
    }
}

/// Reads the directory `fd` into `entries`: `ok` at its end, the error that stopped it, or
/// `ok` when the guest dropped its end.
async fn list_directory(
    op: &mut Op,
    fd: Resource<Descriptor>,
    mut entries: StreamWriter<Val>,
) -> Val {
    use wasmtime_wasi::p2::bindings::filesystem::types::HostDirectoryEntryStream as _;
    let stream = match op.view().read_directory(fd).await {
        Ok(stream) => stream,
        Err(e) => return failed(error_value(&trapped_as_error(convert_error(e)))),
    };
    loop {
        let next = op.view().read_directory_entry(lend(&stream)).await;
        match next {
            Ok(Some(entry)) => {
                let entry = Val::Record(vec![
                    (
                        "type".to_string(),
                        descriptor_type_value(descriptor_type(entry.type_)),
                    ),
                    ("name".to_string(), Val::String(entry.name)),
                ]);
                if entries.write(vec![entry]).await.is_err() {
                    return succeeded();
                }
            }
            Ok(None) => return succeeded(),
            Err(e) => return failed(error_value(&trapped_as_error(convert_error(e)))),
        }
    }
}

/// The async methods: each clones its descriptors into an [`Op`] and runs wasmtime-wasi's
/// WASI 0.2 method on it.
fn add_methods<T: WasiView + IsyswasfaView + 'static>(
    types: &mut LinkerInstance<'_, T>,
) -> Result<()> {
    /// Defines the lowered async method `$name` on one descriptor: `|op view, fd, params| call`
    /// gives the WASI 0.2 result, `$ok` turns its value into the WASI 0.3 one.
    macro_rules! method {
        ($name:literal, ($($param:ident: $ty:ty),*), |$view:ident, $fd:ident| $call:expr, $ok:expr) => {
            func_wrap_async_with_store(
                types,
                concat!("[method]descriptor.", $name),
                |mut store: StoreContextMut<'_, T>, (fd, $($param,)*): (Resource<Descriptor>, $($ty,)*)| {
                    let (mut op, fds) = Op::on(&mut store, &[&fd])?;
                    let $fd = lend(&fds[0]);
                    Ok(async move {
                        let $view = &mut op.view();
                        outcome($call.await, $ok)
                    })
                },
            )?;
        };
    }
    method!("advise", (offset: u64, length: u64, advice: p3::Advice), |v, fd| v.advise(fd, offset, length, to_p2_advice(advice)), |()| ());
    method!("sync-data", (), |v, fd| v.sync_data(fd), |()| ());
    method!("get-flags", (), |v, fd| v.get_flags(fd), descriptor_flags);
    method!("get-type", (), |v, fd| v.get_type(fd), descriptor_type);
    method!("set-size", (size: u64), |v, fd| v.set_size(fd, size), |()| ());
    method!("set-times", (atime: p3::NewTimestamp, mtime: p3::NewTimestamp), |v, fd| async {
        v.set_times(fd, to_p2_timestamp(atime)?, to_p2_timestamp(mtime)?).await
    }, |()| ());
    method!("sync", (), |v, fd| v.sync(fd), |()| ());
    method!("create-directory-at", (path: String), |v, fd| v.create_directory_at(fd, path), |()| ());
    method!("stat", (), |v, fd| v.stat(fd), descriptor_stat);
    method!("stat-at", (flags: p3::PathFlags, path: String), |v, fd| v.stat_at(fd, to_p2_path_flags(flags), path), descriptor_stat);
    method!("set-times-at", (flags: p3::PathFlags, path: String, atime: p3::NewTimestamp, mtime: p3::NewTimestamp), |v, fd| async {
        v.set_times_at(fd, to_p2_path_flags(flags), path, to_p2_timestamp(atime)?, to_p2_timestamp(mtime)?).await
    }, |()| ());
    method!("readlink-at", (path: String), |v, fd| v.readlink_at(fd, path), |target| target);
    method!("remove-directory-at", (path: String), |v, fd| v.remove_directory_at(fd, path), |()| ());
    method!("symlink-at", (old: String, new: String), |v, fd| v.symlink_at(fd, old, new), |()| ());
    method!("unlink-file-at", (path: String), |v, fd| v.unlink_file_at(fd, path), |()| ());
    method!(
        "metadata-hash",
        (),
        |v, fd| v.metadata_hash(fd),
        metadata_hash
    );
    method!("metadata-hash-at", (flags: p3::PathFlags, path: String), |v, fd| v.metadata_hash_at(fd, to_p2_path_flags(flags), path), metadata_hash);

    // The methods on two descriptors.
    func_wrap_async_with_store(
        types,
        "[method]descriptor.link-at",
        |mut store: StoreContextMut<'_, T>,
         (fd, old_flags, old, new_fd, new): (
            Resource<Descriptor>,
            p3::PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )| {
            let (mut op, fds) = Op::on(&mut store, &[&fd, &new_fd])?;
            Ok(async move {
                let (fd, new_fd) = (lend(&fds[0]), lend(&fds[1]));
                let linked = op
                    .view()
                    .link_at(fd, to_p2_path_flags(old_flags), old, new_fd, new)
                    .await;
                outcome(linked, |()| ())
            })
        },
    )?;
    func_wrap_async_with_store(
        types,
        "[method]descriptor.rename-at",
        |mut store: StoreContextMut<'_, T>,
         (fd, old, new_fd, new): (Resource<Descriptor>, String, Resource<Descriptor>, String)| {
            let (mut op, fds) = Op::on(&mut store, &[&fd, &new_fd])?;
            Ok(async move {
                let (fd, new_fd) = (lend(&fds[0]), lend(&fds[1]));
                outcome(op.view().rename_at(fd, old, new_fd, new).await, |()| ())
            })
        },
    )?;
    func_wrap_async_with_store(
        types,
        "[method]descriptor.is-same-object",
        |mut store: StoreContextMut<'_, T>,
         (fd, other): (Resource<Descriptor>, Resource<Descriptor>)| {
            let (mut op, fds) = Op::on(&mut store, &[&fd, &other])?;
            Ok(async move {
                let (fd, other) = (lend(&fds[0]), lend(&fds[1]));
                // Only a failure of the host's own can make this fail: then they are not known
                // to be the same.
                op.view().is_same_object(fd, other).await.unwrap_or(false)
            })
        },
    )?;
    // `open-at` makes a descriptor: it goes into the store's table when the guest collects it.
    func_wrap_async_finished(
        types,
        "[method]descriptor.open-at",
        |mut store: StoreContextMut<'_, T>,
         (fd, path_flags, path, open_flags, flags): (
            Resource<Descriptor>,
            p3::PathFlags,
            String,
            p3::OpenFlags,
            p3::DescriptorFlags,
        )| {
            let (mut op, fds) = Op::on(&mut store, &[&fd])?;
            Ok(async move {
                let opened = op
                    .view()
                    .open_at(
                        lend(&fds[0]),
                        to_p2_path_flags(path_flags),
                        path,
                        to_p2_open_flags(open_flags),
                        to_p2_descriptor_flags(flags),
                    )
                    .await;
                let opened = match opened {
                    Ok(handle) => op.table.delete(handle).map_err(|e| other(&e)),
                    Err(e) => Err(trapped_as_error(convert_error(e))),
                };
                Box::new(move |mut store: StoreContextMut<'_, T>| {
                    Ok(match opened {
                        Ok(descriptor) => Ok(store.data_mut().ctx().table.push(descriptor)?),
                        Err(code) => Err(code),
                    })
                }) as TypedFinish<T, Result<Resource<Descriptor>, p3::ErrorCode>>
            })
        },
    )?;
    Ok(())
}

/// A WASI 0.2 outcome as the WASI 0.3 result.
fn outcome<V, W>(result: FsResult<V>, ok: impl FnOnce(V) -> W) -> Result<W, p3::ErrorCode> {
    match result {
        Ok(value) => Ok(ok(value)),
        Err(e) => Err(trapped_as_error(convert_error(e))),
    }
}

/// The error code a WASI 0.2 failure stands for; `Err` for a failure of the host's own (a trap
/// in WASI 0.2).
fn convert_error(error: wasmtime_wasi::p2::FsError) -> Result<p3::ErrorCode> {
    error.downcast().map(error_code)
}

/// A failure of the host's own inside an operation that runs apart from the guest (nothing to
/// trap): the guest gets `other` with its description.
fn trapped_as_error(error: Result<p3::ErrorCode>) -> p3::ErrorCode {
    error.unwrap_or_else(|e| other(&e))
}

fn other(error: &dyn std::fmt::Display) -> p3::ErrorCode {
    p3::ErrorCode::Other(Some(error.to_string()))
}

/// The error a failed stream operation stands for, as a WIT value.
fn stream_error(error: &StreamError) -> Val {
    let code = match error {
        StreamError::LastOperationFailed(e) => match e.downcast_ref::<std::io::Error>() {
            Some(io) => error_code(p2::ErrorCode::from(io)),
            None => other(e),
        },
        StreamError::Trap(e) => other(e),
        StreamError::Closed => p3::ErrorCode::Io,
    };
    error_value(&code)
}

/// Defines the conversions between the WASI 0.2 and 0.3 `error-code`s (the 0.3 one is the 0.2
/// one and `other`), and the WIT value of a 0.3 one, from one list of cases.
macro_rules! error_codes {
    ($($case:ident = $name:literal,)*) => {
        fn error_code(code: p2::ErrorCode) -> p3::ErrorCode {
            match code {
                $(p2::ErrorCode::$case => p3::ErrorCode::$case,)*
                // WASI 0.2's non-blocking streams had it; WASI 0.3 has no such case.
                p2::ErrorCode::WouldBlock => p3::ErrorCode::Other(Some("would block".to_string())),
            }
        }

        /// `error-code` as a WIT value (for the futures of the stream methods).
        fn error_value(code: &p3::ErrorCode) -> Val {
            let (name, payload) = match code {
                $(p3::ErrorCode::$case => ($name, None),)*
                p3::ErrorCode::Other(text) => (
                    "other",
                    Some(Box::new(Val::Option(text.clone().map(|t| Box::new(Val::String(t)))))),
                ),
            };
            Val::Variant(name.to_string(), payload)
        }
    };
}

error_codes! {
    Access = "access",
    Already = "already",
    BadDescriptor = "bad-descriptor",
    Busy = "busy",
    Deadlock = "deadlock",
    Quota = "quota",
    Exist = "exist",
    FileTooLarge = "file-too-large",
    IllegalByteSequence = "illegal-byte-sequence",
    InProgress = "in-progress",
    Interrupted = "interrupted",
    Invalid = "invalid",
    Io = "io",
    IsDirectory = "is-directory",
    Loop = "loop",
    TooManyLinks = "too-many-links",
    MessageSize = "message-size",
    NameTooLong = "name-too-long",
    NoDevice = "no-device",
    NoEntry = "no-entry",
    NoLock = "no-lock",
    InsufficientMemory = "insufficient-memory",
    InsufficientSpace = "insufficient-space",
    NotDirectory = "not-directory",
    NotEmpty = "not-empty",
    NotRecoverable = "not-recoverable",
    Unsupported = "unsupported",
    NoTty = "no-tty",
    NoSuchDevice = "no-such-device",
    Overflow = "overflow",
    NotPermitted = "not-permitted",
    Pipe = "pipe",
    ReadOnly = "read-only",
    InvalidSeek = "invalid-seek",
    TextFileBusy = "text-file-busy",
    CrossDevice = "cross-device",
}

fn descriptor_type(ty: p2::DescriptorType) -> p3::DescriptorType {
    use p2::DescriptorType as T2;
    use p3::DescriptorType as T3;
    match ty {
        T2::Unknown => T3::Other(None),
        T2::BlockDevice => T3::BlockDevice,
        T2::CharacterDevice => T3::CharacterDevice,
        T2::Directory => T3::Directory,
        T2::Fifo => T3::Fifo,
        T2::SymbolicLink => T3::SymbolicLink,
        T2::RegularFile => T3::RegularFile,
        T2::Socket => T3::Socket,
    }
}

/// `descriptor-type` as a WIT value (for the entries of `read-directory`).
fn descriptor_type_value(ty: p3::DescriptorType) -> Val {
    use p3::DescriptorType as T;
    let name = match ty {
        T::BlockDevice => "block-device",
        T::CharacterDevice => "character-device",
        T::Directory => "directory",
        T::Fifo => "fifo",
        T::SymbolicLink => "symbolic-link",
        T::RegularFile => "regular-file",
        T::Socket => "socket",
        T::Other(text) => {
            let text = Val::Option(text.map(|t| Box::new(Val::String(t))));
            return Val::Variant("other".to_string(), Some(Box::new(text)));
        }
    };
    Val::Variant(name.to_string(), None)
}

fn descriptor_stat(stat: p2::DescriptorStat) -> p3::DescriptorStat {
    let instant = |t: Option<wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime>| {
        t.map(|t| Instant {
            seconds: i64::try_from(t.seconds).unwrap_or(i64::MAX),
            nanoseconds: t.nanoseconds,
        })
    };
    p3::DescriptorStat {
        type_: descriptor_type(stat.type_),
        link_count: stat.link_count,
        size: stat.size,
        data_access_timestamp: instant(stat.data_access_timestamp),
        data_modification_timestamp: instant(stat.data_modification_timestamp),
        status_change_timestamp: instant(stat.status_change_timestamp),
    }
}

fn metadata_hash(hash: p2::MetadataHashValue) -> p3::MetadataHashValue {
    p3::MetadataHashValue {
        lower: hash.lower,
        upper: hash.upper,
    }
}

/// A 0.3 timestamp for WASI 0.2, which has no times before 1970: those are `invalid`.
fn to_p2_timestamp(
    timestamp: p3::NewTimestamp,
) -> Result<p2::NewTimestamp, wasmtime_wasi::p2::FsError> {
    Ok(match timestamp {
        p3::NewTimestamp::NoChange => p2::NewTimestamp::NoChange,
        p3::NewTimestamp::Now => p2::NewTimestamp::Now,
        p3::NewTimestamp::Timestamp(t) => {
            let seconds = u64::try_from(t.seconds).map_err(|_| p2::ErrorCode::Invalid)?;
            p2::NewTimestamp::Timestamp(wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime {
                seconds,
                nanoseconds: t.nanoseconds,
            })
        }
    })
}

fn to_p2_advice(advice: p3::Advice) -> p2::Advice {
    match advice {
        p3::Advice::Normal => p2::Advice::Normal,
        p3::Advice::Sequential => p2::Advice::Sequential,
        p3::Advice::Random => p2::Advice::Random,
        p3::Advice::WillNeed => p2::Advice::WillNeed,
        p3::Advice::DontNeed => p2::Advice::DontNeed,
        p3::Advice::NoReuse => p2::Advice::NoReuse,
    }
}

/// Converts between two `flags` types with the same flags, listed once.
macro_rules! flags {
    ($name:ident: $from:ty => $to:ty { $($flag:ident),* }) => {
        fn $name(flags: $from) -> $to {
            let mut out = <$to>::empty();
            $(if flags.contains(<$from>::$flag) { out |= <$to>::$flag; })*
            out
        }
    };
}

flags!(to_p2_path_flags: p3::PathFlags => p2::PathFlags { SYMLINK_FOLLOW });
flags!(to_p2_open_flags: p3::OpenFlags => p2::OpenFlags { CREATE, DIRECTORY, EXCLUSIVE, TRUNCATE });
flags!(to_p2_descriptor_flags: p3::DescriptorFlags => p2::DescriptorFlags {
    READ, WRITE, FILE_INTEGRITY_SYNC, DATA_INTEGRITY_SYNC, REQUESTED_WRITE_SYNC, MUTATE_DIRECTORY
});
flags!(descriptor_flags: p2::DescriptorFlags => p3::DescriptorFlags {
    READ, WRITE, FILE_INTEGRITY_SYNC, DATA_INTEGRITY_SYNC, REQUESTED_WRITE_SYNC, MUTATE_DIRECTORY
});
