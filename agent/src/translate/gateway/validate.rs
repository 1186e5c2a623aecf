//! Checks of the user strings of Gateway API objects before any reaches a map: header and
//! query parameter names and values, paths, regular expressions, methods, durations, names.
//! Each returns why a value is refused; the caller names the object and field.

use std::time::Duration;

use haproxy::config::{InvalidRegex, RegexPath};

use super::hostnames::truncate;

/// The longest header value, query value or path accepted.
const MAX_VALUE: usize = 4096;
/// The longest header or query parameter name accepted.
const MAX_NAME: usize = 256;
/// The HTTP methods the spec lists.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Why a field's value is refused (values quoted at most 64 characters long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(in crate::translate) enum FieldError {
    /// Not an HTTP token.
    #[error(
        "header name {0:?} is not an HTTP token (1 to 256 letters, digits and !#$%&'*+-.^_`|~)"
    )]
    HeaderName(String),
    /// A header value over 4096 bytes.
    #[error("the value is longer than 4096 bytes")]
    LongValue,
    /// A header value with a control or non-ASCII byte.
    #[error(
        "value {0:?} holds a control or non-ASCII character (only printable ASCII, space and \
         tab are accepted)"
    )]
    ValueBytes(String),
    /// A query parameter name with a refused byte.
    #[error(
        "query parameter name {0:?} is refused (1 to 256 printable ASCII bytes without \
         whitespace & = # % ?)"
    )]
    QueryName(String),
    /// A path, and what is wrong with it.
    #[error("path {0:?} is refused: {1}")]
    Path(String, PathFault),
    /// A path regular expression.
    #[error(transparent)]
    PathRegex(#[from] InvalidRegex),
    /// An empty or too long value regular expression.
    #[error("the regular expression must be 1 to 1024 bytes")]
    RegexLength,
    /// A value regular expression, and why (checked as the group of a path regex).
    #[error("regular expression {0:?} is refused: {1}")]
    ValueRegex(String, InvalidRegex),
    /// A method the spec does not list.
    #[error("method {0:?} is not one of {methods}", methods = METHODS.join(", "))]
    Method(String),
    /// Not a Gateway API duration.
    #[error("duration {0:?} is not a Gateway API duration (e.g. 10s, 1m30s, 500ms)")]
    Duration(String),
    /// Not a listener name.
    #[error("name {0:?} is not a listener name (lower-case letters, digits and -)")]
    SectionName(String),
}

/// What is wrong with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(in crate::translate) enum PathFault {
    /// A relative path.
    #[error("it must start with /")]
    Relative,
    /// Over 4096 bytes.
    #[error("it is longer than 4096 bytes")]
    TooLong,
    /// Whitespace, `#`, `?` or non-ASCII.
    #[error("only printable ASCII without whitespace, # or ? is allowed")]
    Bytes,
    /// A form the spec refuses (`//`, `/./`, ...).
    #[error("it contains {0}")]
    Contains(&'static str),
    /// A trailing `/.` or `/..`.
    #[error("it ends with /. or /..")]
    DotEnd,
}

/// An HTTP header name: an RFC 7230 token of at most 256 bytes.
pub(in crate::translate) fn header_name(s: &str) -> Result<(), FieldError> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if s.is_empty() || s.len() > MAX_NAME || !s.bytes().all(tchar) {
        return Err(FieldError::HeaderName(truncate(s)));
    }
    Ok(())
}

/// A header value: printable ASCII, spaces and tabs, at most 4096 bytes (no CR, LF, NUL or
/// other control character, nothing outside ASCII).
pub(in crate::translate) fn header_value(s: &str) -> Result<(), FieldError> {
    if s.len() > MAX_VALUE {
        return Err(FieldError::LongValue);
    }
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t') {
        return Err(FieldError::ValueBytes(truncate(s)));
    }
    Ok(())
}

/// A query parameter name: 1 to 256 printable ASCII bytes without `&`, `=`, `#`, `%`, `?`.
pub(in crate::translate) fn query_name(s: &str) -> Result<(), FieldError> {
    let ok = |b: u8| b.is_ascii_graphic() && !b"&=#%?".contains(&b);
    if s.is_empty() || s.len() > MAX_NAME || !s.bytes().all(ok) {
        return Err(FieldError::QueryName(truncate(s)));
    }
    Ok(())
}

/// A path of a match, redirect or rewrite: starts with `/`, printable ASCII without
/// whitespace, `#` or `?`, at most 4096 bytes, and none of the forms the spec refuses
/// (`//`, `/./`, `/../`, `%2f`, `%2F`, a trailing `/.` or `/..`).
pub(in crate::translate) fn path(s: &str) -> Result<(), FieldError> {
    path_fault(s).map_or(Ok(()), |why| Err(FieldError::Path(truncate(s), why)))
}

/// What is wrong with path `s`, if anything.
fn path_fault(s: &str) -> Option<PathFault> {
    if !s.starts_with('/') {
        return Some(PathFault::Relative);
    }
    if s.len() > MAX_VALUE {
        return Some(PathFault::TooLong);
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'#' && b != b'?')
    {
        return Some(PathFault::Bytes);
    }
    if let Some(form) = ["//", "/./", "/../", "%2f", "%2F"]
        .into_iter()
        .find(|form| s.contains(form))
    {
        return Some(PathFault::Contains(form));
    }
    (s.ends_with("/.") || s.ends_with("/..")).then_some(PathFault::DotEnd)
}

/// A path regular expression: what the use-regex annotation accepts (the syntax PCRE2 and
/// the `regex` crate read alike, led by a literal `/`).
pub(in crate::translate) fn path_regex(s: &str) -> Result<(), FieldError> {
    Ok(RegexPath::new(s).map(drop)?)
}

/// A header or query value regular expression: the same syntax as a path regex (checked
/// as the group of one), at most 1024 bytes.
pub(in crate::translate) fn value_regex(s: &str) -> Result<(), FieldError> {
    if s.is_empty() || s.len() > 1024 {
        return Err(FieldError::RegexLength);
    }
    RegexPath::new(&format!("/(?:{s})"))
        .map(drop)
        .map_err(|e| FieldError::ValueRegex(truncate(s), e))
}

/// An HTTP method the spec lists.
pub(in crate::translate) fn method(s: &str) -> Result<(), FieldError> {
    if METHODS.contains(&s) {
        Ok(())
    } else {
        Err(FieldError::Method(truncate(s)))
    }
}

/// A Gateway API duration (`1h`, `10s`, `500ms`, `1m30s`: one to four numbers of at most
/// five digits, each with a unit h, m, s or ms). `None` is a zero duration (no timeout).
pub(in crate::translate) fn duration(s: &str) -> Result<Option<Duration>, FieldError> {
    let bad = || Err(FieldError::Duration(truncate(s)));
    let mut rest = s;
    let (mut total, mut parts) = (Duration::ZERO, 0);
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 5 {
            return bad();
        }
        let n: u64 = rest[..digits].parse().expect("digits");
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(n), 2)
        } else if rest.starts_with('h') {
            (Duration::from_secs(n * 3600), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(n * 60), 1)
        } else if rest.starts_with('s') {
            (Duration::from_secs(n), 1)
        } else {
            return bad();
        };
        rest = &rest[len..];
        total += unit;
        parts += 1;
    }
    if parts == 0 || parts > 4 {
        return bad();
    }
    Ok((!total.is_zero()).then_some(total))
}

/// A listener (section) name: 1 to 253 lower-case letters, digits and `-`, starting and
/// ending with a letter or digit.
pub(in crate::translate) fn section_name(s: &str) -> Result<(), FieldError> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(FieldError::SectionName(truncate(s)))
    }
}
