//! Checks of every user-provided Gateway API value before it reaches a map: translation
//! calls them field by field (and names the problem), and [`super::GatewayRoutes`]
//! runs them all again before rendering.

use std::time::Duration;

use super::super::routes::MAX_PATH_LEN;
use super::super::value::InvalidValue;
use super::{ActionKind, Candidate, HeaderOps, HostKey, HostPattern, PathMatch, PathRewrite};

/// Longest header value (or query parameter value) served.
const MAX_VALUE: usize = 4096;

/// An RFC 7230 token (header names, methods): `!#$%&'*+-.^_`|~`, letters and digits.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header name: an RFC 7230 token of at most 256 bytes.
pub fn check_header_name(s: &str) -> Result<(), InvalidValue> {
    if s.len() > 256 || !is_token(s) {
        return Err(InvalidValue::new(
            "header name",
            s,
            "it must be an RFC 7230 token of at most 256 bytes",
        ));
    }
    Ok(())
}

/// A header value: at most 4096 bytes, without CR, LF or NUL (any other byte is
/// percent-encoded in the map).
pub fn check_header_value(s: &str) -> Result<(), InvalidValue> {
    if s.len() > MAX_VALUE {
        return Err(InvalidValue::new(
            "header value",
            s,
            "it is over 4096 bytes",
        ));
    }
    if s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(InvalidValue::new(
            "header value",
            s,
            "it holds CR, LF or NUL",
        ));
    }
    Ok(())
}

/// A query parameter name: 1 to 256 bytes without control characters, `&` or `=`.
pub fn check_query_name(s: &str) -> Result<(), InvalidValue> {
    let ok = !s.is_empty()
        && s.len() <= 256
        && !s.chars().any(|c| c.is_control() || c == '&' || c == '=');
    if !ok {
        return Err(InvalidValue::new(
            "query parameter name",
            s,
            "it must be 1 to 256 bytes without control characters, & or =",
        ));
    }
    Ok(())
}

/// A method: an upper-case RFC 7230 token of at most 32 bytes.
pub fn check_method(s: &str) -> Result<(), InvalidValue> {
    if s.len() > 32 || !is_token(s) || s.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(InvalidValue::new(
            "method",
            s,
            "it must be an upper-case token of at most 32 bytes",
        ));
    }
    Ok(())
}

/// A host name as Gateway API writes it: DNS-1123 labels, lower case, at most 253 bytes,
/// with an optional leading `*.` when `wildcard` is allowed.
pub fn check_hostname(s: &str, wildcard: bool) -> Result<(), InvalidValue> {
    let name = match s.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        _ => s,
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if s.len() > 253 || !name.split('.').all(label_ok) {
        return Err(InvalidValue::new(
            "hostname",
            s,
            "it must be lower-case DNS labels (a leading *. where a wildcard is allowed)",
        ));
    }
    Ok(())
}

/// A path (match, rewrite or redirect): starts with `/`, at most 2048 bytes, no
/// whitespace or control characters.
pub fn check_path(s: &str) -> Result<(), InvalidValue> {
    let ok = s.starts_with('/')
        && s.len() <= MAX_PATH_LEN
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(InvalidValue::new(
            "path",
            s,
            "it must start with / and hold no whitespace or control characters (2048 bytes at most)",
        ));
    }
    Ok(())
}

/// A regular expression with the checks of the use-regex annotation: a path regex
/// ([`super::super::RegexPath`]) when `path`, else the same plain syntax without the leading `/`.
pub fn check_regex(s: &str, path: bool) -> Result<(), InvalidValue> {
    let r = if path {
        super::super::RegexPath::new(s).map(|_| ())
    } else {
        super::super::regex_routes::check_plain_regex(s)
    };
    r.map_err(|_| {
        InvalidValue::new(
            "regular expression",
            s,
            "it is not in the plain syntax PCRE2 and the regex crate read alike",
        )
    })
}

/// A redirect scheme: `http` or `https`.
pub fn check_redirect_scheme(s: &str) -> Result<(), InvalidValue> {
    if !matches!(s, "http" | "https") {
        return Err(InvalidValue::new(
            "redirect scheme",
            s,
            "only http and https are supported",
        ));
    }
    Ok(())
}

/// A redirect status: 301, 302, 303, 307 or 308.
pub fn check_status(code: u16) -> Result<(), InvalidValue> {
    if !matches!(code, 301 | 302 | 303 | 307 | 308) {
        return Err(InvalidValue::new(
            "redirect status",
            code.to_string(),
            "only 301, 302, 303, 307 and 308 are redirects",
        ));
    }
    Ok(())
}

/// A server timeout: 1 ms to 24 days (HAProxy's largest timeout).
pub fn check_timeout(d: Duration) -> Result<(), InvalidValue> {
    let ms = d.as_millis();
    if ms == 0 || ms > i32::MAX as u128 {
        return Err(InvalidValue::new(
            "timeout",
            format!("{ms}ms"),
            "it must be from 1ms to 24 days",
        ));
    }
    Ok(())
}

/// A host-map key's host.
pub(in crate::config) fn check_host_key(key: &HostKey) -> Result<(), InvalidValue> {
    match &key.host {
        HostPattern::Exact(h) => check_hostname(h, false),
        HostPattern::Wildcard(s) => check_hostname(s, false),
        HostPattern::Any => Ok(()),
    }
}

fn check_ops(ops: &HeaderOps, errs: &mut Vec<InvalidValue>) {
    for (n, v) in ops.set.iter().chain(&ops.add) {
        errs.extend(check_header_name(n).err());
        errs.extend(check_header_value(v).err());
    }
    for n in &ops.remove {
        errs.extend(check_header_name(n).err());
    }
}

fn check_rewrite(p: &Option<PathRewrite>, errs: &mut Vec<InvalidValue>) {
    if let Some(PathRewrite::Full(s) | PathRewrite::Prefix(s)) = p {
        errs.extend(check_path(s).err());
    }
}

/// Every check of one candidate, into `errs`.
pub(in crate::config) fn check_candidate(c: &Candidate, errs: &mut Vec<InvalidValue>) {
    let m = &c.matches;
    errs.extend(
        match &m.path {
            PathMatch::Exact(p) | PathMatch::Prefix(p) => check_path(p),
            PathMatch::Regex(r) => check_regex(r, true),
        }
        .err(),
    );
    if let Some(method) = &m.method {
        errs.extend(check_method(method).err());
    }
    for h in &m.headers {
        errs.extend(check_header_name(&h.name).err());
        let v = if h.regex {
            check_regex(&h.value, false)
        } else {
            check_header_value(&h.value)
        };
        errs.extend(v.err());
    }
    for q in &m.query {
        errs.extend(check_query_name(&q.name).err());
        let v = if q.regex {
            check_regex(&q.value, false)
        } else {
            check_header_value(&q.value)
        };
        errs.extend(v.err());
    }
    check_ops(&c.action.request_headers, errs);
    check_ops(&c.action.response_headers, errs);
    match &c.action.kind {
        ActionKind::Redirect(r) => {
            errs.extend(
                r.scheme
                    .as_deref()
                    .and_then(|s| check_redirect_scheme(s).err()),
            );
            errs.extend(
                r.hostname
                    .as_deref()
                    .and_then(|h| check_hostname(h, false).err()),
            );
            if r.port == Some(0) {
                errs.push(InvalidValue::new(
                    "redirect port",
                    "0",
                    "ports are 1 to 65535",
                ));
            }
            errs.extend(check_status(r.status).err());
            check_rewrite(&r.path, errs);
        }
        ActionKind::Forward(f) => {
            errs.extend(
                f.rewrite_host
                    .as_deref()
                    .and_then(|h| check_hostname(h, false).err()),
            );
            check_rewrite(&f.rewrite_path, errs);
            errs.extend(f.timeout.and_then(|t| check_timeout(t).err()));
        }
    }
    if matches!(
        (&m.path, rewrite_of(c)),
        (
            PathMatch::Exact(_) | PathMatch::Regex(_),
            Some(PathRewrite::Prefix(_))
        )
    ) {
        errs.push(InvalidValue::new(
            "path rewrite",
            "ReplacePrefixMatch",
            "it needs a PathPrefix match",
        ));
    }
}

fn rewrite_of(c: &Candidate) -> Option<&PathRewrite> {
    match &c.action.kind {
        ActionKind::Redirect(r) => r.path.as_ref(),
        ActionKind::Forward(f) => f.rewrite_path.as_ref(),
    }
}
