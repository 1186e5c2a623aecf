//! `ctl route` traces Gateway API routes on the live HAProxy: it names the HTTPRoute rule a
//! request takes (and real requests land there), explains why each candidate fails for a
//! request no rule takes, and passes a host no Gateway route serves on to the Ingress maps.

use integration::{EchoServer, Req, request};

use crate::ctl::against_an_agent::{ctl, json};
use crate::support::{
    Agent, CONVERGE, Ep, IngressPath, NS, Options, backend, eventually, ingress, service, slice,
};

const GW_HOST: &str = "gw.test";
const ING_HOST: &str = "ing.test";

/// A GatewayClass, a Gateway with an HTTP listener on the shared bind (port 80), and an
/// HTTPRoute whose header-matching rule comes before its path-only rule.
fn gateway() -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: haproxy}}
spec: {{controllerName: haproxy-agent.io/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: {NS}}}
spec:
  gatewayClassName: haproxy
  listeners: [{{name: http, port: 80, protocol: HTTP}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: shop, namespace: {NS}}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [{GW_HOST}]
  rules:
    - matches: [{{path: {{type: PathPrefix, value: /api}}}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {{set: [{{name: x-gw, value: "1"}}]}}
      backendRefs: [{{name: api, port: 80}}]
    - matches:
        - path: {{type: PathPrefix, value: /api}}
          headers: [{{name: x-env, value: canary}}]
      backendRefs: [{{name: canary, port: 80}}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_route_names_the_httproute_rule_requests_take() {
    let names = ["api", "canary", "web"];
    let echoes: Vec<EchoServer> = names
        .iter()
        .map(|n| EchoServer::start(n).unwrap())
        .collect();
    let mut files: Vec<(String, String)> = names
        .iter()
        .zip(&echoes)
        .map(|(n, e)| {
            let port = e.addr().port();
            let text = [
                service(n, 80, port),
                slice(&format!("{n}-1"), n, port, &[Ep::ready("127.0.0.1")]),
            ];
            (format!("{n}.yaml"), text.join("---\n"))
        })
        .collect();
    files.push(("gateway.yaml".into(), gateway()));
    let web = IngressPath {
        host: Some(ING_HOST),
        path: "/",
        service: "web",
        port: 80,
    };
    files.push(("ingress.yaml".into(), ingress("site", &[], &[web])));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let agent = Agent::start(&refs, Options::default()).await.unwrap();
    let canary_req = || Req::new("GET", GW_HOST, "/api/x").header("x-env", "canary");
    eventually("the HTTPRoute served", CONVERGE, async || {
        let r = request(agent.http, canary_req()).await;
        r.is_ok_and(|r| r.echo_name.as_deref() == Some("canary"))
    })
    .await
    .unwrap();

    // The header rule wins over the path-only rule (more header matches: higher precedence),
    // though it is listed second; the trace names it, and the request landed there.
    let (code, out) = ctl(
        &agent,
        &[
            "--output",
            "json",
            "route",
            GW_HOST,
            "/api/x",
            "--header",
            "X-Env: canary",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let doc = json(&out);
    assert_eq!(
        doc["gateway"]["route"]["httproute"],
        format!("{NS}/shop"),
        "{out}"
    );
    assert_eq!(doc["gateway"]["route"]["rule"], "1", "{out}");
    assert_eq!(doc["backend"], backend("canary", 80).as_str(), "{out}");
    assert_eq!(doc["servers"][0]["state"], "UP", "{out}");

    // Without the header: the path-only rule, its filter, and a real request agrees.
    let (code, out) = ctl(&agent, &["route", GW_HOST, "/api/x"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("header x-env is absent"), "{out}");
    assert!(
        out.contains(&format!("HTTPRoute {NS}/shop, rule 0, match 0:")),
        "{out}"
    );
    assert!(out.contains("request header x-gw set to \"1\""), "{out}");
    let api = backend("api", 80);
    assert!(
        out.contains(&format!("backend {api}, weight 1 (100%)")),
        "{out}"
    );
    let reply = agent.get(GW_HOST, "/api/x").await.unwrap();
    assert_eq!(reply.echo_name.as_deref(), Some("api"));

    // A path no rule takes: each candidate's failure is named, and HAProxy answers 404.
    let (code, out) = ctl(&agent, &["--output", "json", "route", GW_HOST, "/other"]);
    assert_eq!(code, 0, "{out}");
    let doc = json(&out);
    assert_eq!(doc["gateway"]["answer"], 404, "{out}");
    let candidates = doc["gateway"]["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2, "{out}");
    for c in candidates {
        assert_eq!(c["matched"], false, "{out}");
        let why = c["why"].as_str().unwrap();
        assert!(
            why.contains("path \"/other\" does not match prefix \"/api\""),
            "{out}"
        );
    }
    assert_eq!(agent.get(GW_HOST, "/other").await.unwrap().status, 404);

    // A host only an Ingress serves: passed on to the Ingress maps, which find it.
    let (code, out) = ctl(&agent, &["--output", "json", "route", ING_HOST, "/x"]);
    assert_eq!(code, 0, "{out}");
    let doc = json(&out);
    assert_eq!(doc["gateway"]["passed_on"], true, "{out}");
    assert_eq!(doc["backend"], backend("web", 80).as_str(), "{out}");
    let reply = agent.get(ING_HOST, "/x").await.unwrap();
    assert_eq!(reply.echo_name.as_deref(), Some("web"));

    // A bind that is not a bind's name is refused clearly.
    let (code, out) = ctl(&agent, &["route", GW_HOST, "/", "--bind", "nope"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("--bind \"nope\" must be"), "{out}");
}
