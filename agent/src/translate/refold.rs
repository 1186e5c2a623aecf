//! The route fold kept current Ingress by Ingress: equal after every change to
//! [`super::fold::fold`] of all fragments, at the cost of the changed fragments and of those
//! sharing their backends, default backend and map keys.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use haproxy::BackendName;
use haproxy::MapKey;
use haproxy::config::{MapEntries, MapKind, Route, RouteIndex, Touched};
use haproxy::names::SniFilter;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::ingress::Fragment;
use super::tls;
use crate::problem::{Problem, ProblemKind};
use crate::store::ObjectKey;

/// An Ingress's precedence: oldest first, then by key.
pub(super) type Rank = (Option<Time>, ObjectKey);

/// The fold's result, kept current.
#[derive(Debug, Default)]
pub(super) struct Refold {
    /// The Ingresses using each backend, oldest first, each once: the first builds it. A
    /// sorted vector: almost always one Ingress, where a set's smallest node holds eleven
    /// (at 10,000 backends that was ~7 MB of empty slots).
    users: BTreeMap<BackendName, Vec<Rank>>,
    owner_problems: BTreeMap<BackendName, Vec<Problem>>,
    /// The Ingresses with a default backend, oldest first: the first one's is used.
    defaults: BTreeSet<Rank>,
    default_problems: Vec<Problem>,
    /// How many routes each Ingress (with any) has in the config's routes, in rank order.
    counts: BTreeMap<Rank, usize>,
    /// The map entries of the routes; a route's precedence is its Ingress's rank and its
    /// place among that Ingress's routes.
    index: RouteIndex<(Rank, usize)>,
    conflict_problems: BTreeMap<(MapKind, MapKey), Vec<Problem>>,
}

/// What some changes touched, for [`Refold::settle`].
#[derive(Debug, Default)]
pub(super) struct Work {
    backends: BTreeSet<BackendName>,
    defaults: bool,
    keys: Touched,
}

fn problem(key: &ObjectKey, field: &str, message: String) -> Problem {
    Problem::new(ProblemKind::Ingress, key.to_string(), message).at(field)
}

impl Refold {
    /// The Ingress that builds backend `name`.
    pub(super) fn owner(&self, name: &BackendName) -> Option<&ObjectKey> {
        self.users.get(name)?.first().map(|(_, k)| k)
    }

    /// The Ingress whose default backend is used.
    pub(super) fn default_owner(&self) -> Option<&ObjectKey> {
        self.defaults.first().map(|(_, k)| k)
    }

    /// The map entries of the routes, shared.
    pub(super) fn entries(&self) -> &Arc<MapEntries> {
        self.index.entries()
    }

    /// The header and cookie names the canary routes read.
    pub(super) fn canary_names(&self) -> haproxy::config::CanaryNames {
        self.index.canary_names()
    }

    /// The conflicts between Ingresses.
    pub(super) fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.owner_problems
            .values()
            .flatten()
            .chain(&self.default_problems)
            .chain(self.conflict_problems.values().flatten())
    }

    /// Takes out the claims of fragment `f` at `rank`: its backends and default backend.
    pub(super) fn unclaim(&mut self, rank: &Rank, f: &Fragment, work: &mut Work) {
        for (_, name) in &f.uses {
            if let Some(set) = self.users.get_mut(name) {
                if let Ok(i) = set.binary_search(rank) {
                    set.remove(i);
                }
                if set.is_empty() {
                    self.users.remove(name);
                }
            }
            work.backends.insert(name.clone());
        }
        if f.default_backend.is_some() {
            self.defaults.remove(rank);
            work.defaults = true;
        }
    }

    /// Puts in the claims of fragment `f` at `rank`.
    pub(super) fn claim(&mut self, rank: &Rank, f: &Fragment, work: &mut Work) {
        for (_, name) in &f.uses {
            let set = self
                .users
                .entry(name.clone())
                .or_insert_with(|| Vec::with_capacity(1));
            if let Err(i) = set.binary_search(rank) {
                set.reserve_exact(1);
                set.insert(i, rank.clone());
            }
            work.backends.insert(name.clone());
        }
        if f.default_backend.is_some() {
            self.defaults.insert(rank.clone());
            work.defaults = true;
        }
    }

    /// Takes the routes of the Ingress at `rank` out of `routes` (the config's).
    pub(super) fn take_routes(&mut self, rank: &Rank, routes: &mut Vec<Route>, work: &mut Work) {
        let Some(&n) = self.counts.get(rank) else {
            return;
        };
        let at = self.offset(rank, routes.len());
        self.counts.remove(rank);
        let removed: Vec<Route> = routes.drain(at..at + n).collect();
        for (i, r) in removed.iter().enumerate() {
            self.index.remove(&(rank.clone(), i), r, &mut work.keys);
        }
    }

    /// Puts the routes of fragment `f` at `rank` into `routes`, with their redirects set
    /// from the hosts with TLS.
    pub(super) fn place_routes(
        &mut self,
        rank: &Rank,
        f: &Fragment,
        tls_hosts: &BTreeSet<SniFilter>,
        routes: &mut Vec<Route>,
        work: &mut Work,
    ) {
        if f.routes.is_empty() {
            return;
        }
        let at = self.offset(rank, routes.len());
        let folded: Vec<Route> = f
            .routes
            .iter()
            .map(|(route, origin)| {
                let mut route = route.clone();
                route.https_redirect = origin
                    .redirect
                    .applies(tls::host_has_tls(&route.host, tls_hosts));
                route
            })
            .collect();
        for (i, r) in folded.iter().enumerate() {
            self.index.insert((rank.clone(), i), r, &mut work.keys);
        }
        self.counts.insert(rank.clone(), folded.len());
        routes.splice(at..at, folded);
    }

    /// Where the routes of `rank` start (in `total` routes): after those of every older
    /// Ingress.
    fn offset(&self, rank: &Rank, total: usize) -> usize {
        match self.counts.last_key_value() {
            None => 0,
            // The newest (as each Ingress of a rebuild, oldest first) costs nothing.
            Some((last, _)) if last < rank => total,
            Some((last, n)) if last == rank => total - n,
            Some(_) => self.counts.range(..rank).map(|(_, n)| n).sum(),
        }
    }

    /// Recomputes the conflicts `work` may have changed; `fragment` gives the current
    /// fragment of an Ingress that is in. Returns the map keys whose entry changed.
    pub(super) fn settle<'a>(
        &mut self,
        work: Work,
        fragment: impl Fn(&ObjectKey) -> Option<&'a Fragment>,
    ) -> BTreeSet<(MapKind, MapKey)> {
        for name in &work.backends {
            let problems = self.owner_conflicts(name, &fragment);
            if problems.is_empty() {
                self.owner_problems.remove(name);
            } else {
                self.owner_problems.insert(name.clone(), problems);
            }
        }
        if work.defaults {
            let mut ranks = self.defaults.iter();
            let owner = ranks.next().map(|(_, k)| k);
            self.default_problems = ranks
                .zip(std::iter::repeat(owner))
                .filter_map(|((_, key), owner)| {
                    let msg = format!(
                        "ignored: the default backend of the older ingress {} is used",
                        owner?
                    );
                    Some(problem(key, "spec.defaultBackend", msg))
                })
                .collect();
        }
        for (map, key) in work.keys.keys() {
            let mut problems = Vec::new();
            for ((won_at, won_i), (lost_at, lost_i)) in self.index.conflicts(*map, key) {
                let origin = |k: &ObjectKey, i: usize| fragment(k).and_then(|f| f.routes.get(i));
                let (Some((_, won)), Some((_, lost))) =
                    (origin(&won_at.1, *won_i), origin(&lost_at.1, *lost_i))
                else {
                    continue;
                };
                let canary = fragment(&lost_at.1)
                    .and_then(|f| f.routes.get(*lost_i))
                    .is_some_and(|(r, _)| r.canary.is_some());
                let msg = super::conflict_message(key, won, canary);
                problems.push(problem(&lost.ingress, &lost.field, msg));
            }
            if let Some((at, i)) = self.index.orphan(*map, key)
                && let Some((_, o)) = fragment(&at.1).and_then(|f| f.routes.get(*i))
            {
                problems.push(problem(&o.ingress, &o.field, super::orphan_message(key)));
            }
            if problems.is_empty() {
                self.conflict_problems.remove(&(*map, key.clone()));
            } else {
                self.conflict_problems.insert((*map, key.clone()), problems);
            }
        }
        self.index.changed(&work.keys)
    }

    /// The problems of the Ingresses that use backend `name` with other options than its
    /// owner.
    fn owner_conflicts<'a>(
        &self,
        name: &BackendName,
        fragment: &impl Fn(&ObjectKey) -> Option<&'a Fragment>,
    ) -> Vec<Problem> {
        let mut out = Vec::new();
        let Some(users) = self.users.get(name) else {
            return out;
        };
        let mut users = users.iter();
        let Some(owner) = users.next().and_then(|(_, k)| fragment(k)) else {
            return out;
        };
        for f in users.filter_map(|(_, k)| fragment(k)) {
            if f.errors_only(name) || f.options_for(name) == owner.options_for(name) {
                continue;
            }
            for (field, _) in f.uses.iter().filter(|(_, n)| n == name) {
                let msg = format!(
                    "backend {name} is also used by the older ingress {} with other annotations; its settings are kept",
                    owner.key
                );
                out.push(problem(&f.key, field, msg));
            }
        }
        out
    }
}
