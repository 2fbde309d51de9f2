//! `-S NAME[=VALUE]`: WASI settings for `run` and `serve`, named and meant as `wasmtime run -S`
//! and `wasmtime serve -S` name them (several may share one `-S`, separated by commas).
//!
//! Supported: the limits `max-resources`, `max-random-size` and `max-http-fields-size`, and the
//! switches `inherit-env`, `inherit-network`, `allow-ip-name-lookup`, `tcp` and `udp` (a
//! switch alone means `=y`; `y`/`n`, `yes`/`no`, `true`/`false` are accepted). Anything else
//! wasmtime knows (`hostcall-fuel`, `http`, `p3`, …) is refused by name, saying what isyswasfa
//! supports, rather than ignored.

use std::fmt;

use isyswasfa_host::IsyswasfaCtxBuilder;
use wasmtime_wasi::WasiCtxBuilder;

/// The names `-S` accepts, for messages.
const SUPPORTED: &str = "max-resources, max-random-size, max-http-fields-size, inherit-env, \
                         inherit-network, allow-ip-name-lookup, tcp, udp";

/// One `-S` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WasiOption {
    /// Entries of the store's resource table (host and WASI resources together).
    MaxResources(usize),
    /// The most bytes one `get-random-bytes` call returns (WASI 0.2 and 0.3).
    MaxRandomSize(u64),
    /// Bytes (names plus values) one HTTP `fields` may hold.
    MaxHttpFieldsSize(usize),
    /// Give the component this process's environment variables (before the `--env` ones).
    InheritEnv(bool),
    /// Give the component the host's network (`wasi:sockets`).
    InheritNetwork(bool),
    /// Allow name lookups (`wasi:sockets/ip-name-lookup`).
    AllowIpNameLookup(bool),
    /// Allow TCP sockets.
    Tcp(bool),
    /// Allow UDP sockets.
    Udp(bool),
}

impl WasiOption {
    /// Parses `NAME[=VALUE]` (clap's value parser for `-S`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, value) = match text.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (text, None),
        };
        let number = |what: &str| -> Result<u64, String> {
            let value = value.ok_or_else(|| format!("`-S {name}` needs a value: {name}={what}"))?;
            value
                .parse::<u64>()
                .map_err(|_| format!("`-S {text}`: `{value}` is not a whole number of {what}"))
        };
        let size = |what: &str| -> Result<usize, String> {
            usize::try_from(number(what)?).map_err(|_| format!("`-S {text}` is too large"))
        };
        let switch = || -> Result<bool, String> {
            match value {
                None | Some("y" | "yes" | "true") => Ok(true),
                Some("n" | "no" | "false") => Ok(false),
                Some(other) => Err(format!("`-S {text}`: `{other}` is not y or n")),
            }
        };
        Ok(match name {
            "max-resources" => Self::MaxResources(size("resources")?),
            "max-random-size" => Self::MaxRandomSize(number("bytes")?),
            "max-http-fields-size" => Self::MaxHttpFieldsSize(size("bytes")?),
            "inherit-env" => Self::InheritEnv(switch()?),
            "inherit-network" => Self::InheritNetwork(switch()?),
            "allow-ip-name-lookup" => Self::AllowIpNameLookup(switch()?),
            "tcp" => Self::Tcp(switch()?),
            "udp" => Self::Udp(switch()?),
            "" => {
                return Err(format!(
                    "`-S {text}`: expected NAME[=VALUE]; one of: {SUPPORTED}"
                ));
            }
            other => {
                return Err(format!(
                    "`-S {other}` is a wasmtime option isyswasfa does not support (or no option \
                     at all); supported: {SUPPORTED}"
                ));
            }
        })
    }
}

impl fmt::Display for WasiOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yn = |on: bool| if on { "y" } else { "n" };
        match self {
            Self::MaxResources(n) => write!(f, "max-resources={n}"),
            Self::MaxRandomSize(n) => write!(f, "max-random-size={n}"),
            Self::MaxHttpFieldsSize(n) => write!(f, "max-http-fields-size={n}"),
            Self::InheritEnv(on) => write!(f, "inherit-env={}", yn(*on)),
            Self::InheritNetwork(on) => write!(f, "inherit-network={}", yn(*on)),
            Self::AllowIpNameLookup(on) => write!(f, "allow-ip-name-lookup={}", yn(*on)),
            Self::Tcp(on) => write!(f, "tcp={}", yn(*on)),
            Self::Udp(on) => write!(f, "udp={}", yn(*on)),
        }
    }
}

/// Every `-S` setting given, in order (a later one of the same name wins).
#[derive(Clone, Debug, Default)]
pub struct WasiOptions(pub Vec<WasiOption>);

impl WasiOptions {
    /// Whether `inherit-env` was asked for: the caller adds this process's variables first.
    pub fn inherit_env(&self) -> bool {
        self.0
            .iter()
            .rev()
            .find_map(|option| match option {
                WasiOption::InheritEnv(on) => Some(*on),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// Applies the settings wasmtime-wasi keeps (random size, network) to `wasi`; the
    /// environment is the caller's (see [`Self::inherit_env`]).
    pub fn apply_to_wasi(&self, wasi: &mut WasiCtxBuilder) {
        for option in &self.0 {
            match *option {
                WasiOption::MaxRandomSize(bytes) => {
                    wasi.max_random_size(bytes);
                }
                WasiOption::InheritNetwork(true) => {
                    wasi.inherit_network();
                }
                WasiOption::InheritNetwork(false) => {
                    wasi.socket_addr_check(|_, _| Box::pin(async { false }));
                }
                WasiOption::AllowIpNameLookup(on) => {
                    wasi.allow_ip_name_lookup(on);
                }
                WasiOption::Tcp(on) => {
                    wasi.allow_tcp(on);
                }
                WasiOption::Udp(on) => {
                    wasi.allow_udp(on);
                }
                WasiOption::MaxResources(_)
                | WasiOption::MaxHttpFieldsSize(_)
                | WasiOption::InheritEnv(_) => {}
            }
        }
    }

    /// Applies the limits isyswasfa's host keeps (resources, random size, fields size).
    pub fn apply_to_host(&self, mut host: IsyswasfaCtxBuilder) -> IsyswasfaCtxBuilder {
        for option in &self.0 {
            host = match *option {
                WasiOption::MaxResources(n) => host.max_resources(n),
                WasiOption::MaxRandomSize(bytes) => host.max_random_bytes(bytes),
                WasiOption::MaxHttpFieldsSize(bytes) => host.max_fields_size(bytes),
                _ => host,
            };
        }
        host
    }

    /// The `max-resources` asked for, if any (for stores that have no isyswasfa context).
    pub fn max_resources(&self) -> Option<usize> {
        self.0.iter().rev().find_map(|option| match option {
            WasiOption::MaxResources(n) => Some(*n),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_wasmtime_names() {
        assert_eq!(
            WasiOption::parse("max-resources=500"),
            Ok(WasiOption::MaxResources(500))
        );
        assert_eq!(
            WasiOption::parse("inherit-env"),
            Ok(WasiOption::InheritEnv(true))
        );
        assert_eq!(WasiOption::parse("tcp=n"), Ok(WasiOption::Tcp(false)));
        let refused = WasiOption::parse("hostcall-fuel=10").unwrap_err();
        assert!(refused.contains("`-S hostcall-fuel`"), "{refused}");
        assert!(refused.contains("supported: max-resources"), "{refused}");
        let bad = WasiOption::parse("max-resources=lots").unwrap_err();
        assert!(bad.contains("`lots` is not a whole number"), "{bad}");
        let missing = WasiOption::parse("max-random-size").unwrap_err();
        assert!(missing.contains("needs a value"), "{missing}");
    }
}
