//! Routes (host, path, path type, backend) and their translation into the exact and prefix
//! map entries the frontend looks up, plus the runtime commands that move live maps from one
//! set of entries to another.
//!
//! Key scheme (the frontend builds the same strings from the request):
//! - `Exact` path `/p` → exact map `host/p`;
//! - `Prefix` path `/p` (element-wise; a trailing `/` is ignored) → exact map `host/p` and
//!   prefix map `host/p/`; `Prefix /` → prefix map `host/` only;
//! - `ImplementationSpecific` path `/p` → prefix map `host/p` (a plain string prefix).
//!
//! `host` is the lower-case host, `*.suffix` for a wildcard rule, and empty for a rule
//! without a host. `map_beg` on HAProxy 2.6 returns the longest matching key, which gives
//! "longest prefix wins".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::names::{BackendName, FilePath, MapKey, MapValue};
use crate::proto::command::{Command, MapTarget};

use super::canary::{CanaryNames, CanaryRule, CanaryTarget};
use super::policy::RoutePolicy;
use super::regex_routes::{RegexPath, host_prefix, key_host, regex_key};
pub use super::route_host::{Host, MAX_PATH_LEN, RouteHost};
use super::route_maps::RouteMaps;
pub use super::route_target::{HTTPS_FLAG, RouteTarget};
use super::value::InvalidValue;
use std::sync::Arc;

/// A route path: starts with `/`, printable ASCII without whitespace, `#` or `?` (the `path`
/// sample never holds a query), at most [`MAX_PATH_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoutePath(String);

impl RoutePath {
    /// Validates a path.
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        let bad = |reason| Err(InvalidValue::new("path", s, reason));
        if !s.starts_with('/') {
            return bad("it must start with /");
        }
        if s.len() > MAX_PATH_LEN {
            return bad("it is too long");
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'#' && b != b'?')
        {
            return bad("only printable ASCII without whitespace, # or ? is allowed");
        }
        Ok(Self(s.to_string()))
    }

    /// A path regex (for a [`PathKind::Regex`] route).
    pub fn regex(r: &RegexPath) -> Self {
        Self(r.as_str().to_string())
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoutePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a route's path matches, as the Ingress `pathType` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathKind {
    /// The whole path, case-sensitive.
    Exact,
    /// Element-wise prefix: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
    Prefix,
    /// Ours: a plain string prefix (`/foo` matches `/foobar`).
    ImplementationSpecific,
    /// A regex, case-insensitive, matched as a prefix (ingress-nginx `use-regex`, or a
    /// `rewrite-target`): only in the regex map, whose entries it turns on for its host
    /// (see [`super::regex_routes`]).
    Regex,
    /// TLS passthrough (`ssl-passthrough`): the host alone, matched against the SNI on the
    /// HTTPS port; the path is not looked at (only the passthrough map has its key).
    Passthrough,
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// Host part.
    pub host: RouteHost,
    /// Path.
    pub path: RoutePath,
    /// How the path matches.
    pub kind: PathKind,
    /// Where matching requests go.
    pub backend: BackendName,
    /// Plain-HTTP requests get a `308` redirect to `https://` instead (ssl-redirect).
    pub https_redirect: bool,
    /// Redirects, rewrites and headers, carried in the map value (shared: the routes of one
    /// Ingress have the same, and most routes none).
    pub policy: Arc<RoutePolicy>,
    /// Set on a canary route (an ingress-nginx canary Ingress): `backend` is the canary
    /// backend, taking this rule's share of the requests of the ordinary route with the same
    /// keys, which carries the canary in its map value. A canary route has no entry of its
    /// own.
    pub canary: Option<Arc<CanaryRule>>,
}

impl Route {
    /// The map value this route's entries carry (for a canary route: its canary alone).
    pub fn target(&self) -> RouteTarget {
        RouteTarget {
            backend: self.backend.clone(),
            https_redirect: self.https_redirect,
            policy: self.policy.clone(),
            canary: None,
        }
    }

    /// A weak route (a from-to-www-redirect twin) yields its keys to every other route.
    pub fn is_weak(&self) -> bool {
        self.policy.www_redirect.is_some()
    }

    /// The canary a canary route gives the route it joins.
    pub fn canary_target(&self) -> Option<Arc<CanaryTarget>> {
        self.canary.as_ref().map(|rule| {
            Arc::new(CanaryTarget {
                backend: self.backend.clone(),
                rule: rule.clone(),
            })
        })
    }
}

/// One of the route maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MapKind {
    /// The exact map (`map_str`).
    Exact,
    /// The prefix map (`map_beg`).
    Prefix,
    /// The regex map (`map_regm`; order matters, see [`super::regex_routes`]).
    Regex,
    /// The TLS passthrough map (`map_str` on the SNI; keys are hosts, see
    /// [`super::passthrough`]).
    Passthrough,
}

impl MapKind {
    /// Every route map, in lookup order.
    pub const ALL: [MapKind; 4] = [
        MapKind::Exact,
        MapKind::Prefix,
        MapKind::Regex,
        MapKind::Passthrough,
    ];

    /// This map's file among `maps`.
    pub fn file(self, maps: &RouteMaps) -> &super::value::ConfigPath {
        match self {
            MapKind::Exact => &maps.exact,
            MapKind::Prefix => &maps.prefix,
            MapKind::Regex => &maps.regex,
            MapKind::Passthrough => &maps.passthrough,
        }
    }
}

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
pub(super) fn route_keys(r: &Route) -> impl Iterator<Item = (MapKind, MapKey)> {
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
    /// Regex map entries (written in [`super::regex_order`]).
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

/// Adds the commands for the keys `keys` (sorted) of one map, from `old` to `new`.
fn diff<'k>(
    file: &FilePath,
    old: &BTreeMap<MapKey, RouteTarget>,
    new: &BTreeMap<MapKey, RouteTarget>,
    keys: impl IntoIterator<Item = &'k MapKey>,
    adds: &mut Vec<Command>,
    sets: &mut Vec<Command>,
    dels: &mut Vec<Command>,
) {
    for k in keys {
        match (old.get(k), new.get(k)) {
            (None, Some(v)) => adds.push(Command::AddMap(
                MapTarget::live(file.clone()),
                k.clone(),
                v.map_value(),
            )),
            (Some(was), Some(v)) if was != v => {
                sets.push(Command::SetMap(file.clone(), k.clone(), v.map_value()));
            }
            (Some(_), None) => dels.push(Command::DelMap(file.clone(), k.clone())),
            _ => {}
        }
    }
}

/// The keys of either map, sorted, each once.
fn union<'a>(
    a: &'a BTreeMap<MapKey, RouteTarget>,
    b: &'a BTreeMap<MapKey, RouteTarget>,
) -> BTreeSet<&'a MapKey> {
    a.keys().chain(b.keys()).collect()
}

/// The runtime commands that turn the live maps of a frontend from `old` into `new`:
/// `add map` for new keys, then `set map` for changed values, then `del map` for removed
/// keys (each group exact map first, keys sorted). `add map` appends, so a regex map with
/// a new key is only in [`super::regex_order`] after a swap ([`map_swap_commands`]). Adding before deleting means a route that
/// moves from one key to another never leaves a moment where neither matches. The steps are
/// not atomic as a whole; use [`map_swap_commands`] for that. Every backend named in `new`
/// must exist in the running config: a route to a new backend is a structural change that
/// needs a reload first.
pub fn map_commands(maps: &RouteMaps, old: &RouteMapSet, new: &RouteMapSet) -> Vec<Command> {
    let (mut adds, mut sets, mut dels) = (Vec::new(), Vec::new(), Vec::new());
    for kind in MapKind::ALL {
        let file = kind.file(maps);
        let (old, new) = (old.entries(kind), new.entries(kind));
        let file = file.to_file_path();
        diff(
            &file,
            old,
            new,
            union(old, new),
            &mut adds,
            &mut sets,
            &mut dels,
        );
    }
    adds.append(&mut sets);
    adds.append(&mut dels);
    adds
}

/// [`map_commands`] between two [`MapEntries`], looking only at `keys` (`None`: every key
/// of either): a change that knows which keys it touched costs those keys, not the maps.
pub fn map_entry_commands(
    maps: &RouteMaps,
    old: &MapEntries,
    new: &MapEntries,
    keys: Option<&BTreeSet<(MapKind, MapKey)>>,
) -> Vec<Command> {
    let (mut adds, mut sets, mut dels) = (Vec::new(), Vec::new(), Vec::new());
    for kind in MapKind::ALL {
        let file = kind.file(maps);
        let (old, new) = (old.entries(kind), new.entries(kind));
        let file = file.to_file_path();
        let (a, s, d) = (&mut adds, &mut sets, &mut dels);
        match keys {
            None => diff(&file, old, new, union(old, new), a, s, d),
            Some(keys) => {
                let of_kind = keys.iter().filter(|(m, _)| *m == kind).map(|(_, k)| k);
                diff(&file, old, new, of_kind, a, s, d);
            }
        }
    }
    adds.append(&mut sets);
    adds.append(&mut dels);
    adds
}

/// The commands of an atomic swap of `file` to exactly `entries`, after `prepare map` gave
/// `version`: `add map @<version> <file> <<` with the entries (split so that each command
/// fits `bufsize`, as [`Command::encode`] checks), then `commit map @<version> <file>`.
/// Without entries only the commit remains, which empties the map.
pub fn map_swap_commands(
    file: &FilePath,
    version: u32,
    entries: &BTreeMap<MapKey, RouteTarget>,
    bufsize: usize,
) -> Vec<Command> {
    swap_in_order(file, version, entries, bufsize)
}

/// [`map_swap_commands`] for the route map `kind`: the regex map's entries go in
/// [`super::regex_order`] (the payload of `add map @<ver>` is appended in order, and
/// `map_regm` returns the first match), the others by key.
pub fn map_kind_swap_commands(
    kind: MapKind,
    file: &FilePath,
    version: u32,
    entries: &BTreeMap<MapKey, RouteTarget>,
    bufsize: usize,
) -> Vec<Command> {
    match kind {
        MapKind::Regex => swap_in_order(
            file,
            version,
            super::regex_routes::regex_order(entries),
            bufsize,
        ),
        _ => swap_in_order(file, version, entries, bufsize),
    }
}

fn swap_in_order<'a>(
    file: &FilePath,
    version: u32,
    entries: impl IntoIterator<Item = (&'a MapKey, &'a RouteTarget)>,
    bufsize: usize,
) -> Vec<Command> {
    let target = MapTarget {
        file: file.clone(),
        version: Some(version),
    };
    // `add map @<ver> <file> k v` is one byte longer than `add map @<ver> <file> <<`; the
    // payload's final empty line and the LF `Command::encode` adds take two more, and
    // `encode` keeps a 64-byte margin.
    let head = Command::AddMap(
        target.clone(),
        MapKey::new("k").expect("a valid key"),
        MapValue::new("v").expect("a valid value"),
    )
    .to_text()
    .map_or(0, |t| t.len());
    let budget = bufsize.saturating_sub(64 + head + 1);
    let mut out = Vec::new();
    let mut chunk: Vec<(MapKey, MapValue)> = Vec::new();
    let mut used = 0;
    for (k, v) in entries {
        let value = v.map_value();
        let line = k.as_str().len() + value.as_str().len() + 2;
        if !chunk.is_empty() && used + line > budget {
            out.push(Command::AddMapBulk(
                target.clone(),
                std::mem::take(&mut chunk),
            ));
            used = 0;
        }
        used += line;
        chunk.push((k.clone(), value));
    }
    if !chunk.is_empty() {
        out.push(Command::AddMapBulk(target, chunk));
    }
    out.push(Command::CommitMap(file.clone(), version));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::ConfigPath;
    use crate::proto::command::DEFAULT_BUFSIZE;

    fn be(s: &str) -> BackendName {
        BackendName::new(s).unwrap()
    }

    fn r(host: &str, path: &str, kind: PathKind, backend: &str) -> Route {
        Route {
            canary: None,
            host: RouteHost::parse(host).unwrap(),
            path: RoutePath::new(path).unwrap(),
            kind,
            backend: be(backend),
            https_redirect: false,
            policy: Default::default(),
        }
    }

    /// Entries from `key value` pairs, the value as a map file holds it (`be` or `be|https`).
    fn entries(pairs: &[(&str, &str)]) -> BTreeMap<MapKey, RouteTarget> {
        pairs
            .iter()
            .map(|(k, v)| (MapKey::new(*k).unwrap(), RouteTarget::parse(v).unwrap()))
            .collect()
    }

    use PathKind::{Exact, ImplementationSpecific as Impl, Prefix};

    struct Case {
        name: &'static str,
        routes: Vec<Route>,
        exact: &'static [(&'static str, &'static str)],
        prefix: &'static [(&'static str, &'static str)],
        /// (map, key, kept, dropped)
        conflicts: &'static [(MapKind, &'static str, usize, usize)],
    }

    #[test]
    fn route_maps_table() {
        let cases = vec![
            Case {
                name: "same backend, one redirecting: a conflict, the first wins",
                routes: vec![
                    Route {
                        https_redirect: true,
                        policy: Default::default(),
                        ..r("a.test", "/x", Exact, "b")
                    },
                    r("a.test", "/x", Exact, "b"),
                ],
                exact: &[("a.test/x", "b|https")],
                prefix: &[],
                conflicts: &[(MapKind::Exact, "a.test/x", 0, 1)],
            },
            Case {
                name: "exact beats a prefix-derived exact entry",
                routes: vec![
                    r("a.test", "/foo", Exact, "e"),
                    r("a.test", "/foo", Prefix, "p"),
                ],
                exact: &[("a.test/foo", "e")],
                prefix: &[("a.test/foo/", "p")],
                conflicts: &[(MapKind::Exact, "a.test/foo", 0, 1)],
            },
            Case {
                name: "exact beats prefix even when listed second",
                routes: vec![
                    r("a.test", "/foo", Prefix, "p"),
                    r("a.test", "/foo", Exact, "e"),
                ],
                exact: &[("a.test/foo", "e")],
                prefix: &[("a.test/foo/", "p")],
                conflicts: &[(MapKind::Exact, "a.test/foo", 1, 0)],
            },
            Case {
                name: "/foo and /foobar are separate elements",
                routes: vec![
                    r("a.test", "/foo", Prefix, "foo"),
                    r("a.test", "/foobar", Prefix, "foobar"),
                ],
                exact: &[("a.test/foo", "foo"), ("a.test/foobar", "foobar")],
                prefix: &[("a.test/foo/", "foo"), ("a.test/foobar/", "foobar")],
                conflicts: &[],
            },
            Case {
                name: "a trailing slash on a prefix is ignored",
                routes: vec![
                    r("a.test", "/foo/", Prefix, "x"),
                    r("a.test", "/foo", Prefix, "y"),
                ],
                exact: &[("a.test/foo", "x")],
                prefix: &[("a.test/foo/", "x")],
                conflicts: &[
                    (MapKind::Exact, "a.test/foo", 0, 1),
                    (MapKind::Prefix, "a.test/foo/", 0, 1),
                ],
            },
            Case {
                name: "an exact path keeps its trailing slash",
                routes: vec![
                    r("a.test", "/foo/", Exact, "x"),
                    r("a.test", "/foo", Exact, "y"),
                ],
                exact: &[("a.test/foo", "y"), ("a.test/foo/", "x")],
                prefix: &[],
                conflicts: &[],
            },
            Case {
                name: "prefix / goes to the prefix map only",
                routes: vec![
                    r("a.test", "/", Prefix, "root"),
                    r("b.test", "//", Prefix, "b"),
                ],
                exact: &[],
                prefix: &[("a.test/", "root"), ("b.test/", "b")],
                conflicts: &[],
            },
            Case {
                name: "implementation-specific is a plain string prefix",
                routes: vec![
                    r("a.test", "/foo", Impl, "i"),
                    r("a.test", "/foo/", Impl, "j"),
                    r("a.test", "/foo", Prefix, "p"),
                ],
                exact: &[("a.test/foo", "p")],
                prefix: &[("a.test/foo", "i"), ("a.test/foo/", "j")],
                conflicts: &[(MapKind::Prefix, "a.test/foo/", 1, 2)],
            },
            Case {
                name: "wildcard hosts key as *.suffix",
                routes: vec![
                    r("*.example.com", "/api", Prefix, "w"),
                    r("*.example.com", "/x", Exact, "wx"),
                    r("Example.COM", "/api", Prefix, "h"),
                ],
                exact: &[
                    ("*.example.com/api", "w"),
                    ("*.example.com/x", "wx"),
                    ("example.com/api", "h"),
                ],
                prefix: &[("*.example.com/api/", "w"), ("example.com/api/", "h")],
                conflicts: &[],
            },
            Case {
                name: "rules without a host key by path alone",
                routes: vec![
                    r("", "/healthz", Exact, "hz"),
                    r("", "/", Prefix, "all"),
                    r("", "/static", Impl, "st"),
                ],
                exact: &[("/healthz", "hz")],
                prefix: &[("/", "all"), ("/static", "st")],
                conflicts: &[],
            },
            Case {
                name: "first route wins between equals; same backend is no conflict",
                routes: vec![
                    r("a.test", "/x", Exact, "one"),
                    r("a.test", "/x", Exact, "two"),
                    r("a.test", "/x", Exact, "one"),
                    r("a.test", "/y", Prefix, "y"),
                    r("a.test", "/y", Prefix, "y"),
                ],
                exact: &[("a.test/x", "one"), ("a.test/y", "y")],
                prefix: &[("a.test/y/", "y")],
                conflicts: &[(MapKind::Exact, "a.test/x", 0, 1)],
            },
        ];
        for case in cases {
            let got = route_maps(&case.routes);
            assert_eq!(got.exact, entries(case.exact), "{}: exact", case.name);
            assert_eq!(got.prefix, entries(case.prefix), "{}: prefix", case.name);
            let want: Vec<RouteConflict> = case
                .conflicts
                .iter()
                .map(|&(map, key, kept, dropped)| RouteConflict {
                    map,
                    key: MapKey::new(key).unwrap(),
                    kept,
                    dropped,
                })
                .collect();
            assert_eq!(got.conflicts, want, "{}: conflicts", case.name);
        }
    }

    #[test]
    fn hosts_and_paths_are_validated() {
        let hosts: &[(&str, Option<&str>)] = &[
            ("example.com", Some("example.com")),
            ("EXAMPLE.com", Some("example.com")),
            ("a-b.c0", Some("a-b.c0")),
            ("", None),
            ("-a.com", None),
            ("a-.com", None),
            ("a..com", None),
            ("a.com.", None),
            ("a_b.com", None),
            ("a b.com", None),
            ("*.com", None),
            ("exämple.com", None),
            ("[::1]", None),
            ("a.com:80", None),
        ];
        for (input, want) in hosts {
            let got = Host::new(input).ok();
            assert_eq!(got.as_ref().map(Host::as_str), *want, "{input:?}");
        }
        assert!(Host::new(&"a".repeat(63)).is_ok());
        assert!(Host::new(&"a".repeat(64)).is_err());
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(Host::new(&long).is_err());
        assert!(Host::new(&long[..253]).is_ok());

        assert_eq!(RouteHost::parse("").unwrap(), RouteHost::Any);
        assert_eq!(
            RouteHost::parse("*.Example.com").unwrap(),
            RouteHost::Wildcard(Host::new("example.com").unwrap())
        );
        assert!(RouteHost::parse("*").is_err());
        assert!(RouteHost::parse("*.").is_err());
        assert!(RouteHost::parse("a.*.com").is_err());
        assert!(RouteHost::parse("**.com").is_err());

        let paths: &[(&str, bool)] = &[
            ("/", true),
            ("/a/b;c\\d%20\"'$", true),
            ("", false),
            ("a", false),
            ("/a b", false),
            ("/a\tb", false),
            ("/a\nb", false),
            ("/a#b", false),
            ("/a?b", false),
            ("/é", false),
        ];
        for (input, ok) in paths {
            assert_eq!(RoutePath::new(input).is_ok(), *ok, "{input:?}");
        }
        assert!(RoutePath::new(&format!("/{}", "a".repeat(MAX_PATH_LEN - 1))).is_ok());
        assert!(RoutePath::new(&format!("/{}", "a".repeat(MAX_PATH_LEN))).is_err());
        // The longest host and path still make a valid map key.
        let route = Route {
            canary: None,
            host: RouteHost::Wildcard(Host::new(&long[..251]).unwrap()),
            path: RoutePath::new(&format!("/{}", "a".repeat(MAX_PATH_LEN - 1))).unwrap(),
            kind: Prefix,
            backend: be("b"),
            https_redirect: true,
            policy: Default::default(),
        };
        assert_eq!(route_maps(&[route]).prefix.len(), 1);
    }

    fn maps() -> RouteMaps {
        RouteMaps {
            exact: ConfigPath::new("/m/exact.map").unwrap(),
            prefix: ConfigPath::new("/m/prefix.map").unwrap(),
            regex: ConfigPath::new("/m/regex.map").unwrap(),
            allow: ConfigPath::new("/m/allow.acl").unwrap(),
            deny: ConfigPath::new("/m/deny.acl").unwrap(),
            canary: ConfigPath::new("/m/canary.acl").unwrap(),
            passthrough: ConfigPath::new("/m/sni.map").unwrap(),
            settings: ConfigPath::new("/m/settings.map").unwrap(),
        }
    }

    #[test]
    fn a_passthrough_route_gives_its_host_alone_in_the_passthrough_map() {
        let r = r(
            "pass.example",
            "/api",
            PathKind::Passthrough,
            "a_tls_443_passthrough",
        );
        let set = route_maps(&[r]);
        assert!(set.exact.is_empty() && set.prefix.is_empty() && set.regex.is_empty());
        let keys: Vec<_> = set.passthrough.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["pass.example"]);
        let cmds = map_commands(&maps(), &RouteMapSet::default(), &set);
        let text: Vec<_> = cmds.iter().map(|c| c.to_text().unwrap()).collect();
        assert_eq!(
            text,
            ["add map /m/sni.map pass.example a_tls_443_passthrough"]
        );
    }

    #[test]
    fn map_commands_table() {
        let set = |exact: &[(&str, &str)], prefix: &[(&str, &str)]| RouteMapSet {
            orphans: Vec::new(),
            exact: entries(exact),
            prefix: entries(prefix),
            regex: BTreeMap::new(),
            passthrough: BTreeMap::new(),
            conflicts: vec![],
        };
        let cases: Vec<(&str, RouteMapSet, RouteMapSet, Vec<&str>)> = vec![
            (
                "no change",
                set(&[("a/x", "b")], &[]),
                set(&[("a/x", "b")], &[]),
                vec![],
            ),
            (
                "added, changed and removed, adds first and deletes last",
                set(&[("a/old", "b"), ("a/x", "b")], &[("a/p/", "b")]),
                set(
                    &[("a/new", "b"), ("a/x", "c")],
                    &[("a/p/", "b"), ("a/q/", "d")],
                ),
                vec![
                    "add map /m/exact.map a/new b",
                    "add map /m/prefix.map a/q/ d",
                    "set map /m/exact.map a/x c",
                    "del map /m/exact.map a/old",
                ],
            ),
            (
                "everything removed",
                set(&[("a/x", "b")], &[("/", "b")]),
                set(&[], &[]),
                vec!["del map /m/exact.map a/x", "del map /m/prefix.map /"],
            ),
            (
                "turning a redirect on and off is a value change",
                set(&[("a/x", "b"), ("a/y", "b|https")], &[]),
                set(&[("a/x", "b|https"), ("a/y", "b")], &[]),
                vec![
                    "set map /m/exact.map a/x b|https",
                    "set map /m/exact.map a/y b",
                ],
            ),
            (
                "keys are escaped for the CLI",
                set(&[], &[]),
                set(&[("a/x;y\\z", "b")], &[]),
                vec!["add map /m/exact.map a/x\\;y\\\\z b"],
            ),
        ];
        for (name, old, new, want) in cases {
            let got: Vec<String> = map_commands(&maps(), &old, &new)
                .iter()
                .map(|c| c.to_text().unwrap())
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn map_entry_commands_look_only_at_the_keys_named() {
        let set = |exact: &[(&str, &str)], prefix: &[(&str, &str)]| MapEntries {
            exact: entries(exact),
            prefix: entries(prefix),
            regex: BTreeMap::new(),
            passthrough: BTreeMap::new(),
        };
        let old = set(&[("a/x", "b"), ("a/y", "b")], &[("a/", "b")]);
        let new = set(&[("a/x", "c"), ("a/y", "d")], &[("a/z/", "b")]);
        let key = |s: &str| MapKey::new(s).unwrap();
        type Keys = Option<BTreeSet<(MapKind, MapKey)>>;
        let cases: Vec<(&str, Keys, Vec<&str>)> = vec![
            (
                "every key",
                None,
                vec![
                    "add map /m/prefix.map a/z/ b",
                    "set map /m/exact.map a/x c",
                    "set map /m/exact.map a/y d",
                    "del map /m/prefix.map a/",
                ],
            ),
            (
                "only the keys named, in the same order",
                Some(BTreeSet::from([
                    (MapKind::Prefix, key("a/")),
                    (MapKind::Exact, key("a/x")),
                    (MapKind::Prefix, key("a/z/")),
                ])),
                vec![
                    "add map /m/prefix.map a/z/ b",
                    "set map /m/exact.map a/x c",
                    "del map /m/prefix.map a/",
                ],
            ),
            ("no key", Some(BTreeSet::new()), vec![]),
        ];
        for (name, keys, want) in cases {
            let got: Vec<String> = map_entry_commands(&maps(), &old, &new, keys.as_ref())
                .iter()
                .map(|c| c.to_text().unwrap())
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn map_swap_splits_under_the_buffer_and_commits() {
        let file = maps().prefix.to_file_path();
        let big: BTreeMap<MapKey, RouteTarget> = (0..400)
            .map(|i| {
                (
                    MapKey::new(format!("host{i:03}.example.com/some/path/")).unwrap(),
                    RouteTarget::parse("default_service_80").unwrap(),
                )
            })
            .collect();
        for bufsize in [1024, 4096, DEFAULT_BUFSIZE] {
            let cmds = map_swap_commands(&file, 7, &big, bufsize);
            assert!(cmds.len() > 1, "{bufsize}");
            assert_eq!(cmds.last(), Some(&Command::CommitMap(file.clone(), 7)));
            let mut seen = Vec::new();
            let mut buf = bytes::BytesMut::new();
            let bulks = &cmds[..cmds.len() - 1];
            for (i, c) in bulks.iter().enumerate() {
                let Command::AddMapBulk(t, chunk) = c else {
                    panic!("not a bulk add: {c:?}")
                };
                assert_eq!(t.version, Some(7));
                c.encode(bufsize, &mut buf).unwrap();
                // Every chunk but the last is full: the next 50-byte line would not fit.
                let encoded = c.to_text().unwrap().len() + 1;
                if i + 1 < bulks.len() {
                    assert!(
                        encoded + 50 > bufsize - 64,
                        "{bufsize}: chunk {i} underfull"
                    );
                }
                seen.extend(chunk.iter().map(|(k, _)| k.clone()));
            }
            assert_eq!(seen, big.keys().cloned().collect::<Vec<_>>());
        }
        assert_eq!(
            map_swap_commands(&file, 3, &BTreeMap::new(), DEFAULT_BUFSIZE),
            vec![Command::CommitMap(file.clone(), 3)]
        );
        let small = entries(&[("a/", "b")]);
        let texts: Vec<String> = map_swap_commands(&file, 3, &small, DEFAULT_BUFSIZE)
            .iter()
            .map(|c| c.to_text().unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                "add map @3 /m/prefix.map <<\na/ b\n",
                "commit map @3 /m/prefix.map"
            ]
        );
    }

    #[test]
    fn map_files_are_sorted_key_value_lines() {
        let set = route_maps(&[
            r("b.test", "/", Prefix, "b"),
            r("a.test", "/z", Impl, "z"),
            r("", "/", Prefix, "all"),
        ]);
        assert_eq!(render_map(&set.prefix), "/ all\na.test/z z\nb.test/ b\n");
        assert_eq!(render_map(&set.exact), "");
    }
}
