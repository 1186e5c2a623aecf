//! Gateway API objects -> the Gateway routes HAProxy serves (`Config.gateway`), their
//! backends, the HTTPS listeners' certificates, problems and statuses. Pure.
//!
//! [`build`] reads every Gateway API object into a [`Draft`] (independent of the Ingresses);
//! [`Draft::finish`] meets it with the Ingress hosts of the config's routes, so an Ingress
//! change that keeps its hosts does not redo the Gateway part.

mod addresses;
mod attach;
mod certs;
mod filters;
mod grants;
mod hostnames;
mod listeners;
mod namespaces;
mod precedence;
mod rules;
mod status;
mod statuses;
mod tcp_ports;
mod validate;

pub use statuses::Statuses;

use std::collections::{BTreeMap, BTreeSet};

use haproxy::BackendName;
use haproxy::config::gateway::{Candidate, CandidateId, GatewayRoutes, HostKey, HostPattern};
use haproxy::config::{Backend, Route};

pub(in crate::translate) use certs::add_certs;
pub(in crate::translate) use precedence::ingress_hosts;
pub(in crate::translate) use tcp_ports::yield_to_gateways;

use super::Settings;
use super::resolutions::{PortRef, Resolutions};
use super::tls::ReadSecret;
use crate::gateway_api::{
    GatewayStatus, HttpRoute, ListenerStatus, RouteParentStatus, RouteStatus,
};
use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot};
use certs::CertLine;
use listeners::Gateways;
use precedence::{DraftEntry, RouteRef};
use status::condition;

/// The default `--gateway-controller-name`: the GatewayClass `spec.controllerName` that is
/// ours.
pub const DEFAULT_CONTROLLER: &str = "haproxy-agent.io/gateway-controller";

/// Problems found while reading Gateway API objects.
#[derive(Debug, Default)]
pub(in crate::translate) struct GatewayProblems(pub Vec<Problem>);

impl GatewayProblems {
    /// A problem about object `key` of `kind`, at `field`.
    pub(in crate::translate) fn push(
        &mut self,
        kind: ProblemKind,
        key: &ObjectKey,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0
            .push(Problem::new(kind, key.to_string(), message).at(field));
    }
}

/// What reading routes needs.
pub(in crate::translate) struct Context<'a> {
    snapshot: &'a Snapshot,
    resolutions: &'a mut Resolutions,
    problems: GatewayProblems,
}

impl Context<'_> {
    /// A problem about HTTPRoute `key`.
    fn problem(&mut self, key: &ObjectKey, field: impl Into<String>, message: impl Into<String>) {
        self.problems
            .push(ProblemKind::HttpRoute, key, field, message);
    }
}

/// The Gateway part of a translation, before it meets the Ingress routes.
#[derive(Debug, Default, Clone, PartialEq)]
pub(in crate::translate) struct Draft {
    /// Host-map entries.
    entries: BTreeMap<HostKey, DraftEntry>,
    /// Every candidate of an attached route.
    candidates: BTreeMap<CandidateId, Candidate>,
    /// The backends the candidates forward to, and their Service ports.
    pub recipes: BTreeMap<BackendName, PortRef>,
    /// The Services read (resolved or not).
    pub services: BTreeSet<ObjectKey>,
    /// The Secrets the listeners name.
    pub secrets: BTreeSet<ObjectKey>,
    /// The HTTPS listeners' certificates.
    certs: Vec<CertLine>,
    /// Some Gateway has an HTTPS listener: the HTTPS bind is needed.
    pub https: bool,
    /// The binds of Gateway listeners alone.
    binds: BTreeSet<haproxy::config::gateway::GatewayBind>,
    /// Problems.
    pub problems: Vec<Problem>,
    /// Statuses.
    pub statuses: Statuses,
}

impl Draft {
    /// True when no Gateway API object of ours gives anything to serve.
    pub(in crate::translate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.certs.is_empty() && !self.https && self.binds.is_empty()
    }

    /// The routes HAProxy serves, given the Ingress routes, and the problems of the routes
    /// that lose a host to an Ingress.
    pub(in crate::translate) fn finish(&self, ingress: &[Route]) -> (GatewayRoutes, Vec<Problem>) {
        self.finish_with(&precedence::ingress_hosts(ingress))
    }

    /// [`Draft::finish`] with the Ingress host patterns already collected.
    pub(in crate::translate) fn finish_with(
        &self,
        ingress: &BTreeSet<HostPattern>,
    ) -> (GatewayRoutes, Vec<Problem>) {
        let (mut routes, problems) = precedence::finish(&self.entries, &self.candidates, ingress);
        routes.binds = self.binds.clone();
        (routes, problems)
    }

    /// Backend `name` as the Gateway routes build it (a Service port's, default options).
    pub(in crate::translate) fn backend(
        &self,
        name: &BackendName,
        snapshot: &Snapshot,
        resolutions: &mut Resolutions,
    ) -> Option<Backend> {
        let at = self.recipes.get(name)?;
        let resolved = resolutions.get(snapshot, at).as_ref().ok()?;
        Some(super::backend::backend_of(resolved, &Default::default()))
    }

    /// The TLS part, compared to tell whether the certificates must be folded again.
    pub(in crate::translate) fn tls_part(&self) -> (bool, &[CertLine]) {
        (self.https, &self.certs)
    }
}

/// The name rules the API server enforces, for objects read from manifests: a DNS label
/// namespace and a DNS subdomain name.
fn object_name(key: &ObjectKey) -> Result<(), NameError> {
    if !super::annotations::is_dns_label(&key.namespace) {
        return Err(NameError::Namespace(hostnames::truncate(&key.namespace)));
    }
    if !super::names::is_dns_subdomain(&key.name) {
        return Err(NameError::Name(hostnames::truncate(&key.name)));
    }
    Ok(())
}

/// A name the API server would refuse (quoted at most 64 characters long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum NameError {
    /// Not a DNS label.
    #[error("namespace {0:?} is not a Kubernetes namespace name")]
    Namespace(String),
    /// Not a DNS subdomain.
    #[error("name {0:?} is not a Kubernetes object name")]
    Name(String),
}

/// A draft with what the Gateways give (binds, certificates, class statuses), before the
/// routes are read.
fn draft_of(gateways: &Gateways) -> Draft {
    let mut out = Draft {
        https: gateways.https,
        binds: gateways
            .binds
            .iter()
            .map(|(addr, tls)| haproxy::config::gateway::GatewayBind {
                addr: *addr,
                tls: *tls,
            })
            .collect(),
        secrets: gateways.secrets.clone(),
        certs: gateways.certs.clone(),
        ..Draft::default()
    };
    out.statuses.classes = gateways.classes.clone();
    out
}

/// Reads every Gateway API object of `snapshot` that is ours.
pub(in crate::translate) fn build(
    snapshot: &Snapshot,
    settings: &Settings,
    resolutions: &mut Resolutions,
    read_secret: &mut ReadSecret<'_>,
) -> Draft {
    let mut ctx = Context {
        snapshot,
        resolutions,
        problems: GatewayProblems::default(),
    };
    let gateways = listeners::read(snapshot, settings, read_secret, &mut ctx.problems);
    let mut out = draft_of(&gateways);
    let mut read: Vec<(&ObjectKey, &HttpRoute, attach::Attached, rules::RouteRules)> = Vec::new();
    for (key, route) in &snapshot.http_routes {
        let (hosts, bad_hosts) = route_hosts(route);
        let attached = attach::attach(
            key,
            route,
            hosts.as_deref(),
            &gateways,
            &snapshot.namespaces,
        );
        if attached.parents.is_empty() {
            continue;
        }
        if let Err(why) = object_name(key) {
            ctx.problem(key, "metadata", format!("{why}; the route is ignored"));
            continue;
        }
        for (field, why) in bad_hosts {
            ctx.problem(key, field, why);
        }
        let rules = rules::read(&mut ctx, key, route);
        out.services.extend(rules.services.iter().cloned());
        out.statuses.routes.insert(
            key.clone(),
            route_status(settings, route, &attached, &rules),
        );
        read.push((key, route, attached, rules));
    }
    let refs: Vec<RouteRef<'_>> = read
        .iter()
        .filter(|(_, _, a, _)| !a.attachments.is_empty())
        .map(|(key, route, attached, rules)| RouteRef {
            key,
            created: route.metadata.creation_timestamp.as_ref(),
            attached,
            rules,
        })
        .collect();
    for r in &refs {
        for c in &r.rules.candidates {
            out.candidates.insert(c.id.clone(), c.candidate.clone());
        }
        for (name, at) in &r.rules.recipes {
            out.recipes
                .entry(name.clone())
                .or_insert_with(|| at.clone());
        }
    }
    out.entries = precedence::entries(&gateways, &refs);
    out.statuses.gateways = gateway_statuses(&gateways, &read);
    out.problems = ctx.problems.0;
    out.problems.sort();
    out.problems.dedup();
    out
}

/// A route's valid host names (`None`: any host, when it names none), and the refused
/// ones: (field, why).
type RouteHosts = (Option<Vec<HostPattern>>, Vec<(String, String)>);

fn route_hosts(route: &HttpRoute) -> RouteHosts {
    if route.spec.hostnames.is_empty() {
        return (None, Vec::new());
    }
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    for (i, h) in route.spec.hostnames.iter().enumerate() {
        match hostnames::parse(h, true) {
            Ok(p) => out.push(p),
            Err(why) => bad.push((format!("spec.hostnames[{i}]"), format!("{why}; ignored"))),
        }
    }
    (Some(out), bad)
}

fn route_status(
    settings: &Settings,
    route: &HttpRoute,
    attached: &attach::Attached,
    rules: &rules::RouteRules,
) -> RouteStatus {
    let meta = &route.metadata;
    let all_rules = route.spec.rules.len().max(1);
    let resolved = rules.resolved.condition(
        meta,
        "ResolvedRefs",
        "ResolvedRefs",
        "all references resolved",
    );
    let parents = attached
        .parents
        .iter()
        .map(|p| {
            let mut accepted = p.accepted.clone();
            let mut conditions = Vec::new();
            if accepted.status == "True" && rules.bad_rules >= all_rules {
                accepted = condition(
                    meta,
                    "Accepted",
                    false,
                    "UnsupportedValue",
                    "every rule is invalid or unsupported",
                );
            } else if rules.bad_rules > 0 {
                let why = format!(
                    "{} of {all_rules} rules are invalid or unsupported",
                    rules.bad_rules
                );
                conditions.push(condition(
                    meta,
                    "PartiallyInvalid",
                    true,
                    "UnsupportedValue",
                    why,
                ));
            }
            conditions.insert(0, accepted);
            conditions.insert(1, resolved.clone());
            RouteParentStatus {
                parent_ref: p.parent_ref.clone(),
                controller_name: settings.gateway_controller_name.clone(),
                conditions,
            }
        })
        .collect();
    RouteStatus { parents }
}

fn gateway_statuses(
    gateways: &Gateways,
    routes: &[(&ObjectKey, &HttpRoute, attach::Attached, rules::RouteRules)],
) -> BTreeMap<ObjectKey, GatewayStatus> {
    let mut attached: BTreeMap<(&ObjectKey, usize), BTreeSet<&ObjectKey>> = BTreeMap::new();
    for (key, _, a, _) in routes {
        for at in &a.attachments {
            attached
                .entry((&at.gateway, at.listener))
                .or_default()
                .insert(key);
        }
    }
    gateways
        .gateways
        .iter()
        .map(|(key, info)| {
            let listeners = info
                .listeners
                .iter()
                .enumerate()
                .map(|(i, l)| ListenerStatus {
                    name: l.name.clone(),
                    supported_kinds: l.supported_kinds.clone(),
                    attached_routes: attached.get(&(key, i)).map_or(0, |s| s.len() as i32),
                    conditions: l.conditions.clone(),
                })
                .collect();
            let addresses = match gateways.addresses.get(key) {
                Some(Some(ip)) => vec![crate::gateway_api::GatewayStatusAddress {
                    type_: Some("IPAddress".to_string()),
                    value: ip.to_string(),
                }],
                _ => Vec::new(),
            };
            let status = GatewayStatus {
                addresses,
                conditions: info.conditions.clone(),
                listeners,
            };
            (key.clone(), status)
        })
        .collect()
}

#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod tests;
