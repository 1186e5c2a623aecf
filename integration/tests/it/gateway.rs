//! Gateway API routes served by a real HAProxy from hand-built `Config.gateway` models: the
//! Lua action's matching (paths, headers, query, method, precedence, hosts and wildcards,
//! the Ingress fall-through), its filters (header changes, redirects, rewrites), weighted
//! backends and the 500/404 answers, against echo backends. Runtime changes, hostile
//! values and timeouts are in [`super::gateway_runtime`]; the builders in
//! [`super::gateway_support`].

use haproxy::config::gateway::{
    ActionKind, Candidate, HeaderOps, PathMatch, PathRewrite, Redirect,
};
use integration::http::Req;

use crate::gateway_support::{Routes, Served, exact, prefix, shares, to, value, weighted};

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
        .ingress("*.iw.wild.test")
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
    ("GET", "a.iw.wild.test", "/", &[], "ingress", "an Ingress wildcard (one label) inside a wildcard falls through"),
    ("GET", "a.b.iw.wild.test", "/", &[], "b", "an Ingress wildcard covers one label: deeper hosts stay the Gateway's"),
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
        .host("*", 80, vec![to(exact("/any"), "c")])
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
    // The any-host entry serves hosts without an entry of their own, not those with one.
    assert_eq!(s.who(Req::new("GET", "any.test", "/any")).await, "c");
    assert_eq!(s.who(Req::new("GET", "f.test", "/any")).await, "404");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
