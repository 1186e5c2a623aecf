//! Gateway API host names: parsing (DNS-1123 with an optional `*.` label), which pattern
//! covers which, the intersection of a listener's and a route's, and their specificity.

use haproxy::config::gateway::HostPattern;

/// Why a Gateway API host name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(in crate::translate) enum HostError {
    /// A `*.` label where only exact names are allowed.
    #[error("{0:?}: a wildcard is not allowed here")]
    Wildcard(String),
    /// An empty name.
    #[error("the host name is empty")]
    Empty,
    /// Over 253 bytes (quoted truncated).
    #[error("{0:?}: longer than 253 bytes")]
    TooLong(String),
    /// A label that is not a DNS label (quoted truncated).
    #[error(
        "{0:?} is not a host name (lower-case DNS labels of letters, digits and -, optionally \
         led by *.)"
    )]
    NotHost(String),
    /// An IPv4 address.
    #[error("{0:?}: an IP address is not a host name here")]
    IpAddress(String),
}

/// Parses a Gateway API host name: lowercase DNS-1123 labels, optionally led by a `*.`
/// label (when `wildcard`), at most 253 bytes, no IP address.
pub(in crate::translate) fn parse(s: &str, wildcard: bool) -> Result<HostPattern, HostError> {
    let (rest, is_wild) = match s.strip_prefix("*.") {
        Some(rest) if wildcard => (rest, true),
        Some(_) => return Err(HostError::Wildcard(s.to_string())),
        None => (s, false),
    };
    if s.is_empty() {
        return Err(HostError::Empty);
    }
    if s.len() > 253 {
        return Err(HostError::TooLong(truncate(s)));
    }
    for label in rest.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(HostError::NotHost(truncate(s)));
        }
    }
    if rest.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(HostError::IpAddress(s.to_string()));
    }
    Ok(if is_wild {
        HostPattern::Wildcard(rest.to_string())
    } else {
        HostPattern::Exact(rest.to_string())
    })
}

/// At most 64 characters of `s`, for messages.
pub(in crate::translate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// True when every host `b` matches, `a` matches too (a wildcard matches one or more
/// labels before its suffix).
pub(in crate::translate) fn covers(a: &HostPattern, b: &HostPattern) -> bool {
    use HostPattern::{Any, Exact, Wildcard};
    match (a, b) {
        (Any, _) => true,
        (_, Any) => false,
        (Exact(x), Exact(y)) => x == y,
        (Exact(_), Wildcard(_)) => false,
        (Wildcard(s), Exact(h)) => h.len() > s.len() + 1 && h.ends_with(&format!(".{s}")),
        (Wildcard(s), Wildcard(t)) => t == s || t.ends_with(&format!(".{s}")),
    }
}

/// The hosts a listener's pattern and a route's host name have in common, as a pattern:
/// the more specific one when one covers the other, none otherwise.
pub(in crate::translate) fn intersect(
    listener: &HostPattern,
    route: &HostPattern,
) -> Option<HostPattern> {
    if covers(listener, route) {
        Some(route.clone())
    } else if covers(route, listener) {
        Some(listener.clone())
    } else {
        None
    }
}

/// How specific a pattern is, greatest first: an exact host (by its length), then a
/// wildcard (by its length with the `*.`), then any host. The spec's order between routes
/// of intersecting host names: characters in a non-wildcard name, then in any name.
pub(in crate::translate) fn specificity(p: &HostPattern) -> (u8, usize) {
    match p {
        HostPattern::Exact(h) => (2, h.len()),
        HostPattern::Wildcard(s) => (1, s.len() + 2),
        HostPattern::Any => (0, 0),
    }
}

/// A pattern as the spec writes it (`*` for any host).
pub(in crate::translate) fn show(p: &HostPattern) -> String {
    match p {
        HostPattern::Exact(h) => h.clone(),
        HostPattern::Wildcard(s) => format!("*.{s}"),
        HostPattern::Any => "*".into(),
    }
}
