//! ingress-nginx annotations on a real agent and HAProxy: honoured ones reach haproxy.cfg,
//! the others are named problems (with their reason, in `/debug/state` and the metrics),
//! snippets never reach a file, and an ingress-nginx canary Ingress takes no traffic.

use integration::EchoServer;
use serde_json::Value;

use crate::support::{
    Agent, CONVERGE, Ep, Options, backend, eventually, ingress, route, service, slice,
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
            (
                &k("configuration-snippet"),
                "add_header X-HOSTILE-SNIPPET 1;",
            ),
            (&k("rewrite-target"), "/"),
        ],
        &[route("/app", "web", 80)],
    );
    let canary_ingress = ingress(
        "legacy-canary",
        &[(&k("canary"), "true"), (&k("canary-weight"), "100")],
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
        (k("rewrite-target"), "unsupported_annotation"),
        (k("canary"), "unsupported_annotation"),
        (k("canary-weight"), "unsupported_annotation"),
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
        "haproxy_agent_problems{kind=\"ingress\",reason=\"unsupported_annotation\"} 3",
        "haproxy_agent_problems{kind=\"ingress\",reason=\"refused_annotation\"} 1",
    ] {
        assert!(metrics.contains(sample), "want {sample} in:\n{metrics}");
    }

    // The canary Ingress takes nothing: every request goes to the main Ingress's Service.
    for _ in 0..20 {
        let reply = agent.get(HOST, "/app").await.unwrap();
        assert_eq!(reply.echo_name.as_deref(), Some("web"));
    }
}
