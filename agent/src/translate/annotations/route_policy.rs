//! Route policies from annotations: redirects, rewrites, headers, body size, request
//! limits and CORS, each value checked before it can ride in a route map value.

use std::collections::BTreeSet;

use haproxy::config::{Cors, PolicyRedirect, PolicyText, RateLimit, RedirectCode, RoutePolicy};

use super::ValueError;
use super::reader::Reader;

/// Reads a route policy text; `check` validates it (the value is named when refused).
fn policy_text<'a>(
    r: &mut Reader<'a>,
    name: &str,
    check: impl Fn(&str) -> Result<PolicyText, ValueError>,
) -> Option<(&'a str, PolicyText)> {
    let (key, v) = r.get(name)?;
    match check(v.trim()) {
        Ok(t) => Some((key, t)),
        Err(e) => {
            r.invalid(key, e);
            None
        }
    }
}

fn no_variables(v: &str) -> Result<(), ValueError> {
    if v.contains('$') {
        return Err(ValueError::Variables(v.to_string()));
    }
    Ok(())
}

fn location(v: &str) -> Result<PolicyText, ValueError> {
    no_variables(v)?;
    let absolute = ["http://", "https://"]
        .iter()
        .any(|s| v.len() > s.len() && v.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)));
    if !absolute && !v.starts_with('/') {
        return Err(ValueError::NotLocation(v.to_string()));
    }
    Ok(PolicyText::new("location", v)?)
}

fn path(v: &str) -> Result<PolicyText, ValueError> {
    no_variables(v)?;
    Ok(PolicyText::path("path", v)?)
}

fn vhost(v: &str) -> Result<PolicyText, ValueError> {
    no_variables(v)?;
    let (host, port) = match v.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (v, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(ValueError::NotVhost(v.to_string()));
    }
    Ok(PolicyText::new("host", v)?)
}

fn redirect_code(r: &mut Reader<'_>, name: &str, default: u16) -> RedirectCode {
    let fallback = RedirectCode::new(default).expect("a redirect code");
    let Some((key, v)) = r.get(name) else {
        return fallback;
    };
    match v.trim().parse::<u16>().map(RedirectCode::new) {
        Ok(Ok(code)) => code,
        _ => {
            r.invalid(
                key,
                format!("{v:?} is not 301, 302, 303, 307 or 308 (HAProxy's redirect codes); using {default}"),
            );
            fallback
        }
    }
}

/// The route policies; ingress-nginx checks temporal-redirect before permanent-redirect.
pub(super) fn policy<'a>(
    r: &mut Reader<'a>,
    origins: &mut Option<BTreeSet<PolicyText>>,
) -> RoutePolicy {
    let temporal = policy_text(r, "temporal-redirect", location);
    let temporal_code = redirect_code(r, "temporal-redirect-code", 302);
    let permanent = policy_text(r, "permanent-redirect", location);
    let permanent_code = redirect_code(r, "permanent-redirect-code", 301);
    let redirect = match (temporal, permanent) {
        (Some((key, location)), other) => {
            if let Some((pkey, _)) = other {
                r.shadowed_by(pkey, key);
            }
            Some(PolicyRedirect {
                code: temporal_code,
                location,
            })
        }
        (None, Some((_, location))) => Some(PolicyRedirect {
            code: permanent_code,
            location,
        }),
        (None, None) => None,
    };
    RoutePolicy {
        www_redirect: None,
        custom_errors: None,
        client_cert: None,
        client_dn: None,
        client_error_page: None,
        redirect,
        app_root: policy_text(r, "app-root", path).map(|(_, t)| t),
        forwarded_prefix: policy_text(r, "x-forwarded-prefix", |v| {
            no_variables(v)?;
            Ok(PolicyText::new("x-forwarded-prefix", v)?)
        })
        .map(|(_, t)| t),
        rewrite: policy_text(r, "rewrite-target", super::regex_paths::rewrite_target)
            .map(|(_, t)| t),
        vhost: policy_text(r, "upstream-vhost", vhost).map(|(_, t)| t),
        max_body: body_size(r),
        limit: limits(r),
        cors: cors(r, origins),
        allow_list: None,
        deny_list: None,
        exempt_list: None,
        auth: None,
        hsts: None,
    }
}

const CORS_METHODS: &str = "GET,PUT,POST,DELETE,PATCH,OPTIONS";
const CORS_HEADERS: &str = "DNT,X-CustomHeader,Keep-Alive,User-Agent,X-Requested-With,\
                            If-Modified-Since,Cache-Control,Content-Type,Authorization";

/// A comma-separated list of tokens (spaces around items dropped) whose bytes satisfy `ok`.
fn token_list(v: &str, ok: fn(u8) -> bool) -> Result<PolicyText, ValueError> {
    let items: Vec<&str> = v.split(',').map(str::trim).collect();
    if items.iter().any(|i| i.is_empty() || !i.bytes().all(ok)) {
        return Err(ValueError::NotNameList(v.to_string()));
    }
    Ok(PolicyText::new("list", &items.join(","))?)
}

/// One origin, `http(s)://host[:port]`.
fn origin(v: &str) -> Result<PolicyText, ValueError> {
    if v == "*" {
        return Ok(PolicyText::new("origin", v)?);
    }
    if v.contains(',') {
        // A list: each origin checked; kept comma-joined until `cors` splits it.
        let items: Result<Vec<PolicyText>, ValueError> =
            v.split(',').map(str::trim).map(origin).collect();
        let items = items?;
        if items.iter().any(|i| i.as_str() == "*") {
            return Err(ValueError::StarInOrigins(v.to_string()));
        }
        let joined: Vec<&str> = items.iter().map(PolicyText::as_str).collect();
        return Ok(PolicyText::new("origins", &joined.join(","))?);
    }
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or_else(|| ValueError::NotOrigin(v.to_string()))?;
    // `*.example.com`: any one label in place of the `*` (as ingress-nginx matches it).
    let rest = rest.strip_prefix("*.").unwrap_or(rest);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !host_ok || !port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0)) {
        return Err(ValueError::NotOrigin(v.to_string()));
    }
    Ok(PolicyText::new("origin", v)?)
}

/// `enable-cors` and the `cors-*` annotations (ingress-nginx's defaults).
fn cors(r: &mut Reader<'_>, origins: &mut Option<BTreeSet<PolicyText>>) -> Option<Cors> {
    let enabled = r.flag("enable-cors", false);
    let names = [
        "cors-allow-origin",
        "cors-allow-methods",
        "cors-allow-headers",
        "cors-expose-headers",
        "cors-allow-credentials",
        "cors-max-age",
    ];
    if !enabled {
        for name in names {
            if let Some((key, _)) = r.get(name) {
                r.differs(key, "no effect without enable-cors (as in ingress-nginx)");
            }
        }
        return None;
    }
    let letters = |b: u8| b.is_ascii_alphabetic();
    let header = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let exposed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'*');
    let read =
        |r: &mut Reader<'_>, name: &str, check: &dyn Fn(&str) -> Result<PolicyText, ValueError>| {
            let (key, v) = r.get(name)?;
            check(v.trim()).map_err(|e| r.invalid(key, e)).ok()
        };
    let origin = read(r, "cors-allow-origin", &origin);
    let methods = read(r, "cors-allow-methods", &|v| token_list(v, letters));
    let headers = read(r, "cors-allow-headers", &|v| token_list(v, header));
    let expose = read(r, "cors-expose-headers", &|v| token_list(v, exposed));
    let credentials = r.flag("cors-allow-credentials", true);
    let max_age = match r.get("cors-max-age") {
        None => 1_728_000,
        Some((key, v)) => match v.trim().parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                r.invalid(
                    key,
                    format!("{v:?} is not a number of seconds; using 1728000"),
                );
                1_728_000
            }
        },
    };
    if origin.is_none() && r.raw("cors-allow-origin").is_some() {
        // An origin that cannot be matched: no origin is allowed rather than every one.
        return None;
    }
    let text = |s: &str| PolicyText::new("cors", s).expect("a valid default");
    // Several origins, or a wildcard one: the route names a list (`@<id>`, set by
    // `Parsed::policy_for`) whose entries are in the allow ACL file.
    let origin = origin.map(
        |o| match o.as_str().contains(',') || o.as_str().contains("*.") {
            true => {
                *origins = Some(
                    o.as_str()
                        .split(',')
                        .map(|i| PolicyText::new("origin", i).expect("checked by origin()"))
                        .collect(),
                );
                text("@list")
            }
            false => o,
        },
    );
    Some(Cors {
        origin: origin.unwrap_or_else(|| text("*")),
        methods: methods.unwrap_or_else(|| text(CORS_METHODS)),
        headers: headers.unwrap_or_else(|| text(CORS_HEADERS)),
        expose,
        credentials,
        max_age,
    })
}

/// The largest body limit: HAProxy's arithmetic is on signed 64-bit integers.
const MAX_BODY: u64 = 1 << 62;

/// `proxy-body-size`: nginx's size syntax (`8m`, `512k`, `1g`, bytes); `0` is no limit.
fn body_size(r: &mut Reader<'_>) -> Option<u64> {
    let (key, v) = r.get("proxy-body-size")?;
    let t = v.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let scale: u64 = match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => 0,
    };
    match digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
    {
        Some(0) if scale != 0 => None,
        Some(n) if scale != 0 && n <= MAX_BODY => Some(n),
        _ => {
            r.invalid(
                key,
                format!(
                    "{v:?} is not a size (bytes, or a number with k, m or g, up to 2^62 bytes)"
                ),
            );
            None
        }
    }
}

/// A whole number for a limit; `0` is no limit.
fn limit_number(r: &mut Reader<'_>, name: &str) -> Option<u32> {
    let (key, v) = r.get(name)?;
    match v.trim().parse::<u32>() {
        Ok(0) => None,
        Ok(n) if n <= 1_000_000 => Some(n),
        _ => {
            r.invalid(
                key,
                format!("{v:?} is not a whole number from 0 to 1000000"),
            );
            None
        }
    }
}

/// `limit-rps`, `limit-rpm`, `limit-connections` and `limit-burst-multiplier`. The key is
/// a placeholder until the Ingress's own name replaces it ([`Parsed::policy_for`]).
fn limits(r: &mut Reader<'_>) -> Option<RateLimit> {
    let rps = limit_number(r, "limit-rps");
    let rpm = limit_number(r, "limit-rpm");
    let connections = limit_number(r, "limit-connections");
    let multiplier = limit_number(r, "limit-burst-multiplier").unwrap_or(5);
    if rps.is_none() && rpm.is_none() && connections.is_none() {
        return None;
    }
    Some(RateLimit {
        key: PolicyText::new("limit key", "ingress").expect("a valid key"),
        per_second: rps.map(|n| n.saturating_mul(multiplier)),
        per_10s: rps.map(|n| n.saturating_mul(multiplier.max(10))),
        per_minute: rpm,
        concurrent: connections,
    })
}
