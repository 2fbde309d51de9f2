//! The rules of `wasi:http@0.3.0` header fields that both embeddings apply (the host library on
//! top of the `http` crate, the bundle runtime on its own): which fields the host manages, how
//! large one `fields` may grow, and what a valid name and value are.

/// The fields the host manages itself: guests may not set, append, delete or list them, and
/// they are removed from every header and trailer map that reaches a guest. The same names as
/// wasmtime-wasi-http 48's `DEFAULT_FORBIDDEN_HEADERS`: the hop-by-hop fields, `host` (set from
/// the request's authority) and `http2-settings`.
pub const FORBIDDEN_HEADERS: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
];

/// Bytes (names plus values) one `fields` may hold by default.
pub const MAX_FIELDS_SIZE: usize = 64 * 1024;

/// Whether `name` (in any case) is one of [`FORBIDDEN_HEADERS`].
pub fn is_forbidden(name: &str) -> bool {
    FORBIDDEN_HEADERS
        .iter()
        .any(|forbidden| forbidden.eq_ignore_ascii_case(name))
}

/// Whether `name` is a valid field name: one or more token characters (RFC 9110).
pub fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` is a valid field value: no control character but tab (so no CR, LF or NUL).
pub fn valid_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_rules() {
        assert!(is_forbidden("Host") && is_forbidden("transfer-encoding"));
        assert!(!is_forbidden("content-type"));
        assert!(valid_field_name("x-custom") && !valid_field_name("bad name"));
        assert!(!valid_field_name(""));
        assert!(valid_field_value(b"text/plain; q=1\t") && !valid_field_value(b"a\r\nb"));
    }
}
