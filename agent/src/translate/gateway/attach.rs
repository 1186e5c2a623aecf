//! HTTPRoute `parentRefs` -> the listeners each route attaches to, with the host patterns
//! it serves there (route and listener host names intersected), and each parent's
//! `Accepted` condition with the spec's reason.

use haproxy::config::gateway::HostPattern;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::hostnames;
use super::listeners::{FromNamespaces, Gateways};
use super::namespaces::Namespaces;
use super::status::condition;
use crate::gateway_api::{GROUP, HttpRoute, ParentReference};
use crate::store::ObjectKey;

const NO_PARENT: &str = "no listener of the Gateway matches the sectionName and port";
const NOT_ALLOWED: &str = "no listener allows this route (kind or namespace)";
const NO_HOST: &str = "no host name of the route intersects a listener's";

/// A route attached to one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::translate) struct Attachment {
    /// The Gateway.
    pub gateway: ObjectKey,
    /// The listener's index in it.
    pub listener: usize,
    /// The host patterns the route serves on it (each once).
    pub hosts: Vec<HostPattern>,
}

/// A parent of ours and its `Accepted` condition.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::translate) struct Parent {
    /// As the route names it.
    pub parent_ref: ParentReference,
    /// `Accepted`.
    pub accepted: Condition,
}

/// Where a route attaches.
#[derive(Debug, Clone, Default, PartialEq)]
pub(in crate::translate) struct Attached {
    /// Every listener it attaches to.
    pub attachments: Vec<Attachment>,
    /// Its parents that are ours (Gateways of our classes).
    pub parents: Vec<Parent>,
}

/// Attaches `route` (whose valid host names are `hosts`, any host when `None`; its
/// namespace's labels in `namespaces`).
pub(in crate::translate) fn attach(
    key: &ObjectKey,
    route: &HttpRoute,
    hosts: Option<&[HostPattern]>,
    gateways: &Gateways,
    namespaces: &Namespaces,
) -> Attached {
    let mut out = Attached::default();
    let meta = &route.metadata;
    for p in &route.spec.parent_refs {
        let group_ok = p.group.as_deref().is_none_or(|g| g == GROUP);
        let kind_ok = p.kind.as_deref().is_none_or(|k| k == "Gateway");
        if !group_ok || !kind_ok {
            continue;
        }
        let ns = p
            .namespace
            .clone()
            .unwrap_or_else(|| key.namespace.to_string());
        let gw_key = ObjectKey::new(ns, p.name.clone());
        let Some(gw) = gateways.gateways.get(&gw_key) else {
            continue;
        };
        let named: Vec<usize> = gw
            .listeners
            .iter()
            .enumerate()
            .filter(|(_, l)| p.section_name.as_ref().is_none_or(|s| *s == l.name))
            .filter(|(_, l)| p.port.is_none_or(|port| port == l.port))
            .filter(|(_, l)| l.listen.is_some())
            .map(|(i, _)| i)
            .collect();
        let allowed: Vec<usize> = named
            .iter()
            .copied()
            .filter(|&i| {
                let l = &gw.listeners[i];
                l.takes_http_routes
                    && match &l.from {
                        FromNamespaces::All => true,
                        FromNamespaces::Same => gw_key.namespace == key.namespace,
                        FromNamespaces::Selector(r) => {
                            super::namespaces::admits(r, &key.namespace, namespaces)
                        }
                        FromNamespaces::Nothing => false,
                    }
            })
            .collect();
        let mut attached = 0;
        for &i in &allowed {
            let served = served(&gw.listeners[i].host, hosts);
            if !served.is_empty() {
                attached += 1;
                out.attachments.push(Attachment {
                    gateway: gw_key.clone(),
                    listener: i,
                    hosts: served,
                });
            }
        }
        let (ok, reason, why) = match (named.is_empty(), allowed.is_empty(), attached) {
            (true, _, _) => (false, "NoMatchingParent", NO_PARENT),
            (false, true, _) => (false, "NotAllowedByListeners", NOT_ALLOWED),
            (false, false, 0) => (false, "NoMatchingListenerHostname", NO_HOST),
            _ => (true, "Accepted", "attached"),
        };
        let accepted = condition(meta, "Accepted", ok, reason, why);
        out.parents.push(Parent {
            parent_ref: p.clone(),
            accepted,
        });
    }
    out
}

/// The host patterns a route with host names `hosts` (any when `None`) serves on a
/// listener of host name `listener`, each once.
fn served(listener: &HostPattern, hosts: Option<&[HostPattern]>) -> Vec<HostPattern> {
    let mut out: Vec<HostPattern> = Vec::new();
    for h in hosts.unwrap_or(&[HostPattern::Any]) {
        if let Some(x) = hostnames::intersect(listener, h)
            && !out.contains(&x)
        {
            out.push(x);
        }
    }
    out
}
