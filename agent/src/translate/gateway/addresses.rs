//! Where each Gateway listens: its address (with `--gateway-address-pool`, one pool address
//! per Gateway, so two Gateways never share a listener) and, per listener, the bind.
//!
//! Without a pool every Gateway is served on the agent's address: an HTTP listener on port
//! 80 or on `--http-bind`'s port is the shared HTTP bind (HTTPS: 443 or `--https-bind`'s
//! port), any other port gets a bind of its own on that address. With a pool, a Gateway's
//! listeners bind on its own address, port 80/443 mapped to the agent's HTTP/HTTPS ports
//! like on the shared binds (the usual container port behind a Service port).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use haproxy::config::gateway::{GatewayBind, Listen};

use super::{GatewayProblems, hostnames};
use crate::gateway_api::Gateway;
use crate::problem::ProblemKind;
use crate::store::ObjectKey;
use crate::translate::Settings;

/// A Gateway's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) enum Address {
    /// The agent's own binds' address (no pool).
    Shared,
    /// Its own address, from the pool.
    Own(IpAddr),
    /// None can be given: the Gateway is not served. (`Accepted` stays as its listeners
    /// say, `Programmed` is False with this reason and message.)
    Unusable(&'static str, String),
    /// `spec.addresses` asks for something the agent cannot give (`Accepted` False,
    /// `UnsupportedAddress`).
    Unsupported(String),
}

/// The addresses of `gateways` (ours, in any order): those asking for a pool address in
/// `spec.addresses` get it if no older Gateway has it; the others get the pool address
/// their name points to, or the next free one (so adding or removing a Gateway rarely
/// moves another). Older Gateways (creation time, then namespace/name) choose first.
pub(in crate::translate) fn assign(
    gateways: &[(&ObjectKey, &Gateway)],
    pool: &[IpAddr],
    problems: &mut GatewayProblems,
) -> BTreeMap<ObjectKey, Address> {
    let mut order: Vec<&(&ObjectKey, &Gateway)> = gateways.iter().collect();
    order.sort_by(|a, b| {
        let ta = a.1.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let tb = b.1.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (ta, a.0).cmp(&(tb, b.0))
    });
    let mut out = BTreeMap::new();
    let mut taken: BTreeSet<IpAddr> = BTreeSet::new();
    let mut wanting = Vec::new();
    for (key, gw) in order {
        match requested(gw, pool) {
            Ok(None) if pool.is_empty() => {
                out.insert((*key).clone(), Address::Shared);
            }
            Ok(None) => wanting.push(*key),
            Ok(Some(ip)) if taken.insert(ip) => {
                out.insert((*key).clone(), Address::Own(ip));
            }
            Ok(Some(ip)) => {
                let why = format!("address {ip} is already an older Gateway's");
                problems.push(ProblemKind::Gateway, key, "spec.addresses", why.clone());
                out.insert((*key).clone(), Address::Unusable("AddressNotUsable", why));
            }
            Err(e) => {
                let why = format!("{e}; the Gateway is not accepted");
                problems.push(ProblemKind::Gateway, key, e.field(), why);
                out.insert((*key).clone(), Address::Unsupported(e.to_string()));
            }
        }
    }
    for key in wanting {
        let start = (fnv1a(key.to_string().as_bytes()) % pool.len() as u64) as usize;
        let free = (0..pool.len())
            .map(|i| pool[(start + i) % pool.len()])
            .find(|ip| !taken.contains(ip));
        let address = match free {
            Some(ip) => {
                taken.insert(ip);
                Address::Own(ip)
            }
            None => {
                let why = format!(
                    "every address of --gateway-address-pool ({}) is an older Gateway's",
                    pool.len()
                );
                problems.push(ProblemKind::Gateway, key, "status.addresses", why.clone());
                Address::Unusable("AddressNotAssigned", why)
            }
        };
        out.insert(key.clone(), address);
    }
    out
}

/// Why `spec.addresses` asks for what cannot be given (values quoted at most 64
/// characters long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum AddressError {
    /// No pool to give from.
    #[error(
        "requested addresses need --gateway-address-pool (the Gateway would be served on the \
         agent's binds)"
    )]
    NoPool,
    /// More than one address.
    #[error("{0} addresses requested; one per Gateway is served")]
    Several(usize),
    /// Another address type than `IPAddress`.
    #[error("address type {0:?} is not supported (IPAddress is)")]
    Type(String),
    /// A value that is not an IP address.
    #[error("{0:?} is not an IP address")]
    NotIp(String),
    /// An address outside the pool.
    #[error("{0} is not in --gateway-address-pool")]
    NotInPool(IpAddr),
}

impl AddressError {
    /// The field to blame.
    fn field(&self) -> &'static str {
        match self {
            AddressError::NoPool | AddressError::Several(_) => "spec.addresses",
            AddressError::Type(_) => "spec.addresses[0].type",
            AddressError::NotIp(_) | AddressError::NotInPool(_) => "spec.addresses[0].value",
        }
    }
}

/// The pool address `spec.addresses` asks for (`None`: none asked), or why it cannot be
/// given.
fn requested(gw: &Gateway, pool: &[IpAddr]) -> Result<Option<IpAddr>, AddressError> {
    let asked = match gw.spec.addresses.as_deref() {
        None | Some([]) => return Ok(None),
        Some(a) => a,
    };
    if pool.is_empty() {
        return Err(AddressError::NoPool);
    }
    if asked.len() > 1 {
        return Err(AddressError::Several(asked.len()));
    }
    let type_ = asked[0].get("type").and_then(|t| t.as_str());
    if type_.is_some_and(|t| t != "IPAddress") {
        let shown = hostnames::truncate(type_.unwrap_or_default());
        return Err(AddressError::Type(shown));
    }
    let value = asked[0].get("value").and_then(|v| v.as_str()).unwrap_or("");
    let Ok(ip) = value.parse::<IpAddr>() else {
        return Err(AddressError::NotIp(hostnames::truncate(value)));
    };
    if !pool.contains(&ip) {
        return Err(AddressError::NotInPool(ip));
    }
    Ok(Some(ip))
}

/// 64-bit FNV-1a: a hash that stays the same across builds and runs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The bind of a listener of protocol `proto` (`Listen::Http` or `Listen::Https`) on
/// `port` of a Gateway at `address` (`None`: not served).
pub(in crate::translate) fn bind_of(
    proto: Listen,
    port: i32,
    address: &Address,
    settings: &Settings,
) -> Option<Listen> {
    let port = u16::try_from(port).ok().filter(|p| *p > 0)?;
    let tls = proto.tls();
    let (shared, bind, default_port) = if tls {
        (Listen::Https, settings.https_bind, 443)
    } else {
        (Listen::Http, settings.http_bind, 80)
    };
    let port = if port == default_port {
        bind.port()
    } else {
        port
    };
    let ip = match address {
        Address::Shared if port == bind.port() => return Some(shared),
        Address::Shared => bind.ip(),
        Address::Own(ip) => *ip,
        Address::Unusable(..) | Address::Unsupported(_) => return None,
    };
    let addr = SocketAddr::new(ip, port);
    Some(Listen::Bind(GatewayBind { addr, tls }))
}

/// Why a Gateway's own bind `b` cannot be served: it is one of the agent's own listening
/// addresses (or overlaps one), or a shared bind of the other protocol.
pub(in crate::translate) fn clash(b: &GatewayBind, settings: &Settings) -> Option<String> {
    let overlaps = |a: SocketAddr| {
        a.port() == b.addr.port()
            && (a.ip() == b.addr.ip() || a.ip().is_unspecified() || b.addr.ip().is_unspecified())
    };
    let shared = [
        (settings.http_bind, "--http-bind"),
        (settings.https_bind, "--https-bind"),
    ];
    for (a, flag) in shared {
        if a == b.addr {
            return Some(format!("{} is the agent's {flag}", b.addr));
        }
    }
    for (a, flag) in &settings.agent_listen {
        if overlaps(*a) {
            return Some(format!("{} is taken by the agent's {flag} ({a})", b.addr));
        }
    }
    None
}

/// Why a Gateway's own bind `b` cannot be served, given the binds earlier Gateways took
/// (address -> TLS): [`clash`], or an earlier bind of the other protocol.
pub(in crate::translate) fn refused(
    b: &GatewayBind,
    settings: &Settings,
    taken: &BTreeMap<SocketAddr, bool>,
) -> Option<String> {
    clash(b, settings).or_else(|| {
        taken.get(&b.addr).filter(|tls| **tls != b.tls).map(|_| {
            format!(
                "{} is an earlier Gateway listener's of the other protocol",
                b.addr
            )
        })
    })
}

#[cfg(test)]
#[path = "addresses_tests.rs"]
mod tests;
