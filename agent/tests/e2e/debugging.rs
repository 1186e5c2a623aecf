//! Debugging from the socket: `ctl route` agrees with where real requests land, `ctl plan
//! --agent` explains (or rules out) a reload, `ctl history` lists what the agent did, and bad
//! input gets a clear error.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use integration::EchoServer;
use serde_json::Value;

use crate::ctl::against_an_agent::{ctl, json};
use crate::support::{
    Agent, CONVERGE, Ep, IngressPath, NS, Options, backend, eventually, ingress, service, slice,
};

/// A Service `name` with one ready endpoint on 127.0.0.1 at `port`.
fn serve(name: &str, port: u16) -> String {
    [
        service(name, 80, port),
        slice(&format!("{name}-1"), name, port, &[Ep::ready("127.0.0.1")]),
    ]
    .join("---\n")
}

/// An Ingress with an Exact path, a Prefix path, a wildcard host and a default backend.
fn routes_ingress() -> String {
    let rule = |host: &str, path: &str, kind: &str, svc: &str| {
        format!(
            "    - host: {host:?}\n      http:\n        paths:\n          - path: {path}\n            \
             pathType: {kind}\n            backend:\n              service:\n                \
             name: {svc}\n                port:\n                  number: 80\n"
        )
    };
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: routes\n  \
         namespace: {NS}\nspec:\n  ingressClassName: haproxy\n  defaultBackend:\n    service:\n      \
         name: def\n      port:\n        number: 80\n  rules:\n{}{}{}",
        rule("exact.test", "/only", "Exact", "exact"),
        rule("prefix.test", "/app", "Prefix", "prefix"),
        rule("*.wild.test", "/", "Prefix", "wild"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_route_agrees_with_where_requests_land() {
    let names = ["exact", "prefix", "wild", "def", "regex"];
    let echoes: Vec<EchoServer> = names
        .iter()
        .map(|n| EchoServer::start(n).unwrap())
        .collect();
    let mut files: Vec<(String, String)> = names
        .iter()
        .zip(&echoes)
        .map(|(n, e)| (format!("{n}.yaml"), serve(n, e.addr().port())))
        .collect();
    files.push(("routes.yaml".into(), routes_ingress()));
    let regex = IngressPath {
        host: Some("rx.test"),
        path: "/v[0-9]+/",
        service: "regex",
        port: 80,
    };
    let use_regex = [("nginx.ingress.kubernetes.io/use-regex", "true")];
    files.push((
        "rx-ingress.yaml".into(),
        ingress("rx", &use_regex, &[regex]),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let agent = Agent::start(&refs, Options::default()).await.unwrap();

    // (host, path, where it lands, the map that matched: None for the default backend)
    let cases = [
        ("exact.test", "/only", "exact", Some("exact")),
        ("exact.test", "/only/more", "def", None),
        ("prefix.test", "/app", "prefix", Some("exact")),
        ("prefix.test", "/app/deeper/x", "prefix", Some("prefix")),
        ("a.wild.test", "/anything", "wild", Some("prefix")),
        ("unknown.test", "/", "def", None),
        ("rx.test", "/v2/items", "regex", Some("regex")),
        ("rx.test", "/vx/items", "def", None),
    ];
    for (host, path, lands, map) in cases {
        let reply = agent.get(host, path).await.unwrap();
        assert_eq!(reply.echo_name.as_deref(), Some(lands), "{host}{path}");
        let (code, out) = ctl(&agent, &["--output", "json", "route", host, path]);
        assert_eq!(code, 0, "{host}{path}: {out}");
        let doc = json(&out);
        assert_eq!(
            doc["backend"],
            backend(lands, 80).as_str(),
            "{host}{path}: {out}"
        );
        assert_eq!(doc["route"]["map"].as_str(), map, "{host}{path}: {out}");
        assert!(doc["disagreements"].as_array().unwrap().is_empty(), "{out}");
        let servers = doc["servers"].as_array().unwrap();
        assert_eq!(servers.len(), 1, "{out}");
        assert_eq!(servers[0]["state"], "UP", "{out}");
    }

    // The text names each step and the resulting backend, with its servers.
    let (code, out) = ctl(&agent, &["route", "a.wild.test:8080", "/x?q=1"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\"*.wild.test/x\": matched \"*.wild.test/\""),
        "{out}"
    );
    assert!(out.contains("\"a.wild.test/x\": no match"), "{out}");
    assert!(
        out.contains(&format!("backend {}", backend("wild", 80))),
        "{out}"
    );
    assert!(out.contains("the agent's desired state agrees"), "{out}");

    // watch: plain tables appended when stdout is not a terminal, as many as asked.
    let def = backend("def", 80);
    let (code, out) = ctl(
        &agent,
        &["watch", &def, "--count", "2", "--interval", "50ms"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("BACKEND  ").count(), 2, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with(&def)).count(),
        2,
        "{out}"
    );
    assert!(!out.contains('\x1b'), "{out}");

    // An entry changed behind the agent's back: the live route is shown, and flagged.
    let exact = agent.map("exact.map").await.unwrap();
    assert!(exact.contains_key("exact.test/only"), "{exact:?}");
    let file = agent.debug_state().await.unwrap()["desired"]["map_files"]["exact"]
        .as_str()
        .unwrap()
        .to_string();
    agent
        .runtime_client()
        .send(haproxy::proto::Command::SetMap(
            haproxy::FilePath::new(file).unwrap(),
            haproxy::MapKey::new("exact.test/only").unwrap(),
            haproxy::MapValue::new(backend("prefix", 80)).unwrap(),
        ))
        .await
        .unwrap();
    let (code, out) = ctl(&agent, &["route", "exact.test", "/only"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DISAGREES with the agent's desired state"),
        "{out}"
    );
    assert!(
        out.contains(&format!("backend {}", backend("prefix", 80))),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_route_follows_canary_headers_and_cookies_as_haproxy_does() {
    use crate::canary::{HOST, answered_by, nginx_canary_agent};
    // Weight 0: only the header and the cookie send requests to the canary.
    let (agent, _echoes) = nginx_canary_agent("0").await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "primary"),
        (&[("X-Canary", "always")], "canary"),
        (
            &[("X-Canary", "never"), ("Cookie", "canary_cookie=always")],
            "primary",
        ),
        (&[("Cookie", "a=1; canary_cookie=always")], "canary"),
    ];
    for (headers, lands) in cases {
        assert_eq!(answered_by(&agent, headers).await, lands, "{headers:?}");
        let mut args = vec!["--output", "json", "route", HOST, "/shop"];
        let flags: Vec<String> = headers.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        for f in &flags {
            args.extend(["--header", f.as_str()]);
        }
        let (code, out) = ctl(&agent, &args);
        assert_eq!(code, 0, "{out}");
        let service = if lands == "canary" {
            "shop-canary"
        } else {
            "shop"
        };
        assert_eq!(
            json(&out)["backend"],
            backend(service, 80).as_str(),
            "{headers:?}: {out}"
        );
    }
    let (_, out) = ctl(
        &agent,
        &["route", HOST, "/shop", "--header", "X-Canary:always"],
    );
    assert!(
        out.contains("canary: header x-canary is always, so backend default_shop-canary_80"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_plan_with_the_agent_explains_a_pending_reload() {
    let web = EchoServer::start("web").unwrap();
    let site = ingress(
        "site",
        &[],
        &[IngressPath {
            host: Some("plan.test"),
            path: "/",
            service: "web",
            port: 80,
        }],
    );
    let web_yaml = serve("web", web.addr().port());
    let agent = Agent::start(
        &[("web.yaml", &web_yaml), ("site.yaml", &site)],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();

    // Converged: the agent's own settings and objects, nothing to do.
    let (code, out) = ctl(&agent, &["plan"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to do: HAProxy is in step"), "{out}");
    assert!(!out.contains("warning"), "{out}");

    // Another directory with a new Service: a reload, named, with the lines it adds.
    let other = tempfile::tempdir().unwrap();
    let api = ingress(
        "api",
        &[],
        &[IngressPath {
            host: Some("api.plan.test"),
            path: "/",
            service: "api",
            port: 80,
        }],
    );
    for (name, text) in [
        ("web.yaml", web_yaml.as_str()),
        ("site.yaml", site.as_str()),
        ("api.yaml", &serve("api", web.addr().port())),
        ("api-ing.yaml", &api),
    ] {
        std::fs::write(other.path().join(name), text).unwrap();
    }
    let dir = other.path().to_str().unwrap();
    let new_be = backend("api", 80);
    let (code, out) = ctl(&agent, &["plan", "--manifests", dir]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("reload because new_backend {new_be}")),
        "{out}"
    );
    assert!(out.contains("--- loaded haproxy.cfg (structure)"), "{out}");
    assert!(out.contains(&format!("+backend {new_be}")), "{out}");
    let (code, out) = ctl(&agent, &["plan", "--manifests", dir, "--output", "json"]);
    assert_eq!(code, 0, "{out}");
    let doc = json(&out);
    assert_eq!(doc["reason"], "new_backend");
    assert!(
        doc["diff"]
            .as_str()
            .unwrap()
            .contains(&format!("+backend {new_be}"))
    );

    // A setting of its own that differs from the agent's is warned of; the agent's is used.
    let (code, out) = ctl(
        &agent,
        &["plan", "--manifests", dir, "--http-bind", "0.0.0.0:80"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: --http-bind"), "{out}");
    assert!(
        out.contains(&format!("reload because new_backend {new_be}")),
        "{out}"
    );
    // Nothing was done.
    assert_eq!(agent.reloads().await.unwrap(), reloads);
}

/// The records of `ctl history --object OBJECT` as JSON.
fn history_of(agent: &Agent, object: &str) -> Vec<Value> {
    let (code, out) = ctl(agent, &["--output", "json", "history", "--object", object]);
    assert_eq!(code, 0, "{out}");
    json(&out).as_array().unwrap().clone()
}

/// Waits until the history of `object` holds a record `pick` finds (a sync is recorded when
/// it ends, after HAProxy already serves its changes), and returns it.
async fn recorded(agent: &Agent, object: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let found = std::sync::Mutex::new(None);
    let waited = eventually("the sync is in the history", CONVERGE, async || {
        let hit = history_of(agent, object).into_iter().find(|r| pick(r));
        let done = hit.is_some();
        *found.lock().unwrap() = hit;
        done
    })
    .await;
    let all = ctl(agent, &["history"]).1;
    waited.unwrap_or_else(|e| panic!("{e}: {all}"));
    found.into_inner().unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_history_lists_a_scale_up_and_a_new_service() {
    let web = EchoServer::start("web").unwrap();
    let port = web.addr().port();
    let site = ingress(
        "site",
        &[],
        &[IngressPath {
            host: Some("history.test"),
            path: "/",
            service: "web",
            port: 80,
        }],
    );
    let agent = Agent::start(
        &[("web.yaml", &serve("web", port)), ("site.yaml", &site)],
        Options::default(),
    )
    .await
    .unwrap();
    let be = backend("web", 80);
    let reloads = agent.reloads().await.unwrap();

    // Scale up: a second endpoint is a runtime command, no reload.
    let two = [
        service("web", 80, port),
        slice(
            "web-1",
            "web",
            port,
            &[Ep::ready("127.0.0.1"), Ep::ready("127.0.0.2")],
        ),
    ]
    .join("---\n");
    agent.write_manifest("web.yaml", &two).unwrap();
    eventually("the second server is in HAProxy", CONVERGE, async || {
        agent.servers(&be).await.is_ok_and(|s| s.len() == 2)
    })
    .await
    .unwrap();
    assert_eq!(agent.reloads().await.unwrap(), reloads);
    let added = format!("add server {be}/127.0.0.2:{port}");
    let scale_up = recorded(&agent, &format!("{NS}/web-1"), |r| {
        r["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["line"].as_str().unwrap().starts_with(&added) && c["outcome"] == "ok")
    })
    .await;
    assert!(
        scale_up["objects"]
            .as_array()
            .unwrap()
            .contains(&Value::from(format!("EndpointSlice {NS}/web-1"))),
        "{scale_up}"
    );
    assert!(
        scale_up["reloads"].as_array().unwrap().is_empty(),
        "{scale_up}"
    );
    let (code, text) = ctl(
        &agent,
        &[
            "history",
            "--object",
            &format!("{NS}/web-1"),
            "--since",
            "10m",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("{added} ")) && text.contains("  ok"),
        "{text}"
    );
    assert!(text.contains("    no reload\n"), "{text}");

    // A new Service with its Ingress: one reload, with its reason and duration.
    let api = ingress(
        "api",
        &[],
        &[IngressPath {
            host: Some("api.history.test"),
            path: "/",
            service: "api",
            port: 80,
        }],
    );
    agent
        .write_manifest("api.yaml", &serve("api", port))
        .unwrap();
    agent.write_manifest("api-ing.yaml", &api).unwrap();
    let api_be = backend("api", 80);
    eventually("the api backend serves", CONVERGE, async || {
        agent
            .get("api.history.test", "/")
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await
    .unwrap();
    let record = recorded(&agent, &format!("{NS}/api"), |r| {
        r["reloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["reason"] == "new_backend")
    })
    .await;
    let reload = &record["reloads"][0];
    assert_eq!(reload["detail"], format!("new_backend {api_be}").as_str());
    assert_eq!(reload["ok"], true);
    assert!(reload["took_ms"].is_u64());
    let (_, text) = ctl(&agent, &["history", "--object", &format!("{NS}/api")]);
    assert!(
        text.contains(&format!("reload new_backend {api_be} in ")),
        "{text}"
    );
    // The scale-up's sync does not name the api Service.
    assert!(record["generation"] != scale_up["generation"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_route_says_no_route_without_a_default_backend() {
    let web = EchoServer::start("web").unwrap();
    let site = ingress(
        "site",
        &[],
        &[IngressPath {
            host: Some("known.test"),
            path: "/",
            service: "web",
            port: 80,
        }],
    );
    let agent = Agent::start(
        &[
            ("web.yaml", &serve("web", web.addr().port())),
            ("site.yaml", &site),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(agent.get("unknown.test", "/").await.unwrap().status, 404);
    let (code, out) = ctl(&agent, &["route", "unknown.test", "/"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no route: HAProxy answers 404"), "{out}");
}

/// A TCP server on loopback answering every connection with `reply`, for `n` connections.
fn answering(reply: &'static [u8], n: usize) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(reply);
        }
    });
    addr
}

fn ctl_alone(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_haproxy-agent"))
        .arg("ctl")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn ctl_debugging_commands_fail_clearly_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("admin.sock");
    let gone = gone.to_str().unwrap();

    // A socket that is gone.
    for cmd in [vec!["route", "a.test", "/"], vec!["watch", "--count", "1"]] {
        let mut args = vec!["--runtime-socket", gone];
        args.extend(cmd);
        let (code, out) = ctl_alone(&args);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("cannot"), "{out}");
        assert!(out.contains(gone), "{out}");
    }

    // A request that cannot be one.
    let (code, out) = ctl_alone(&["route", "a.test", "nopath"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("must start with /"), "{out}");

    // An agent URL that answers something else than the agent.
    let not_json = answering(
        b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot json!",
        1,
    );
    let (code, out) = ctl_alone(&["--agent", &format!("http://{not_json}"), "history"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("did not answer JSON"), "{out}");
    let not_http = answering(b"SSH-2.0-OpenSSH\r\n", 2);
    let (code, out) = ctl_alone(&["--agent", &format!("http://{not_http}"), "history"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("did not answer HTTP"), "{out}");
    let (code, out) = ctl_alone(&["--agent", &format!("http://{not_http}"), "plan"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("did not answer HTTP"), "{out}");
}
