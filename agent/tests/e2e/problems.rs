//! Bad input: each bad file or object is a named problem in `/debug/state` (the object, and
//! the field when one is to blame) while every other route is still served, and nothing
//! hostile reaches haproxy.cfg, the map files or HAProxy's live maps.

use integration::EchoServer;
use serde_json::Value;

use crate::support::{
    Agent, CONVERGE, Ep, Options, eventually, ingress, quote, route, service, slice,
};

const HOST: &str = "bad.example";

/// A Service whose last line is not YAML (`mapping values are not allowed`), on line 9.
const BROKEN_YAML: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n  \
                           namespace: default\nspec:\n  ports:\n    - port: 80\n      \
                           targetPort: 8080: HOSTILE-YAML\n";
const BROKEN_LINE: usize = 9;

/// One expected problem: kind, object, field, a piece of the message.
struct Want {
    kind: &'static str,
    object: String,
    field: Option<&'static str>,
    message: &'static str,
}

fn matches(p: &Value, want: &Want) -> bool {
    p["kind"] == want.kind
        && p["object"] == want.object.as_str()
        && match want.field {
            Some(f) => p["field"] == f,
            None => p["field"].is_null(),
        }
        && p["message"]
            .as_str()
            .is_some_and(|m| m.contains(want.message))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_named_problem_and_everything_else_is_served() {
    let web = EchoServer::start("web").unwrap();
    let port = web.addr().port();
    let good = [
        service("web", 80, port),
        slice("web-1", "web", port, &[Ep::ready("127.0.0.1")]),
        ingress("good", &[], &[route("/good", "web", 80)]),
    ];
    let agent = Agent::start(&[("good.yaml", &good.join("---\n"))], Options::default())
        .await
        .unwrap();
    assert_eq!(
        agent.get(HOST, "/good").await.unwrap().echo_name.as_deref(),
        Some("web")
    );

    // The bad input arrives while the agent runs.
    agent.write_manifest("broken.yaml", BROKEN_YAML).unwrap();
    agent
        .write_manifest(
            "missing.yaml",
            &ingress("to-missing", &[], &[route("/missing", "nope", 80)]),
        )
        .unwrap();
    // One Ingress: a path with a newline, one with `;`, and a good one, which is kept.
    let hostile = ingress(
        "hostile",
        &[],
        &[
            route("/nl\nHOSTILE-NL", "web", 80),
            route("/semi;HOSTILE-SEMI", "web", 80),
            route("/hostile-ok", "web", 80),
        ],
    );
    assert!(hostile.contains(&quote("/nl\nHOSTILE-NL")), "{hostile}");
    agent.write_manifest("hostile.yaml", &hostile).unwrap();
    agent
        .write_manifest(
            "port.yaml",
            &ingress("bad-port", &[], &[route("/port", "web", 70000)]),
        )
        .unwrap();

    let broken = agent.manifest_path("broken.yaml");
    let wants = [
        Want {
            kind: "ManifestFile",
            object: format!("{}:{BROKEN_LINE}", broken.display()),
            field: None,
            message: "mapping values are not allowed",
        },
        Want {
            kind: "Ingress",
            object: "default/to-missing".into(),
            field: Some("spec.rules[0].http.paths[0].backend.service"),
            message: "service default/nope does not exist",
        },
        Want {
            kind: "Ingress",
            object: "default/hostile".into(),
            field: Some("spec.rules[0].http.paths[0].path"),
            message: "",
        },
        Want {
            kind: "Ingress",
            object: "default/hostile".into(),
            field: Some("spec.rules[1].http.paths[0].path"),
            message: "",
        },
        Want {
            kind: "Ingress",
            object: "default/bad-port".into(),
            field: Some("spec.rules[0].http.paths[0].backend.service"),
            message: "port 70000 is out of range",
        },
    ];
    let mut last = Value::Null;
    let found = eventually("every problem is in /debug/state", CONVERGE, async || {
        let Ok(state) = agent.debug_state().await else {
            return false;
        };
        last = state["problems"].clone();
        let problems = last.as_array().cloned().unwrap_or_default();
        wants.iter().all(|w| problems.iter().any(|p| matches(p, w)))
    })
    .await;
    if let Err(e) = found {
        panic!("{e}; problems: {last:#}");
    }
    let problems = last.as_array().unwrap();
    assert_eq!(problems.len(), wants.len(), "unexpected problems: {last:#}");

    // Every other route is served, the good path of the hostile Ingress included.
    eventually("/hostile-ok is served", CONVERGE, async || {
        agent
            .get(HOST, "/hostile-ok")
            .await
            .is_ok_and(|r| r.echo_name.as_deref() == Some("web"))
    })
    .await
    .unwrap();
    assert_eq!(
        agent.get(HOST, "/good").await.unwrap().echo_name.as_deref(),
        Some("web")
    );
    for path in ["/missing", "/port", "/semi;HOSTILE-SEMI", "/nl"] {
        assert_eq!(agent.get(HOST, path).await.unwrap().status, 404, "{path}");
    }
    assert_eq!(agent.healthz().await.unwrap(), 200);
    let metrics = agent.metrics().await.unwrap();
    assert!(
        metrics.contains("haproxy_agent_problems{kind=\"ingress\",reason=\"invalid\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("haproxy_agent_problems{kind=\"manifest_file\",reason=\"invalid\"} 1"),
        "{metrics}"
    );

    // Nothing hostile in the files HAProxy reads, nor in its live maps.
    let files = agent.config_files().unwrap();
    assert!(files.iter().any(|(p, _)| p.ends_with("haproxy.cfg")));
    for (path, text) in &files {
        for bad in [
            "HOSTILE",
            "nope",
            "70000",
            "to-missing",
            "bad-port",
            "broken",
        ] {
            assert!(
                !text.contains(bad),
                "{bad:?} reached {}:\n{text}",
                path.display()
            );
        }
    }
    for name in ["exact.map", "prefix.map"] {
        let live = agent.map(name).await.unwrap();
        assert!(
            live.keys().any(|k| k.contains("/hostile-ok")),
            "{name}: {live:?}"
        );
        assert!(
            !live
                .keys()
                .any(|k| k.contains("HOSTILE") || k.contains(';')),
            "{live:?}"
        );
    }
}
