//! Checks of the user strings of Gateway API objects before any reaches a map: header and
//! query parameter names and values, paths, regular expressions, methods, durations, names.
//! Each returns why a value is refused; the caller names the object and field.

use std::time::Duration;

use haproxy::config::RegexPath;

use super::hostnames::truncate;

/// The longest header value, query value or path accepted.
const MAX_VALUE: usize = 4096;
/// The longest header or query parameter name accepted.
const MAX_NAME: usize = 256;

/// An HTTP header name: an RFC 7230 token of at most 256 bytes.
pub(in crate::translate) fn header_name(s: &str) -> Result<(), String> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if s.is_empty() || s.len() > MAX_NAME || !s.bytes().all(tchar) {
        return Err(format!(
            "header name {:?} is not an HTTP token (1 to 256 letters, digits and !#$%&'*+-.^_`|~)",
            truncate(s)
        ));
    }
    Ok(())
}

/// A header value: printable ASCII, spaces and tabs, at most 4096 bytes (no CR, LF, NUL or
/// other control character, nothing outside ASCII).
pub(in crate::translate) fn header_value(s: &str) -> Result<(), String> {
    if s.len() > MAX_VALUE {
        return Err("the value is longer than 4096 bytes".into());
    }
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t') {
        return Err(format!(
            "value {:?} holds a control or non-ASCII character (only printable ASCII, space \
             and tab are accepted)",
            truncate(s)
        ));
    }
    Ok(())
}

/// A query parameter name: 1 to 256 printable ASCII bytes without `&`, `=`, `#`, `%`, `?`.
pub(in crate::translate) fn query_name(s: &str) -> Result<(), String> {
    let ok = |b: u8| b.is_ascii_graphic() && !b"&=#%?".contains(&b);
    if s.is_empty() || s.len() > MAX_NAME || !s.bytes().all(ok) {
        return Err(format!(
            "query parameter name {:?} is refused (1 to 256 printable ASCII bytes without \
             whitespace & = # % ?)",
            truncate(s)
        ));
    }
    Ok(())
}

/// A path of a match, redirect or rewrite: starts with `/`, printable ASCII without
/// whitespace, `#` or `?`, at most 4096 bytes, and none of the forms the spec refuses
/// (`//`, `/./`, `/../`, `%2f`, `%2F`, a trailing `/.` or `/..`).
pub(in crate::translate) fn path(s: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("path {:?} is refused: {why}", truncate(s)));
    if !s.starts_with('/') {
        return bad("it must start with /");
    }
    if s.len() > MAX_VALUE {
        return bad("it is longer than 4096 bytes");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'#' && b != b'?')
    {
        return bad("only printable ASCII without whitespace, # or ? is allowed");
    }
    for form in ["//", "/./", "/../", "%2f", "%2F"] {
        if s.contains(form) {
            return bad(&format!("it contains {form}"));
        }
    }
    if s.ends_with("/.") || s.ends_with("/..") {
        return bad("it ends with /. or /..");
    }
    Ok(())
}

/// A path regular expression: what the use-regex annotation accepts (the syntax PCRE2 and
/// the `regex` crate read alike, led by a literal `/`).
pub(in crate::translate) fn path_regex(s: &str) -> Result<(), String> {
    RegexPath::new(s).map(drop).map_err(|e| e.to_string())
}

/// A header or query value regular expression: the same syntax as a path regex (checked
/// as the group of one), at most 1024 bytes.
pub(in crate::translate) fn value_regex(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 1024 {
        return Err("the regular expression must be 1 to 1024 bytes".into());
    }
    RegexPath::new(&format!("/(?:{s})"))
        .map(drop)
        .map_err(|e| format!("regular expression {:?} is refused: {e}", truncate(s)))
}

/// An HTTP method the spec lists.
pub(in crate::translate) fn method(s: &str) -> Result<(), String> {
    const METHODS: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    if METHODS.contains(&s) {
        Ok(())
    } else {
        Err(format!(
            "method {:?} is not one of {}",
            truncate(s),
            METHODS.join(", ")
        ))
    }
}

/// A Gateway API duration (`1h`, `10s`, `500ms`, `1m30s`: one to four numbers of at most
/// five digits, each with a unit h, m, s or ms). `None` is a zero duration (no timeout).
pub(in crate::translate) fn duration(s: &str) -> Result<Option<Duration>, String> {
    let bad = || {
        Err(format!(
            "duration {:?} is not a Gateway API duration (e.g. 10s, 1m30s, 500ms)",
            truncate(s)
        ))
    };
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
pub(in crate::translate) fn section_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name {:?} is not a listener name (lower-case letters, digits and -)",
            truncate(s)
        ))
    }
}
