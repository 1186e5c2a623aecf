//! Hosts that one Ingress passes through (`ssl-passthrough`) and another terminates: on the
//! HTTPS port the SNI lookup comes first, so passthrough wins; the terminated routes are
//! named, as they serve plain HTTP only.

use std::collections::{BTreeMap, BTreeSet};

use haproxy::config::{PathKind, Route, RouteHost};

use super::{Origin, Settings};
use crate::problem::{Problem, ProblemKind};
use crate::store::ObjectKey;

/// The problems of terminated routes whose host is a passthrough host, one per Ingress and
/// host, given each Ingress's routes oldest first. Costs nothing without
/// `--enable-ssl-passthrough` or without a passthrough Ingress (whose routes are all
/// passthrough routes, so its first one tells).
pub fn conflicts<'a>(
    ingresses: impl Iterator<Item = (&'a ObjectKey, &'a Vec<(Route, Origin)>)>,
    settings: &Settings,
) -> Vec<Problem> {
    if !settings.ssl_passthrough {
        return Vec::new();
    }
    let ingresses: Vec<_> = ingresses.collect();
    let mut owners: BTreeMap<&RouteHost, &ObjectKey> = BTreeMap::new();
    for (key, routes) in &ingresses {
        if routes
            .first()
            .is_some_and(|(r, _)| r.kind == PathKind::Passthrough)
        {
            for (r, _) in routes.iter() {
                owners.entry(&r.host).or_insert(key);
            }
        }
    }
    if owners.is_empty() {
        return Vec::new();
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (key, routes) in &ingresses {
        for (r, origin) in routes.iter() {
            let Some(owner) = owners.get(&r.host) else {
                continue;
            };
            // A passthrough Ingress's own HTTP routes serve its hosts' plain HTTP.
            if r.kind == PathKind::Passthrough || owner == key || !seen.insert((*key, &r.host)) {
                continue;
            }
            let message = format!(
                "host {} is an ssl-passthrough host of ingress {owner}: on the HTTPS port its \
                 connections go to that Ingress's pods (passthrough wins), so this Ingress's \
                 routes of the host serve plain HTTP only",
                host_text(&r.host)
            );
            out.push(
                Problem::new(ProblemKind::Ingress, key.to_string(), message)
                    .at(origin.field.clone()),
            );
        }
    }
    out
}

fn host_text(h: &RouteHost) -> String {
    match h {
        RouteHost::Exact(h) => h.as_str().to_string(),
        RouteHost::Wildcard(h) => format!("*.{h}"),
        RouteHost::Any => String::new(),
    }
}

#[cfg(test)]
#[path = "passthrough_tests.rs"]
mod tests;
