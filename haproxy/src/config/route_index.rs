//! Route map entries kept current route by route: each key's contenders in precedence
//! order, the winning entries and the conflicts, equal after every change to
//! [`super::route_maps`] of the same routes listed in precedence order. A change costs the
//! keys of the routes it adds or removes, not the maps.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::names::MapKey;

use super::canary::{CanaryName, CanaryNames};
use super::regex_routes::{host_prefix, key_host};
use super::routes::{MapEntries, MapKind, PathKind, Route, RouteTarget, route_keys};

/// The header and cookie names a canary route reads, as `(is a cookie, name)`.
fn names_of(route: &Route) -> Vec<(bool, CanaryName)> {
    let Some(rule) = &route.canary else {
        return Vec::new();
    };
    let header = rule.header.iter().map(|h| (false, h.clone()));
    header
        .chain(rule.cookie.iter().map(|c| (true, c.clone())))
        .collect()
}

/// One route's claim on a key: Exact routes first, then by precedence.
#[derive(Debug, Clone)]
struct Contender<P> {
    /// (weak, not Exact, precedence): a weak route (a from-to-www-redirect twin) yields to
    /// every other route at its keys.
    rank: (bool, bool, P),
    target: RouteTarget,
}

/// Route map entries kept current as routes come and go. `P` is a route's precedence (lower
/// first; unique per route): where [`super::route_maps`] takes the input order, this takes
/// `P`'s order.
#[derive(Debug, Clone)]
pub struct RouteIndex<P> {
    contenders: BTreeMap<(MapKind, MapKey), Vec<Contender<P>>>,
    /// The canary routes' claims: the first joins the key's entry.
    canaries: BTreeMap<(MapKind, MapKey), Vec<Contender<P>>>,
    /// How many canary routes read each header and cookie name.
    names: BTreeMap<(bool, CanaryName), usize>,
    /// How many `Regex` routes each host (by its regex key prefix) has: the regex keys of
    /// a host are in the entries only while it has one.
    regex_hosts: BTreeMap<String, usize>,
    /// The winners, handed out shared ([`Self::entries`]) and patched in place once the
    /// holders dropped them (copied otherwise).
    entries: Arc<MapEntries>,
}

impl<P> Default for RouteIndex<P> {
    fn default() -> Self {
        Self {
            contenders: BTreeMap::new(),
            canaries: BTreeMap::new(),
            names: BTreeMap::new(),
            regex_hosts: BTreeMap::new(),
            entries: Arc::default(),
        }
    }
}

/// The keys a series of changes touched, each with the entry it had before the first one.
#[derive(Debug, Clone, Default)]
pub struct Touched(BTreeMap<(MapKind, MapKey), Option<RouteTarget>>);

impl Touched {
    /// The touched keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &(MapKind, MapKey)> {
        self.0.keys()
    }

    /// True when no key was touched.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<P: Ord + Clone> RouteIndex<P> {
    /// The winning entries.
    pub fn entries(&self) -> &Arc<MapEntries> {
        &self.entries
    }

    /// The header and cookie names the canary routes read.
    pub fn canary_names(&self) -> CanaryNames {
        let mut out = CanaryNames::default();
        for (cookie, name) in self.names.keys() {
            match cookie {
                false => out.headers.insert(name.clone()),
                true => out.cookies.insert(name.clone()),
            };
        }
        out
    }

    /// Adds the keys of `route`, at precedence `at` (no other route may hold `at`).
    pub fn insert(&mut self, at: P, route: &Route, touched: &mut Touched) {
        for name in names_of(route) {
            *self.names.entry(name).or_default() += 1;
        }
        if route.kind == PathKind::Regex {
            let host = host_prefix(&route.host);
            let n = self.regex_hosts.entry(host.clone()).or_default();
            *n += 1;
            if *n == 1 {
                self.resettle_host(&host, touched);
            }
        }
        let rank = (route.is_weak(), route.kind != PathKind::Exact, at);
        let mut target = route.target();
        target.canary = route.canary_target();
        for key in route_keys(route) {
            self.note(&key, touched);
            let list = match route.canary {
                None => &mut self.contenders,
                Some(_) => &mut self.canaries,
            }
            .entry(key.clone())
            // Almost every key has one contender: room for one, where `Vec`'s first growth
            // makes room for four (at 10,000 routes that was ~8 MB of empty slots).
            .or_insert_with(|| Vec::with_capacity(1));
            let i = list.partition_point(|c| c.rank < rank);
            list.insert(
                i,
                Contender {
                    rank: rank.clone(),
                    target: target.clone(),
                },
            );
            if i == 0 {
                self.settle(&key);
            }
        }
    }

    /// Removes the keys of `route`, added at precedence `at`.
    pub fn remove(&mut self, at: &P, route: &Route, touched: &mut Touched) {
        let from_exact = route.kind == PathKind::Exact;
        for name in names_of(route) {
            if let Some(n) = self.names.get_mut(&name) {
                *n -= 1;
                if *n == 0 {
                    self.names.remove(&name);
                }
            }
        }
        for key in route_keys(route) {
            let lists = match route.canary {
                None => &mut self.contenders,
                Some(_) => &mut self.canaries,
            };
            let Some(list) = lists.get_mut(&key) else {
                continue;
            };
            let Some(i) = list
                .iter()
                .position(|c| c.rank.1 != from_exact && c.rank.2 == *at)
            else {
                continue;
            };
            list.remove(i);
            if list.is_empty() {
                lists.remove(&key);
            }
            self.note(&key, touched);
            if i == 0 {
                self.settle(&key);
            }
        }
        if route.kind == PathKind::Regex {
            let host = host_prefix(&route.host);
            if let Some(n) = self.regex_hosts.get_mut(&host) {
                *n -= 1;
                if *n == 0 {
                    self.regex_hosts.remove(&host);
                    self.resettle_host(&host, touched);
                }
            }
        }
    }

    /// Settles every regex key of `host` (a regex key prefix) again: its regex routes came
    /// or went.
    fn resettle_host(&mut self, host: &str, touched: &mut Touched) {
        let start = (MapKind::Regex, MapKey::new(host).expect("a key prefix"));
        // Canary keys too: whether one is an orphan (named) depends on the key being live.
        let keys: BTreeSet<(MapKind, MapKey)> = [&self.contenders, &self.canaries]
            .into_iter()
            .flat_map(|lists| {
                lists
                    .range(start.clone()..)
                    .map(|(k, _)| k)
                    .take_while(|(m, k)| *m == MapKind::Regex && k.as_str().starts_with(host))
                    .filter(|(_, k)| key_host(k) == Some(host))
                    .cloned()
            })
            .collect();
        for key in keys {
            self.note(&key, touched);
            self.settle(&key);
        }
    }

    /// Whether the entry at `key` is live: every key but a regex key of a host without a
    /// regex route.
    fn live(&self, map: MapKind, key: &MapKey) -> bool {
        map != MapKind::Regex || key_host(key).is_some_and(|h| self.regex_hosts.contains_key(h))
    }

    /// The conflicts at one key: `(kept, dropped)` for each route that loses it to a route
    /// with another target, in precedence order.
    /// Canary routes conflict with canary routes only.
    pub fn conflicts(&self, map: MapKind, key: &MapKey) -> Vec<(&P, &P)> {
        let mut out = Vec::new();
        if !self.live(map, key) {
            return out;
        }
        for lists in [&self.contenders, &self.canaries] {
            let Some(list) = lists.get(&(map, key.clone())) else {
                continue;
            };
            let Some((first, rest)) = list.split_first() else {
                continue;
            };
            out.extend(
                rest.iter()
                    .filter(|c| c.target != first.target)
                    // A weak route yields by design: not a conflict.
                    .filter(|c| !c.rank.0)
                    .map(|c| (&first.rank.2, &c.rank.2)),
            );
        }
        out
    }

    /// The canary route at one key that no ordinary route has (it takes no requests; any
    /// other canary there is in [`Self::conflicts`] or the same).
    pub fn orphan(&self, map: MapKind, key: &MapKey) -> Option<&P> {
        let k = (map, key.clone());
        if self.contenders.contains_key(&k) || !self.live(map, key) {
            return None;
        }
        self.canaries.get(&k)?.first().map(|c| &c.rank.2)
    }

    /// The touched keys whose entry differs now from before the changes.
    pub fn changed(&self, touched: &Touched) -> BTreeSet<(MapKind, MapKey)> {
        touched
            .0
            .iter()
            .filter(|((map, key), before)| self.entries.get(*map, key) != before.as_ref())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn note(&self, key: &(MapKind, MapKey), touched: &mut Touched) {
        if !touched.0.contains_key(key) {
            let before = self.entries.get(key.0, &key.1).cloned();
            touched.0.insert(key.clone(), before);
        }
    }

    /// Puts the first contender of `key` (or nothing) into the entries.
    /// The first canary contender joins it.
    fn settle(&mut self, key: &(MapKind, MapKey)) {
        let first = |lists: &BTreeMap<_, Vec<Contender<P>>>| {
            lists
                .get(key)
                .and_then(|l: &Vec<Contender<P>>| l.first())
                .map(|c| c.target.clone())
        };
        let want = first(&self.contenders)
            .filter(|_| self.live(key.0, &key.1))
            .map(|mut t| {
                t.canary = first(&self.canaries).and_then(|c| c.canary);
                t
            });
        if self.entries.get(key.0, &key.1) == want.as_ref() {
            return;
        }
        let map = Arc::make_mut(&mut self.entries).entries_mut(key.0);
        match want {
            Some(t) => drop(map.insert(key.1.clone(), t)),
            None => drop(map.remove(&key.1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::BackendName;
    use crate::config::canary::CanaryRule;
    use crate::config::policy::{PolicyText, RoutePolicy};
    use crate::config::routes::{RouteHost, RoutePath, route_maps};

    prop_compose! {
        fn arb_route()(host in prop_oneof![Just(""), Just("a.test"), Just("*.b.test")], path in "/[a-c/]{0,3}",
                       kind in 0u8..4, b in 0usize..3, https_redirect in any::<bool>(),
                       rewrite in any::<bool>(), www in any::<bool>(), canary in proptest::option::of((0u32..3, any::<bool>()))) -> Route {
            Route {
                host: RouteHost::parse(host).unwrap(),
                path: RoutePath::new(&path).unwrap(),
                kind: [PathKind::Exact, PathKind::Prefix, PathKind::ImplementationSpecific, PathKind::Regex][kind as usize],
                backend: BackendName::new(format!("b{b}")).unwrap(),
                https_redirect,
                policy: RoutePolicy {
                    rewrite: rewrite.then(|| PolicyText::path("rewrite", "/r").unwrap()),
                    www_redirect: www.then(|| PolicyText::new("www", "www.a.test").unwrap()),
                    ..Default::default()
                }
                .shared(),
                canary: canary.map(|(weight, header)| {
                    let mut rule = CanaryRule::new(weight, 2).unwrap();
                    rule.header = header.then(|| CanaryName::header("x-canary").unwrap());
                    Arc::new(rule)
                }),
            }
        }
    }

    proptest! {
        /// Routes added and removed in any order: the entries and conflicts are those of
        /// `route_maps` over the routes present, in precedence order, and `changed` names
        /// exactly the keys whose entry moved.
        #[test]
        fn index_equals_route_maps(
            ops in proptest::collection::vec((0u8..40, arb_route()), 1..60),
        ) {
            let mut index: RouteIndex<u8> = RouteIndex::default();
            let mut present: BTreeMap<u8, Route> = BTreeMap::new();
            for (at, route) in ops {
                let before = MapEntries::clone(index.entries());
                let mut touched = Touched::default();
                match present.remove(&at) {
                    Some(old) => index.remove(&at, &old, &mut touched),
                    None => {
                        index.insert(at, &route, &mut touched);
                        present.insert(at, route);
                    }
                }
                let routes: Vec<Route> = present.values().cloned().collect();
                let ats: Vec<u8> = present.keys().copied().collect();
                let want = route_maps(&routes);
                prop_assert_eq!(&want.exact, &index.entries().exact);
                prop_assert_eq!(&want.prefix, &index.entries().prefix);
                prop_assert_eq!(&want.regex, &index.entries().regex);
                let mut conflicts: Vec<(MapKind, String, u8, u8)> = Vec::new();
                let keys: BTreeSet<_> = index.contenders.keys().chain(index.canaries.keys()).collect();
                for (map, key) in keys {
                    for (kept, dropped) in index.conflicts(*map, key) {
                        conflicts.push((*map, key.to_string(), *kept, *dropped));
                    }
                }
                let mut expected: Vec<(MapKind, String, u8, u8)> = want
                    .conflicts
                    .iter()
                    .map(|c| (c.map, c.key.to_string(), ats[c.kept], ats[c.dropped]))
                    .collect();
                conflicts.sort();
                expected.sort();
                prop_assert_eq!(conflicts, expected);
                let mut orphans: Vec<(MapKind, String, u8)> = Vec::new();
                for (map, key) in index.canaries.keys() {
                    if let Some(at) = index.orphan(*map, key) {
                        orphans.push((*map, key.to_string(), *at));
                    }
                }
                let mut expected: Vec<(MapKind, String, u8)> = want
                    .orphans
                    .iter()
                    .map(|(map, key, i)| (*map, key.to_string(), ats[*i]))
                    .collect();
                orphans.sort();
                expected.sort();
                prop_assert_eq!(orphans, expected);
                let names: BTreeSet<String> = present
                    .values()
                    .filter_map(|r| r.canary.as_ref()?.header.as_ref().map(|h| h.to_string()))
                    .collect();
                let got: BTreeSet<String> =
                    index.canary_names().headers.iter().map(|h| h.to_string()).collect();
                prop_assert_eq!(got, names);
                let moved: BTreeSet<(MapKind, MapKey)> = MapKind::ALL
                    .into_iter()
                    .flat_map(|m| {
                        let (b, a) = (before.entries(m), index.entries().entries(m));
                        b.keys()
                            .chain(a.keys())
                            .filter(|k| b.get(*k) != a.get(*k))
                            .map(move |k| (m, k.clone()))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                prop_assert_eq!(index.changed(&touched), moved);
            }
        }
    }
}
