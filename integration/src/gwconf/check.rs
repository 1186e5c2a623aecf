//! Whether one response meets an expectation, with the conformance suite's rules
//! (`CompareRoundTrip`): status first; for a 200 the request the echo saw; for a redirect the
//! parts of its `Location`. Pure.

use std::collections::BTreeMap;

use super::cases::{Expect, Redirect, Weights, qualified};
use super::echo::Echoed;

/// A response as received.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Status code.
    pub status: u16,
    /// Headers, in order (names as received).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Observed {
    /// Values of header `name` (case-insensitive) joined with `,`, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }
}

/// 408 and 504: the suite lets a timeout stand for any expected timeout status.
fn is_timeout(status: u16) -> bool {
    matches!(status, 408 | 504)
}

/// 300-303, 307, 308 (as the suite's round tripper counts redirects).
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 300..=303 | 307 | 308)
}

/// `Ok` when `got` meets `want`; otherwise why not. `default_host` is the Host header sent
/// when the expectation names none.
pub fn check(want: &Expect, got: &Observed, default_host: &str) -> Result<(), String> {
    let statuses = want.statuses();
    if want.failure {
        return if got.status == 200 {
            Err("expected a failure, got 200".to_string())
        } else {
            Ok(())
        };
    }
    if is_timeout(got.status) && statuses.iter().any(|s| is_timeout(*s)) {
        return Ok(());
    }
    if !statuses.contains(&got.status) {
        return Err(format!(
            "expected status {statuses:?}, got {} (body {:?})",
            got.status,
            truncate(&got.body)
        ));
    }
    if got.status == 200 || got.status == 204 {
        check_backend(want, got)
    } else if is_redirect(got.status) {
        match &want.redirect {
            Some(r) => check_redirect(want, r, got, default_host),
            None => Ok(()),
        }
    } else {
        Ok(())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// A 200: the echo's report of the request, and the response headers.
fn check_backend(want: &Expect, got: &Observed) -> Result<(), String> {
    let echoed: Option<Echoed> = got
        .header("content-type")
        .filter(|t| t == "application/json")
        .and_then(|_| serde_json::from_str(&got.body).ok());
    let Some(echoed) = echoed else {
        return Err(format!("not an echo's answer: {:?}", truncate(&got.body)));
    };
    let br = want.backend_request.clone().unwrap_or_default();
    // Without a table of its own the backend must see the request as sent (its Host too).
    let host = if want.backend_request.is_some() {
        &br.host
    } else {
        &want.host
    };
    if let Some(host) = host
        && !host.is_empty()
        && *host != echoed.host
    {
        return Err(format!("expected host {host}, got {}", echoed.host));
    }
    let path = br.path.as_deref().unwrap_or(&want.path);
    if path != echoed.path {
        return Err(format!("expected path {path}, got {}", echoed.path));
    }
    let method = br.method.as_deref().unwrap_or(want.method());
    if method != echoed.method {
        return Err(format!("expected method {method}, got {}", echoed.method));
    }
    check_placement(want, &echoed)?;
    check_headers(want, got, &echoed)
}

/// The namespace and pod of the echo that answered (unchecked without a `backend`).
fn check_placement(want: &Expect, echoed: &Echoed) -> Result<(), String> {
    let Some((namespace, pod_prefix)) = want.backend.as_deref().map(qualified) else {
        return Ok(());
    };
    if namespace != echoed.namespace {
        return Err(format!(
            "expected namespace {namespace:?}, got {:?} (pod {})",
            echoed.namespace, echoed.pod
        ));
    }
    if !echoed.pod.starts_with(&pod_prefix) {
        return Err(format!(
            "expected a pod of {pod_prefix}, got {}",
            echoed.pod
        ));
    }
    Ok(())
}

/// Request headers at the backend, and response headers.
fn check_headers(want: &Expect, got: &Observed, echoed: &Echoed) -> Result<(), String> {
    let br = want.backend_request.clone().unwrap_or_default();
    // The headers the backend must see: as sent, unless the table says otherwise.
    let headers = if want.backend_request.is_some() {
        br.headers.clone()
    } else {
        want.headers.clone()
    };
    for (name, value) in &headers {
        let seen = echoed
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.join(","));
        match seen {
            None => return Err(format!("expected request header {name} at the backend")),
            Some(v) if v != *value => {
                return Err(format!(
                    "expected request header {name}: {value} at the backend, got {v}"
                ));
            }
            Some(_) => {}
        }
    }
    for name in &br.absent {
        if let Some((n, v)) = echoed
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Err(format!(
                "expected request header {name} absent at the backend, got {n}: {v:?}"
            ));
        }
    }
    if let Some(r) = &want.response {
        for (name, value) in &r.headers {
            match got.header(name) {
                None => return Err(format!("expected response header {name}")),
                Some(v) if v != *value => {
                    return Err(format!("expected response header {name}: {value}, got {v}"));
                }
                Some(_) => {}
            }
        }
        for name in &r.absent {
            if let Some(v) = got.header(name) {
                return Err(format!("expected response header {name} absent, got {v}"));
            }
        }
    }
    Ok(())
}

/// A redirect: scheme, host, port and path of its `Location`.
fn check_redirect(
    want: &Expect,
    r: &Redirect,
    got: &Observed,
    default_host: &str,
) -> Result<(), String> {
    let Some(location) = got.header("location") else {
        return Err(format!("redirect {} without a Location", got.status));
    };
    let loc = Location::parse(&location, want.scheme.as_str(), default_host)
        .ok_or_else(|| format!("Location {location:?} is not a URL"))?;
    if let Some(host) = &r.host
        && *host != loc.host
    {
        return Err(format!(
            "expected redirect host {host}, got {} ({location})",
            loc.host
        ));
    }
    let scheme = r.scheme.as_deref().unwrap_or(want.scheme.as_str());
    match &r.port {
        Some(p) if *p != loc.port => {
            return Err(format!(
                "expected redirect port {p:?}, got {:?} ({location})",
                loc.port
            ));
        }
        None if loc.scheme.eq_ignore_ascii_case("http")
            && !matches!(loc.port.as_str(), "" | "80") =>
        {
            return Err(format!(
                "for http, expected redirect port 80 or none, got {:?}",
                loc.port
            ));
        }
        None if loc.scheme.eq_ignore_ascii_case("https")
            && !matches!(loc.port.as_str(), "" | "443") =>
        {
            return Err(format!(
                "for https, expected redirect port 443 or none, got {:?}",
                loc.port
            ));
        }
        _ => {}
    }
    if scheme != loc.scheme {
        return Err(format!(
            "expected redirect scheme {scheme}, got {} ({location})",
            loc.scheme
        ));
    }
    let request_path = want.path.split('?').next().unwrap_or("");
    let path = r.path.as_deref().unwrap_or(request_path);
    if path != loc.path {
        return Err(format!(
            "expected redirect path {path}, got {} ({location})",
            loc.path
        ));
    }
    Ok(())
}

/// The parts of a `Location` the suite compares (a relative one resolved against the
/// request).
#[derive(Debug, PartialEq, Eq)]
struct Location {
    scheme: String,
    host: String,
    port: String,
    path: String,
}

impl Location {
    fn parse(location: &str, scheme: &str, default_host: &str) -> Option<Location> {
        let (scheme, rest) = match location.split_once("://") {
            Some((s, rest)) => (s.to_string(), rest.to_string()),
            None => (scheme.to_string(), format!("{default_host}{location}")),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest.as_str(), ""),
        };
        let path = path.split(['?', '#']).next().unwrap_or("").to_string();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            (
                h.to_string(),
                after.strip_prefix(':').unwrap_or("").to_string(),
            )
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.to_string()),
                None => (authority.to_string(), String::new()),
            }
        };
        Some(Location {
            scheme,
            host,
            port,
            path,
        })
    }
}

/// The backend an echo's pod belongs to, among `backends` (pods are named after their
/// Deployment and a suffix).
pub fn backend_of<'a>(pod: &str, backends: impl IntoIterator<Item = &'a String>) -> Option<String> {
    backends
        .into_iter()
        .filter(|b| pod.starts_with(&format!("{}-", qualified(b).1)))
        .max_by_key(|b| b.len())
        .cloned()
}

/// Whether `counts` (answers per backend, of `want.requests`) is the weighted split the
/// suite accepts: every backend with weight > 0 seen, no other, each share within
/// `want.tolerance` of its weight's share.
pub fn check_weights(counts: &BTreeMap<String, u32>, want: &Weights) -> Result<(), String> {
    let total: u32 = want.backends.values().sum();
    let mut errs = Vec::new();
    for (backend, n) in counts {
        if want.backends.get(backend).copied().unwrap_or(0) == 0 {
            errs.push(format!("{backend} got {n} requests, expected none"));
        }
    }
    for (backend, weight) in &want.backends {
        let got = f64::from(counts.get(backend).copied().unwrap_or(0)) / f64::from(want.requests);
        let share = f64::from(*weight) / f64::from(total.max(1));
        if (got - share).abs() > want.tolerance {
            errs.push(format!(
                "{backend}: share {got:.3}, expected {share:.3} ±{}",
                want.tolerance
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

#[cfg(test)]
mod tests;
