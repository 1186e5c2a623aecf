//! The map entries a set of routes gives (keys per map, conflicts settled, canaries joined).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::config::canary::CanaryNames;
use crate::config::regex_routes::{host_prefix, key_host, regex_key};
use crate::names::MapKey;

use super::{MapKind, PathKind, Route, RoutePath, RouteTarget};

/// Two routes gave the same key, to different targets, in the same map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteConflict {
    /// The map.
    pub map: MapKind,
    /// The key.
    pub key: MapKey,
    /// Index (in the input) of the route whose entry was kept.
    pub kept: usize,
    /// Index of the route whose entry was dropped.
    pub dropped: usize,
}

impl fmt::Display for RouteConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "route {} lost the {:?} map key {} to route {}",
            self.dropped, self.map, self.key, self.kept
        )
    }
}

/// The map entries a set of routes gives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteMapSet {
    /// Exact map entries.
    pub exact: BTreeMap<MapKey, RouteTarget>,
    /// Prefix map entries.
    pub prefix: BTreeMap<MapKey, RouteTarget>,
    /// Regex map entries (of the hosts with a regex route).
    pub regex: BTreeMap<MapKey, RouteTarget>,
    /// Passthrough map entries (hosts).
    pub passthrough: BTreeMap<MapKey, RouteTarget>,
    /// Entries lost to another route, in input order of the losing route.
    pub conflicts: Vec<RouteConflict>,
    /// Keys of canary routes that no ordinary route has, with the canary route's index, in
    /// input order: such a canary takes no requests.
    pub orphans: Vec<(MapKind, MapKey, usize)>,
}

impl RouteMapSet {
    /// The entries of one map.
    pub fn entries(&self, map: MapKind) -> &BTreeMap<MapKey, RouteTarget> {
        match map {
            MapKind::Exact => &self.exact,
            MapKind::Prefix => &self.prefix,
            MapKind::Regex => &self.regex,
            MapKind::Passthrough => &self.passthrough,
        }
    }
}

fn key(host: &str, path: &str) -> MapKey {
    // A host is at most 253 bytes of [a-z0-9.*-] and a path at most MAX_PATH_LEN printable
    // bytes starting with `/`: no whitespace, no leading `#`, and below MAX_WORD_LEN.
    MapKey::new(format!("{host}{path}")).expect("host and path are validated map words")
}

/// A Prefix path without its trailing slashes (`/foo/` is `/foo`); empty for `/`.
fn element_prefix(path: &RoutePath) -> &str {
    path.0.trim_end_matches('/')
}

/// The map keys `route` gives: `Exact` `/p` -> exact `host/p`; `Prefix` `/p` -> exact
/// `host/p` (not for `/`) and prefix `host/p/`; `ImplementationSpecific` `/p` -> prefix
/// `host/p`; `Regex` none there. Every route also gives its regex key, which is in the
/// regex map only while its host has a `Regex` route. Each map gets at most one key from
/// one route.
pub(in crate::config) fn route_keys(r: &Route) -> impl Iterator<Item = (MapKind, MapKey)> {
    let host = r.host.key_prefix();
    let (exact, prefix) = match r.kind {
        PathKind::Regex | PathKind::Passthrough => (None, None),
        PathKind::Exact => (Some(key(&host, r.path.as_str())), None),
        PathKind::Prefix => {
            let p = element_prefix(&r.path);
            let exact = (!p.is_empty()).then(|| key(&host, p));
            (exact, Some(key(&host, &format!("{p}/"))))
        }
        PathKind::ImplementationSpecific => (None, Some(key(&host, r.path.as_str()))),
    };
    // A passthrough route has its host in the passthrough map and nothing else.
    let (regex, passthrough) = match r.kind {
        PathKind::Passthrough => (None, Some((MapKind::Passthrough, key(&host, "")))),
        _ => (
            Some((MapKind::Regex, regex_key(&r.host, r.path.as_str()))),
            None,
        ),
    };
    exact
        .map(|k| (MapKind::Exact, k))
        .into_iter()
        .chain(prefix.map(|k| (MapKind::Prefix, k)))
        .chain(regex)
        .chain(passthrough)
}

/// The map entries for `routes`. When two routes give the same key in the same map, an
/// `Exact` route beats an entry derived from a `Prefix` route; otherwise the first in input
/// order wins, and the loser is reported in `conflicts` (unless both give the same target).
/// A weak route ([`Route::is_weak`]) loses to every other route, without a conflict.
pub fn route_maps(routes: &[Route]) -> RouteMapSet {
    // (map, key, route index, is the entry from an Exact route), ordinary and canary routes
    let mut entries: Vec<(MapKind, MapKey, usize, bool)> = Vec::new();
    let mut canaries: Vec<(MapKind, MapKey, usize, bool)> = Vec::new();
    let weak = |i: usize| routes[i].is_weak();
    for (i, r) in routes.iter().enumerate() {
        let from_exact = r.kind == PathKind::Exact;
        let list = if r.canary.is_some() {
            &mut canaries
        } else {
            &mut entries
        };
        list.extend(route_keys(r).map(|(map, key)| (map, key, i, from_exact)));
    }
    // Regex keys only for the hosts with a regex route.
    let regex_hosts: BTreeSet<String> = routes
        .iter()
        .filter(|r| r.kind == PathKind::Regex)
        .map(|r| host_prefix(&r.host))
        .collect();
    let live = |(map, key, _, _): &(MapKind, MapKey, usize, bool)| {
        *map != MapKind::Regex || key_host(key).is_some_and(|h| regex_hosts.contains(h))
    };
    entries.retain(live);
    canaries.retain(live);
    let mut set = RouteMapSet::default();
    // Ordinary routes before weak ones, then Exact-route entries first, then input order:
    // the first insert of a key wins.
    for (list, canary) in [(entries, false), (canaries, true)] {
        let mut list = list;
        list.sort_by_key(|&(_, _, i, from_exact)| (weak(i), !from_exact, i));
        let mut owner: BTreeMap<(MapKind, MapKey), usize> = BTreeMap::new();
        let target = |i: usize| (routes[i].target(), routes[i].canary_target());
        for (map, key, i, _) in list {
            match owner.get(&(map, key.clone())) {
                None => {
                    owner.insert((map, key.clone()), i);
                    let entries = match map {
                        MapKind::Exact => &mut set.exact,
                        MapKind::Prefix => &mut set.prefix,
                        MapKind::Regex => &mut set.regex,
                        MapKind::Passthrough => &mut set.passthrough,
                    };
                    if !canary {
                        entries.insert(key, routes[i].target());
                    } else if let Some(t) = entries.get_mut(&key) {
                        t.canary = routes[i].canary_target();
                    } else {
                        set.orphans.push((map, key, i));
                    }
                }
                // A weak route yields by design: not a conflict.
                Some(&kept) if target(kept) != target(i) && !weak(i) => {
                    set.conflicts.push(RouteConflict {
                        map,
                        key,
                        kept,
                        dropped: i,
                    });
                }
                Some(_) => {}
            }
        }
    }
    set.conflicts.sort_by_key(|c| (c.dropped, c.map));
    set.orphans.sort_by_key(|&(map, _, i)| (i, map));
    set
}

/// The header and cookie names the canary routes among `routes` read.
pub fn canary_names(routes: &[Route]) -> CanaryNames {
    let mut out = CanaryNames::default();
    for rule in routes.iter().filter_map(|r| r.canary.as_ref()) {
        out.headers.extend(rule.header.iter().cloned());
        out.cookies.extend(rule.cookie.iter().cloned());
    }
    out
}

/// The map file text for `entries`: one `key value` line per entry, sorted by key.
pub fn render_map(entries: &BTreeMap<MapKey, RouteTarget>) -> String {
    let mut out = String::new();
    for (k, v) in entries {
        out.push_str(k.as_str());
        out.push(' ');
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

/// The entries of both route maps, by key: what the maps hold once conflicts are settled
/// (a [`RouteMapSet`] without its conflicts). The value is whatever [`RouteTarget`] says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MapEntries {
    /// Exact map entries.
    pub exact: BTreeMap<MapKey, RouteTarget>,
    /// Prefix map entries.
    pub prefix: BTreeMap<MapKey, RouteTarget>,
    /// Regex map entries (written in [`crate::config::regex_order`]).
    pub regex: BTreeMap<MapKey, RouteTarget>,
    /// Passthrough map entries (hosts).
    pub passthrough: BTreeMap<MapKey, RouteTarget>,
}

impl MapEntries {
    /// The entries `routes` give (see [`route_maps`]).
    pub fn of_routes(routes: &[Route]) -> Self {
        route_maps(routes).into()
    }

    /// The entries of one map.
    pub fn entries(&self, map: MapKind) -> &BTreeMap<MapKey, RouteTarget> {
        match map {
            MapKind::Exact => &self.exact,
            MapKind::Prefix => &self.prefix,
            MapKind::Regex => &self.regex,
            MapKind::Passthrough => &self.passthrough,
        }
    }

    /// The entries of one map, to change.
    pub fn entries_mut(&mut self, map: MapKind) -> &mut BTreeMap<MapKey, RouteTarget> {
        match map {
            MapKind::Exact => &mut self.exact,
            MapKind::Prefix => &mut self.prefix,
            MapKind::Regex => &mut self.regex,
            MapKind::Passthrough => &mut self.passthrough,
        }
    }

    /// The entry at `key` of `map`.
    pub fn get(&self, map: MapKind, key: &MapKey) -> Option<&RouteTarget> {
        self.entries(map).get(key)
    }
}

impl From<RouteMapSet> for MapEntries {
    fn from(set: RouteMapSet) -> Self {
        Self {
            exact: set.exact,
            prefix: set.prefix,
            regex: set.regex,
            passthrough: set.passthrough,
        }
    }
}
