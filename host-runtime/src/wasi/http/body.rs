//! Bodies of requests and responses, streamed both ways without ever holding a whole body.
//!
//! A body is either the network's (a hyper body: an incoming request, a response `client.send`
//! received) or a guest's (its `stream<u8>` reader and its trailers `future` reader, from
//! `request.new` / `response.new`). `consume-body` hands a guest a network body through a new
//! pipe fed as bytes arrive, or a guest's body as the very pipes it was made of; the host sends
//! either kind to the network through [`Body`]'s [`http_body::Body`] implementation, which reads
//! a guest's pipe as the guest writes it.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime::component::{Resource, ResourceAny, Val};
use wasmtime::{Result, StoreContextMut, bail};

use super::error_code;
use super::types::{Fields, remove_forbidden};
use crate::ctx::IsyswasfaView;
use crate::host::{Host, WeakHost};
use crate::limits::BYTE_CAPACITY;
use crate::pipes::FutureReader;
use crate::pipes::FutureWriter;
use crate::pipes::StreamWriter;
use crate::pipes::element::AnyPipe;
use crate::pipes::element::End;
use crate::pipes::element::ReaderEnd;
use crate::pipes::guest::guest_future;
use crate::pipes::guest::take_reader;
use isyswasfa_protocol::pipe::Pipe;

/// The error type of network bodies.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A body from the network or from an embedder.
pub type NetworkBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BodyError>;

/// Turns a guest's trailers value into header fields; needs the store, so it goes through the
/// event loop. Holds the loop only weakly: bodies live in the store's own table.
type TrailersResolver =
    Arc<dyn Fn(ResourceAny) -> BoxFuture<'static, Result<HeaderMap>> + Send + Sync>;

/// The body of a request or response.
pub enum Body {
    /// From the network, or made by an embedder.
    Network(NetworkBody),
    /// Written by a guest.
    Guest(GuestBody),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(_) => f.write_str("Body::Network"),
            Self::Guest(_) => f.write_str("Body::Guest"),
        }
    }
}

impl Body {
    /// A body from any [`http_body::Body`] of bytes.
    pub fn network<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        Self::Network(body.map_err(Into::into).boxed_unsync())
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::network(http_body_util::Empty::new())
    }

    /// A guest's body, from the ends `request.new` / `response.new` took, for a `message`
    /// whose headers are `headers`; returns the body and the guest's end of the future that
    /// learns how transmission went.
    pub(crate) fn from_guest<T: IsyswasfaView + Send + 'static>(
        store: &mut StoreContextMut<'_, T>,
        contents: Option<Resource<ReaderEnd>>,
        trailers: Resource<ReaderEnd>,
        headers: &HeaderMap,
        message: Message,
    ) -> Result<(Self, Resource<ReaderEnd>)> {
        let contents = match contents.map(|end| take_reader(store, end)).transpose()? {
            None => None,
            Some(AnyPipe::Bytes(pipe)) => Some(pipe),
            Some(other) => {
                other.close(End::Reader);
                bail!("isyswasfa: the body given to `new` is not a `stream<u8>`")
            }
        };
        let call = message.constructor();
        let trailers = match take_typed_reader(store, trailers, TRAILERS_PIPE, call) {
            Ok(AnyPipe::Values(pipe)) => pipe,
            Err(error) => {
                if let Some(contents) = contents {
                    contents.close_reader();
                }
                return Err(error);
            }
            Ok(other) => {
                other.close(End::Reader);
                if let Some(contents) = contents {
                    contents.close_reader();
                }
                bail!("isyswasfa: the trailers given to `new` are not a trailers `future`")
            }
        };
        let (transmitted, reader) = guest_future(store);
        let weak = Host::<T>::of(store.data_mut()).map(|h| h.downgrade());
        let body = GuestBody {
            contents,
            trailers: Some(trailers),
            transmitted: Some(transmitted),
            failure: Arc::default(),
            length: content_length(headers),
            sent: 0,
            message,
            resolver: resolver(weak),
            resolving: None,
        };
        Ok((Self::Guest(body), reader))
    }

    /// The writer of a guest body's "transmitted" future, taken by a sender that reports the
    /// outcome itself (`client.send`: the outcome of the whole exchange, as wasmtime reports
    /// it), with the slot where the body puts its own failure (the guest ended it with an
    /// error, or its length was not its `content-length`). `None` for other bodies.
    pub(crate) fn take_transmitted(&mut self) -> Option<(Arc<Pipe<Val>>, Failure)> {
        match self {
            Self::Guest(body) => {
                let transmitted = body.transmitted.take()?;
                Some((transmitted, Arc::clone(&body.failure)))
            }
            Self::Network(_) => None,
        }
    }

    /// `consume-body`: the body's bytes and trailers as pipe ends for the guest. `res` is the
    /// consumer's report of how it processed the body, passed on to whoever made it.
    pub(crate) fn consume<T: IsyswasfaView + Send + 'static>(
        self,
        store: &mut StoreContextMut<'_, T>,
        res: Resource<ReaderEnd>,
    ) -> Result<(Resource<ReaderEnd>, Resource<ReaderEnd>)> {
        let res = match take_typed_reader(store, res, RESULT_PIPE, "consume-body")? {
            AnyPipe::Values(pipe) => pipe,
            other => {
                other.close(End::Reader);
                bail!("isyswasfa: the `res` given to `consume-body` is not a result `future`")
            }
        };
        let (contents, trailers) = match self {
            Self::Guest(mut body) => {
                let contents = body.contents.take().unwrap_or_else(|| {
                    let empty = Pipe::<u8>::new(1);
                    empty.close_writer();
                    empty
                });
                let trailers = body.trailers.take().unwrap_or_else(|| Pipe::new(1));
                if let Some(transmitted) = body.transmitted.take() {
                    tokio::spawn(async move {
                        let outcome = FutureReader::new(res).await;
                        if let Some(outcome) = outcome {
                            let _ = FutureWriter::new(transmitted).write(outcome);
                        }
                    });
                } else {
                    res.close_reader();
                }
                (contents, trailers)
            }
            Self::Network(body) => {
                res.close_reader();
                let contents = Pipe::<u8>::new(BYTE_CAPACITY);
                let trailers = Pipe::<Val>::new(1);
                let host = Host::<T>::of(store.data_mut()).map(|h| h.downgrade());
                tokio::spawn(feed(
                    body,
                    StreamWriter::new(Arc::clone(&contents)),
                    FutureWriter::new(Arc::clone(&trailers)),
                    host,
                ));
                (contents, trailers)
            }
        };
        let pipes = &mut store.data_mut().isyswasfa().ctx.pipes;
        let contents = pipes.insert(AnyPipe::Bytes(contents), End::Reader);
        let trailers = pipes.insert(AnyPipe::Values(trailers), End::Reader);
        Ok((Resource::new_own(contents), Resource::new_own(trailers)))
    }
}

/// `result<option<trailers>, error-code>` with no trailers.
fn no_trailers() -> Val {
    Val::Result(Ok(Some(Box::new(Val::Option(None)))))
}

/// `result<_, error-code>`.
pub(crate) fn outcome(error: Option<Val>) -> Val {
    match error {
        None => Val::Result(Ok(None)),
        Some(code) => Val::Result(Err(Some(Box::new(code)))),
    }
}

/// Copies a network body into a guest's pipes as it arrives: bytes as soon as there is room,
/// then the trailers (made into a `fields` resource in the store) or the error.
async fn feed<T: IsyswasfaView + Send + 'static>(
    mut body: NetworkBody,
    mut contents: StreamWriter<u8>,
    trailers: FutureWriter<Val>,
    host: Option<WeakHost<T>>,
) {
    let mut fields = None;
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    if contents.write(data.to_vec()).await.is_err() {
                        // The guest dropped the body: stop reading it.
                        return;
                    }
                }
                Err(frame) => {
                    if let Ok(mut map) = frame.into_trailers() {
                        remove_forbidden(&mut map);
                        fields = Some(map);
                    }
                }
            },
            Some(Err(error)) => {
                drop(contents);
                let code = if is_stall(&*error) {
                    // As wasmtime reports a `between-bytes-timeout` that ran out.
                    error_code::named("connection-read-timeout")
                } else {
                    error_code::internal(format!("reading the body failed: {error}"))
                };
                let _ = trailers.write(outcome_err(code));
                return;
            }
        }
    }
    drop(contents);
    if !trailers.pipe().is_reader_open() {
        // The guest dropped its trailers future: make no `fields` resource nobody would drop.
        return;
    }
    let host = host.as_ref().and_then(WeakHost::upgrade);
    let value = match (fields, &host) {
        (None, _) => no_trailers(),
        (Some(map), Some(host)) => match trailers_val(host, map).await {
            Ok(value) => value,
            Err(error) => outcome_err(error_code::internal(format!("{error:#}"))),
        },
        (Some(_), None) => no_trailers(),
    };
    if let (Err(unread), Some(host)) = (trailers.write(value), host) {
        // The reader went away meanwhile: the event loop releases the `fields` resource the
        // value holds, as it does for values left in any closed pipe.
        let _ = host
            .with_store(move |store, _| {
                Box::pin(async move {
                    store
                        .data_mut()
                        .isyswasfa()
                        .ctx
                        .pipes
                        .discarded
                        .push(vec![unread]);
                })
            })
            .await;
    }
}

fn outcome_err(code: Val) -> Val {
    Val::Result(Err(Some(Box::new(code))))
}

/// `ok(some(trailers))` with `map` as a new `fields` resource of the store.
async fn trailers_val<T: IsyswasfaView + Send + 'static>(
    host: &Host<T>,
    map: HeaderMap,
) -> Result<Val> {
    host.with_store(move |store, _| {
        Box::pin(async move {
            let fields = store.data_mut().isyswasfa().table.push(Fields {
                map,
                mutable: false,
            })?;
            let any = fields.try_into_resource_any(&mut *store)?;
            Ok(Val::Result(Ok(Some(Box::new(Val::Option(Some(
                Box::new(Val::Resource(any)),
            )))))))
        })
    })
    .await?
}

fn resolver<T: IsyswasfaView + Send + 'static>(weak: Option<WeakHost<T>>) -> TrailersResolver {
    Arc::new(move |any: ResourceAny| {
        let host = weak.as_ref().and_then(WeakHost::upgrade);
        Box::pin(async move {
            let Some(host) = host else {
                bail!("the component's host has stopped");
            };
            host.with_store(move |store, _| {
                Box::pin(async move {
                    let fields = any.try_into_resource::<Fields>(&mut *store)?;
                    let fields = store.data_mut().isyswasfa().table.delete(fields)?;
                    Ok(fields.map)
                })
            })
            .await?
        })
    })
}

/// Whether a body failed because its sender stalled ([`super::StallBody`]).
fn is_stall(error: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        error.downcast_ref::<super::StallError<hyper::Error>>(),
        Some(super::StallError::Stalled(_))
    )
}

/// The pipe interface of a `future<result<option<trailers>, error-code>>`, as the lowering names
/// it: the only pipe a message's trailers may come in.
const TRAILERS_PIPE: &str =
    "future-result-option-wasi-http-types-fields-wasi-http-types-error-code";
/// The pipe interface of a `future<result<_, error-code>>` (`consume-body`'s `res`).
const RESULT_PIPE: &str = "future-result-none-wasi-http-types-error-code";

/// Takes the reading end `end` a guest handed to `call`, checking that its pipe carries
/// `payload` (or binding it, for a pipe the host made), as the typed pipe operations check: a
/// guest cannot pass the end of another payload's pipe where `wasi:http` expects this one.
fn take_typed_reader<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
    end: Resource<ReaderEnd>,
    payload: &str,
    call: &str,
) -> Result<AnyPipe> {
    let pipes = &mut store.data_mut().isyswasfa().ctx.pipes;
    pipes.remove_for(end.rep(), End::Reader, &Arc::from(payload), call)
}

/// Which message a guest's body belongs to (its size error names it).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Message {
    /// A request's (`request.new`).
    Request,
    /// A response's (`response.new`).
    Response,
}

impl Message {
    /// The constructor that takes the message's body, for messages.
    fn constructor(self) -> &'static str {
        match self {
            Self::Request => "wasi:http/types#[static]request.new",
            Self::Response => "wasi:http/types#[static]response.new",
        }
    }
}

/// Where a guest body whose "transmitted" future someone else writes puts its own failure.
pub(crate) type Failure = Arc<Mutex<Option<Val>>>;

/// The `content-length` of `headers`: one value, all digits.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A guest's body on its way to the network.
pub struct GuestBody {
    contents: Option<Arc<Pipe<u8>>>,
    trailers: Option<Arc<Pipe<Val>>>,
    /// The writer of the guest's "transmitted" future; written once the body went out (unless
    /// a sender took it, see [`Body::take_transmitted`]).
    transmitted: Option<Arc<Pipe<Val>>>,
    /// This body's failure, once the "transmitted" future is someone else's to write.
    failure: Failure,
    /// The `content-length` the guest declared.
    length: Option<u64>,
    /// How many bytes of the contents went out.
    sent: u64,
    message: Message,
    resolver: TrailersResolver,
    resolving: Option<BoxFuture<'static, Result<HeaderMap>>>,
}

impl GuestBody {
    fn finish(&mut self, error: Option<Val>) {
        if let Some(transmitted) = self.transmitted.take() {
            let _ = FutureWriter::new(transmitted).write(outcome(error));
        } else if let Some(error) = error {
            self.failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(error);
        }
    }

    /// Whether every byte the `content-length` announced went out (a sender stops reading there).
    fn complete(&self) -> bool {
        self.length == Some(self.sent)
    }

    /// Ends the body because its length is not its `content-length`: `HTTP-request-body-size`
    /// (or `-response-`) with the bytes sent, as wasmtime reports it.
    fn wrong_size(&mut self) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let case = match self.message {
            Message::Request => "HTTP-request-body-size",
            Message::Response => "HTTP-response-body-size",
        };
        let code = Val::Variant(
            case.to_string(),
            Some(Box::new(Val::Option(Some(Box::new(Val::U64(self.sent)))))),
        );
        if let Some(contents) = self.contents.take() {
            contents.close_reader();
        }
        self.finish(Some(code));
        let message = format!(
            "the guest's body is not the {} bytes its content-length says ({} sent)",
            self.length.unwrap_or_default(),
            self.sent
        );
        Poll::Ready(Some(Err(message.into())))
    }
}

impl Drop for GuestBody {
    fn drop(&mut self) {
        // Not sent to the end (the peer went away, or nobody sent it): the guest's writer sees
        // its reader gone, and its "transmitted" future an error; unless every byte its
        // `content-length` announced went out, after which a sender reads no further.
        if let Some(contents) = self.contents.take() {
            contents.close_reader();
        }
        if let Some(trailers) = self.trailers.take() {
            trailers.close_reader();
        }
        if self.complete() {
            self.finish(None);
        } else if self.transmitted.is_some() {
            self.finish(Some(error_code::named("connection-terminated")));
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Self::Network(body) => Pin::new(body).poll_frame(cx),
            Self::Guest(body) => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Network(body) => body.is_end_stream(),
            Self::Guest(body) => {
                body.complete()
                    || (body.contents.is_none()
                        && body.trailers.is_none()
                        && body.resolving.is_none())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Network(body) => body.size_hint(),
            Self::Guest(body) => match body.length {
                Some(length) => SizeHint::with_exact(length.saturating_sub(body.sent)),
                None => SizeHint::default(),
            },
        }
    }
}

impl GuestBody {
    /// The guest's end of the body went away without finishing it (the guest trapped, or its
    /// store was torn down): an error, so that the response or upload is aborted rather than
    /// ended as if it were complete.
    fn cut_short(&mut self) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let message = "the guest stopped before the end of the body (it trapped or its instance \
                       was torn down)";
        self.finish(Some(error_code::internal(message.to_string())));
        Poll::Ready(Some(Err(message.into())))
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if let Some(contents) = &self.contents {
            match contents.poll_take(cx, BYTE_CAPACITY) {
                Poll::Ready(Some(bytes)) => {
                    self.sent = self.sent.saturating_add(bytes.len() as u64);
                    if self.length.is_some_and(|length| self.sent > length) {
                        return self.wrong_size();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(bytes.into()))));
                }
                Poll::Ready(None) => {
                    if self.length.is_some_and(|length| self.sent < length) {
                        return self.wrong_size();
                    }
                    if let Some(contents) = self.contents.take() {
                        contents.close_reader();
                        if contents.writer_failed() {
                            return self.cut_short();
                        }
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        if let Some(trailers) = &self.trailers {
            let value = match trailers.poll_take_with(Some(cx), |b| b.pop_front()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(value) => value.flatten(),
            };
            if let Some(trailers) = self.trailers.take() {
                trailers.close_reader();
                if value.is_none() && trailers.writer_failed() {
                    return self.cut_short();
                }
            }
            match value {
                // The guest dropped its trailers writer without a value: a plain end.
                None => {}
                Some(Val::Result(Ok(Some(inner)))) => {
                    if let Val::Option(Some(fields)) = *inner
                        && let Val::Resource(any) = *fields
                    {
                        self.resolving = Some((self.resolver)(any));
                    }
                }
                Some(Val::Result(Err(code))) => {
                    let code = code.map(|c| *c);
                    let message = format!(
                        "the guest ended the body with an error: {}",
                        code.as_ref()
                            .map_or("(none)".to_string(), error_code::describe)
                    );
                    self.finish(code);
                    return Poll::Ready(Some(Err(message.into())));
                }
                Some(_) => {}
            }
        }
        if let Some(resolving) = &mut self.resolving {
            let map = match resolving.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(map) => map,
            };
            self.resolving = None;
            return match map {
                Ok(map) => {
                    self.finish(None);
                    Poll::Ready(Some(Ok(Frame::trailers(map))))
                }
                Err(error) => {
                    let message = format!("{error:#}");
                    self.finish(Some(error_code::internal(message.clone())));
                    Poll::Ready(Some(Err(message.into())))
                }
            };
        }
        self.finish(None);
        Poll::Ready(None)
    }
}
