//! Where guests may send HTTP requests (`wasi:http/client`): an allow and a deny list of destinations, checked against the
//! name a guest asked for and against every address it resolves to, before connecting.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// A destination rule: a host name, or an address range, each with an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A host name as the guest writes it in the request's authority (case-insensitive).
    Host {
        /// The name.
        name: String,
        /// Only this port (any port when `None`).
        port: Option<u16>,
    },
    /// Every address in `addr/prefix`.
    Net {
        /// The range's first address.
        addr: IpAddr,
        /// How many leading bits must match (32 or 128 for one address).
        prefix: u8,
        /// Only this port (any port when `None`).
        port: Option<u16>,
    },
}

impl Destination {
    /// Every address of `addr/prefix`, any port.
    pub fn net(addr: IpAddr, prefix: u8) -> Self {
        Self::Net {
            addr,
            prefix,
            port: None,
        }
    }

    /// One address and port.
    pub fn socket(addr: SocketAddr) -> Self {
        let ip = addr.ip().to_canonical();
        Self::Net {
            addr: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
            port: Some(addr.port()),
        }
    }

    fn matches(&self, name: &str, to: SocketAddr) -> bool {
        match self {
            Self::Host { name: host, port } => {
                host.eq_ignore_ascii_case(name) && port.is_none_or(|p| p == to.port())
            }
            Self::Net { addr, prefix, port } => {
                port.is_none_or(|p| p == to.port())
                    && in_range(to.ip().to_canonical(), *addr, *prefix)
            }
        }
    }
}

/// Whether `ip` is in `net/prefix` (never across address families).
fn in_range(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (ip, net, bits) = match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => (
            u128::from(u32::from(ip)) << 96,
            u128::from(u32::from(net)) << 96,
            prefix.min(32),
        ),
        (IpAddr::V6(ip), IpAddr::V6(net)) => (u128::from(ip), u128::from(net), prefix.min(128)),
        _ => return false,
    };
    let mask = match bits {
        0 => 0,
        bits => u128::MAX << (128 - u32::from(bits)),
    };
    ip & mask == net & mask
}

/// Parses `example.com`, `example.com:8080`, `10.0.0.0/8`, `192.168.1.7`, `192.168.1.7:80`,
/// `fe80::/10`, `[::1]:8080`.
impl FromStr for Destination {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "`{text}` is not a destination like example.com[:port], 10.0.0.0/8 or 127.0.0.1[:port]"
            )
        };
        if let Some((addr, prefix)) = text.split_once('/') {
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let prefix: u8 = prefix.parse().map_err(|_| bad())?;
            let most = if addr.is_ipv4() { 32 } else { 128 };
            if prefix > most {
                return Err(bad());
            }
            return Ok(Self::net(addr.to_canonical(), prefix));
        }
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self::socket(addr));
        }
        if let Ok(addr) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
            let addr = addr.to_canonical();
            return Ok(Self::net(addr, if addr.is_ipv4() { 32 } else { 128 }));
        }
        let (name, port) = match text.rsplit_once(':') {
            Some((name, port)) => (name, Some(port.parse::<u16>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !valid {
            return Err(bad());
        }
        Ok(Self::Host {
            name: name.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host { name, port: None } => write!(f, "{name}"),
            Self::Host {
                name,
                port: Some(port),
            } => write!(f, "{name}:{port}"),
            Self::Net { addr, prefix, port } => {
                write!(f, "{addr}/{prefix}")?;
                match port {
                    Some(port) => write!(f, " port {port}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Which destinations guests may send requests to: denied when a deny rule matches the name or
/// the address; otherwise allowed when the allow list is empty or one of its rules matches.
///
/// The default denies link-local addresses (`169.254.0.0/16`, `fe80::/10`: the cloud metadata
/// services live there, and nothing a guest should reach) and allows the rest, as
/// `wasmtime serve` allows everything; an operator adds deny rules (private ranges, the
/// server itself) or an allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundPolicy {
    allow: Vec<Destination>,
    deny: Vec<Destination>,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            deny: vec![
                Destination::net(IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16),
                Destination::net(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10),
            ],
        }
    }
}

impl OutboundPolicy {
    /// A policy that allows every destination (no rule at all).
    pub fn allow_all() -> Self {
        Self {
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }

    /// Also denies `destination`.
    pub fn deny(mut self, destination: Destination) -> Self {
        self.deny.push(destination);
        self
    }

    /// Allows `destination`; once one is allowed, only allowed destinations are.
    pub fn allow(mut self, destination: Destination) -> Self {
        self.allow.push(destination);
        self
    }

    /// Whether a request to `name` (the authority's host) may connect to `to`.
    pub fn permits(&self, name: &str, to: SocketAddr) -> bool {
        if self.deny.iter().any(|rule| rule.matches(name, to)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|rule| rule.matches(name, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn default_denies_link_local_only() {
        let policy = OutboundPolicy::default();
        assert!(!policy.permits("169.254.169.254", at("169.254.169.254:80")));
        assert!(!policy.permits("x", at("[fe80::1]:80")));
        assert!(!policy.permits("x", at("[::ffff:169.254.1.1]:80")));
        assert!(policy.permits("example.com", at("93.184.216.34:80")));
        assert!(policy.permits("localhost", at("127.0.0.1:8080")));
    }

    #[test]
    fn rules_parse_and_match() {
        let policy = OutboundPolicy::allow_all()
            .deny("10.0.0.0/8".parse().unwrap())
            .deny("Internal.Example:8080".parse().unwrap())
            .deny("127.0.0.1:9000".parse().unwrap());
        assert!(!policy.permits("a", at("10.1.2.3:80")));
        assert!(policy.permits("a", at("11.1.2.3:80")));
        assert!(!policy.permits("internal.example", at("1.2.3.4:8080")));
        assert!(policy.permits("internal.example", at("1.2.3.4:80")));
        assert!(!policy.permits("localhost", at("127.0.0.1:9000")));
        assert!(policy.permits("localhost", at("127.0.0.1:9001")));
        let only = OutboundPolicy::allow_all().allow("api.example".parse().unwrap());
        assert!(only.permits("api.example", at("1.2.3.4:443")));
        assert!(!only.permits("other.example", at("1.2.3.4:443")));
        for bad in ["", "10.0.0.0/33", "a b", "host:port", "::1/129"] {
            assert!(bad.parse::<Destination>().is_err(), "{bad}");
        }
    }
}
