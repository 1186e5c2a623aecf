//! Gateway API routes served by a real HAProxy from hand-built `Config.gateway` models: the
//! Lua action's matching (paths, headers, query, method, precedence, hosts and wildcards,
//! the Ingress fall-through), its filters (header changes, redirects, rewrites), weighted
//! backends and the 500/404 answers, against echo backends. Runtime changes, hostile
//! values and timeouts are in [`super::gateway_runtime`].

use std::collections::BTreeMap;

use haproxy::config::gateway::{
    Action, ActionKind, Candidate, CandidateId, Forward, GatewayRoutes, HeaderOps, HostEntry,
    HostKey, HostPattern, Listen, Match, PathMatch, PathRewrite, Redirect, ValueMatch,
    WeightedBackend,
};
use haproxy::config::{Config, DefaultBackend, PathKind};
use integration::http::{self, HttpReply, Req};
use integration::{ConfigDir, RenderedHaproxy, free_port};

use crate::reload::{Echoes, be, frontend, loopback, route};

/// Echo backends every Gateway test config has (`default` is the frontend's default).
pub(crate) const SERVICES: &[&str] = &["a", "b", "c", "d", "ingress", "default"];

/// A candidate on `path` forwarding to service `svc`.
pub(crate) fn to(path: PathMatch, svc: &str) -> Candidate {
    weighted(path, &[(svc, 1)])
}

/// A candidate on `path` forwarding to weighted services (`""`: an unresolved reference).
pub(crate) fn weighted(path: PathMatch, backends: &[(&str, u32)]) -> Candidate {
    let backends = backends
        .iter()
        .map(|(svc, weight)| WeightedBackend {
            backend: (!svc.is_empty()).then(|| be(svc)),
            weight: *weight,
        })
        .collect();
    Candidate {
        matches: Match {
            path,
            method: None,
            headers: Vec::new(),
            query: Vec::new(),
        },
        action: Action {
            request_headers: HeaderOps::default(),
            response_headers: HeaderOps::default(),
            kind: ActionKind::Forward(Forward {
                backends,
                rewrite_host: None,
                rewrite_path: None,
                timeout: None,
            }),
        },
    }
}

pub(crate) fn prefix(p: &str) -> PathMatch {
    PathMatch::Prefix(p.into())
}

pub(crate) fn exact(p: &str) -> PathMatch {
    PathMatch::Exact(p.into())
}

pub(crate) fn value(name: &str, v: &str, regex: bool) -> ValueMatch {
    ValueMatch {
        name: name.into(),
        value: v.into(),
        regex,
    }
}

/// Routes built host by host: each host's candidates in precedence order.
#[derive(Default)]
pub(crate) struct Routes(pub(crate) GatewayRoutes);

impl Routes {
    /// Host `host` (`*.x` a wildcard, `*` any) on the HTTP listener (declared port `port`),
    /// with these candidates, named `<host>/<i>`.
    pub(crate) fn host(mut self, host: &str, port: u16, candidates: Vec<Candidate>) -> Self {
        let label = host.replace('*', "any");
        let mut ids = Vec::new();
        for (i, c) in candidates.into_iter().enumerate() {
            let id = CandidateId::new("gw", &label, i, 0).unwrap();
            self.0.candidates.insert(id.clone(), c);
            ids.push(id);
        }
        self.0.hosts.insert(
            key(host),
            HostEntry::Rules {
                listener_port: port,
                candidates: ids,
            },
        );
        self
    }

    /// Host `host` left to the Ingress routes.
    pub(crate) fn ingress(mut self, host: &str) -> Self {
        self.0.hosts.insert(key(host), HostEntry::Ingress);
        self
    }
}

pub(crate) fn key(host: &str) -> HostKey {
    let host = match host {
        "*" => HostPattern::Any,
        h => match h.strip_prefix("*.") {
            Some(s) => HostPattern::Wildcard(s.into()),
            None => HostPattern::Exact(h.into()),
        },
    };
    HostKey {
        listen: Listen::Http,
        host,
    }
}

/// A running HAProxy serving `routes` (and one Ingress route: `in.wild.test/` to
/// `ingress`), with the echo backends of [`SERVICES`] (plus `extra` backends).
pub(crate) struct Served {
    pub(crate) hp: RenderedHaproxy,
    pub(crate) cfg: Config,
    pub(crate) port: u16,
    _echoes: Echoes,
}

impl Served {
    pub(crate) async fn start(routes: Routes, extra: Vec<haproxy::config::Backend>) -> Self {
        let echoes = Echoes::start(SERVICES);
        let port = free_port();
        let dir = ConfigDir::new().unwrap();
        let mut cfg = Config::new(dir.global());
        echoes.add_backends(&mut cfg);
        for b in extra {
            cfg.insert_backend(b);
        }
        cfg.routes = vec![route("in.wild.test", "/", PathKind::Prefix, "ingress")];
        cfg.frontends.push(frontend(
            "http",
            port,
            dir.route_maps(),
            DefaultBackend::Backend(be("default")),
        ));
        cfg.gateway = routes.0;
        let hp = RenderedHaproxy::start(dir, &cfg).await.expect("haproxy");
        Self {
            hp,
            cfg,
            port,
            _echoes: echoes,
        }
    }

    pub(crate) async fn send(&self, req: Req<'_>) -> HttpReply {
        http::request(loopback(self.port), req)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Who answered `GET path` on `host`: the echo name, or the status when no echo did.
    pub(crate) async fn who(&self, req: Req<'_>) -> String {
        let r = self.send(req).await;
        match (r.status, r.echo_name) {
            (200, Some(n)) => n,
            (s, _) => s.to_string(),
        }
    }
}

fn matching_routes() -> Routes {
    let mut header = to(prefix("/h"), "d");
    header.matches.headers.push(value("x-env", "canary", false));
    let mut header_re = to(prefix("/hr"), "c");
    header_re
        .matches
        .headers
        .push(value("x-ver", "^v[0-9]$", true));
    let mut query = to(prefix("/q"), "d");
    query.matches.query.push(value("v", "2", false));
    let mut method = to(prefix("/m"), "d");
    method.matches.method = Some("POST".into());
    Routes::default()
        .host(
            "gw.test",
            80,
            vec![
                to(exact("/exact"), "a"),
                to(prefix("/pre/deep"), "d"),
                to(prefix("/pre"), "b"),
                to(PathMatch::Regex("/re/[0-9]+".into()), "c"),
                header,
                to(prefix("/h"), "a"),
                header_re,
                query,
                to(prefix("/q"), "a"),
                method,
                to(prefix("/m"), "a"),
            ],
        )
        .host("*.wild.test", 80, vec![to(prefix("/"), "b")])
        .host("*.deep.wild.test", 80, vec![to(prefix("/"), "d")])
        .host("x.wild.test", 80, vec![to(prefix("/"), "c")])
        .ingress("in.wild.test")
}

/// (method, host, path, headers, expected echo or status, what it shows)
type MatchCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const MATCH_CASES: &[MatchCase] = &[
    ("GET", "gw.test", "/exact", &[], "a", "Exact path"),
    ("GET", "gw.test", "/exact/x", &[], "404", "Exact does not match below itself"),
    ("GET", "gw.test", "/pre", &[], "b", "Prefix matches itself"),
    ("GET", "gw.test", "/pre/", &[], "b", "Prefix matches with a trailing /"),
    ("GET", "gw.test", "/pre/x", &[], "b", "Prefix matches below itself"),
    ("GET", "gw.test", "/prefix", &[], "404", "Prefix is element-wise: /pre does not match /prefix"),
    ("GET", "gw.test", "/pre/deep/x", &[], "d", "precedence order: the longer prefix listed first wins"),
    ("GET", "gw.test", "/re/12", &[], "c", "Regex matches the whole path"),
    ("GET", "gw.test", "/re/12x", &[], "404", "Regex does not match part of the path"),
    ("GET", "gw.test", "/h", &[("X-Env", "canary")], "d", "header match"),
    ("GET", "gw.test", "/h", &[("X-ENV", "canary")], "d", "header names are case-insensitive"),
    ("GET", "gw.test", "/h", &[("X-Env", "Canary")], "a", "header values are case-sensitive"),
    ("GET", "gw.test", "/h", &[], "a", "no header: the next candidate"),
    ("GET", "gw.test", "/hr", &[("x-ver", "v7")], "c", "header regex"),
    ("GET", "gw.test", "/hr", &[("x-ver", "v77")], "404", "header regex anchored"),
    ("GET", "gw.test", "/q?v=2", &[], "d", "query parameter match"),
    ("GET", "gw.test", "/q?a=1&v=2", &[], "d", "query parameter among others"),
    ("GET", "gw.test", "/q?V=2", &[], "a", "query names are case-sensitive"),
    ("GET", "gw.test", "/q?v=3", &[], "a", "query value differs"),
    ("POST", "gw.test", "/m", &[], "d", "method match"),
    ("GET", "gw.test", "/m", &[], "a", "other method"),
    ("GET", "gw.test", "/nothing", &[], "404", "no candidate matches: 404"),
    ("GET", "GW.test:8080", "/exact", &[], "a", "host lower-cased, port ignored"),
    ("GET", "a.wild.test", "/", &[], "b", "wildcard, one label"),
    ("GET", "a.b.c.wild.test", "/", &[], "b", "wildcard, several labels"),
    ("GET", "wild.test", "/", &[], "default", "a wildcard does not match its suffix"),
    ("GET", "x.deep.wild.test", "/", &[], "d", "the most specific wildcard wins"),
    ("GET", "x.wild.test", "/", &[], "c", "an exact host beats wildcards"),
    ("GET", "in.wild.test", "/", &[], "ingress", "an Ingress host inside a wildcard falls through"),
    ("GET", "other.test", "/exact", &[], "default", "no host entry: the Ingress maps serve"),
];

#[tokio::test]
async fn gateway_matches_choose_the_first_matching_candidate() {
    let s = Served::start(matching_routes(), Vec::new()).await;
    let mut failures = Vec::new();
    for (method, host, path, headers, want, what) in MATCH_CASES {
        let mut req = Req::new(method, host, path);
        for (n, v) in *headers {
            req = req.header(n, v);
        }
        let got = s.who(req).await;
        if got != *want {
            failures.push(format!(
                "{what}: {method} {host}{path} {headers:?}: {got}, want {want}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn redirect(path: &str, r: Redirect) -> Candidate {
    let mut c = to(prefix(path), "a");
    c.action.kind = ActionKind::Redirect(r);
    c
}

fn redir(status: u16) -> Redirect {
    Redirect {
        scheme: None,
        hostname: None,
        port: None,
        path: None,
        status,
    }
}

fn rewrite(path: &str, host: Option<&str>, p: Option<PathRewrite>) -> Candidate {
    let mut c = to(prefix(path), "a");
    if let ActionKind::Forward(f) = &mut c.action.kind {
        f.rewrite_host = host.map(str::to_string);
        f.rewrite_path = p;
    }
    c
}

fn filter_routes() -> Routes {
    let mut headers = to(prefix("/set"), "a");
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    headers.action.request_headers = HeaderOps {
        set: pairs(&[("X-Set", "one")]),
        add: pairs(&[("X-Add", "two")]),
        remove: vec!["x-del".into()],
    };
    headers.action.response_headers = HeaderOps {
        set: pairs(&[("X-Res", "r1")]),
        add: pairs(&[("X-Res-Add", "r2")]),
        remove: vec!["x-echo-method".into()],
    };
    let full = |p: &str| Some(PathRewrite::Full(p.into()));
    let pre = |p: &str| Some(PathRewrite::Prefix(p.into()));
    Routes::default()
        .host(
            "f.test",
            80,
            vec![
                headers,
                redirect(
                    "/r/scheme",
                    Redirect {
                        scheme: Some("https".into()),
                        ..redir(302)
                    },
                ),
                redirect(
                    "/r/host",
                    Redirect {
                        hostname: Some("other.test".into()),
                        ..redir(301)
                    },
                ),
                redirect(
                    "/r/port",
                    Redirect {
                        port: Some(8080),
                        ..redir(302)
                    },
                ),
                redirect(
                    "/r/full",
                    Redirect {
                        path: full("/new"),
                        ..redir(307)
                    },
                ),
                redirect(
                    "/r/prefix",
                    Redirect {
                        path: pre("/p2"),
                        ..redir(308)
                    },
                ),
                redirect(
                    "/r/both",
                    Redirect {
                        scheme: Some("https".into()),
                        port: Some(8443),
                        ..redir(303)
                    },
                ),
                redirect(
                    "/r/http",
                    Redirect {
                        scheme: Some("http".into()),
                        ..redir(302)
                    },
                ),
                rewrite("/w/host", Some("rewritten.test"), None),
                rewrite("/w/full", None, full("/one")),
                rewrite("/w/prefix", None, pre("/two")),
                rewrite("/w/strip", None, pre("/")),
                rewrite("/w/slash", None, pre("/three/")),
            ],
        )
        .host(
            "l.test",
            8080,
            vec![redirect(
                "/",
                Redirect {
                    hostname: Some("x.test".into()),
                    ..redir(302)
                },
            )],
        )
}

#[rustfmt::skip]
const REDIRECTS: &[(&str, &str, u16, &str)] = &[
    // (host, path, status, Location)
    ("f.test", "/r/scheme/a", 302, "https://f.test/r/scheme/a"),
    ("f.test", "/r/host", 301, "http://other.test/r/host"),
    ("f.test", "/r/port", 302, "http://f.test:8080/r/port"),
    ("f.test", "/r/full/x?k=v", 307, "http://f.test/new?k=v"),
    ("f.test", "/r/prefix/a/b", 308, "http://f.test/p2/a/b"),
    ("f.test", "/r/prefix", 308, "http://f.test/p2"),
    ("f.test", "/r/both", 303, "https://f.test:8443/r/both"),
    ("f.test", "/r/http", 302, "http://f.test/r/http"),
    ("f.test:9999", "/r/host", 301, "http://other.test/r/host"),
    ("l.test", "/z", 302, "http://x.test:8080/z"),
];

#[rustfmt::skip]
const REWRITES: &[(&str, &str, &str)] = &[
    // (path sent, path the backend sees, Host the backend sees)
    ("/w/host/x", "/w/host/x", "rewritten.test"),
    ("/w/full/x/y?q=1", "/one?q=1", "f.test"),
    ("/w/prefix", "/two", "f.test"),
    ("/w/prefix/", "/two/", "f.test"),
    ("/w/prefix/x?q=1", "/two/x?q=1", "f.test"),
    ("/w/strip", "/", "f.test"),
    ("/w/strip/", "/", "f.test"),
    ("/w/strip/three", "/three", "f.test"),
    ("/w/slash/x", "/three/x", "f.test"),
    ("/w/slash", "/three/", "f.test"),
];

#[tokio::test]
async fn gateway_filters_change_headers_redirect_and_rewrite() {
    let s = Served::start(filter_routes(), Vec::new()).await;
    let r = s
        .send(
            Req::new("GET", "f.test", "/set")
                .header("X-Set", "old")
                .header("X-Add", "orig")
                .header("X-Del", "gone"),
        )
        .await;
    assert_eq!(r.echo_name.as_deref(), Some("a"), "{r:?}");
    assert_eq!(
        r.header("x-echo-h-x-set"),
        Some("one"),
        "set replaces: {r:?}"
    );
    let added: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "x-echo-h-x-add")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(added, ["orig", "two"], "add appends: {r:?}");
    assert_eq!(r.header("x-echo-h-x-del"), None, "remove: {r:?}");
    assert_eq!(r.header("x-res"), Some("r1"), "response set: {r:?}");
    assert_eq!(r.header("x-res-add"), Some("r2"), "response add: {r:?}");
    assert_eq!(r.header("x-echo-method"), None, "response remove: {r:?}");

    let mut failures = Vec::new();
    for (host, path, status, location) in REDIRECTS {
        let r = s.send(Req::new("GET", host, path)).await;
        if r.status != *status || r.header("location") != Some(location) {
            failures.push(format!(
                "{host}{path}: {} {:?}, want {status} {location}",
                r.status,
                r.header("location")
            ));
        }
    }
    for (path, seen, host) in REWRITES {
        let r = s.send(Req::new("GET", "f.test", path)).await;
        if r.header("x-echo-path") != Some(seen) || r.header("x-echo-host") != Some(host) {
            failures.push(format!(
                "{path}: backend saw {:?} on {:?}, want {seen} on {host}",
                r.header("x-echo-path"),
                r.header("x-echo-host")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// How many of `n` requests each answer (echo name or status) got.
pub(crate) async fn shares(
    s: &Served,
    host: &str,
    path: &str,
    n: usize,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for _ in 0..n {
        *out.entry(s.who(Req::new("GET", host, path)).await)
            .or_default() += 1;
    }
    out
}

#[tokio::test]
async fn gateway_weights_split_requests_and_unresolved_shares_answer_500() {
    let routes = Routes::default().host(
        "w.test",
        80,
        vec![
            weighted(prefix("/split"), &[("a", 70), ("b", 30), ("c", 0)]),
            weighted(prefix("/broken"), &[("a", 50), ("", 50)]),
            weighted(prefix("/zero"), &[("a", 0)]),
            weighted(prefix("/none"), &[]),
        ],
    );
    let s = Served::start(routes, Vec::new()).await;
    let split = shares(&s, "w.test", "/split", 500).await;
    let a = split.get("a").copied().unwrap_or(0);
    let b = split.get("b").copied().unwrap_or(0);
    assert!((325..=375).contains(&a), "70% of 500 within ±5%: {split:?}");
    assert_eq!(
        a + b,
        500,
        "only a and b answer, never the 0-weight c: {split:?}"
    );
    let broken = shares(&s, "w.test", "/broken", 100).await;
    let errors = broken.get("500").copied().unwrap_or(0);
    assert!(
        (45..=55).contains(&errors),
        "the unresolved half answers 500: {broken:?}"
    );
    assert_eq!(
        errors + broken.get("a").copied().unwrap_or(0),
        100,
        "{broken:?}"
    );
    for path in ["/zero", "/none"] {
        assert_eq!(
            s.who(Req::new("GET", "w.test", path)).await,
            "500",
            "{path}"
        );
    }
}
