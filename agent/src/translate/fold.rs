//! Precedence between Ingresses: a fold over their fragments, oldest first. The older
//! Ingress keeps a backend's options, the default backend and a host and path; the newer
//! one gets a problem.

use std::collections::{BTreeMap, BTreeSet};

use haproxy::BackendName;
use haproxy::config::{MapEntries, Route, route_maps};
use haproxy::names::SniFilter;

use super::annotations::BackendOptions;
use super::ingress::Fragment;
use super::{Origin, tls};
use crate::problem::{Problem, ProblemKind};
use crate::store::ObjectKey;

/// What the fragments give together.
#[derive(Debug, Default)]
pub(super) struct Folded {
    /// Routes, oldest Ingress first, with their redirects set.
    pub routes: Vec<Route>,
    /// Their map entries.
    pub maps: MapEntries,
    /// The Ingress whose fragment builds each backend (the oldest one using it).
    pub owners: BTreeMap<BackendName, ObjectKey>,
    /// The default backend the oldest Ingress with one asks for.
    pub default_backend: Option<BackendName>,
    /// Conflicts between Ingresses.
    pub problems: Vec<Problem>,
}

/// Folds fragments (oldest first); `tls_hosts` are the hosts with TLS (for redirects).
pub(super) fn fold<'a>(
    fragments: impl IntoIterator<Item = &'a Fragment>,
    tls_hosts: &BTreeSet<SniFilter>,
) -> Folded {
    let mut out = Folded::default();
    let mut owners: BTreeMap<&BackendName, (&ObjectKey, &BackendOptions)> = BTreeMap::new();
    let mut default_owner: Option<&ObjectKey> = None;
    let mut origins: Vec<&Origin> = Vec::new();
    let problem = |key: &ObjectKey, field: &str, message: String| {
        Problem::new(ProblemKind::Ingress, key.to_string(), message).at(field)
    };
    for f in fragments {
        for (field, name) in &f.uses {
            match owners.get(name) {
                None => {
                    owners.insert(name, (&f.key, f.options_for(name)));
                }
                Some((owner, first)) if *first != f.options_for(name) && !f.errors_only(name) => {
                    let msg = format!(
                        "backend {name} is also used by the older ingress {owner} with other annotations; its settings are kept"
                    );
                    out.problems.push(problem(&f.key, field, msg));
                }
                Some(_) => {}
            }
        }
        if let Some(name) = &f.default_backend {
            match default_owner {
                None => {
                    out.default_backend = Some(name.clone());
                    default_owner = Some(&f.key);
                }
                Some(owner) => {
                    let msg = format!(
                        "ignored: the default backend of the older ingress {owner} is used"
                    );
                    out.problems
                        .push(problem(&f.key, "spec.defaultBackend", msg));
                }
            }
        }
        for (route, origin) in &f.routes {
            let mut route = route.clone();
            route.https_redirect = origin
                .redirect
                .applies(tls::host_has_tls(&route.host, tls_hosts));
            out.routes.push(route);
            origins.push(origin);
        }
    }
    let set = route_maps(&out.routes);
    for c in &set.conflicts {
        let (lost, won) = (origins[c.dropped], origins[c.kept]);
        let canary = out.routes[c.dropped].canary.is_some();
        let msg = super::conflict_message(&c.key, won, canary);
        out.problems.push(problem(&lost.ingress, &lost.field, msg));
    }
    for (_, key, i) in &set.orphans {
        let o = origins[*i];
        out.problems
            .push(problem(&o.ingress, &o.field, super::orphan_message(key)));
    }
    out.maps = set.into();
    out.owners = owners
        .into_iter()
        .map(|(name, (key, _))| (name.clone(), key.clone()))
        .collect();
    out
}
