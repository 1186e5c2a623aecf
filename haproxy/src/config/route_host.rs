//! The host part of a route: a validated host name, a wildcard or any host.

use std::fmt;

use super::value::InvalidValue;

/// Longest route path accepted; a host plus a path stays well below a map key's limit.
pub const MAX_PATH_LEN: usize = 2048;

/// A DNS host name as a route matches it: lower case, labels of `[a-z0-9-]` (1 to 63 bytes,
/// not starting or ending with `-`), at most 253 bytes, no trailing dot.
///
/// Upper-case ASCII input is lower-cased at construction rather than refused: HTTP host
/// names are case-insensitive and the frontend lower-cases the request's Host header, so
/// `Example.COM` in a manifest means the same host. Anything else outside the rule is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host(String);

impl Host {
    /// Validates (and lower-cases) a host name.
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        let bad = |reason| Err(InvalidValue::new("host", s, reason));
        if s.is_empty() {
            return bad("it is empty");
        }
        if s.len() > 253 {
            return bad("it is longer than 253 bytes");
        }
        let lower = s.to_ascii_lowercase();
        for label in lower.split('.') {
            if label.is_empty() || label.len() > 63 {
                return bad("each label must be 1 to 63 bytes");
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return bad("labels hold only letters, digits and -");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return bad("a label cannot start or end with -");
            }
        }
        Ok(Self(lower))
    }

    /// The host as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which requests a route's host part matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteHost {
    /// Exactly this host.
    Exact(Host),
    /// `*.<suffix>`: exactly one label in front of the suffix, so `*.example.com` matches
    /// `a.example.com` but neither `example.com` nor `a.b.example.com`.
    Wildcard(Host),
    /// Any host (an Ingress rule without a host).
    Any,
}

impl RouteHost {
    /// Parses an Ingress rule host: empty for any host, `*.suffix` for a wildcard, else a host.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() {
            return Ok(RouteHost::Any);
        }
        match s.strip_prefix("*.") {
            Some(suffix) => Host::new(suffix).map(RouteHost::Wildcard),
            None => Host::new(s).map(RouteHost::Exact),
        }
    }

    /// The host part of a map key: `host`, `*.suffix`, or nothing.
    pub(super) fn key_prefix(&self) -> String {
        match self {
            RouteHost::Exact(h) => h.0.clone(),
            RouteHost::Wildcard(h) => format!("*.{}", h.0),
            RouteHost::Any => String::new(),
        }
    }
}
