//! Our GatewayClasses and Gateways: each listener read and checked (protocol, port, host
//! name, allowed routes, certificates), with the conditions the spec gives it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use haproxy::config::gateway::{HostPattern, Listen};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::certs::{CertLine, certificates};
use super::status::{FirstFailure, condition};
use super::{GatewayProblems, hostnames, validate};
use crate::gateway_api::{GROUP, Gateway, GatewayClassStatus, Listener, RouteGroupKind};
use crate::problem::ProblemKind;
use crate::store::{ObjectKey, Snapshot};
use crate::translate::tls::ReadSecret;

/// Which namespaces' routes a listener takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) enum FromNamespaces {
    /// The Gateway's own (the default).
    Same,
    /// Any.
    All,
    /// A label selector: namespaces are not followed, so none (named).
    Selector,
}

/// One listener as read.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::translate) struct ListenerInfo {
    /// `name`.
    pub name: String,
    /// `port`.
    pub port: i32,
    /// The bind it is served on; `None` when it is not accepted (no route attaches).
    pub listen: Option<Listen>,
    /// Its host name (any when absent).
    pub host: HostPattern,
    /// Namespaces routes may come from.
    pub from: FromNamespaces,
    /// HTTPRoutes may attach (`allowedRoutes.kinds` allows them).
    pub takes_http_routes: bool,
    /// `status.listeners[].supportedKinds`.
    pub supported_kinds: Vec<RouteGroupKind>,
    /// Its conditions (`AttachedRoutes` is counted later).
    pub conditions: Vec<Condition>,
}

/// One of our Gateways.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::translate) struct GatewayInfo {
    /// The Gateway.
    pub gateway: Arc<Gateway>,
    /// Its listeners, in spec order.
    pub listeners: Vec<ListenerInfo>,
    /// Its `Accepted` and `Programmed` conditions.
    pub conditions: Vec<Condition>,
}

/// Our classes and Gateways.
#[derive(Debug, Default, Clone, PartialEq)]
pub(in crate::translate) struct Gateways {
    /// Our GatewayClasses and their status.
    pub classes: BTreeMap<ObjectKey, GatewayClassStatus>,
    /// Our Gateways.
    pub gateways: BTreeMap<ObjectKey, GatewayInfo>,
    /// The HTTPS listeners' certificates.
    pub certs: Vec<CertLine>,
    /// Some accepted listener is HTTPS: the HTTPS bind is needed.
    pub https: bool,
    /// The Secrets the listeners name.
    pub secrets: BTreeSet<ObjectKey>,
}

/// Reads our GatewayClasses and their Gateways.
pub(in crate::translate) fn read(
    snapshot: &Snapshot,
    controller: &str,
    read_secret: &mut ReadSecret<'_>,
    problems: &mut GatewayProblems,
) -> Gateways {
    let mut out = Gateways::default();
    for (key, class) in &snapshot.gateway_classes {
        if class.spec.controller_name != controller {
            continue;
        }
        let meta = &class.metadata;
        if class.spec.parameters_ref.is_some() {
            problems.push(
                ProblemKind::GatewayClass,
                key,
                "spec.parametersRef",
                "parametersRef is not supported (the agent takes its settings from its flags); \
                 ignored",
            );
        }
        let accepted = condition(
            meta,
            "Accepted",
            true,
            "Accepted",
            "handled by haproxy-agent",
        );
        out.classes.insert(
            key.clone(),
            GatewayClassStatus {
                conditions: vec![accepted],
            },
        );
    }
    for (key, gw) in &snapshot.gateways {
        let class = ObjectKey::new("", gw.spec.gateway_class_name.clone());
        if !out.classes.contains_key(&class) {
            continue;
        }
        if let Err(why) = super::object_name(key) {
            problems.push(
                ProblemKind::Gateway,
                key,
                "metadata",
                format!("{why}; ignored"),
            );
            continue;
        }
        let info = gateway(snapshot, key, gw, read_secret, problems, &mut out);
        out.gateways.insert(key.clone(), info);
    }
    out
}

fn gateway(
    snapshot: &Snapshot,
    key: &ObjectKey,
    gw: &Arc<Gateway>,
    read_secret: &mut ReadSecret<'_>,
    problems: &mut GatewayProblems,
    out: &mut Gateways,
) -> GatewayInfo {
    let meta = &gw.metadata;
    let mut unsupported_address = false;
    if gw.spec.addresses.as_ref().is_some_and(|a| !a.is_empty()) {
        problems.push(
            ProblemKind::Gateway,
            key,
            "spec.addresses",
            "requested addresses are not supported (the Gateway is served on the agent's \
             binds); the Gateway is not accepted",
        );
        unsupported_address = true;
    }
    if gw.spec.infrastructure.is_some() {
        problems.push(
            ProblemKind::Gateway,
            key,
            "spec.infrastructure",
            "infrastructure is not supported (no resources are provisioned); ignored",
        );
    }
    let mut listeners = Vec::new();
    let mut ports: BTreeMap<Listen, i32> = BTreeMap::new();
    let mut names = BTreeSet::new();
    let mut hosts: BTreeSet<(Listen, HostPattern)> = BTreeSet::new();
    for (i, l) in gw.spec.listeners.iter().enumerate() {
        let mut info = listener(snapshot, key, gw, i, l, read_secret, problems, out);
        let field = format!("spec.listeners[{i}]");
        let mut conflicted = None;
        if !names.insert(l.name.clone()) {
            conflicted = Some(("Conflicted", "the name is used by an earlier listener"));
        }
        if let Some(listen) = info.listen {
            let port = *ports.entry(listen).or_insert(l.port);
            if port != l.port {
                let why = format!(
                    "a second {} port ({}) in one Gateway is not supported: {} is served on \
                     one bind, at port {port} of this Gateway",
                    l.protocol, l.port, l.protocol
                );
                problems.push(
                    ProblemKind::Gateway,
                    key,
                    format!("{field}.port"),
                    why.clone(),
                );
                info.conditions[0] = condition(meta, "Accepted", false, "PortUnavailable", why);
                info.listen = None;
            } else if !hosts.insert((listen, info.host.clone())) {
                conflicted = Some((
                    "HostnameConflict",
                    "an earlier listener has the same protocol, port and host name",
                ));
            }
        }
        let conflict = match conflicted {
            Some((reason, why)) => {
                problems.push(ProblemKind::Gateway, key, field, format!("{why}; ignored"));
                info.listen = None;
                condition(meta, "Conflicted", true, reason, why)
            }
            None => condition(meta, "Conflicted", false, "NoConflicts", "no conflict"),
        };
        info.conditions.push(conflict);
        let programmed = info.listen.is_some()
            && info
                .conditions
                .iter()
                .all(|c| c.type_ == "Conflicted" || c.status == "True");
        info.conditions.push(if programmed {
            condition(meta, "Programmed", true, "Programmed", "served")
        } else {
            condition(meta, "Programmed", false, "Invalid", "not served")
        });
        listeners.push(info);
    }
    let served = listeners.iter().filter(|l| l.listen.is_some()).count();
    out.https |= !unsupported_address && listeners.iter().any(|l| l.listen == Some(Listen::Https));
    let accepted = if unsupported_address {
        for l in &mut listeners {
            l.listen = None;
        }
        condition(
            meta,
            "Accepted",
            false,
            "UnsupportedAddress",
            "spec.addresses is not supported",
        )
    } else if served == listeners.len() {
        condition(meta, "Accepted", true, "Accepted", "accepted")
    } else {
        let ok = served > 0;
        condition(
            meta,
            "Accepted",
            ok,
            "ListenersNotValid",
            "some listeners are not valid",
        )
    };
    let programmed = if accepted.status == "True" && served > 0 {
        condition(meta, "Programmed", true, "Programmed", "served by HAProxy")
    } else {
        condition(
            meta,
            "Programmed",
            false,
            "Invalid",
            "no listener is served",
        )
    };
    GatewayInfo {
        gateway: gw.clone(),
        listeners,
        conditions: vec![accepted, programmed],
    }
}

#[allow(clippy::too_many_arguments)]
fn listener(
    snapshot: &Snapshot,
    key: &ObjectKey,
    gw: &Gateway,
    i: usize,
    l: &Listener,
    read_secret: &mut ReadSecret<'_>,
    problems: &mut GatewayProblems,
    out: &mut Gateways,
) -> ListenerInfo {
    let meta = &gw.metadata;
    let field = format!("spec.listeners[{i}]");
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
        name_problem("name", why, "UnsupportedValue", &mut accepted);
    }
    let listen = match l.protocol.as_str() {
        "HTTP" => Some(Listen::Http),
        "HTTPS" => Some(Listen::Https),
        other => {
            let why = format!(
                "protocol {:?} is not supported (HTTP and HTTPS are)",
                hostnames::truncate(other)
            );
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
                name_problem("hostname", why, "UnsupportedValue", &mut accepted);
                HostPattern::Any
            }
        },
    };
    let mut resolved = FirstFailure::default();
    let (supported_kinds, takes_http_routes) = kinds(key, &field, l, problems, &mut resolved);
    let from = namespaces(key, &field, l, problems);
    let usable = accepted.ok() && listen.is_some();
    match (listen, &l.tls) {
        (Some(Listen::Https), tls) => {
            let lines = certificates(snapshot, key, &field, l, &host, read_secret, problems);
            out.secrets.extend(lines.read);
            if let Some((reason, why)) = lines.failure {
                resolved.fail(reason, why);
            }
            if usable {
                out.certs.extend(lines.lines);
            }
            if tls.as_ref().is_some_and(|t| t.options.is_some()) {
                problems.push(
                    ProblemKind::Gateway,
                    key,
                    format!("{field}.tls.options"),
                    "TLS options are not supported; ignored",
                );
            }
        }
        (Some(Listen::Http), Some(_)) => problems.push(
            ProblemKind::Gateway,
            key,
            format!("{field}.tls"),
            "tls is ignored on an HTTP listener",
        ),
        _ => {}
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
            problems.push(
                ProblemKind::Gateway,
                key,
                at,
                "from: Selector is not supported (the agent does not follow Namespaces): no \
                 route of another namespace attaches",
            );
            FromNamespaces::Selector
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
