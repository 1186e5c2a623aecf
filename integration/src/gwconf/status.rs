//! Gateway API status expectations checked against the agent's `/debug/state`. Pure.
//!
//! The agent renders the statuses translation computed (`gateway_api::Statuses`) under
//! `gateway_api` in `/debug/state`: `gatewayclasses`, `gateways` and `httproutes`, each a map
//! from the object's key (`namespace/name`, a GatewayClass by name) to its status in the
//! Gateway API's own JSON form (`conditions`, `listeners[].attachedRoutes`,
//! `parents[].parentRef`, …). When that section is absent, the statuses are
//! [`StatusVerdict::Unavailable`], never a pass.
//!
//! The suite waits for a Gateway's `status.addresses` and sends its requests there. Tests
//! whose table says `own_addresses` run the agent with `--gateway-address-pool`, and the
//! runner sends each request to the `status.addresses` of the Gateway it names, as the
//! suite does; the others run with every Gateway on the agent's binds (the default), where
//! the runner sends their requests.

use serde_json::Value;

use super::cases::{Accepted, ConditionCheck, StatusKind, qualified};

/// Where `/debug/state` keeps the statuses.
pub const STATE_KEY: &str = "gateway_api";

/// The outcome of a status check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusVerdict {
    /// It holds.
    Holds,
    /// It does not (why).
    Fails(String),
    /// `/debug/state` does not render Gateway API statuses.
    Unavailable,
}

/// The statuses section of `/debug/state`, if rendered.
fn section(state: &Value) -> Option<&Value> {
    state.get(STATE_KEY).filter(|v| v.is_object())
}

fn key(name: &str, kind: StatusKind) -> String {
    if kind == StatusKind::GatewayClass {
        return name.to_string();
    }
    let (ns, n) = qualified(name);
    format!("{ns}/{n}")
}

fn object<'a>(section: &'a Value, kind: StatusKind, name: &str) -> Option<&'a Value> {
    let map = match kind {
        StatusKind::GatewayClass => "gatewayclasses",
        StatusKind::Gateway => "gateways",
        StatusKind::HTTPRoute => "httproutes",
    };
    section.get(map)?.get(key(name, kind))
}

/// Whether `conditions` (a JSON array) has condition `type_` matching `want`: `True`,
/// `False`, or `<status>/<reason>`.
fn has_condition(conditions: Option<&Value>, type_: &str, want: &str) -> Result<(), String> {
    let (status, reason) = match want.split_once('/') {
        Some((s, r)) => (s, Some(r)),
        None => (want, None),
    };
    let found = conditions.and_then(Value::as_array).and_then(|cs| {
        cs.iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    });
    let Some(c) = found else {
        return Err(format!("no {type_} condition"));
    };
    let got_status = c.get("status").and_then(Value::as_str).unwrap_or("");
    let got_reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
    if got_status != status || reason.is_some_and(|r| r != got_reason) {
        return Err(format!(
            "{type_} is {got_status}/{got_reason}, expected {want}"
        ));
    }
    Ok(())
}

/// The parent status of `route` for Gateway `gateway`, if any.
fn route_parent<'a>(route: &'a Value, route_name: &str, gateway: &str) -> Option<&'a Value> {
    let (route_ns, _) = qualified(route_name);
    let (gw_ns, gw_name) = qualified(gateway);
    route.get("parents")?.as_array()?.iter().find(|p| {
        let r = &p["parentRef"];
        let ns = r
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(&route_ns);
        r.get("name").and_then(Value::as_str) == Some(gw_name.as_str()) && ns == gw_ns
    })
}

/// Checks one [`ConditionCheck`].
pub fn check_conditions(state: &Value, want: &ConditionCheck) -> StatusVerdict {
    let Some(section) = section(state) else {
        return StatusVerdict::Unavailable;
    };
    verdict(check_in(section, want))
}

fn verdict(r: Result<(), String>) -> StatusVerdict {
    match r {
        Ok(()) => StatusVerdict::Holds,
        Err(e) => StatusVerdict::Fails(e),
    }
}

/// Whether `section` holds the status `want` asks for (`Err` says how it differs).
fn check_in(section: &Value, want: &ConditionCheck) -> Result<(), String> {
    let what = format!("{:?} {}", want.kind, want.name);
    let obj = object(section, want.kind, &want.name);
    if want.no_accepted_parents {
        let accepted = obj
            .and_then(|o| o.get("parents"))
            .and_then(Value::as_array)
            .is_some_and(|ps| {
                ps.iter()
                    .any(|p| has_condition(p.get("conditions"), "Accepted", "True").is_ok())
            });
        if accepted {
            return Err(format!("{what}: a parent is accepted"));
        }
        if want.conditions.is_empty() {
            return Ok(());
        }
    }
    let obj = obj.ok_or_else(|| format!("{what}: no status"))?;
    let target = match (want.kind, &want.listener, &want.parent) {
        (StatusKind::Gateway, Some(l), _) => obj
            .get("listeners")
            .and_then(Value::as_array)
            .and_then(|ls| {
                ls.iter()
                    .find(|x| x.get("name").and_then(Value::as_str) == Some(l))
            })
            .ok_or_else(|| format!("{what}: no status for listener {l}"))?,
        (StatusKind::HTTPRoute, _, Some(p)) => route_parent(obj, &want.name, p)
            .ok_or_else(|| format!("{what}: no status for parent {p}"))?,
        _ => obj,
    };
    for (type_, value) in &want.conditions {
        has_condition(target.get("conditions"), type_, value)
            .map_err(|e| format!("{what}: {e}"))?;
    }
    check_listeners(&what, obj, target, want)
}

/// The listener figures `want` asks for: the Gateway's listener names, the `target`
/// listener's (or route parent's) supported kinds, and the routes attached to the listener
/// or to every listener of `obj`.
fn check_listeners(
    what: &str,
    obj: &Value,
    target: &Value,
    want: &ConditionCheck,
) -> Result<(), String> {
    if let Some(names) = &want.listeners {
        let got: Vec<&str> = obj
            .get("listeners")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("name").and_then(Value::as_str))
            .collect();
        if got != *names {
            return Err(format!("{what}: listeners {got:?}, expected {names:?}"));
        }
    }
    if let Some(kinds) = &want.supported_kinds {
        let got: Vec<&str> = target
            .get("supportedKinds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|k| k.get("kind").and_then(Value::as_str))
            .collect();
        if got != *kinds {
            return Err(format!(
                "{what}: supportedKinds {got:?}, expected {kinds:?}"
            ));
        }
    }
    if let Some(n) = want.attached_routes {
        let got: i64 = match &want.listener {
            Some(_) => target
                .get("attachedRoutes")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            None => obj
                .get("listeners")
                .and_then(Value::as_array)
                .map(|ls| {
                    ls.iter()
                        .filter_map(|l| l.get("attachedRoutes")?.as_i64())
                        .sum()
                })
                .unwrap_or(0),
        };
        if got != n {
            return Err(format!("{what}: attachedRoutes {got}, expected {n}"));
        }
    }
    Ok(())
}

/// Checks one [`Accepted`]: every listener of the Gateway is `Accepted`,
/// `Programmed` and `ResolvedRefs`; each route's status for it is `Accepted` (and
/// `ResolvedRefs` when asked).
pub fn check_accepted(state: &Value, want: &Accepted) -> StatusVerdict {
    let Some(section) = section(state) else {
        return StatusVerdict::Unavailable;
    };
    verdict(accepted_in(section, want))
}

fn accepted_in(section: &Value, want: &Accepted) -> Result<(), String> {
    let gw = object(section, StatusKind::Gateway, &want.gateway)
        .ok_or_else(|| format!("Gateway {}: no status", want.gateway))?;
    for l in gw
        .get("listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = l.get("name").and_then(Value::as_str).unwrap_or("?");
        for type_ in ["Accepted", "Programmed", "ResolvedRefs"] {
            has_condition(l.get("conditions"), type_, "True")
                .map_err(|e| format!("Gateway {} listener {name}: {e}", want.gateway))?;
        }
    }
    for route in &want.routes {
        let obj = object(section, StatusKind::HTTPRoute, route)
            .ok_or_else(|| format!("HTTPRoute {route}: no status"))?;
        let parent = route_parent(obj, route, &want.gateway)
            .ok_or_else(|| format!("HTTPRoute {route}: no status for parent {}", want.gateway))?;
        let mut types = vec!["Accepted"];
        if want.resolved_refs {
            types.push("ResolvedRefs");
        }
        for type_ in types {
            has_condition(parent.get("conditions"), type_, "True")
                .map_err(|e| format!("HTTPRoute {route} (parent {}): {e}", want.gateway))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
