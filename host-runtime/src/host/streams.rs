//! Streams and futures between the embedder and a guest: the embedder keeps one end (see
//! [`crate::pipes`]) and hands the other to the guest as a resource.

use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime::{Result, format_err};

use crate::ctx::IsyswasfaView;
use crate::host::handle::Host;
use crate::pipes;
use crate::pipes::element::AnyPipe;
use crate::pipes::element::End;
use crate::pipes::element::PipeElement;
use crate::pipes::element::ReaderEnd;
use isyswasfa_protocol::pipe::Pipe;

impl<T: IsyswasfaView + Send + 'static> Host<T> {
    /// A new stream whose readable end is a handle to pass to a guest (as a `stream<T>`
    /// argument) and whose writable end stays with the caller. `E` is `u8` for `stream<u8>`,
    /// `()` for a payload-less `stream`, [`pipes::ByteList`] for `stream<list<u8>>`, and
    /// [`wasmtime::component::Val`] for any other payload.
    pub async fn new_stream<E: PipeElement>(
        &self,
    ) -> Result<(pipes::StreamWriter<E>, Resource<ReaderEnd>)> {
        let pipe = E::new_stream_pipe();
        let reader = self.adopt(E::wrap(Arc::clone(&pipe)), End::Reader).await?;
        Ok((pipes::StreamWriter::new(pipe), Resource::new_own(reader)))
    }

    /// Takes over a stream's readable end that a guest returned (a `stream<T>` result).
    pub async fn open_stream<E: PipeElement>(
        &self,
        reader: Resource<ReaderEnd>,
    ) -> Result<pipes::StreamReader<E>> {
        Ok(pipes::StreamReader::new(
            self.release::<E>(reader.rep()).await?,
        ))
    }

    /// A new future whose readable end is a handle to pass to a guest (as a `future<T>`
    /// argument); see [`Host::new_stream`] for `E`.
    pub async fn new_future<E: PipeElement>(
        &self,
    ) -> Result<(pipes::FutureWriter<E>, Resource<ReaderEnd>)> {
        let pipe = Pipe::<E>::new(1);
        let reader = self.adopt(E::wrap(Arc::clone(&pipe)), End::Reader).await?;
        Ok((pipes::FutureWriter::new(pipe), Resource::new_own(reader)))
    }

    /// Takes over a future's readable end that a guest returned (a `future<T>` result).
    pub async fn open_future<E: PipeElement>(
        &self,
        reader: Resource<ReaderEnd>,
    ) -> Result<pipes::FutureReader<E>> {
        Ok(pipes::FutureReader::new(
            self.release::<E>(reader.rep()).await?,
        ))
    }

    async fn adopt(&self, pipe: AnyPipe, end: End) -> Result<u32> {
        self.with_store(move |store, _| {
            let ctx = store.data_mut().isyswasfa().ctx;
            let rep = match ctx.broken_error() {
                Some(error) => Err(error),
                None => Ok(ctx.pipes.insert(pipe, end)),
            };
            Box::pin(async move { rep })
        })
        .await?
    }

    async fn release<E: PipeElement>(&self, rep: u32) -> Result<Arc<Pipe<E>>> {
        self.with_store(move |store, _| {
            let table = &mut store.data_mut().isyswasfa().ctx.pipes;
            let pipe = table.remove(rep, End::Reader).and_then(|pipe| {
                E::unwrap(&pipe).ok_or_else(|| {
                    table.insert(pipe, End::Reader);
                    format_err!("isyswasfa: the pipe does not carry the requested element type")
                })
            });
            Box::pin(async move { pipe })
        })
        .await?
    }
}
