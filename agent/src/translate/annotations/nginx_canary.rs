//! ingress-nginx canary Ingresses (`canary: "true"`): the rule that picks the canary's
//! requests (header, then cookie, then weight), and which of the Ingress's other
//! annotations apply (those of its own backend; the main Ingress's policies apply to the
//! route, as ingress-nginx does).

use haproxy::config::{CanaryName, CanaryPattern, CanaryRule, PolicyText};

use super::catalog;
use super::reader::Reader;

/// The canary annotations that mean nothing without `canary: "true"`.
const RULE_NAMES: [&str; 6] = [
    "canary-by-cookie",
    "canary-by-header",
    "canary-by-header-pattern",
    "canary-by-header-value",
    "canary-weight-total",
    "canary-weight",
];

/// The rule of a canary Ingress; `None` (named) when a value is invalid: the canary then
/// takes no requests rather than the wrong ones. `pattern` receives the header pattern the
/// rule names by id (its regex goes to the canary ACL file).
pub(super) fn rule(r: &mut Reader<'_>, pattern: &mut Option<CanaryPattern>) -> Option<CanaryRule> {
    let mut ok = true;
    let mut number = |r: &mut Reader<'_>, name: &str, default: u32| match r.get(name) {
        None => default,
        Some((key, v)) => match v.trim().parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                r.invalid(key, format!("{v:?} is not a whole number"));
                ok = false;
                default
            }
        },
    };
    let total = number(r, "canary-weight-total", 100);
    let weight = number(r, "canary-weight", 0);
    let mut rule = match CanaryRule::new(weight, total) {
        Ok(rule) => rule,
        Err(e) => {
            let blame = if total == 0 || total > CanaryRule::MAX_TOTAL {
                "canary-weight-total"
            } else {
                "canary-weight"
            };
            if let Some((key, _)) = r.raw(blame) {
                r.invalid(key, format!("{e}; the canary takes no requests"));
            }
            return None;
        }
    };
    if let Some((key, v)) = r.get("canary-by-header") {
        match CanaryName::header(v.trim()) {
            Ok(h) => rule.header = Some(h),
            Err(e) => {
                r.invalid(key, format!("{e}; the canary takes no requests"));
                ok = false;
            }
        }
    }
    if let Some((key, v)) = r.get("canary-by-header-value") {
        match (&rule.header, PolicyText::new("canary header value", v)) {
            (None, _) => r.invalid(key, "set without canary-by-header; ignored"),
            (Some(_), Ok(v)) => rule.header_value = Some(v),
            (Some(_), Err(e)) => {
                r.invalid(key, format!("{e}; the canary takes no requests"));
                ok = false;
            }
        }
    }
    if let Some((key, v)) = r.get("canary-by-header-pattern") {
        match (&rule.header, &rule.header_value, CanaryPattern::new(v)) {
            (None, ..) => r.invalid(key, "set without canary-by-header; ignored"),
            (Some(_), Some(_), _) => r.invalid(
                key,
                "ignored: canary-by-header-value is set and wins (as in ingress-nginx)",
            ),
            (Some(_), None, Ok(p)) => {
                rule.header_pattern = Some(p.id().clone());
                *pattern = Some(p);
            }
            (Some(_), None, Err(e)) => {
                r.invalid(key, format!("{e}; the canary takes no requests"));
                ok = false;
            }
        }
    }
    if let Some((key, v)) = r.get("canary-by-cookie") {
        match CanaryName::cookie(v.trim()) {
            Ok(c) => rule.cookie = Some(c),
            Err(e) => {
                r.invalid(key, format!("{e}; the canary takes no requests"));
                ok = false;
            }
        }
    }
    ok.then_some(rule)
}

/// Names the canary annotations set on an Ingress that is not a canary.
pub(super) fn without_canary(r: &mut Reader<'_>) {
    for name in RULE_NAMES {
        if name == "canary-weight" && r.raw("canary-service").is_some() {
            continue; // haproxy-agent.io/canary-service's weight
        }
        for (key, prefix) in r.keys_of(name) {
            if name == "canary-weight" && prefix == catalog::PREFIXES[0] {
                continue; // read with canary-service, named there
            }
            r.invalid(key, "set without canary: \"true\"; ignored");
        }
    }
}

/// Whether an annotation applies on a canary Ingress: those of its own backend (balancing,
/// affinity, timeouts, health checks) and the canary rule; ingress-nginx ignores the rest
/// there, and so does this (the main Ingress's apply to the route).
fn applies_on_canary(name: &str) -> bool {
    name.starts_with("canary")
        || name.starts_with("affinity")
        || name.starts_with("session-cookie-")
        || name.starts_with("upstream-hash-by")
        || name.starts_with("health-check-")
        || name.starts_with("timeout-")
        || matches!(
            name,
            "load-balance"
                | "proxy-connect-timeout"
                | "proxy-read-timeout"
                | "proxy-send-timeout"
                | "backend-protocol"
        )
}

/// Marks the honoured annotations of a canary Ingress that do not apply there.
pub(super) fn mark_ignored(r: &mut Reader<'_>) {
    r.differs_unless(
        applies_on_canary,
        "not applied on a canary Ingress (ingress-nginx ignores it there too): the main \
         Ingress's policies apply to the route",
    );
}
