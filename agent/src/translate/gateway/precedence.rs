//! Host-map entries: for every listener host name and every host pattern a route serves,
//! the candidates of the most specific listener covering it (listener isolation), in the
//! spec's precedence; then the meeting with the Ingress hosts (an Ingress keeps a host both
//! claim, and its hosts under a Gateway wildcard go on to the Ingress maps).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use haproxy::config::Route;
use haproxy::config::RouteHost;
use haproxy::config::gateway::{
    CandidateId, GatewayRoutes, HostEntry, HostKey, HostPattern, Listen,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::attach::Attached;
use super::hostnames::{covers, show, specificity};
use super::listeners::Gateways;
use super::rules::RouteRules;
use crate::problem::{Problem, ProblemKind};
use crate::store::ObjectKey;

/// A route as precedence reads it.
pub(in crate::translate) struct RouteRef<'a> {
    /// The route.
    pub key: &'a ObjectKey,
    /// Its creation time (older first).
    pub created: Option<&'a Time>,
    /// Where it attaches.
    pub attached: &'a Attached,
    /// Its candidates.
    pub rules: &'a RouteRules,
}

/// A host-map entry before it meets the Ingress hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) struct DraftEntry {
    /// The listener's declared port.
    pub listener_port: u16,
    /// Candidates in precedence order.
    pub candidates: Vec<CandidateId>,
    /// The routes they come from.
    pub routes: BTreeSet<ObjectKey>,
}

/// Members of one listener group (listeners of one bind and host name, across Gateways):
/// its port, and (route, host pattern served) pairs.
type Group = (u16, Vec<(usize, HostPattern)>);

/// The host-map entries of `routes` attached to `gateways`' listeners.
pub(in crate::translate) fn entries(
    gateways: &Gateways,
    routes: &[RouteRef<'_>],
) -> BTreeMap<HostKey, DraftEntry> {
    let mut groups: BTreeMap<(Listen, HostPattern), Group> = BTreeMap::new();
    for info in gateways.gateways.values() {
        for l in &info.listeners {
            if let Some(listen) = l.listen {
                let port = u16::try_from(l.port).unwrap_or_default();
                groups
                    .entry((listen, l.host.clone()))
                    .or_insert((port, Vec::new()));
            }
        }
    }
    let mut patterns: BTreeSet<(Listen, HostPattern)> = groups.keys().cloned().collect();
    for (r, route) in routes.iter().enumerate() {
        for a in &route.attached.attachments {
            let l = &gateways.gateways[&a.gateway].listeners[a.listener];
            let Some(listen) = l.listen else { continue };
            let group = groups
                .get_mut(&(listen, l.host.clone()))
                .expect("listeners are grouped");
            for h in &a.hosts {
                group.1.push((r, h.clone()));
                patterns.insert((listen, h.clone()));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (listen, p) in &patterns {
        let Some((_, group)) = groups
            .iter()
            .filter(|((gl, gh), _)| gl == listen && covers(gh, p))
            .max_by_key(|((_, gh), _)| specificity(gh))
        else {
            continue;
        };
        out.insert(
            HostKey {
                listen: *listen,
                host: p.clone(),
            },
            entry(p, group, routes),
        );
    }
    // An empty entry is kept only where it hides a more general one's candidates (listener
    // isolation); otherwise the request goes on to the Ingress maps.
    let keep: Vec<HostKey> = out
        .iter()
        .filter(|(k, e)| {
            !e.candidates.is_empty()
                || out.iter().any(|(k2, e2)| {
                    k2.listen == k.listen
                        && k2.host != k.host
                        && covers(&k2.host, &k.host)
                        && !e2.candidates.is_empty()
                })
        })
        .map(|(k, _)| k.clone())
        .collect();
    out.retain(|k, _| keep.contains(k));
    out
}

/// The entry of pattern `p` from its listener group.
fn entry(p: &HostPattern, group: &Group, routes: &[RouteRef<'_>]) -> DraftEntry {
    type Key<'a> = (
        Reverse<(u8, usize)>,
        super::rules::MatchRank,
        Option<&'a Time>,
        &'a ObjectKey,
        usize,
        usize,
    );
    let mut ranked: Vec<(Key<'_>, &CandidateId)> = Vec::new();
    let mut from = BTreeSet::new();
    for (r, served) in &group.1 {
        if !covers(served, p) {
            continue;
        }
        let route = &routes[*r];
        from.insert(route.key.clone());
        for c in &route.rules.candidates {
            let (m, rule, at) = &c.rank;
            let key = (
                Reverse(specificity(served)),
                *m,
                route.created,
                route.key,
                *rule,
                *at,
            );
            ranked.push((key, &c.id));
        }
    }
    ranked.sort();
    let mut seen = BTreeSet::new();
    let candidates = ranked
        .into_iter()
        .filter(|(_, id)| seen.insert(*id))
        .map(|(_, id)| id.clone())
        .collect();
    DraftEntry {
        listener_port: group.0,
        candidates,
        routes: from,
    }
}

/// The host patterns of the Ingress routes.
pub(in crate::translate) fn ingress_hosts(routes: &[Route]) -> BTreeSet<HostPattern> {
    routes
        .iter()
        .map(|r| match &r.host {
            RouteHost::Exact(h) => HostPattern::Exact(h.as_str().to_string()),
            RouteHost::Wildcard(h) => HostPattern::Wildcard(h.as_str().to_string()),
            RouteHost::Any => HostPattern::Any,
        })
        .collect()
}

/// The entries met with the Ingress hosts `ingress`, and the problems of the routes that
/// lose a host to an Ingress. Candidates no entry names are left out.
pub(in crate::translate) fn finish(
    entries: &BTreeMap<HostKey, DraftEntry>,
    candidates: &BTreeMap<CandidateId, haproxy::config::gateway::Candidate>,
    ingress: &BTreeSet<HostPattern>,
) -> (GatewayRoutes, Vec<Problem>) {
    let mut out = GatewayRoutes::default();
    let mut problems = Vec::new();
    // Ingress hosts meet Gateway routes on the shared binds only.
    let listens: BTreeSet<Listen> = entries
        .keys()
        .map(|k| k.listen)
        .filter(|l| l.shared())
        .collect();
    for listen in listens {
        for host in ingress {
            let key = HostKey {
                listen,
                host: host.clone(),
            };
            if let Some(e) = entries.get(&key) {
                for route in &e.routes {
                    let why = format!(
                        "host {} is also an Ingress host: the Ingress serves it (an Ingress keeps a \
                         host both claim); this route does not serve it on the {} listener",
                        show(host),
                        if listen.tls() { "HTTPS" } else { "HTTP" },
                    );
                    problems.push(
                        Problem::new(ProblemKind::HttpRoute, route.to_string(), why)
                            .at("spec.hostnames"),
                    );
                }
                out.hosts.insert(key, HostEntry::Ingress);
            } else if entries
                .keys()
                .any(|k| k.listen == listen && k.host != *host && covers(&k.host, host))
            {
                out.hosts.insert(key, HostEntry::Ingress);
            }
        }
    }
    for (k, e) in entries {
        if out.hosts.contains_key(k) {
            continue;
        }
        for id in &e.candidates {
            if let Some(c) = candidates.get(id) {
                out.candidates.insert(id.clone(), c.clone());
            }
        }
        out.hosts.insert(
            k.clone(),
            HostEntry::Rules {
                listener_port: e.listener_port,
                candidates: e.candidates.clone(),
            },
        );
    }
    (out, problems)
}
