//! ingress-nginx annotations on a real agent and HAProxy: honoured ones reach haproxy.cfg,
//! the others are named problems (with their reason, in `/debug/state` and the metrics),
//! snippets never reach a file, and an ingress-nginx canary Ingress takes no traffic.

use integration::{EchoServer, Req};
use serde_json::Value;

use std::time::Duration;

use crate::support::{
    Agent, CONVERGE, Ep, Options, backend, echo_group, eventually, ingress, route, service, slice,
};

const HOST: &str = "nginx.example";
const N: &str = "nginx.ingress.kubernetes.io/";

fn has_problem(problems: &[Value], key: &str, reason: &str) -> bool {
    let field = format!("metadata.annotations[{key}]");
    problems.iter().any(|p| {
        ["default/legacy", "default/legacy-canary"].contains(&p["object"].as_str().unwrap_or(""))
            && p["field"] == field.as_str()
            && p["reason"] == reason
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_nginx_annotations_are_honoured_or_named() {
    let web = EchoServer::start("web").unwrap();
    let canary = EchoServer::start("canary").unwrap();
    let (wp, cp) = (web.addr().port(), canary.addr().port());
    let k = |name: &str| format!("{N}{name}");
    let legacy = ingress(
        "legacy",
        &[
            (&k("load-balance"), "round_robin"),
            (&k("proxy-read-timeout"), "120"),
            (&k("proxy-connect-timeout"), "3"),
            (&k("affinity"), "cookie"),
            (&k("session-cookie-name"), "route"),
            (&k("session-cookie-samesite"), "Lax"),
            (&k("session-cookie-max-age"), "600"),
            (
                &k("configuration-snippet"),
                "add_header X-HOSTILE-SNIPPET 1;",
            ),
            (&k("auth-url"), "http://auth.default.svc/check"),
        ],
        &[route("/app", "web", 80)],
    );
    let canary_ingress = ingress(
        "legacy-canary",
        &[
            (&k("canary"), "true"),
            (&k("canary-weight"), "0"),
            (&k("canary-by-header-pattern"), "^beta"),
        ],
        &[route("/app", "web-canary", 80)],
    );
    let objects = [
        service("web", 80, wp),
        slice("web-1", "web", wp, &[Ep::ready("127.0.0.1")]),
        service("web-canary", 80, cp),
        slice("web-canary-1", "web-canary", cp, &[Ep::ready("127.0.0.1")]),
        canary_ingress,
        legacy,
    ];
    let agent = Agent::start(&[("all.yaml", &objects.join("---\n"))], Options::default())
        .await
        .unwrap();

    // Honoured: in the backend's section.
    let cfg = agent
        .config_files()
        .unwrap()
        .into_iter()
        .find(|(p, _)| p.ends_with("haproxy.cfg"))
        .unwrap()
        .1;
    let section = cfg
        .split("\nbackend ")
        .find(|s| s.starts_with(&backend("web", 80)))
        .unwrap_or_else(|| panic!("no backend web in:\n{cfg}"));
    for want in [
        "balance roundrobin",
        "timeout server 2m",
        "timeout connect 3s",
        "cookie route insert indirect nocache dynamic",
    ] {
        assert!(section.contains(want), "want {want:?} in:\n{section}");
    }
    // Never rendered, anywhere.
    for (path, text) in agent.config_files().unwrap() {
        assert!(!text.contains("HOSTILE-SNIPPET"), "{}", path.display());
    }

    // Named: each with its reason, in /debug/state and in the metrics.
    let wants = [
        (k("configuration-snippet"), "refused_annotation"),
        (k("auth-url"), "unsupported_annotation"),
        // A pattern needs canary-by-header to name the header it reads.
        (k("canary-by-header-pattern"), "invalid_annotation"),
    ];
    let mut last = Value::Null;
    let found = eventually("the annotation problems", CONVERGE, async || {
        let Ok(state) = agent.debug_state().await else {
            return false;
        };
        last = state["problems"].clone();
        let problems = last.as_array().cloned().unwrap_or_default();
        wants.iter().all(|(k, r)| has_problem(&problems, k, r))
    })
    .await;
    if let Err(e) = found {
        panic!("{e}; problems: {last:#}");
    }
    assert_eq!(last.as_array().unwrap().len(), wants.len(), "{last:#}");
    let metrics = agent.metrics().await.unwrap();
    for sample in [
        "haproxy_agent_problems{kind=\"ingress\",reason=\"unsupported_annotation\"} 1",
        "haproxy_agent_problems{kind=\"ingress\",reason=\"invalid_annotation\"} 1",
        "haproxy_agent_problems{kind=\"ingress\",reason=\"refused_annotation\"} 1",
    ] {
        assert!(metrics.contains(sample), "want {sample} in:\n{metrics}");
    }

    // The canary Ingress (weight 0, its header pattern without a header) takes nothing: every
    // request goes to the main Ingress's Service.
    for _ in 0..20 {
        let reply = agent.get(HOST, "/app").await.unwrap();
        assert_eq!(reply.echo_name.as_deref(), Some("web"));
    }
    // The sticky cookie, with its attributes.
    let reply = agent.get(HOST, "/app").await.unwrap();
    let cookie = reply.header("set-cookie").unwrap_or_default();
    for want in ["route=", "Max-Age=600", "SameSite=Lax"] {
        assert!(cookie.contains(want), "want {want} in {cookie:?}");
    }
}

/// Service `web` with `echo` as its one endpoint.
fn web_service(echo: &EchoServer) -> String {
    let port = echo.addr().port();
    [
        service("web", 80, port),
        slice("web-1", "web", port, &[Ep::ready("127.0.0.1")]),
    ]
    .join("---\n")
}

fn policy_objects(rewrite: &str, redirect: &str, code: &str) -> String {
    let k = |name: &str| format!("{N}{name}");
    [
        ingress(
            "rw",
            &[
                (&k("rewrite-target"), rewrite),
                (&k("x-forwarded-prefix"), "/rw"),
                (&k("upstream-vhost"), "internal.example"),
            ],
            &[route("/rw", "web", 80)],
        ),
        ingress(
            "perm",
            &[
                (&k("permanent-redirect"), redirect),
                (&k("permanent-redirect-code"), code),
            ],
            &[route("/old", "web", 80)],
        ),
        ingress(
            "temp",
            &[(&k("temporal-redirect"), "/elsewhere")],
            &[route("/tmp", "web", 80)],
        ),
        ingress(
            "root",
            &[(&k("app-root"), "/app")],
            &[route("/", "web", 80)],
        ),
    ]
    .join("---\n")
}

/// rewrite-target, x-forwarded-prefix, upstream-vhost, permanent and temporal redirects and
/// app-root ride in the route map value: changing them is a map update, with no reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_policies_apply_and_change_without_reload() {
    let web = EchoServer::start("web").unwrap();
    let objects = web_service(&web);
    let agent = Agent::start(
        &[
            ("web.yaml", &objects),
            (
                "policies.yaml",
                &policy_objects("/inner", "https://new.example/landing", "308"),
            ),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();

    let r = agent.get(HOST, "/rw/x?q=1").await.unwrap();
    assert_eq!(r.echo_name.as_deref(), Some("web"), "{r:?}");
    assert_eq!(r.header("x-echo-path"), Some("/inner?q=1"));
    assert_eq!(r.header("x-echo-h-x-forwarded-prefix"), Some("/rw"));
    assert_eq!(r.header("x-echo-host"), Some("internal.example"));
    let r = agent.get(HOST, "/old/page").await.unwrap();
    assert_eq!(
        (r.status, r.header("location")),
        (308, Some("https://new.example/landing"))
    );
    let r = agent.get(HOST, "/tmp").await.unwrap();
    assert_eq!((r.status, r.header("location")), (302, Some("/elsewhere")));
    let r = agent.get(HOST, "/").await.unwrap();
    assert_eq!((r.status, r.header("location")), (302, Some("/app")));
    let r = agent.get(HOST, "/app").await.unwrap();
    assert_eq!(
        (r.status, r.header("x-echo-path")),
        (200, Some("/app")),
        "app-root redirects / only"
    );

    // New targets and a new code: runtime map updates.
    agent
        .write_manifest(
            "policies.yaml",
            &policy_objects("/other", "https://newer.example/", "301"),
        )
        .unwrap();
    eventually(
        "the new rewrite target and redirect",
        CONVERGE,
        async || {
            let rw = agent.get(HOST, "/rw").await;
            let old = agent.get(HOST, "/old").await;
            matches!((rw, old), (Ok(rw), Ok(old))
            if rw.header("x-echo-path") == Some("/other")
                && old.status == 301
                && old.header("location") == Some("https://newer.example/"))
        },
    )
    .await
    .unwrap();
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a policy change reloaded"
    );
}

fn limit_objects(body: &str, rpm: &str) -> String {
    let k = |name: &str| format!("{N}{name}");
    [
        ingress(
            "body",
            &[(&k("proxy-body-size"), body)],
            &[route("/body", "web", 80)],
        ),
        ingress(
            "rate",
            &[(&k("limit-rpm"), rpm)],
            &[route("/rate", "web", 80)],
        ),
    ]
    .join("---\n")
}

/// proxy-body-size answers 413 above the size; limit-rpm answers 503 past the limit; both
/// ride in the route map value and change without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_size_and_request_limits_change_without_reload() {
    let web = EchoServer::start("web").unwrap();
    let objects = web_service(&web);
    let agent = Agent::start(
        &[
            ("web.yaml", &objects),
            ("limits.yaml", &limit_objects("10", "3")),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    let post = |path: &'static str, len: usize| {
        integration::request(
            agent.http,
            Req::new("POST", HOST, path).body(vec![b'x'; len]),
        )
    };
    assert_eq!(post("/body", 11).await.unwrap().status, 413);
    assert_eq!(post("/body", 10).await.unwrap().status, 200);

    // Three requests in a minute from this address, then 503.
    for i in 0..3 {
        assert_eq!(
            agent.get(HOST, "/rate").await.unwrap().status,
            200,
            "request {i}"
        );
    }
    assert_eq!(agent.get(HOST, "/rate").await.unwrap().status, 503);
    // Other routes are not limited by it.
    assert_eq!(agent.get(HOST, "/body").await.unwrap().status, 200);

    agent
        .write_manifest("limits.yaml", &limit_objects("1k", "1000"))
        .unwrap();
    eventually("the new limits", CONVERGE, async || {
        let rate = agent.get(HOST, "/rate").await;
        let body = post("/body", 11).await;
        matches!((rate, body), (Ok(r), Ok(b)) if r.status == 200 && b.status == 200)
    })
    .await
    .unwrap();
    assert_eq!(post("/body", 1025).await.unwrap().status, 413);
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a limit change reloaded"
    );
}

/// enable-cors: HAProxy answers the preflight from the allowed origin, adds the headers to
/// the response, and leaves another origin's requests without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_and_headers() {
    let web = EchoServer::start("web").unwrap();
    let wp = web.addr().port();
    let k = |name: &str| format!("{N}{name}");
    let objects = [
        service("web", 80, wp),
        slice("web-1", "web", wp, &[Ep::ready("127.0.0.1")]),
        ingress(
            "cors",
            &[
                (&k("enable-cors"), "true"),
                (&k("cors-allow-origin"), "https://app.example"),
                (&k("cors-allow-methods"), "GET, POST"),
                (&k("cors-max-age"), "600"),
            ],
            &[route("/api", "web", 80)],
        ),
    ]
    .join("---\n");
    let agent = Agent::start(&[("all.yaml", &objects)], Options::default())
        .await
        .unwrap();
    let preflight = Req::new("OPTIONS", HOST, "/api/x")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST");
    let r = integration::request(agent.http, preflight).await.unwrap();
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.echo_name, None, "answered by HAProxy");
    for (name, want) in [
        ("access-control-allow-origin", "https://app.example"),
        ("access-control-allow-methods", "GET,POST"),
        ("access-control-max-age", "600"),
        ("access-control-allow-credentials", "true"),
    ] {
        assert_eq!(r.header(name), Some(want), "{name}: {r:?}");
    }
    let get = Req::new("GET", HOST, "/api/x").header("origin", "https://app.example");
    let r = integration::request(agent.http, get).await.unwrap();
    assert_eq!(r.echo_name.as_deref(), Some("web"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let other = Req::new("GET", HOST, "/api/x").header("origin", "https://evil.example");
    let r = integration::request(agent.http, other).await.unwrap();
    assert_eq!(r.echo_name.as_deref(), Some("web"));
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
}

/// upstream-hash-by: a consistent hash of a request header; each user keeps its server, the
/// users spread over the servers, and a server added at runtime joins without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_hash_by_keeps_each_key_on_its_server() {
    let (port, _servers) = echo_group(&[
        ("a", Duration::ZERO),
        ("b", Duration::ZERO),
        ("c", Duration::ZERO),
    ])
    .unwrap();
    let hash = ingress(
        "hash",
        &[(&format!("{N}upstream-hash-by"), "$http_x_user")],
        &[route("/h", "web", 80)],
    );
    let eps = |n: usize| -> String {
        let ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
        let eps: Vec<Ep<'_>> = ips[..n].iter().map(|ip| Ep::ready(ip)).collect();
        [service("web", 80, port), slice("web-1", "web", port, &eps)].join("---\n")
    };
    let agent = Agent::start(
        &[("web.yaml", &eps(2)), ("hash.yaml", &hash)],
        Options::default(),
    )
    .await
    .unwrap();
    let cfg = agent
        .config_files()
        .unwrap()
        .into_iter()
        .find(|(p, _)| p.ends_with("haproxy.cfg"))
        .unwrap()
        .1;
    assert!(
        cfg.contains("balance hdr(x-user)\n    hash-type consistent"),
        "{cfg}"
    );
    let reloads = agent.reloads().await.unwrap();
    let server_of = async |user: &str| -> String {
        let req = Req::new("GET", HOST, "/h").header("x-user", user);
        let r = integration::request(agent.http, req).await.unwrap();
        r.echo_name.clone().unwrap_or_else(|| panic!("{r:?}"))
    };
    let users: Vec<String> = (0..20).map(|i| format!("user-{i}")).collect();
    let mut first = std::collections::BTreeMap::new();
    for u in &users {
        first.insert(u.clone(), server_of(u).await);
    }
    for u in &users {
        for _ in 0..4 {
            assert_eq!(server_of(u).await, first[u], "{u} moved");
        }
    }
    let used: std::collections::BTreeSet<&String> = first.values().collect();
    assert_eq!(used.len(), 2, "20 users over 2 servers: {first:?}");

    // A third server, added at runtime: consistent hashing moves only some users to it.
    agent.write_manifest("web.yaml", &eps(3)).unwrap();
    eventually("some user on the new server", CONVERGE, async || {
        for u in &users {
            if server_of(u).await == "c" {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    let mut moved_elsewhere = 0;
    for u in &users {
        let now = server_of(u).await;
        if now != first[u] && now != "c" {
            moved_elsewhere += 1;
        }
    }
    assert_eq!(moved_elsewhere, 0, "only moves to the new server");
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a new server reloaded"
    );
}

/// default-backend: the fallback Service's pods are backup servers, serving while the
/// route's own Service has no endpoint up; the route's pods take over at runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_backend_serves_while_the_service_has_no_endpoint() {
    let web = EchoServer::start("web").unwrap();
    let errors = EchoServer::start("errors").unwrap();
    let (wp, ep) = (web.addr().port(), errors.addr().port());
    let app =
        |eps: &[Ep<'_>]| [service("app", 80, wp), slice("app-1", "app", wp, eps)].join("---\n");
    let fallback = [
        service("errors", 80, ep),
        slice("errors-1", "errors", ep, &[Ep::ready("127.0.0.1")]),
        ingress(
            "fb",
            &[(&format!("{N}default-backend"), "errors")],
            &[route("/fb", "app", 80)],
        ),
    ]
    .join("---\n");
    let agent = Agent::start(
        &[("app.yaml", &app(&[])), ("fallback.yaml", &fallback)],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    let r = agent.get(HOST, "/fb").await.unwrap();
    assert_eq!(r.echo_name.as_deref(), Some("errors"), "{r:?}");

    agent
        .write_manifest("app.yaml", &app(&[Ep::ready("127.0.0.1")]))
        .unwrap();
    eventually("the app's own pod serves", CONVERGE, async || {
        agent
            .get(HOST, "/fb")
            .await
            .is_ok_and(|r| r.echo_name.as_deref() == Some("web"))
    })
    .await
    .unwrap();
    for _ in 0..10 {
        let r = agent.get(HOST, "/fb").await.unwrap();
        assert_eq!(r.echo_name.as_deref(), Some("web"), "backup servers idle");
    }
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "an endpoint change reloaded"
    );
}

fn source_list_objects(lists: &[(&str, &[(&str, &str)])]) -> String {
    lists
        .iter()
        .map(|(name, annotations)| {
            let path = format!("/{name}");
            let owned: Vec<(String, &str)> = annotations
                .iter()
                .map(|(k, v)| (format!("{N}{k}"), *v))
                .collect();
            let refs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            ingress(name, &refs, &[route(&path, "web", 80)])
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The live patterns of one of the address lists' ACL files.
async fn live_acl(agent: &Agent, file: &str) -> std::collections::BTreeSet<String> {
    let path = agent.config_dir.join("maps").join(file);
    let file = haproxy::FilePath::new(path.to_string_lossy().into_owned()).unwrap();
    match agent
        .runtime_client()
        .send(haproxy::proto::Command::ShowAcl(file))
        .await
        .unwrap()
    {
        haproxy::proto::Reply::AclEntries(v) => v.into_iter().map(|e| e.pattern).collect(),
        other => panic!("show acl gave {other:?}"),
    }
}

/// allowlist-source-range (whitelist-source-range) and denylist-source-range: 403 from
/// HAProxy for a client outside the allow list or inside the deny list (which wins); a
/// changed, new or removed list is applied over the runtime API with no reload, and the
/// live ACL files hold exactly the lists' patterns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_ranges_refuse_with_403_and_change_without_reload() {
    let web = EchoServer::start("web").unwrap();
    let wp = web.addr().port();
    let objects = [
        service("web", 80, wp),
        slice("web-1", "web", wp, &[Ep::ready("127.0.0.1")]),
    ]
    .join("---\n");
    let first = source_list_objects(&[
        ("open", &[]),
        ("allowed", &[("allowlist-source-range", "127.0.0.1/32")]),
        ("outside", &[("whitelist-source-range", "10.0.0.0/8")]),
        (
            "blocked",
            &[
                ("allowlist-source-range", "127.0.0.1/32"),
                ("denylist-source-range", "127.0.0.0/8"),
            ],
        ),
    ]);
    let agent = Agent::start(
        &[("web.yaml", &objects), ("lists.yaml", &first)],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    let status = async |path: &str| {
        let r = agent.get(HOST, path).await.unwrap();
        if r.status == 403 {
            assert_eq!(r.echo_name, None, "403 comes from HAProxy: {r:?}");
        }
        r.status
    };
    for (path, want) in [
        ("/open", 200),
        ("/allowed/x", 200),
        ("/outside", 403),
        ("/blocked", 403),
    ] {
        assert_eq!(status(path).await, want, "{path}");
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        live_acl(&agent, "allow.acl").await,
        set(&[
            "default/allowed|4|7F000001",
            "default/blocked|4|7F000001",
            "default/outside|4|0A",
        ])
    );
    assert_eq!(
        live_acl(&agent, "deny.acl").await,
        set(&["default/blocked|4|7F"])
    );

    // Lists change, one is new and one goes: all at runtime.
    let second = source_list_objects(&[
        ("open", &[("denylist-source-range", "127.0.0.1")]),
        ("allowed", &[("allowlist-source-range", "10.0.0.0/8")]),
        (
            "outside",
            &[("whitelist-source-range", "10.0.0.0/8, 127.0.0.1")],
        ),
        ("blocked", &[("allowlist-source-range", "127.0.0.1/32")]),
    ]);
    agent.write_manifest("lists.yaml", &second).unwrap();
    eventually("the changed lists", CONVERGE, async || {
        let mut got = Vec::new();
        for path in ["/open", "/allowed", "/outside", "/blocked"] {
            match agent.get(HOST, path).await {
                Ok(r) => got.push(r.status),
                Err(_) => return false,
            }
        }
        got == [403, 403, 200, 200]
    })
    .await
    .unwrap();
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a list change reloaded"
    );
    let allow = set(&[
        "default/allowed|4|0A",
        "default/blocked|4|7F000001",
        "default/outside|4|0A",
        "default/outside|4|7F000001",
    ]);
    let deny = set(&["default/open|4|7F000001"]);
    // The removals follow the map updates in the same batch: the traffic above can be
    // right a moment before the last `del acl` ran.
    eventually("the live ACL files", CONVERGE, async || {
        live_acl(&agent, "allow.acl").await == allow && live_acl(&agent, "deny.acl").await == deny
    })
    .await
    .unwrap();
    assert_eq!(live_acl(&agent, "allow.acl").await, allow);
    assert_eq!(live_acl(&agent, "deny.acl").await, deny);
    // The files on disk follow, so a later reload or restart starts from the same lists.
    eventually("the ACL files on disk", CONVERGE, async || {
        let files = agent.config_files().unwrap();
        let on_disk = |name: &str| -> std::collections::BTreeSet<String> {
            files
                .iter()
                .find(|(p, _)| p.ends_with(format!("maps/{name}")))
                .map(|(_, t)| t.lines().map(str::to_string).collect())
                .unwrap_or_default()
        };
        on_disk("allow.acl") == allow && on_disk("deny.acl") == deny
    })
    .await
    .unwrap();
}

/// limit-whitelist: clients in the list are not counted by the Ingress's limits; changing
/// the list is an ACL update, with no reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_whitelist_exempts_listed_clients_without_reload() {
    let web = EchoServer::start("web").unwrap();
    let limited = |exempt: &str| {
        ingress(
            "exempt",
            &[
                (&format!("{N}limit-rpm"), "1"),
                (&format!("{N}limit-whitelist"), exempt),
            ],
            &[route("/x", "web", 80)],
        )
    };
    let agent = Agent::start(
        &[
            ("web.yaml", &web_service(&web)),
            ("exempt.yaml", &limited("127.0.0.0/8")),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    for i in 0..5 {
        assert_eq!(
            agent.get(HOST, "/x").await.unwrap().status,
            200,
            "request {i}"
        );
    }
    // The test client (127.0.0.1) leaves the list: one request a minute, then 503.
    agent
        .write_manifest("exempt.yaml", &limited("10.0.0.0/8"))
        .unwrap();
    eventually("the limit counts this client", CONVERGE, async || {
        agent.get(HOST, "/x").await.is_ok_and(|r| r.status == 503)
    })
    .await
    .unwrap();
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a list change reloaded"
    );
}

/// cors-allow-origin with several origins: each listed origin is echoed, others (a longer
/// name that starts with a listed one included) get no CORS header, and changing the list
/// is an ACL update with no reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_origin_lists_change_without_reload() {
    let web = EchoServer::start("web").unwrap();
    let listed = |origins: &str| {
        ingress(
            "cors",
            &[
                (&format!("{N}enable-cors"), "true"),
                (&format!("{N}cors-allow-origin"), origins),
            ],
            &[route("/api", "web", 80)],
        )
    };
    let agent = Agent::start(
        &[
            ("web.yaml", &web_service(&web)),
            (
                "cors.yaml",
                &listed("https://a.example, https://b.example:8443"),
            ),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    let allowed = async |origin: &'static str| -> Option<String> {
        let req = Req::new("GET", HOST, "/api/x").header("origin", origin);
        let r = integration::request(agent.http, req).await.unwrap();
        assert_eq!(r.echo_name.as_deref(), Some("web"), "{r:?}");
        r.header("access-control-allow-origin").map(str::to_string)
    };
    for (origin, want) in [
        ("https://a.example", Some("https://a.example")),
        ("https://b.example:8443", Some("https://b.example:8443")),
        ("https://a.example.evil", None),
        ("https://b.example", None),
        ("https://c.example", None),
    ] {
        assert_eq!(allowed(origin).await.as_deref(), want, "{origin}");
    }
    agent
        .write_manifest(
            "cors.yaml",
            &listed("https://c.example, https://a.example, https://*.w.example"),
        )
        .unwrap();
    eventually("c.example is allowed", CONVERGE, async || {
        allowed("https://c.example").await.as_deref() == Some("https://c.example")
    })
    .await
    .unwrap();
    assert_eq!(allowed("https://b.example:8443").await, None);
    // A wildcard origin: any one label in place of the `*`, echoed.
    for (origin, want) in [
        ("https://app.w.example", Some("https://app.w.example")),
        ("https://a-1.w.example", Some("https://a-1.w.example")),
        ("https://a.b.w.example", None),
        ("https://w.example", None),
        ("http://app.w.example", None),
        ("https://app.w.example:8443", None),
    ] {
        assert_eq!(allowed(origin).await.as_deref(), want, "{origin}");
    }
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "an origin list change reloaded"
    );
}

/// --trusted-proxies: behind a trusted proxy the client is the last X-Forwarded-For address
/// (the deny list sees it); without the flag the header is not believed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_name_the_client_from_x_forwarded_for() {
    let web = EchoServer::start("web").unwrap();
    let denied = ingress(
        "denied",
        &[(&format!("{N}denylist-source-range"), "10.0.0.0/8")],
        &[route("/d", "web", 80)],
    );
    let files = [("web.yaml", web_service(&web)), ("denied.yaml", denied)];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let status = async |agent: &Agent, xff: Option<&'static str>| -> u16 {
        let mut req = Req::new("GET", HOST, "/d");
        if let Some(x) = xff {
            req = req.header("x-forwarded-for", x);
        }
        integration::request(agent.http, req).await.unwrap().status
    };
    {
        let agent = Agent::start(&files, Options::default()).await.unwrap();
        assert_eq!(status(&agent, Some("10.1.2.3")).await, 200, "not believed");
    }
    let trusting = Options {
        extra: vec!["--trusted-proxies".into(), "127.0.0.0/8".into()],
        ..Options::default()
    };
    let agent = Agent::start(&files, trusting).await.unwrap();
    assert_eq!(status(&agent, Some("10.1.2.3")).await, 403);
    assert_eq!(
        status(&agent, Some("10.1.2.3, 192.168.1.1")).await,
        200,
        "the last one"
    );
    assert_eq!(status(&agent, Some("192.168.1.1, 10.9.9.9")).await, 403);
    assert_eq!(status(&agent, None).await, 200, "the connection's source");
    // /debug/state shows the list and the ACL patterns it makes.
    let state = agent.debug_state().await.unwrap();
    let desired = &state["desired"];
    assert_eq!(
        desired["source_lists"]["default/denied"]["deny"],
        serde_json::json!(["10.0.0.0/8"]),
        "{desired:#}"
    );
    assert_eq!(
        desired["acl_files"]["deny"],
        serde_json::json!(["default/denied|4|0A"])
    );
}

/// from-to-www-redirect: the host's `www.` twin answers 308 to the host with the same path
/// and query; a route another Ingress has for the twin wins over the redirect, and adding it
/// is a map update (no reload).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_to_www_redirect_answers_the_twin_and_yields_to_its_routes() {
    let web = EchoServer::start("web").unwrap();
    let on = |host: &'static str, path: &'static str| crate::support::IngressPath {
        host: Some(host),
        path,
        service: "web",
        port: 80,
    };
    let www = ingress(
        "www",
        &[(&format!("{N}from-to-www-redirect"), "true")],
        &[on("www.twin.test", "/")],
    );
    let agent = Agent::start(
        &[("web.yaml", &web_service(&web)), ("www.yaml", &www)],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    let r = agent.get("twin.test", "/a/b?c=1").await.unwrap();
    assert_eq!(
        (r.status, r.header("location")),
        (308, Some("http://www.twin.test/a/b?c=1")),
        "{r:?}"
    );
    let r = agent.get("www.twin.test", "/a").await.unwrap();
    assert_eq!(r.echo_name.as_deref(), Some("web"), "{r:?}");

    // Another Ingress routes the twin's /api: it is served there; the rest still redirects.
    let bare = ingress("bare", &[], &[on("twin.test", "/api")]);
    agent.write_manifest("bare.yaml", &bare).unwrap();
    eventually(
        "twin.test/api is served",
        CONVERGE,
        async || matches!(agent.get("twin.test", "/api/x").await, Ok(r) if r.status == 200),
    )
    .await
    .unwrap();
    let r = agent.get("twin.test", "/other").await.unwrap();
    assert_eq!(r.status, 308, "{r:?}");
    let state = agent.debug_state().await.unwrap();
    assert_eq!(state["problems"], serde_json::json!([]), "{state:#}");
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "adding a route reloaded"
    );
}
