//! Our GatewayClasses and Gateways: each listener read and checked (protocol, port, host
//! name, allowed routes, certificates), with the conditions the spec gives it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use haproxy::config::gateway::{HostPattern, Listen};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::addresses::{self, Address};
use super::certs::{CertLine, certificates};
use super::status::{FirstFailure, condition};
use super::{GatewayProblems, hostnames, validate};
use crate::gateway_api::{GROUP, Gateway, GatewayClassStatus, Listener, RouteGroupKind};
use crate::problem::ProblemKind;
use crate::store::{ObjectKey, Snapshot};
use crate::translate::Settings;
use crate::translate::tls::ReadSecret;

/// Which namespaces' routes a listener takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) enum FromNamespaces {
    /// The Gateway's own (the default).
    Same,
    /// Any.
    All,
    /// Those whose labels a selector matches (see [`super::namespaces`]).
    Selector(Vec<super::namespaces::Requirement>),
    /// None: the selector is missing or invalid (named).
    Nothing,
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
    /// Its certificates (taken when it is served).
    pub certs: Vec<CertLine>,
    /// The Secrets it names.
    pub secrets: Vec<ObjectKey>,
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
    /// Each served Gateway's address (`None`: the agent's binds').
    pub addresses: BTreeMap<ObjectKey, Option<std::net::IpAddr>>,
    /// The binds of Gateway listeners alone, TLS or not.
    pub binds: BTreeMap<std::net::SocketAddr, bool>,
}

/// Reads our GatewayClasses and their Gateways.
pub(in crate::translate) fn read(
    snapshot: &Snapshot,
    settings: &Settings,
    read_secret: &mut ReadSecret<'_>,
    problems: &mut GatewayProblems,
) -> Gateways {
    let controller = settings.gateway_controller_name.as_str();
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
    let mut ours = Vec::new();
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
        ours.push((key, gw.as_ref()));
    }
    let assigned = addresses::assign(&ours, &settings.gateway_address_pool, problems);
    let tcp = super::tcp_ports::read(snapshot, settings);
    for (key, gw) in &snapshot.gateways {
        let Some(address) = assigned.get(key) else {
            continue;
        };
        let at = Place {
            settings,
            address,
            tcp: tcp.as_ref(),
        };
        let info = gateway(snapshot, key, gw, &at, read_secret, problems, &mut out);
        for l in &info.listeners {
            out.secrets.extend(l.secrets.iter().cloned());
        }
        out.gateways.insert(key.clone(), info);
    }
    out
}

/// Where a Gateway's listeners go.
struct Place<'a> {
    settings: &'a Settings,
    address: &'a Address,
    /// The TCP services' ports, with `--tcp-services-configmap`.
    tcp: Option<&'a super::tcp_ports::TcpPorts<'a>>,
}

fn gateway(
    snapshot: &Snapshot,
    key: &ObjectKey,
    gw: &Arc<Gateway>,
    at: &Place<'_>,
    read_secret: &mut ReadSecret<'_>,
    problems: &mut GatewayProblems,
    out: &mut Gateways,
) -> GatewayInfo {
    let meta = &gw.metadata;
    let mut not_accepted = unsupported(key, gw, problems);
    if let Address::Unsupported(why) = at.address {
        not_accepted = Some(("UnsupportedAddress", why.clone()));
    }
    let unusable = match at.address {
        Address::Unusable(reason, why) => Some((*reason, why.clone())),
        _ => None,
    };
    // A Gateway that is not served has its listeners judged as if on the shared address.
    let serve = not_accepted.is_none() && unusable.is_none();
    let judged = if serve { at.address } else { &Address::Shared };
    let mut listeners = Vec::new();
    let mut seen = Seen::default();
    for (i, l) in gw.spec.listeners.iter().enumerate() {
        let mut info = listener(snapshot, key, gw, i, l, read_secret, problems);
        info.listen = info
            .listen
            .and_then(|proto| addresses::bind_of(proto, l.port, judged, at.settings));
        place(key, gw, i, l, &mut info, &mut seen, problems);
        if serve {
            own_bind(key, gw, i, &mut info, at, out, problems);
        }
        listeners.push(info);
    }
    let served_before = listeners.iter().filter(|l| l.listen.is_some()).count();
    if not_accepted.is_some() || unusable.is_some() {
        for l in &mut listeners {
            l.listen = None;
        }
    }
    for l in &mut listeners {
        let certs = std::mem::take(&mut l.certs);
        if l.listen.is_some() {
            out.certs.extend(certs);
        }
    }
    let served = listeners.iter().filter(|l| l.listen.is_some()).count();
    if served > 0 {
        let ip = match at.address {
            Address::Own(ip) => Some(*ip),
            _ => None,
        };
        out.addresses.insert(key.clone(), ip);
    }
    out.https |= listeners.iter().any(|l| l.listen.is_some_and(Listen::tls));
    let served = if unusable.is_some() {
        served_before
    } else {
        served
    };
    let conditions =
        super::status::gateway_conditions(meta, not_accepted, unusable, served, listeners.len());
    GatewayInfo {
        gateway: gw.clone(),
        listeners,
        conditions,
    }
}

/// Names the Gateway fields the agent does not implement; the reason and message of a
/// Gateway that is then not accepted: `infrastructure.parametersRef` (no parameters are
/// read, so none are valid). `spec.addresses` is judged with the address pool
/// ([`super::addresses`]).
fn unsupported(
    key: &ObjectKey,
    gw: &Gateway,
    problems: &mut GatewayProblems,
) -> Option<(&'static str, String)> {
    let mut out = None;
    if let Some(infra) = &gw.spec.infrastructure {
        let why = "infrastructure is not supported (no resources are provisioned); ignored";
        problems.push(ProblemKind::Gateway, key, "spec.infrastructure", why);
        if infra.get("parametersRef").is_some_and(|p| !p.is_null()) {
            let why = "parametersRef is not supported (the agent reads no parameters); the \
                       Gateway is not accepted";
            problems.push(
                ProblemKind::Gateway,
                key,
                "spec.infrastructure.parametersRef",
                why,
            );
            out = Some((
                "InvalidParameters",
                "infrastructure.parametersRef is not supported".to_string(),
            ));
        }
    }
    out
}

/// What the earlier listeners of a Gateway took: names, a port per bind, host names.
#[derive(Debug, Default)]
struct Seen {
    names: BTreeSet<String>,
    ports: BTreeMap<Listen, i32>,
    hosts: BTreeSet<(Listen, HostPattern)>,
}

/// Checks listener `i` against the earlier ones (a name used twice, a second port of one
/// protocol, the same host name twice) and gives it its `Conflicted` and `Programmed`
/// conditions.
fn place(
    key: &ObjectKey,
    gw: &Gateway,
    i: usize,
    l: &Listener,
    info: &mut ListenerInfo,
    seen: &mut Seen,
    problems: &mut GatewayProblems,
) {
    let meta = &gw.metadata;
    let field = format!("spec.listeners[{i}]");
    let mut refuse = |info: &mut ListenerInfo, f: String, reason: &str, why: String| {
        problems.push(ProblemKind::Gateway, key, f, format!("{why}; ignored"));
        info.conditions[0] = condition(meta, "Accepted", false, reason, why);
        info.listen = None;
    };
    let mut conflict = condition(meta, "Conflicted", false, "NoConflicts", "no conflict");
    if !seen.names.insert(l.name.clone()) {
        let why = "the name is used by an earlier listener".to_string();
        refuse(info, format!("{field}.name"), "UnsupportedValue", why);
    } else if let Some(listen) = info.listen {
        let port = *seen.ports.entry(listen).or_insert(l.port);
        if port != l.port {
            let why = format!(
                "a second {} port ({}) in one Gateway is not supported: {} is served on one \
                 bind, at port {port} of this Gateway",
                l.protocol, l.port, l.protocol
            );
            refuse(info, format!("{field}.port"), "PortUnavailable", why);
        } else if !seen.hosts.insert((listen, info.host.clone())) {
            let why = "an earlier listener has the same protocol, port and host name";
            problems.push(ProblemKind::Gateway, key, field, format!("{why}; ignored"));
            info.listen = None;
            conflict = condition(meta, "Conflicted", true, "HostnameConflict", why);
        }
    }
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
}

/// A served listener on a bind of its own: refused (named) when the bind clashes (with the
/// agent's, an earlier Gateway's or a TCP service's not newer than the Gateway); else the
/// bind is taken.
fn own_bind(
    key: &ObjectKey,
    gw: &Gateway,
    i: usize,
    info: &mut ListenerInfo,
    at: &Place<'_>,
    out: &mut Gateways,
    problems: &mut GatewayProblems,
) {
    let Some(Listen::Bind(b)) = info.listen else {
        return;
    };
    let refused = addresses::refused(&b, at.settings, &out.binds).or_else(|| {
        at.tcp
            .and_then(|t| t.clash(&b, gw.metadata.creation_timestamp.as_ref()))
    });
    let Some(why) = refused else {
        out.binds.insert(b.addr, b.tls);
        return;
    };
    let field = format!("spec.listeners[{i}].port");
    problems.push(ProblemKind::Gateway, key, field, format!("{why}; ignored"));
    let meta = &gw.metadata;
    info.conditions[0] = condition(meta, "Accepted", false, "PortUnavailable", why);
    info.listen = None;
    if let Some(p) = info.conditions.iter_mut().find(|c| c.type_ == "Programmed") {
        *p = condition(meta, "Programmed", false, "Invalid", "not served");
    }
}

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
        name_problem("name", why, "UnsupportedValue", &mut accepted);
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
                name_problem("hostname", why, "UnsupportedValue", &mut accepted);
                HostPattern::Any
            }
        },
    };
    (accepted, listen, host)
}

fn listener(
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
                Some(s) => super::namespaces::parse(s),
                None => Err("from: Selector without a selector".to_string()),
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
