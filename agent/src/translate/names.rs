//! The Kubernetes object-name rules translation checks names against.

/// A DNS subdomain (RFC 1123) as Kubernetes names most objects: at most 253 bytes of
/// dot-separated parts, each lower-case letters, digits and `-`, not starting or ending
/// with `-`.
pub(super) fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}
