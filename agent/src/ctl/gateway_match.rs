//! What the Gateway API Lua action (`haproxy/src/config/gateway/gateway.lua`) does with a
//! request, judged without IO from the map entries `ctl route` read: the host walk, each
//! candidate's match, and the winner's action.
//!
//! This follows the Lua's order and precedence exactly, and must change with it:
//! - the host entry is `<bind>|<host>`, then `<bind>|*.<suffix>` one label shorter at a
//!   time (an `ingress` entry counts only one label down; deeper it is walked past), then
//!   `<bind>|*`; no entry or `ingress` passes the request on to the Ingress lookups on a
//!   shared bind (`http`, `https`) and answers 404 on a Gateway's own bind (`…@addr:port`);
//!   an entry that is not `<port>|<ids>` also passes it on;
//! - the candidates are tried in the entry's order, a candidate without a rule entry is
//!   skipped, and the first that matches wins; none matching answers 404;
//! - a candidate matches when, in this order, its path (exact; prefix by whole path
//!   elements, `/` matching all; regex over the whole path), its method (compared as
//!   sent), each header (names case-insensitive, any of the header's values equal or
//!   holding a regex match) and each query parameter (names case-sensitive, the first
//!   value percent-decoded, equal or holding a regex match) hold; the first that fails is
//!   the reason given.

use haproxy::config::gateway::{
    ActionKind, Candidate, HeaderOps, HostEntry, PathMatch, PathRewrite, ValueMatch,
};

use super::request::Request;

/// One host-map key the Lua looks up, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HostStep {
    /// The key (`http|a.example`, `http|*.example`, `http|*`).
    pub key: String,
    /// Labels dropped for a `*.` key (1 for `*.example` of `a.example`), 0 otherwise.
    pub labels: usize,
}

/// The host-map keys the Lua may look up for `host` on bind `listen`, in its order.
pub(super) fn host_steps(listen: &str, host: &str) -> Vec<HostStep> {
    let mut out = vec![HostStep {
        key: format!("{listen}|{host}"),
        labels: 0,
    }];
    let mut rest = host;
    let mut labels = 0;
    while let Some(dot) = rest.find('.') {
        rest = &rest[dot + 1..];
        labels += 1;
        if rest.is_empty() {
            break;
        }
        out.push(HostStep {
            key: format!("{listen}|*.{rest}"),
            labels,
        });
    }
    out.push(HostStep {
        key: format!("{listen}|*"),
        labels: 0,
    });
    out
}

/// Which looked-up entry the Lua takes: the index of the step and its value, or `None`.
/// `found[i]` is the live value of `steps[i]`'s key. Also the entries walked past (an
/// `ingress` entry more than one label down), as notes.
pub(super) fn host_choice<'a>(
    steps: &[HostStep],
    found: &'a [Option<String>],
) -> (Option<(usize, &'a str)>, Vec<String>) {
    let mut notes = Vec::new();
    let last = steps.len().saturating_sub(1);
    for (i, (s, v)) in steps.iter().zip(found).enumerate() {
        let Some(v) = v.as_deref() else { continue };
        let wildcard = i > 0 && i < last;
        if wildcard && v == haproxy::config::gateway::INGRESS_MARKER && s.labels != 1 {
            notes.push(format!(
                "{:?} is an Ingress wildcard: it covers one label only, so it is walked past",
                s.key
            ));
            continue;
        }
        return (Some((i, v)), notes);
    }
    (None, notes)
}

/// Why a candidate does not match, or `None` when it matches.
pub(super) fn mismatch(c: &Candidate, req: &Request) -> Option<String> {
    let m = &c.matches;
    let path_ok = match &m.path {
        PathMatch::Exact(p) => req.path == *p,
        PathMatch::Prefix(p) => prefix_ok(p, &req.path),
        PathMatch::Regex(p) => regex(p, true).is_some_and(|r| r.is_match(&req.path)),
    };
    if !path_ok {
        return Some(format!(
            "path {:?} does not match {}",
            req.path,
            path_text(&m.path)
        ));
    }
    if let Some(method) = &m.method
        && *method != req.method
    {
        return Some(format!("method {} is not {method}", req.method));
    }
    for h in &m.headers {
        let values: Vec<&str> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&h.name))
            .map(|(_, v)| v.as_str())
            .collect();
        if !values.iter().any(|v| value_ok(h, v)) {
            return Some(why_not("header", h, &values));
        }
    }
    for q in &m.query {
        let first = query_first(&req.query, &q.name);
        if !first.as_deref().is_some_and(|v| value_ok(q, v)) {
            let values: Vec<&str> = first.as_deref().into_iter().collect();
            return Some(why_not("query parameter", q, &values));
        }
    }
    None
}

fn why_not(what: &str, m: &ValueMatch, values: &[&str]) -> String {
    let want = if m.regex {
        format!("a match of regex {:?}", m.value)
    } else {
        format!("{:?}", m.value)
    };
    if values.is_empty() {
        format!("{what} {} is absent (wants {want})", m.name)
    } else {
        format!("{what} {} is {values:?}, not {want}", m.name)
    }
}

/// The path match for people.
pub(super) fn path_text(p: &PathMatch) -> String {
    match p {
        PathMatch::Exact(p) => format!("exact {p:?}"),
        PathMatch::Prefix(p) => format!("prefix {p:?}"),
        PathMatch::Regex(p) => format!("regex {p:?}"),
    }
}

/// A path prefix by whole elements (`/` matches every path).
fn prefix_ok(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A regex as the Lua compiles it: case-sensitive, over the whole text when `whole`.
fn regex(src: &str, whole: bool) -> Option<regex::Regex> {
    let text = if whole {
        format!("^(?:{src})$")
    } else {
        src.to_string()
    };
    regex::Regex::new(&text).ok()
}

fn value_ok(m: &ValueMatch, v: &str) -> bool {
    if m.regex {
        regex(&m.value, false).is_some_and(|r| r.is_match(v))
    } else {
        v == m.value
    }
}

/// Reads `%XX` escapes as the Lua does (anything else kept as it is).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = s.get(i + 1..i + 3).filter(|_| b[i] == b'%');
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of query parameter `name` in the raw query string.
fn query_first(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .find(|(n, _)| unescape(n) == name)
        .map(|(_, v)| unescape(v))
}

/// The winning candidate's action, for people, one line each: the redirect's `Location`
/// (as the Lua builds it; `tls`: the request came on a TLS bind, `port`: the listener's),
/// or the weighted backends, then the filters.
pub(super) fn action_lines(c: &Candidate, req: &Request, tls: bool, port: u16) -> Vec<String> {
    let mut out = Vec::new();
    ops_lines(&mut out, "request", &c.action.request_headers);
    match &c.action.kind {
        ActionKind::Redirect(r) => {
            let scheme = r
                .scheme
                .clone()
                .unwrap_or_else(|| if tls { "https" } else { "http" }.into());
            let port = r.port.unwrap_or(match r.scheme.as_deref() {
                Some("https") => 443,
                Some("http") => 80,
                _ => port,
            });
            let host = r.hostname.as_deref().unwrap_or(&req.host);
            let default = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
            let authority = if default {
                host.to_string()
            } else {
                format!("{host}:{port}")
            };
            let path = new_path(&c.matches.path, &req.path, r.path.as_ref());
            let query = if req.query.is_empty() {
                String::new()
            } else {
                format!("?{}", req.query)
            };
            out.push(format!(
                "redirect {}: Location {scheme}://{authority}{path}{query}",
                r.status
            ));
        }
        ActionKind::Forward(f) => {
            let total: u64 = f.backends.iter().map(|b| u64::from(b.weight)).sum();
            if total == 0 {
                out.push("no backend with a weight: HAProxy answers 500".into());
            }
            for b in f.backends.iter().filter(|_| total > 0) {
                let share = u64::from(b.weight) * 100 / total;
                let name = b.backend.as_ref().map_or_else(
                    || "(unresolved: HAProxy answers 500)".to_string(),
                    |b| format!("backend {b}"),
                );
                out.push(format!("{name}, weight {} ({share}%)", b.weight));
            }
            if let Some(h) = &f.rewrite_host {
                out.push(format!("Host rewritten to {h:?}"));
            }
            if let Some(p) = &f.rewrite_path {
                let to = new_path(&c.matches.path, &req.path, Some(p));
                out.push(format!("path rewritten to {to:?}"));
            }
            if let Some(t) = f.timeout {
                out.push(format!("server timeout {}ms", t.as_millis()));
            }
        }
    }
    ops_lines(&mut out, "response", &c.action.response_headers);
    out
}

fn ops_lines(out: &mut Vec<String>, side: &str, ops: &HeaderOps) {
    for (n, v) in &ops.set {
        out.push(format!("{side} header {n} set to {v:?}"));
    }
    for (n, v) in &ops.add {
        out.push(format!("{side} header {n} added {v:?}"));
    }
    for n in &ops.remove {
        out.push(format!("{side} header {n} removed"));
    }
}

/// The path after a rewrite or redirect (`ReplacePrefixMatch` replaces the matched prefix).
fn new_path(matched: &PathMatch, path: &str, rewrite: Option<&PathRewrite>) -> String {
    match rewrite {
        None => path.to_string(),
        Some(PathRewrite::Full(p)) => p.clone(),
        Some(PathRewrite::Prefix(with)) => {
            // The Lua replaces the length of the match's path, whatever its kind.
            let (PathMatch::Exact(prefix) | PathMatch::Prefix(prefix) | PathMatch::Regex(prefix)) =
                matched;
            let rest = if prefix == "/" {
                path
            } else {
                path.get(prefix.len()..).unwrap_or("")
            };
            match (rest.is_empty(), with.is_empty()) {
                (true, true) => "/".into(),
                (true, false) => with.clone(),
                _ => format!("{}{rest}", with.strip_suffix('/').unwrap_or(with)),
            }
        }
    }
}

/// A host-map entry read back, for people.
pub(super) fn entry_text(v: &str) -> String {
    match HostEntry::decode(v) {
        Some(HostEntry::Ingress) => "an Ingress serves this host".into(),
        Some(HostEntry::Rules {
            listener_port,
            candidates,
        }) => format!(
            "listener port {listener_port}, {} candidates",
            candidates.len()
        ),
        None => "not an entry the agent writes".into(),
    }
}

#[cfg(test)]
#[path = "gateway_match_tests.rs"]
mod tests;
