//! The model's scalar values: health-check paths, cookie names and keys, timeouts, server
//! addresses, thread counts; each validated at construction.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::super::value::{InvalidValue, check_chars};

word!(
    /// The path of an HTTP health check request (`http-check send uri`): starts with `/`,
    /// at most 1024 bytes of RFC 3986 path and query characters, minus `$ ' " \ #`, which
    /// haproxy.cfg would interpret.
    CheckPath
);

impl CheckPath {
    /// Validates a health check path.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        check_chars(
            "health check path",
            &s,
            1024,
            |c| c.is_ascii_alphanumeric() || "/-._~%!&*+,;=:@?()".contains(c),
            "only letters, digits and / - . _ ~ % ! & * + , ; = : @ ? ( ) are allowed",
        )?;
        if !s.starts_with('/') {
            return Err(InvalidValue::new(
                "health check path",
                s,
                "it must start with /",
            ));
        }
        Ok(Self(s))
    }
}

word!(
    /// A sticky-session cookie name: `[A-Za-z0-9_-]`, 1 to 64 bytes.
    CookieName
);

impl CookieName {
    /// Validates a cookie name.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        check_chars(
            "cookie name",
            &s,
            64,
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'),
            "only letters, digits, _ and - are allowed",
        )?;
        Ok(Self(s))
    }
}

word!(
    /// The secret for `dynamic-cookie-key`: base64-like `[A-Za-z0-9_+/=.-]`, 1 to 256 bytes.
    CookieKey
);

impl CookieKey {
    /// Validates a dynamic cookie key.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        check_chars(
            "dynamic cookie key",
            &s,
            256,
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '/' | '=' | '.' | '-'),
            "only letters, digits and _ + / = . - are allowed",
        )?;
        Ok(Self(s))
    }
}

/// A duration HAProxy accepts as a timeout or interval: whole milliseconds, from 1 ms to
/// 2^31-1 ms (about 24.8 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout(u32);

impl Timeout {
    /// Validates a duration, truncated to milliseconds.
    pub fn new(d: Duration) -> Result<Self, InvalidValue> {
        let ms = d.as_millis();
        if ms == 0 || ms > i32::MAX as u128 {
            return Err(InvalidValue::new(
                "timeout",
                format!("{d:?}"),
                "it must be between 1ms and 2147483647ms",
            ));
        }
        Ok(Self(ms as u32))
    }

    /// Whole seconds, for constants.
    pub fn secs(s: u32) -> Result<Self, InvalidValue> {
        Self::new(Duration::from_secs(u64::from(s)))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        Duration::from_millis(u64::from(self.0))
    }
}

/// HAProxy's notation: the largest unit (`h`, `m`, `s`, `ms`) that divides it exactly.
impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        match ms {
            _ if ms.is_multiple_of(3_600_000) => write!(f, "{}h", ms / 3_600_000),
            _ if ms.is_multiple_of(60_000) => write!(f, "{}m", ms / 60_000),
            _ if ms.is_multiple_of(1000) => write!(f, "{}s", ms / 1000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

/// `secs` for values known to be in range.
pub(super) fn secs(s: u32) -> Timeout {
    Timeout(s * 1000)
}

/// A server address: a unicast IP literal (no scope id) and a port other than 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerAddr(SocketAddr);

impl ServerAddr {
    /// Validates an address. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is judged as
    /// the IPv4 address it stands for: `::ffff:0.0.0.0` reaches the local host.
    pub fn new(addr: SocketAddr) -> Result<Self, InvalidValue> {
        let bad = |reason| {
            Err(InvalidValue::new(
                "server address",
                addr.to_string(),
                reason,
            ))
        };
        if addr.port() == 0 {
            return bad("port 0");
        }
        let ip = addr.ip().to_canonical();
        if ip.is_unspecified() || ip.is_multicast() {
            return bad("not a unicast address");
        }
        if let IpAddr::V4(v4) = ip
            && v4.is_broadcast()
        {
            return bad("not a unicast address");
        }
        if let SocketAddr::V6(v6) = addr
            && (v6.scope_id() != 0 || v6.flowinfo() != 0)
        {
            return bad("IPv6 scope id or flow info is not supported");
        }
        Ok(Self(addr))
    }

    /// The address.
    pub fn get(self) -> SocketAddr {
        self.0
    }
}

/// `ip:port`, IPv6 as `[ip]:port`.
impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A thread count for `nbthread`: 1 to 64 (one thread group on HAProxy 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Threads(u16);

impl Threads {
    /// Validates a thread count.
    pub fn new(n: u16) -> Result<Self, InvalidValue> {
        if !(1..=64).contains(&n) {
            return Err(InvalidValue::new(
                "nbthread",
                n.to_string(),
                "it must be 1 to 64",
            ));
        }
        Ok(Self(n))
    }

    /// The count.
    pub fn get(self) -> u16 {
        self.0
    }
}
