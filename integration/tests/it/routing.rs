//! Ingress routing through a real HAProxy running a rendered config: the precedence of hosts,
//! paths and path types, checked by which echo backend answers real HTTP requests; then route
//! changes applied at runtime (map commands, an atomic map swap) without a reload.

use std::collections::BTreeMap;

use haproxy::RuntimeClient;
use haproxy::config::{
    Config, DefaultBackend, MapKind, PathKind, Route, RouteMapSet, map_commands, map_swap_commands,
    render, route_maps,
};
use haproxy::proto::{Command, Reply};
use integration::{ConfigDir, RenderedHaproxy, free_port};

use crate::reload::{Echoes, answered_by, be, frontend, loopback, route, run_batch};

/// Every echo backend of the routing config; `default` is the frontend's default backend.
const SERVICES: &[&str] = &[
    "exact-foo",
    "prefix-foo",
    "foo-bar",
    "docs",
    "img",
    "b-root",
    "b-exact",
    "wild",
    "x-special",
    "any",
    "healthz",
    "default",
];

fn routes() -> Vec<Route> {
    use PathKind::{Exact, ImplementationSpecific as Impl, Prefix};
    vec![
        route("a.test", "/foo", Exact, "exact-foo"),
        route("a.test", "/foo", Prefix, "prefix-foo"),
        route("a.test", "/foo/bar", Prefix, "foo-bar"),
        route("a.test", "/docs/", Prefix, "docs"),
        route("a.test", "/img", Impl, "img"),
        route("b.test", "/", Prefix, "b-root"),
        route("b.test", "/exact", Exact, "b-exact"),
        route("*.w.test", "/", Prefix, "wild"),
        route("x.w.test", "/special", Prefix, "x-special"),
        route("", "/any", Prefix, "any"),
        route("", "/healthz", Exact, "healthz"),
    ]
}

/// Two frontends sharing the route maps: `http` defaults to the `default` service, `http404`
/// to the built-in 404.
fn routing_config(dir: &ConfigDir, echoes: &Echoes, port: u16, port_404: u16) -> Config {
    let mut cfg = Config::new(dir.global());
    echoes.add_backends(&mut cfg);
    cfg.routes = routes();
    cfg.frontends.push(frontend(
        "http",
        port,
        dir.route_maps(),
        DefaultBackend::Backend(be("default")),
    ));
    cfg.frontends.push(frontend(
        "http404",
        port_404,
        dir.route_maps(),
        DefaultBackend::Builtin404,
    ));
    cfg
}

async fn start() -> (RenderedHaproxy, Config, Echoes, u16, u16) {
    let echoes = Echoes::start(SERVICES);
    let (port, port_404) = (free_port(), free_port());
    let dir = ConfigDir::new().unwrap();
    let cfg = routing_config(&dir, &echoes, port, port_404);
    let hp = RenderedHaproxy::start(dir, &cfg).await.expect("haproxy");
    (hp, cfg, echoes, port, port_404)
}

/// Which frontend a case goes to.
#[derive(Debug, Clone, Copy)]
enum Fe {
    /// Unmatched requests go to the `default` service.
    WithDefault,
    /// Unmatched requests get the built-in 404.
    Builtin404,
}

/// (frontend, Host header, path, expected echo name or "404", what it shows)
type Case = (Fe, &'static str, &'static str, &'static str, &'static str);

#[rustfmt::skip]
const CASES: &[Case] = &[
    (Fe::WithDefault, "a.test", "/foo", "exact-foo", "Exact beats Prefix for the same path"),
    (Fe::WithDefault, "a.test", "/foo/", "prefix-foo", "Prefix /foo matches /foo/"),
    (Fe::WithDefault, "a.test", "/foo/x", "prefix-foo", "Prefix /foo matches /foo/x"),
    (Fe::WithDefault, "a.test", "/foobar", "default", "Prefix /foo does not match /foobar"),
    (Fe::WithDefault, "a.test", "/foo/bar", "foo-bar", "longest prefix wins (exact length)"),
    (Fe::WithDefault, "a.test", "/foo/bar/baz", "foo-bar", "longest prefix wins"),
    (Fe::WithDefault, "a.test", "/foo/barbaz", "prefix-foo", "element-wise: /foo/bar is no prefix of /foo/barbaz"),
    (Fe::WithDefault, "a.test", "/FOO", "default", "paths are case-sensitive"),
    (Fe::WithDefault, "a.test", "/docs", "docs", "Prefix /docs/ (trailing slash) matches /docs"),
    (Fe::WithDefault, "a.test", "/docs/", "docs", "Prefix /docs/ matches /docs/"),
    (Fe::WithDefault, "a.test", "/docs/x/y", "docs", "Prefix /docs/ matches below it"),
    (Fe::WithDefault, "a.test", "/docsx", "default", "Prefix /docs/ does not match /docsx"),
    (Fe::WithDefault, "a.test", "/img", "img", "ImplementationSpecific /img matches itself"),
    (Fe::WithDefault, "a.test", "/imgs/x", "img", "ImplementationSpecific is a plain prefix"),
    (Fe::WithDefault, "a.test", "/im", "default", "ImplementationSpecific /img needs all of /img"),
    (Fe::WithDefault, "b.test", "/", "b-root", "Prefix / catch-all"),
    (Fe::WithDefault, "b.test", "/anything/deep", "b-root", "Prefix / catch-all, deep path"),
    (Fe::WithDefault, "b.test", "/exact", "b-exact", "Exact beats the catch-all"),
    (Fe::WithDefault, "b.test", "/exact/more", "b-root", "Exact does not match below itself"),
    (Fe::WithDefault, "c.test", "/", "default", "the catch-all is per host"),
    (Fe::WithDefault, "a.w.test", "/x", "wild", "*.w.test matches one label"),
    (Fe::WithDefault, "a.b.w.test", "/x", "default", "*.w.test does not match two labels"),
    (Fe::WithDefault, "w.test", "/x", "default", "*.w.test does not match w.test"),
    (Fe::WithDefault, "x.w.test", "/special/1", "x-special", "exact host beats wildcard"),
    (Fe::WithDefault, "x.w.test", "/other", "wild", "exact host without a match falls to the wildcard"),
    (Fe::WithDefault, "a.test:8080", "/foo", "exact-foo", "the Host port is ignored"),
    (Fe::WithDefault, "B.Test:80", "/z", "b-root", "upper case and port"),
    (Fe::WithDefault, "A.TEST", "/foo/bar", "foo-bar", "the host is case-insensitive"),
    (Fe::WithDefault, "A.W.TEST", "/x", "wild", "wildcards are case-insensitive"),
    (Fe::WithDefault, "b.test", "/healthz", "b-root", "host rules beat host-less rules"),
    (Fe::WithDefault, "a.w.test", "/healthz", "wild", "wildcard rules beat host-less rules"),
    (Fe::WithDefault, "a.test", "/healthz", "healthz", "host-less rules when the host's rules miss"),
    (Fe::WithDefault, "unknown.test", "/healthz", "healthz", "host-less Exact for an unknown host"),
    (Fe::WithDefault, "unknown.test", "/any/thing", "any", "host-less Prefix for an unknown host"),
    (Fe::WithDefault, "[::1]:80", "/any", "any", "host-less rules for an IPv6 literal host"),
    (Fe::WithDefault, "unknown.test", "/healthz/x", "default", "host-less Exact is exact"),
    (Fe::WithDefault, "a.test", "/foo?x=1", "exact-foo", "the query is ignored (Exact)"),
    (Fe::WithDefault, "a.test", "/foo/bar?next=/foo", "foo-bar", "the query is ignored (Prefix)"),
    (Fe::WithDefault, "unknown.test", "/healthz?full=1", "healthz", "the query is ignored (host-less)"),
    (Fe::WithDefault, "unknown.test", "/nothing", "default", "no match: the default backend"),
    (Fe::Builtin404, "unknown.test", "/nothing", "404", "no match, no default: built-in 404"),
    (Fe::Builtin404, "a.test", "/foobar", "404", "element-wise miss, no default: built-in 404"),
    (Fe::Builtin404, "a.test", "/foo", "exact-foo", "the second frontend shares the maps"),
    (Fe::Builtin404, "x.w.test", "/special", "x-special", "the second frontend, exact host"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_routing_table_through_real_http() {
    let (hp, _cfg, _echoes, port, port_404) = start().await;
    let mut wrong = Vec::new();
    for (fe, host, path, want, why) in CASES {
        let addr = loopback(match fe {
            Fe::WithDefault => port,
            Fe::Builtin404 => port_404,
        });
        let got = answered_by(addr, host, path).await;
        if got != *want {
            wrong.push(format!(
                "{fe:?} Host: {host} {path}: got {got}, want {want} ({why})"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases routed wrong:\n{}",
        wrong.len(),
        CASES.len(),
        wrong.join("\n")
    );
    assert_eq!(hp.reload_count().await.unwrap(), 0);
}

/// Asserts the live entries of both maps (`show map`) are exactly `want`'s.
async fn live_maps(client: &RuntimeClient, want: &RouteMapSet, hp: &RenderedHaproxy) {
    let maps = hp.writer().route_maps().unwrap();
    for (file, kind) in [
        (&maps.exact, MapKind::Exact),
        (&maps.prefix, MapKind::Prefix),
    ] {
        let live: BTreeMap<String, String> = client
            .map_entries(file.to_file_path())
            .await
            .expect("show map")
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
        let want: BTreeMap<String, String> = want
            .entries(kind)
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(live, want, "{kind:?} map");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_changes_at_runtime_are_followed_without_a_reload() {
    let (hp, cfg, _echoes, port, _) = start().await;
    let addr = loopback(port);
    let client = hp.runtime_client();
    let maps = hp.writer().route_maps().unwrap();
    let worker = hp.worker_pid().await.unwrap();
    let original = route_maps(&cfg.routes);
    assert_eq!(answered_by(addr, "c.test", "/new/1").await, "default");
    assert_eq!(answered_by(addr, "a.test", "/foo/x").await, "prefix-foo");
    assert_eq!(answered_by(addr, "a.test", "/imgs/x").await, "img");

    // Each step: the new routes, the map commands from the previous set, traffic checks.
    let mut current = cfg.clone();
    let mut apply = async |routes: Vec<Route>, checks: &[(&str, &str, &str)]| {
        let mut next = current.clone();
        next.routes = routes;
        let (old, new) = (route_maps(&current.routes), route_maps(&next.routes));
        let commands = map_commands(&maps, &old, &new);
        assert!(!commands.is_empty());
        run_batch(&client, &commands).await;
        // The files follow, so a restart would start current.
        hp.writer().write_maps(&render(&next).maps).await.unwrap();
        live_maps(&client, &new, &hp).await;
        for (host, path, want) in checks {
            assert_eq!(answered_by(addr, host, path).await, *want, "{host}{path}");
        }
        current = next;
    };

    // Added: c.test /new to an existing backend.
    let mut routes = cfg.routes.clone();
    routes.push(route("c.test", "/new", PathKind::Prefix, "b-exact"));
    apply(
        routes.clone(),
        &[
            ("c.test", "/new/1", "b-exact"),
            ("c.test", "/new", "b-exact"),
            ("c.test", "/newer", "default"),
        ],
    )
    .await;

    // Moved: a.test Prefix /foo to another existing backend (a `set map`).
    let moved = routes
        .iter_mut()
        .find(|r| r.kind == PathKind::Prefix && r.path.as_str() == "/foo")
        .unwrap();
    moved.backend = be("any");
    apply(
        routes.clone(),
        &[
            ("a.test", "/foo/x", "any"),
            ("a.test", "/foo", "exact-foo"),
            ("a.test", "/foo/bar/1", "foo-bar"),
        ],
    )
    .await;

    // Removed: a.test /img.
    routes.retain(|r| r.path.as_str() != "/img");
    apply(
        routes,
        &[
            ("a.test", "/imgs/x", "default"),
            ("a.test", "/img", "default"),
        ],
    )
    .await;

    // Atomic swap back to the original routes: prepare, fill the new version, commit.
    for (file, kind) in [
        (&maps.exact, MapKind::Exact),
        (&maps.prefix, MapKind::Prefix),
    ] {
        let file = file.to_file_path();
        let Reply::MapVersion(version) = client
            .send(Command::PrepareMap(file.clone()))
            .await
            .unwrap()
        else {
            panic!("prepare map gave another reply")
        };
        let entries = original.entries(kind);
        let bufsize = client.config().bufsize;
        run_batch(
            &client,
            &map_swap_commands(&file, version, entries, bufsize),
        )
        .await;
    }
    hp.writer().write_maps(&render(&cfg).maps).await.unwrap();
    live_maps(&client, &original, &hp).await;
    for (host, path, want) in [
        ("c.test", "/new/1", "default"),
        ("a.test", "/foo/x", "prefix-foo"),
        ("a.test", "/imgs/x", "img"),
        ("a.test", "/foo", "exact-foo"),
    ] {
        assert_eq!(answered_by(addr, host, path).await, want, "{host}{path}");
    }

    // All of it without a reload: same worker, no reload counted.
    let procs = hp.show_proc().await.unwrap();
    assert_eq!(
        (procs.master.reloads, procs.failed_reloads),
        (0, 0),
        "{procs:?}"
    );
    assert_eq!(procs.current_worker(), Some(worker));
}
