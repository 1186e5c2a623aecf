//! One listener's own fields checked: name, protocol, port, host, allowed routes, certificates.

use haproxy::config::gateway::{HostPattern, Listen};

use super::{FromNamespaces, ListenerInfo};
use crate::gateway_api::{GROUP, Gateway, Listener, RouteGroupKind};
use crate::problem::ProblemKind;
use crate::store::{ObjectKey, Snapshot};
use crate::translate::gateway::certs::certificates;
use crate::translate::gateway::status::FirstFailure;
use crate::translate::gateway::{GatewayProblems, hostnames, validate};
use crate::translate::tls::ReadSecret;

/// A listener's name, protocol, port and host name, checked: the failures for its
/// `Accepted` condition, its bind and its host pattern.
fn basics(
    key: &ObjectKey,
    field: &str,
    l: &Listener,
    problems: &mut GatewayProblems,
) -> (FirstFailure, Option<Listen>, HostPattern) {
    let mut accepted = FirstFailure::default();
    let mut name_problem = |f: &str, why: String, reason: &'static str, acc: &mut FirstFailure| {
        problems.push(
            ProblemKind::Gateway,
            key,
            format!("{field}.{f}"),
            why.clone(),
        );
        acc.fail(reason, why);
    };
    if let Err(why) = validate::section_name(&l.name) {
        name_problem("name", why.to_string(), "UnsupportedValue", &mut accepted);
    }
    let listen = match l.protocol.as_str() {
        "HTTP" => Some(Listen::Http),
        "HTTPS" => Some(Listen::Https),
        other => {
            let shown = hostnames::truncate(other);
            let why = format!("protocol {shown:?} is not supported (HTTP and HTTPS are)");
            name_problem("protocol", why, "UnsupportedProtocol", &mut accepted);
            None
        }
    };
    if !(1..=65535).contains(&l.port) {
        let why = format!("port {} is out of range 1-65535", l.port);
        name_problem("port", why, "PortUnavailable", &mut accepted);
    }
    let host = match l.hostname.as_deref() {
        None => HostPattern::Any,
        Some(h) => match hostnames::parse(h, true) {
            Ok(p) => p,
            Err(why) => {
                name_problem(
                    "hostname",
                    why.to_string(),
                    "UnsupportedValue",
                    &mut accepted,
                );
                HostPattern::Any
            }
        },
    };
    (accepted, listen, host)
}

pub(super) fn listener(
    snapshot: &Snapshot,
    key: &ObjectKey,
    gw: &Gateway,
    i: usize,
    l: &Listener,
    read_secret: &mut ReadSecret<'_>,
    problems: &mut GatewayProblems,
) -> ListenerInfo {
    let meta = &gw.metadata;
    let field = format!("spec.listeners[{i}]");
    let (accepted, listen, host) = basics(key, &field, l, problems);
    let mut resolved = FirstFailure::default();
    let (mut supported_kinds, takes_http_routes) = kinds(key, &field, l, problems, &mut resolved);
    if listen.is_none() {
        // A listener of a protocol not served takes no kind of route.
        supported_kinds.clear();
    }
    let from = namespaces(key, &field, l, problems);
    let usable = accepted.ok() && listen.is_some();
    let tls = match listen {
        Some(Listen::Https) => certificates(snapshot, key, &field, l, &host, read_secret, problems),
        _ => {
            if l.tls.is_some() {
                let why = "tls is ignored on an HTTP listener";
                problems.push(ProblemKind::Gateway, key, format!("{field}.tls"), why);
            }
            Default::default()
        }
    };
    if let Some((reason, why)) = &tls.failure {
        resolved.fail(reason, why.clone());
    }
    let conditions = vec![
        accepted.condition(meta, "Accepted", "Accepted", "accepted"),
        resolved.condition(
            meta,
            "ResolvedRefs",
            "ResolvedRefs",
            "all references resolved",
        ),
    ];
    ListenerInfo {
        name: l.name.clone(),
        port: l.port,
        listen: listen.filter(|_| usable),
        host,
        from,
        takes_http_routes,
        supported_kinds,
        conditions,
        certs: tls.lines,
        secrets: tls.read,
    }
}

/// `allowedRoutes.kinds`: the supported ones, and whether HTTPRoute is among them.
fn kinds(
    key: &ObjectKey,
    field: &str,
    l: &Listener,
    problems: &mut GatewayProblems,
    resolved: &mut FirstFailure,
) -> (Vec<RouteGroupKind>, bool) {
    let http_route = RouteGroupKind {
        group: Some(GROUP.to_string()),
        kind: "HTTPRoute".to_string(),
    };
    let Some(kinds) = l.allowed_routes.as_ref().and_then(|a| a.kinds.as_ref()) else {
        return (vec![http_route], true);
    };
    let mut supported = Vec::new();
    for (j, k) in kinds.iter().enumerate() {
        let group_ok = k.group.as_deref().is_none_or(|g| g == GROUP);
        if group_ok && k.kind == "HTTPRoute" {
            if supported.is_empty() {
                supported.push(http_route.clone());
            }
            continue;
        }
        let why = format!(
            "route kind {:?} is not supported (HTTPRoute is)",
            hostnames::truncate(&k.kind)
        );
        problems.push(
            ProblemKind::Gateway,
            key,
            format!("{field}.allowedRoutes.kinds[{j}]"),
            why.clone(),
        );
        resolved.fail("InvalidRouteKinds", why);
    }
    let takes = !supported.is_empty();
    (supported, takes)
}

/// `allowedRoutes.namespaces.from`.
fn namespaces(
    key: &ObjectKey,
    field: &str,
    l: &Listener,
    problems: &mut GatewayProblems,
) -> FromNamespaces {
    let from = l
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref())
        .and_then(|n| n.from.as_deref());
    let at = format!("{field}.allowedRoutes.namespaces.from");
    match from {
        None | Some("Same") => FromNamespaces::Same,
        Some("All") => FromNamespaces::All,
        Some("Selector") => {
            let selector = l
                .allowed_routes
                .as_ref()
                .and_then(|a| a.namespaces.as_ref())
                .and_then(|n| n.selector.as_ref());
            let judged = match selector {
                Some(s) => crate::translate::gateway::namespaces::parse(s),
                None => Err(crate::translate::gateway::namespaces::SelectorError::Missing),
            };
            match judged {
                Ok(requirements) => FromNamespaces::Selector(requirements),
                Err(what) => {
                    let why = format!("{what}: no route attaches");
                    let at = format!("{field}.allowedRoutes.namespaces.selector");
                    problems.push(ProblemKind::Gateway, key, at, why);
                    FromNamespaces::Nothing
                }
            }
        }
        Some(other) => {
            let why = format!(
                "{:?} is not one of All, Same, Selector; taken as Same",
                hostnames::truncate(other)
            );
            problems.push(ProblemKind::Gateway, key, at, why);
            FromNamespaces::Same
        }
    }
}
