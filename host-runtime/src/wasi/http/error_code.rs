//! `variant error-code` values of `wasi:http/types`.
//!
//! Error codes travel inside futures (`future<result<_, error-code>>`), whose values the host
//! carries as [`Val`]s, and through the lowered `handle` / `send`, which the host calls and
//! implements with `Val`s too; so the host makes and reads them as `Val`s, in one place.

use wasmtime::component::Val;

/// The case `case` without a payload, e.g. `named("connection-refused")`.
pub fn named(case: &str) -> Val {
    Val::Variant(case.to_string(), None)
}

/// `internal-error(some(message))`.
pub fn internal(message: impl Into<String>) -> Val {
    Val::Variant(
        "internal-error".to_string(),
        Some(Box::new(Val::Option(Some(Box::new(Val::String(
            message.into(),
        )))))),
    )
}

/// An error code as text, for logs and error messages: `connection-refused`,
/// `internal-error: message`.
pub fn describe(code: &Val) -> String {
    match code {
        Val::Variant(case, None) => case.clone(),
        Val::Variant(case, Some(payload)) => match &**payload {
            Val::Option(Some(inner)) => match &**inner {
                Val::String(message) => format!("{case}: {message}"),
                other => format!("{case}: {other:?}"),
            },
            Val::Option(None) => case.clone(),
            other => format!("{case}: {other:?}"),
        },
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_cases_with_and_without_messages() {
        assert_eq!(describe(&named("DNS-timeout")), "DNS-timeout");
        assert_eq!(describe(&internal("boom")), "internal-error: boom");
    }
}
