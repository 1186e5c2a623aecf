//! Gateway API objects read from `--manifests` by the agent binary: a Gateway API manifest
//! of a version the agent does not read is a named problem, the Ingress next to it is still
//! served, and `/debug/state` and `ctl gateway` carry the Gateway API statuses (computed by
//! translation; nothing is written in manifests mode).

use integration::EchoServer;
use integration::kube_api::GATEWAY_MANIFESTS;

use crate::ctl::against_an_agent::ctl;
use crate::support::{Agent, CONVERGE, Ep, Options, eventually, ingress, route, service, slice};

const HOST: &str = "bad.example";

const OLD_ROUTE: &str = "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute\n\
                         metadata: {name: old, namespace: default}\nspec: {}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_api_manifests_are_read_and_a_wrong_version_is_named() {
    let web = EchoServer::start("web").unwrap();
    let port = web.addr().port();
    let ingress_side = [
        service("web", 80, port),
        slice("web-1", "web", port, &[Ep::ready("127.0.0.1")]),
        ingress("good", &[], &[route("/good", "web", 80)]),
    ];
    let options = Options {
        extra: vec![
            "--gateway-controller-name".into(),
            "example.com/agent".into(),
        ],
        ..Options::default()
    };
    let agent = Agent::start(
        &[
            ("ingress.yaml", &ingress_side.join("---\n")),
            ("gateway.yaml", GATEWAY_MANIFESTS),
        ],
        options,
    )
    .await
    .unwrap();
    assert_eq!(
        agent.get(HOST, "/good").await.unwrap().echo_name.as_deref(),
        Some("web")
    );
    agent.write_manifest("old-route.yaml", OLD_ROUTE).unwrap();
    let object = format!("{}:1", agent.manifest_path("old-route.yaml").display());
    eventually("the wrong version named", CONVERGE, async || {
        let state = agent.debug_state().await.unwrap_or_default();
        state["problems"].as_array().into_iter().flatten().any(|p| {
            p["kind"] == "ManifestFile"
                && p["object"] == object.as_str()
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("write it as gateway.networking.k8s.io/v1"))
        })
    })
    .await
    .unwrap();
    assert_eq!(
        agent.get(HOST, "/good").await.unwrap().echo_name.as_deref(),
        Some("web"),
        "the Ingress is still served"
    );

    let state = agent.debug_state().await.unwrap();
    let statuses = &state["gateway_api"];
    for kind in ["gatewayclasses", "gateways", "httproutes"] {
        assert!(statuses[kind].is_object(), "{kind} in {statuses}");
    }
    let (code, out) = ctl(&agent, &["--output", "json", "gateway"]);
    assert_eq!(code, 0, "{out}");
    let printed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(&printed, statuses);
    let (code, out) = ctl(&agent, &["gateway"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("KIND  OBJECT  WHERE  CONDITION  STATUS  REASON  MESSAGE"),
        "{out}"
    );
}
