//! Our GatewayClasses and Gateways: each listener read and checked (protocol, port, host
//! name, allowed routes, certificates), with the conditions the spec gives it. A listener's
//! own fields are checked in `fields`, its place among the Gateway's others in `placement`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use haproxy::config::gateway::{HostPattern, Listen};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::GatewayProblems;
use super::addresses::{self, Address};
use super::certs::CertLine;
use super::status::condition;
use crate::gateway_api::{Gateway, GatewayClassStatus, RouteGroupKind};
use crate::problem::ProblemKind;
use crate::store::{ObjectKey, Snapshot};
use crate::translate::Settings;
use crate::translate::tls::ReadSecret;

mod fields;
mod placement;

use fields::listener;
use placement::{Seen, own_bind, place};

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
