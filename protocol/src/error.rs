//! The one error type of the protocol, with a kind that embedders and tests can match on.

use std::fmt;

/// What went wrong, for code that must tell failures apart (the message says it for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A component broke the protocol: a forged or stale handle, a second result, a result for
    /// the wrong function or payload. Only that component (its store) is at fault.
    Protocol,
    /// A cap on the tables was reached (the message names the limit).
    LimitExceeded,
    /// The store cannot be entered any more: an earlier entry trapped or failed.
    Broken,
    /// The store's event loop has stopped: its store is gone.
    EventLoopStopped,
    /// A component tried to wait where it may not (see the "may this context wait?" rule).
    MayNotWait,
    /// A host function (the embedder's or the host's own) panicked while the store was
    /// entered; the store is broken, with the panic's message as the cause.
    HostPanic,
}

/// An error of the task protocol: a [kind](ErrorKind) and the message, which names the protocol
/// call and the component at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    cause: Option<ErrorKind>,
}

impl Error {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            cause: None,
        }
    }

    /// The same error, recording the kind of the failure behind it: for a
    /// [`ErrorKind::Broken`] store, what broke it.
    pub fn with_cause(mut self, cause: Option<ErrorKind>) -> Self {
        self.cause = cause;
        self
    }

    /// A [`ErrorKind::Protocol`] error.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    /// A [`ErrorKind::LimitExceeded`] error.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LimitExceeded, message)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// For a [`ErrorKind::Broken`] store, the kind of the failure that broke it (`None` for a
    /// trap or an error that is not isyswasfa's).
    pub fn cause(&self) -> Option<ErrorKind> {
        self.cause
    }

    /// The message, as [`Display`](fmt::Display) prints it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The message of a panic's payload (what `panic!` was given, when it was a string).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// The result of a protocol operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns early with an [`Error`] of the given kind (`protocol` or `limit`) and message.
macro_rules! fail {
    (limit, $($arg:tt)*) => {
        return Err($crate::error::Error::limit(format!($($arg)*)))
    };
    ($($arg:tt)*) => {
        return Err($crate::error::Error::protocol(format!($($arg)*)))
    };
}
pub(crate) use fail;
