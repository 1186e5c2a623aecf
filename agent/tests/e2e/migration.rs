//! The migration corpus: Ingresses as ingress-nginx's documentation writes them (one per
//! documented example or annotation family), served together by one agent and HAProxy, each
//! checked through real HTTP against an echo backend that reports the path, Host and `X-`
//! headers it received; then `haproxy-agent check` over the same files classifies every
//! annotation, refuses the snippets, and fails with `--strict`.

use std::collections::BTreeMap;

use integration::{EchoServer, HttpReply, Req};
use serde_json::Value;

use crate::support::{Agent, Ep, IngressPath, Options, ingress, service, slice};

const N: &str = "nginx.ingress.kubernetes.io/";

/// What a reply must be.
#[derive(Default)]
struct Want {
    status: u16,
    /// Served by the pod (an echo name) or answered by HAProxy.
    by_pod: bool,
    /// The path (and query) the pod received.
    path: Option<&'static str>,
    /// Reply headers that must be there, with these values.
    headers: Vec<(&'static str, &'static str)>,
}

fn pod(path: &'static str) -> Want {
    Want {
        status: 200,
        by_pod: true,
        path: Some(path),
        ..Default::default()
    }
}

fn haproxy(status: u16, headers: Vec<(&'static str, &'static str)>) -> Want {
    Want {
        status,
        headers,
        ..Default::default()
    }
}

/// One Ingress of the corpus: its name (and host `<name>.migrate.example`), annotations
/// (without the prefix), path, and requests with what each must get.
struct Case {
    name: &'static str,
    annotations: Vec<(&'static str, &'static str)>,
    path: &'static str,
    checks: Vec<(Req<'static>, Want)>,
}

/// Served by the pod of echo server `name`, which received `path`.
fn named_pod(path: &'static str, name: &'static str) -> Want {
    Want {
        headers: vec![("x-echo-name", name)],
        ..pod(path)
    }
}

fn get(path: &'static str) -> Req<'static> {
    Req::new("GET", "", path)
}

fn case(
    name: &'static str,
    annotations: &[(&'static str, &'static str)],
    path: &'static str,
    checks: Vec<(Req<'static>, Want)>,
) -> Case {
    Case {
        name,
        annotations: annotations.to_vec(),
        path,
        checks,
    }
}

/// A case served as it was: one GET of `path` reaches the pod unchanged.
fn served(
    name: &'static str,
    annotations: &[(&'static str, &'static str)],
    path: &'static str,
) -> Case {
    case(name, annotations, "/", vec![(get(path), pod(path))])
}

fn corpus() -> Vec<Case> {
    let with_header = |w: Want, h: Vec<(&'static str, &'static str)>| Want { headers: h, ..w };
    vec![
        // Rewrite (docs: "Rewrite", app-root, x-forwarded-prefix, upstream-vhost).
        case(
            "rewrite",
            &[("rewrite-target", "/")],
            "/something",
            vec![(get("/something/new?x=1"), pod("/?x=1"))],
        ),
        case(
            "rewrite-deep",
            &[("rewrite-target", "/api/v2")],
            "/v1",
            vec![(get("/v1/users"), pod("/api/v2"))],
        ),
        case(
            "app-root",
            &[("app-root", "/app1")],
            "/",
            vec![
                (get("/"), haproxy(302, vec![("location", "/app1")])),
                (get("/app1"), pod("/app1")),
            ],
        ),
        case(
            "prefix",
            &[("x-forwarded-prefix", "/svc")],
            "/svc",
            vec![(
                get("/svc/x"),
                with_header(pod("/svc/x"), vec![("x-echo-h-x-forwarded-prefix", "/svc")]),
            )],
        ),
        case(
            "vhost",
            &[("upstream-vhost", "internal.svc.local")],
            "/",
            vec![(
                get("/v"),
                with_header(pod("/v"), vec![("x-echo-host", "internal.svc.local")]),
            )],
        ),
        // Redirects.
        case(
            "permanent",
            &[("permanent-redirect", "https://www.example.org")],
            "/",
            vec![(
                get("/old"),
                haproxy(301, vec![("location", "https://www.example.org")]),
            )],
        ),
        case(
            "permanent-308",
            &[
                ("permanent-redirect", "https://new.example.org/"),
                ("permanent-redirect-code", "308"),
            ],
            "/",
            vec![(
                get("/"),
                haproxy(308, vec![("location", "https://new.example.org/")]),
            )],
        ),
        case(
            "temporal",
            &[("temporal-redirect", "https://maintenance.example.org/")],
            "/",
            vec![(
                get("/x"),
                haproxy(302, vec![("location", "https://maintenance.example.org/")]),
            )],
        ),
        case(
            "force-ssl",
            &[("force-ssl-redirect", "true")],
            "/",
            vec![(
                get("/pay"),
                haproxy(
                    308,
                    vec![("location", "https://force-ssl.migrate.example/pay")],
                ),
            )],
        ),
        served("no-ssl-redirect", &[("ssl-redirect", "false")], "/"),
        // Body size and limits.
        case(
            "body-1k",
            &[("proxy-body-size", "1k")],
            "/",
            vec![
                (
                    Req::new("POST", "", "/up").body(vec![b'x'; 1025]),
                    haproxy(413, vec![]),
                ),
                (
                    Req::new("POST", "", "/up").body(vec![b'x'; 1024]),
                    pod("/up"),
                ),
            ],
        ),
        case(
            "body-8m",
            &[("proxy-body-size", "8m")],
            "/",
            vec![(
                Req::new("POST", "", "/up").body(vec![b'x'; 4096]),
                pod("/up"),
            )],
        ),
        case(
            "rpm",
            &[("limit-rpm", "2")],
            "/",
            vec![
                (get("/a"), pod("/a")),
                (get("/a"), pod("/a")),
                (get("/a"), haproxy(503, vec![])),
            ],
        ),
        case(
            "rps",
            &[("limit-rps", "1"), ("limit-burst-multiplier", "2")],
            "/",
            vec![
                (get("/a"), pod("/a")),
                (get("/a"), pod("/a")),
                (get("/a"), haproxy(503, vec![])),
            ],
        ),
        served("connections", &[("limit-connections", "10")], "/c"),
        // CORS.
        case(
            "cors",
            &[("enable-cors", "true")],
            "/",
            vec![
                (
                    Req::new("OPTIONS", "", "/api").header("origin", "https://any.example"),
                    haproxy(
                        204,
                        vec![
                            ("access-control-allow-origin", "*"),
                            (
                                "access-control-allow-methods",
                                "GET,PUT,POST,DELETE,PATCH,OPTIONS",
                            ),
                            ("access-control-max-age", "1728000"),
                        ],
                    ),
                ),
                (
                    Req::new("GET", "", "/api").header("origin", "https://any.example"),
                    with_header(pod("/api"), vec![("access-control-allow-origin", "*")]),
                ),
            ],
        ),
        case(
            "cors-origin",
            &[
                ("enable-cors", "true"),
                ("cors-allow-origin", "https://origin-site.com"),
                ("cors-allow-credentials", "false"),
            ],
            "/",
            vec![(
                Req::new("GET", "", "/api").header("origin", "https://origin-site.com"),
                with_header(
                    pod("/api"),
                    vec![("access-control-allow-origin", "https://origin-site.com")],
                ),
            )],
        ),
        // Balancing, affinity, timeouts, protocol.
        case(
            "affinity",
            &[
                ("affinity", "cookie"),
                ("session-cookie-name", "route"),
                ("session-cookie-expires", "172800"),
                ("session-cookie-max-age", "172800"),
            ],
            "/",
            vec![(get("/"), pod("/"))],
        ),
        served("hash", &[("upstream-hash-by", "$request_uri")], "/h?u=1"),
        served("ewma", &[("load-balance", "ewma")], "/"),
        served("round-robin", &[("load-balance", "round_robin")], "/"),
        case(
            "timeouts",
            &[
                ("proxy-connect-timeout", "10"),
                ("proxy-send-timeout", "120"),
                ("proxy-read-timeout", "120"),
            ],
            "/",
            vec![(get("/slow"), pod("/slow"))],
        ),
        served("http", &[("backend-protocol", "HTTP")], "/"),
        // Refused and unsupported: still served, without the policy, and named.
        case(
            "snippet",
            &[(
                "configuration-snippet",
                "more_set_headers \"Request-Id: $req_id\";",
            )],
            "/",
            vec![(get("/s"), pod("/s"))],
        ),
        served(
            "server-snippet",
            &[("server-snippet", "location /admin { deny all; }")],
            "/admin",
        ),
        // docs/examples/auth/basic: user foo, password bar (a bcrypt hash, `htpasswd -B`;
        // the example's $apr1$ hash is one HAProxy cannot check, named by `check`).
        case(
            "basic-auth",
            &[
                ("auth-type", "basic"),
                ("auth-secret", "basic-auth"),
                ("auth-realm", "Authentication Required - foo"),
            ],
            "/",
            vec![
                (
                    get("/"),
                    haproxy(
                        401,
                        vec![(
                            "www-authenticate",
                            "Basic realm=\"Authentication Required - foo\"",
                        )],
                    ),
                ),
                (
                    get("/").header("authorization", "Basic Zm9vOmJhcg=="),
                    pod("/"),
                ),
            ],
        ),
        served(
            "auth-url",
            &[("auth-url", "https://httpbin.org/basic-auth/user/passwd")],
            "/",
        ),
        // docs/user-guide/custom-errors.md and the custom-errors example: the error
        // Service (here the `other` pods) gets `/` with X-Code and the other X- headers,
        // and its answer replaces the listed codes; other answers pass.
        case(
            "custom-errors",
            &[
                ("custom-http-errors", "404,503"),
                ("default-backend", "errors"),
            ],
            "/",
            vec![
                (get("/"), pod("/")),
                (
                    get("/status/404/gone").header("accept", "text/html"),
                    with_header(
                        named_pod("/", "other"),
                        vec![
                            ("x-echo-name", "other"),
                            ("x-echo-h-x-code", "404"),
                            ("x-echo-h-x-format", "text/html"),
                            ("x-echo-h-x-original-uri", "/status/404/gone"),
                            ("x-echo-h-x-ingress-name", "custom-errors"),
                            ("x-echo-h-x-service-name", "web"),
                        ],
                    ),
                ),
                (
                    get("/status/500"),
                    Want {
                        status: 500,
                        by_pod: true,
                        headers: vec![("x-echo-name", "web")],
                        ..Default::default()
                    },
                ),
            ],
        ),
        // Regex paths (docs: "Ingress Path Matching", "Rewrite"): case-insensitive regexes
        // anchored at the start, `$N` the path's capture groups.
        case(
            "regex",
            &[("use-regex", "true")],
            "/foo/bar/[A-Z0-9]{3}",
            vec![
                (get("/foo/bar/AB1"), pod("/foo/bar/AB1")),
                (get("/foo/bar/abc/x"), pod("/foo/bar/abc/x")),
                (get("/foo/bar/a"), haproxy(404, vec![])),
            ],
        ),
        case(
            "rewrite-capture",
            &[("use-regex", "true"), ("rewrite-target", "/$2")],
            "/something(/|$)(.*)",
            vec![
                (get("/something"), pod("/")),
                (get("/something/"), pod("/")),
                (get("/something/new?x=1"), pod("/new?x=1")),
            ],
        ),
        case(
            "rewrite-one",
            &[("rewrite-target", "/$1")],
            "/foo/bar/(.+)",
            vec![
                (get("/foo/bar/1"), pod("/1")),
                (get("/FOO/bar/a/b"), pod("/a/b")),
                (get("/foo/bar/"), haproxy(404, vec![])),
            ],
        ),
        served(
            "mirror",
            &[("mirror-target", "https://test.env.com/$request_uri")],
            "/m",
        ),
        // With canary-main-canary (canary.yaml): by header, from ingress-nginx's docs.
        case(
            "canary-main",
            &[],
            "/",
            vec![
                (get("/"), named_pod("/", "web")),
                (get("/").header("canary", "always"), named_pod("/", "other")),
                (get("/").header("canary", "never"), named_pod("/", "web")),
            ],
        ),
        case(
            "alias",
            &[(
                "server-alias",
                "www.alias.migrate.example, alias.example.net",
            )],
            "/",
            vec![
                (get("/a"), pod("/a")),
                (
                    Req::new("GET", "www.alias.migrate.example", "/a"),
                    pod("/a"),
                ),
                (Req::new("GET", "alias.example.net", "/b"), pod("/b")),
            ],
        ),
    ]
}

/// The canary Ingress of `canary-main` (same host and path): requests with `canary: always`
/// go to Service `other`.
fn canary() -> String {
    let k = |n: &str| format!("{N}{n}");
    ingress(
        "canary-main-canary",
        &[(&k("canary"), "true"), (&k("canary-by-header"), "canary")],
        &[IngressPath {
            host: Some("canary-main.migrate.example"),
            path: "/",
            service: "other",
            port: 80,
        }],
    )
}

/// The Secret of `basic-auth`, as `kubectl create secret generic basic-auth --from-file=auth`
/// makes it (user foo, password bar, bcrypt).
fn basic_auth_secret() -> String {
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: basic-auth\n  namespace: default\ntype: \
     Opaque\nstringData:\n  auth: \"foo:$2b$05$abcdefghijklmnopqrstuuUq7qXkDOZJ5Q8HA9wCOH0FErWp6q0b6\\n\"\n"
        .into()
}

fn check(case: &str, req: &Req<'_>, r: &HttpReply, want: &Want) {
    let what = format!("{case}: {} {}", req.method, req.path);
    assert_eq!(r.status, want.status, "{what}: {r:?}");
    assert_eq!(r.echo_name.is_some(), want.by_pod, "{what}: {r:?}");
    if let Some(p) = want.path {
        assert_eq!(r.header("x-echo-path"), Some(p), "{what}: {r:?}");
    }
    for (h, v) in &want.headers {
        assert_eq!(r.header(h), Some(*v), "{what}: header {h}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_nginx_corpus_served_and_checked() {
    let web = EchoServer::start("web").unwrap();
    let other = EchoServer::start("other").unwrap();
    let (wp, op) = (web.addr().port(), other.addr().port());
    let corpus = corpus();
    assert!(corpus.len() >= 30, "{} cases", corpus.len());
    let hosts: Vec<String> = corpus
        .iter()
        .map(|c| format!("{}.migrate.example", c.name))
        .collect();
    let mut files: Vec<(String, String)> = vec![
        (
            "services.yaml".into(),
            [
                service("web", 80, wp),
                slice("web-1", "web", wp, &[Ep::ready("127.0.0.1")]),
                service("other", 80, op),
                slice("other-1", "other", op, &[Ep::ready("127.0.0.1")]),
                // The custom-errors example's error pages, served by the `other` pods.
                service("errors", 80, op),
                slice("errors-1", "errors", op, &[Ep::ready("127.0.0.1")]),
            ]
            .join("---\n"),
        ),
        ("canary.yaml".into(), canary()),
        ("basic-auth-secret.yaml".into(), basic_auth_secret()),
    ];
    for (c, host) in corpus.iter().zip(&hosts) {
        let annotations: Vec<(String, &str)> = c
            .annotations
            .iter()
            .map(|(k, v)| (format!("{N}{k}"), *v))
            .collect();
        let refs: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let path = IngressPath {
            host: Some(host),
            path: c.path,
            service: "web",
            port: 80,
        };
        files.push((format!("{}.yaml", c.name), ingress(c.name, &refs, &[path])));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let agent = Agent::start(&refs, Options::default()).await.unwrap();
    let reloads = agent.reloads().await.unwrap();

    for (c, host) in corpus.into_iter().zip(&hosts) {
        for (mut req, want) in c.checks {
            if req.host.is_empty() {
                req.host = host;
            }
            let r = integration::request(agent.http, req.clone()).await.unwrap();
            check(c.name, &req, &r, &want);
        }
    }
    assert_eq!(agent.reloads().await.unwrap(), reloads, "serving reloaded");

    // `check` over the same files: every annotation classified, snippets refused.
    let dir = agent.manifest_path("x");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_haproxy-agent"))
        .args(["check", "--output", "json", "--strict", "--manifests"])
        .arg(dir.parent().unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "--strict fails on the gaps");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // (ingress, annotation) -> status
    let mut status: BTreeMap<(String, String), String> = BTreeMap::new();
    for ing in report["ingresses"].as_array().unwrap() {
        let name = ing["ingress"]
            .as_str()
            .unwrap()
            .trim_start_matches("default/");
        for a in ing["annotations"].as_array().unwrap() {
            let key = a["key"].as_str().unwrap().trim_start_matches(N).to_string();
            let s = a["status"].as_str().unwrap().to_string();
            status.insert((name.to_string(), key), s);
        }
    }
    for (ingress, key, want) in [
        ("snippet", "configuration-snippet", "refused"),
        ("server-snippet", "server-snippet", "refused"),
        ("auth-url", "auth-url", "unsupported"),
        ("regex", "use-regex", "honoured"),
        ("rewrite-capture", "use-regex", "honoured"),
        ("rewrite-capture", "rewrite-target", "honoured"),
        ("rewrite-one", "rewrite-target", "honoured"),
        ("canary-main-canary", "canary", "honoured"),
        ("canary-main-canary", "canary-by-header", "honoured"),
        ("basic-auth", "auth-type", "honoured"),
        ("basic-auth", "auth-secret", "honoured"),
        ("basic-auth", "auth-realm", "honoured"),
        ("rewrite", "rewrite-target", "honoured"),
        ("rps", "limit-rps", "honoured"),
        ("ewma", "load-balance", "differs"),
        ("round-robin", "load-balance", "honoured"),
        ("custom-errors", "custom-http-errors", "differs"),
        ("custom-errors", "default-backend", "honoured"),
    ] {
        assert_eq!(
            status
                .get(&(ingress.into(), key.into()))
                .map(String::as_str),
            Some(want),
            "{ingress} {key}"
        );
    }
    let s = &report["summary"];
    let total: u64 = [
        "honoured",
        "differs",
        "invalid",
        "shadowed",
        "unsupported",
        "refused",
    ]
    .iter()
    .map(|k| s[k].as_u64().unwrap())
    .sum();
    assert_eq!(
        s["annotations"].as_u64(),
        Some(total),
        "every annotation has a status"
    );
    assert_eq!(s["invalid"], 0, "{s}");
}
