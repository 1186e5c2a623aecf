//! ingress-nginx regex paths on a real agent and HAProxy: `use-regex` and `rewrite-target`
//! with capture groups go to the regex map (`map_regm`), a host with one regex path has all
//! its paths matched as regexes, and changing a regex or a target is a runtime map swap,
//! never a reload.

use haproxy::FilePath;
use integration::EchoServer;

use crate::support::{
    Agent, CONVERGE, Ep, IngressPath, Options, eventually, ingress, service, slice,
};

const HOST: &str = "rewrite.bar.com";
const PLAIN: &str = "plain.example";
const N: &str = "nginx.ingress.kubernetes.io/";

fn services(web: &EchoServer, other: &EchoServer) -> String {
    let (w, o) = (web.addr().port(), other.addr().port());
    [
        service("web", 80, w),
        slice("web-1", "web", w, &[Ep::ready("127.0.0.1")]),
        service("other", 80, o),
        slice("other-1", "other", o, &[Ep::ready("127.0.0.1")]),
    ]
    .join("---\n")
}

fn on<'a>(host: &'a str, path: &'a str, service: &'a str) -> IngressPath<'a> {
    IngressPath {
        host: Some(host),
        path,
        service,
        port: 80,
    }
}

/// The ingress-nginx rewrite example (`/something(/|$)(.*)` to `/$2`), a plain Ingress on
/// the same host, and the same plain path on another host.
fn objects(path: &str, target: &str) -> String {
    [
        ingress(
            "rewrite",
            &[
                (&format!("{N}use-regex"), "true"),
                (&format!("{N}rewrite-target"), target),
            ],
            &[on(HOST, path, "web")],
        ),
        ingress("plain", &[], &[on(HOST, "/foo", "other")]),
        ingress("elsewhere", &[], &[on(PLAIN, "/foo", "other")]),
    ]
    .join("---\n")
}

/// Rewrites the regex Ingress to `path` and `target`, then waits until a request for
/// `probe.0` on [`HOST`] reaches the pod as `probe.1`.
async fn rewrite_to(agent: &Agent, path: &str, target: &str, probe: (&str, &str)) {
    agent
        .write_manifest("ing.yaml", &objects(path, target))
        .unwrap();
    let what = format!("{path} rewritten to {target}");
    eventually(&what, CONVERGE, async || {
        let r = agent.get(HOST, probe.0).await;
        matches!(r, Ok(r) if r.header("x-echo-path") == Some(probe.1))
    })
    .await
    .unwrap();
}

/// The live regex map's keys, in HAProxy's order.
async fn live_regex_keys(agent: &Agent, config_dir_map: &FilePath) -> Vec<String> {
    agent
        .runtime_client()
        .map_entries(config_dir_map.clone())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_groups_rewrite_and_change_without_reload() {
    let web = EchoServer::start("web").unwrap();
    let other = EchoServer::start("other").unwrap();
    let agent = Agent::start(
        &[
            ("svc.yaml", &services(&web, &other)),
            ("ing.yaml", &objects("/something(/|$)(.*)", "/$2")),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();

    // ingress-nginx's documented rewrites, the query kept, the path case-insensitive.
    for (path, want) in [
        ("/something", "/"),
        ("/something/", "/"),
        ("/something/new", "/new"),
        ("/something/new?q=1&r=2", "/new?q=1&r=2"),
        ("/SomeThing/Deep/Er", "/Deep/Er"),
    ] {
        let r = agent.get(HOST, path).await.unwrap();
        assert_eq!(r.echo_name.as_deref(), Some("web"), "{path}: {r:?}");
        assert_eq!(r.header("x-echo-path"), Some(want), "{path}");
    }
    // `/somethingelse` is no match for `/something(/|$)`.
    let r = agent.get(HOST, "/somethingelse").await.unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    // The documented surprise: the host has a regex path, so the plain Ingress's `Prefix
    // /foo` is the regex `^/foo`, case-insensitive: `/FOOBAR` matches, unrewritten.
    let r = agent.get(HOST, "/FOOBAR/x").await.unwrap();
    assert_eq!(r.echo_name.as_deref(), Some("other"), "{r:?}");
    assert_eq!(r.header("x-echo-path"), Some("/FOOBAR/x"));
    // Another host keeps Prefix semantics.
    let r = agent.get(PLAIN, "/foobar").await.unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    let r = agent.get(PLAIN, "/foo/bar").await.unwrap();
    assert_eq!(r.echo_name.as_deref(), Some("other"), "{r:?}");

    // The live map is longest path first.
    let map = regex_map_file(&agent);
    assert_eq!(
        live_regex_keys(&agent, &map).await,
        [
            "^rewrite\\.bar\\.com(?i:/something(/|$)(.*))",
            "^rewrite\\.bar\\.com(?i:/foo)"
        ]
    );

    // A new regex and target for the same backend: a runtime swap of the regex map.
    let (regex, target) = ("/v(1|2)/else(/|$)(.*)", "/api/v$1/$3");
    rewrite_to(
        &agent,
        regex,
        target,
        ("/V2/else/items?id=7", "/api/v2/items?id=7"),
    )
    .await;
    let r = agent.get(HOST, "/something/new").await.unwrap();
    assert_eq!(r.status, 404, "the old regex is gone: {r:?}");
    assert_eq!(
        live_regex_keys(&agent, &map).await,
        [
            "^rewrite\\.bar\\.com(?i:/v(1|2)/else(/|$)(.*))",
            "^rewrite\\.bar\\.com(?i:/foo)"
        ]
    );
    // Only the target changes: `set map` in place.
    rewrite_to(&agent, regex, "/$3", ("/v1/else/x", "/x")).await;
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a regex or rewrite-target change reloaded"
    );

    // Without the regex Ingress the host is plain again: `/FOOBAR` is no Prefix match.
    agent
        .write_manifest(
            "ing.yaml",
            &ingress("plain", &[], &[on(HOST, "/foo", "other")]),
        )
        .unwrap();
    eventually(
        "the host back to Prefix matching",
        CONVERGE,
        async || matches!(agent.get(HOST, "/FOOBAR").await, Ok(r) if r.status == 404),
    )
    .await
    .unwrap();
    assert!(live_regex_keys(&agent, &map).await.is_empty());
    assert_eq!(agent.reloads().await.unwrap(), reloads);
}

/// A bad path regex or a `$N` the regex lacks is a problem on that Ingress; the rest serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_regexes_are_named_and_the_rest_serves() {
    let web = EchoServer::start("web").unwrap();
    let other = EchoServer::start("other").unwrap();
    let bad = [
        ingress(
            "lookahead",
            &[(&format!("{N}use-regex"), "true")],
            &[on(HOST, "/(?=x)", "web")],
        ),
        ingress(
            "missing-group",
            &[(&format!("{N}rewrite-target"), "/$3")],
            &[on(HOST, "/a(b)", "web")],
        ),
        ingress("plain", &[], &[on(PLAIN, "/foo", "other")]),
    ]
    .join("---\n");
    let agent = Agent::start(
        &[("svc.yaml", &services(&web, &other)), ("ing.yaml", &bad)],
        Options::default(),
    )
    .await
    .unwrap();
    let r = agent.get(PLAIN, "/foo").await.unwrap();
    assert_eq!(r.echo_name.as_deref(), Some("other"), "{r:?}");
    let state = agent.debug_state().await.unwrap();
    let text = state.to_string();
    for (object, why) in [
        ("default/lookahead", "look-around"),
        ("default/missing-group", "names $3"),
    ] {
        assert!(
            text.contains(object) && text.contains(why),
            "no problem on {object} saying {why}: {text}"
        );
    }
}

fn regex_map_file(agent: &Agent) -> FilePath {
    let cfg = agent
        .config_files()
        .unwrap()
        .into_iter()
        .find(|(p, _)| p.ends_with("maps/regex.map"))
        .expect("a regex map file")
        .0;
    FilePath::new(cfg.to_string_lossy().into_owned()).unwrap()
}
