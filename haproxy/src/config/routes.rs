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

use std::fmt;
use std::sync::Arc;

use crate::names::BackendName;

use super::canary::{CanaryRule, CanaryTarget};
use super::policy::RoutePolicy;
use super::regex_routes::RegexPath;
pub use super::route_host::{Host, MAX_PATH_LEN, RouteHost};
use super::route_maps::RouteMaps;
pub use super::route_target::{HTTPS_FLAG, RouteTarget};
use super::value::InvalidValue;

mod commands;
mod entries;

pub use commands::{map_commands, map_entry_commands, map_kind_swap_commands, map_swap_commands};
pub(super) use entries::route_keys;
pub use entries::{MapEntries, RouteConflict, RouteMapSet, canary_names, render_map, route_maps};

word!(
    /// A route path: starts with `/`, printable ASCII without whitespace, `#` or `?` (the `path`
    /// sample never holds a query), at most [`MAX_PATH_LEN`] bytes.
    RoutePath
);

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
#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::config::model::ConfigPath;
    use crate::names::MapKey;
    use crate::proto::command::Command;
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
