//! Serving: one HTTP request handled by a component's exported `wasi:http/handler@0.3.0`.

use std::fmt;

use wasmtime::component::{Resource, Val};
use wasmtime::format_err;

use super::body::Body;
use super::client::HANDLER;
use super::error_code;
use super::types::{Request, Response};
use crate::ctx::IsyswasfaView;
use crate::host::{DynamicFunc, Host};

/// A component's exported `handle`, looked up once per instance.
#[derive(Clone)]
pub struct Handler<T: 'static> {
    host: Host<T>,
    handle: DynamicFunc,
}

/// Why a request got no response from the guest.
#[derive(Debug)]
pub enum HandleError {
    /// The guest answered with an `error-code`.
    Guest(String),
    /// The call failed: the guest trapped, or the instance was broken already.
    Trap(wasmtime::Error),
    /// The guest's response cannot be sent (for example a 1xx status as the final answer).
    Malformed(String),
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Guest(code) => write!(f, "the handler returned the error `{code}`"),
            Self::Trap(error) => write!(f, "the handler failed: {error:#}"),
            Self::Malformed(why) => write!(f, "the handler's response is malformed: {why}"),
        }
    }
}

impl std::error::Error for HandleError {}

impl<T: IsyswasfaView + Send + 'static> Handler<T> {
    /// Looks up the `handle` export of the component `host` runs.
    pub async fn new(host: Host<T>) -> wasmtime::Result<Self> {
        let handle = host.dynamic_func(Some(HANDLER), "handle").await?;
        if !handle.is_async() {
            return Err(format_err!(
                "`{HANDLER}#handle` is not the lowered async function isyswasfa expects"
            ));
        }
        Ok(Self { host, handle })
    }

    /// The host the handler runs in.
    pub fn host(&self) -> &Host<T> {
        &self.host
    }
}

/// Hands `request` to the guest's handler and returns its response, whose body streams from
/// the guest as it writes it. Dropping the returned future (the client went away) cancels the
/// guest's work for the request.
pub async fn handle<T: IsyswasfaView + Send + 'static>(
    handler: &Handler<T>,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, HandleError> {
    let request = Request::from_http(request);
    // The request goes into the table, the call starts, and later its response comes out of
    // the table, each in the store visit that needs it: one event-loop round trip per request.
    let response = handler
        .host
        .call_dynamic_with(
            &handler.handle,
            move |store| {
                let request = store.data_mut().isyswasfa().table.push(request)?;
                Ok(vec![Val::Resource(
                    request.try_into_resource_any(&mut *store)?,
                )])
            },
            |store, results| Ok(take_response(store, results)),
        )
        .await
        .map_err(HandleError::Trap)??;
    into_http(response)
}

/// The handler's `result<response, error-code>`, its response taken out of the table.
fn take_response<T: IsyswasfaView>(
    store: &mut wasmtime::Store<T>,
    results: Vec<Val>,
) -> Result<Response, HandleError> {
    let response = match results.into_iter().next() {
        Some(Val::Result(Ok(Some(response)))) => match *response {
            Val::Resource(response) => response,
            other => return Err(HandleError::Malformed(format!("not a response: {other:?}"))),
        },
        Some(Val::Result(Err(code))) => {
            let code = code.map_or_else(|| "(none)".to_string(), |c| error_code::describe(&c));
            return Err(HandleError::Guest(code));
        }
        other => {
            return Err(HandleError::Malformed(format!(
                "unexpected result {other:?}"
            )));
        }
    };
    let response: Resource<Response> = response
        .try_into_resource(&mut *store)
        .map_err(HandleError::Trap)?;
    store
        .data_mut()
        .isyswasfa()
        .table
        .delete(response)
        .map_err(|error| HandleError::Trap(error.into()))
}

fn into_http(response: Response) -> Result<http::Response<Body>, HandleError> {
    let status = http::StatusCode::from_u16(response.status)
        .map_err(|_| HandleError::Malformed(format!("status {}", response.status)))?;
    if status.is_informational() {
        return Err(HandleError::Malformed(format!(
            "status {status} cannot be the final response"
        )));
    }
    let mut out = http::Response::new(response.body);
    *out.status_mut() = status;
    *out.headers_mut() = response.headers;
    Ok(out)
}
