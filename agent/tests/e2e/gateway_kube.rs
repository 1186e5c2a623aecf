//! The Gateway API from a Kubernetes API (the test server of `integration::KubeApi`, real
//! list/watch and status writes over TCP): a listener's namespace selector follows the
//! Namespaces' labels with map updates only, and every status condition's
//! `observedGeneration` follows a spec change's generation bump (the upstream
//! `*ObservedGenerationBump` conformance tests, which manifests mode cannot run).

use integration::{EchoServer, KubeApi};
use serde_json::{Value, json};

use crate::kube::{kubeconfig, service, slice};
use crate::support::{Agent, CONVERGE, Options, eventually};

fn class() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "haproxy"},
        "spec": {"controllerName": "haproxy-agent.io/gateway-controller"}
    })
}

/// Gateway `infra/gw` on the shared HTTP bind: listener `base` (base.test) takes routes of
/// every namespace, `sel` (sel.test) those of namespaces labelled `team: web`.
fn gateway() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"namespace": "infra", "name": "gw"},
        "spec": {"gatewayClassName": "haproxy", "listeners": [
            {"name": "base", "protocol": "HTTP", "port": 80, "hostname": "base.test",
             "allowedRoutes": {"namespaces": {"from": "All"}}},
            {"name": "sel", "protocol": "HTTP", "port": 80, "hostname": "sel.test",
             "allowedRoutes": {"namespaces": {"from": "Selector",
                                              "selector": {"matchLabels": {"team": "web"}}}}}
        ]}
    })
}

/// HTTPRoute `shop/<name>` on listener `section` of `infra/gw`, to Service `shop/web`.
fn route(name: &str, section: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"namespace": "shop", "name": name},
        "spec": {
            "parentRefs": [{"name": "gw", "namespace": "infra", "sectionName": section}],
            "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]
        }
    })
}

fn namespace(labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": "shop", "labels": labels}})
}

/// The HTTPRoute's `Accepted` reason for its first parent, as the agent wrote it.
fn accepted_reason(api: &KubeApi, name: &str) -> String {
    let route = api
        .get("HTTPRoute", "shop", name)
        .unwrap()
        .unwrap_or_default();
    route["status"]["parents"][0]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Accepted")
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn agent_for(api: &KubeApi, dir: &tempfile::TempDir) -> Agent {
    let options = Options {
        kubeconfig: Some(kubeconfig(api, dir.path())),
        ..Options::default()
    };
    Agent::start(&[], options).await.unwrap()
}

/// Which echo server answers `host` (`None`: no backend, with its status).
async fn answer(agent: &Agent, host: &str) -> Result<String, u16> {
    match agent.get(host, "/").await {
        Ok(r) => r.echo_name.ok_or(r.status),
        Err(_) => Err(0),
    }
}

/// A test API server with Service `shop/web` (one endpoint: the echo server returned) and
/// `objects`.
async fn api_with(objects: &[Value]) -> (KubeApi, EchoServer) {
    let web = EchoServer::start("web").unwrap();
    let api = KubeApi::start().await.unwrap();
    api.apply(service("shop", "web")).unwrap();
    let addrs = ["127.0.0.1".to_string()];
    api.apply(slice("shop", "web-1", "web", web.addr().port(), &addrs))
        .unwrap();
    for o in objects {
        api.apply(o).unwrap();
    }
    (api, web)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_labels_decide_selected_routes_with_map_updates_only() {
    let (api, _web) = api_with(&[
        namespace(json!({"team": "other"})),
        class(),
        gateway(),
        route("base", "base"),
        route("sel", "sel"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    eventually("the base route served", CONVERGE, async || {
        answer(&agent, "base.test").await.as_deref() == Ok("web")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail()));
    assert_eq!(
        answer(&agent, "sel.test").await,
        Err(404),
        "not selected yet"
    );
    eventually("the route named not allowed", CONVERGE, async || {
        accepted_reason(&api, "sel") == "NotAllowedByListeners"
    })
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();

    // Labelled: the route attaches; unlabelled: it detaches. Map commands only.
    api.apply(namespace(json!({"team": "web"}))).unwrap();
    eventually("the selected route served", CONVERGE, async || {
        answer(&agent, "sel.test").await.as_deref() == Ok("web")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail()));
    eventually("the route accepted", CONVERGE, async || {
        accepted_reason(&api, "sel") == "Accepted"
    })
    .await
    .unwrap();
    api.apply(namespace(json!({}))).unwrap();
    eventually("the route detached", CONVERGE, async || {
        answer(&agent, "sel.test").await == Err(404)
    })
    .await
    .unwrap();
    assert_eq!(answer(&agent, "base.test").await.as_deref(), Ok("web"));
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "namespace label changes are map updates"
    );
}

/// Each condition's `observedGeneration` in `status` (`conditions` at the top, in each
/// listener and in each route parent).
fn observed(object: &Value) -> Vec<i64> {
    let status = &object["status"];
    let lists = std::iter::once(&status["conditions"])
        .chain(
            status["listeners"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| &l["conditions"]),
        )
        .chain(
            status["parents"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| &p["conditions"]),
        );
    lists
        .flat_map(|l| l.as_array().cloned().unwrap_or_default())
        .map(|c| c["observedGeneration"].as_i64().unwrap_or(-1))
        .collect()
}

fn generation(object: &Value) -> i64 {
    object["metadata"]["generation"].as_i64().unwrap_or(-1)
}

/// Waits until every condition of `kind ns/name` observes its current generation; returns
/// that generation.
async fn observed_current(api: &KubeApi, agent: &Agent, kind: &str, ns: &str, name: &str) -> i64 {
    let get = || api.get(kind, ns, name).unwrap().unwrap_or_default();
    eventually(
        &format!("{kind} {name}: observedGeneration current"),
        CONVERGE,
        async || {
            let o = get();
            let seen = observed(&o);
            !seen.is_empty() && seen.iter().all(|g| *g == generation(&o))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {}\n{}", get()["status"], agent.log_tail()));
    generation(&get())
}

/// A JSON merge patch of `kind ns/name`'s spec through a real `kube::Client`.
async fn patch_spec(api: &KubeApi, kind: &str, ns: &str, name: &str, spec: Value) {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", kind);
    let plural = match kind {
        "GatewayClass" => "gatewayclasses",
        "Gateway" => "gateways",
        _ => "httproutes",
    };
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    let client = api.client().unwrap();
    let objects: Api<DynamicObject> = if ns.is_empty() {
        Api::all_with(client, &resource)
    } else {
        Api::namespaced_with(client, ns, &resource)
    };
    objects
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observed_generation_follows_spec_bumps_of_class_gateway_and_route() {
    let (api, _web) = api_with(&[class(), gateway(), route("base", "base")]).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    let bumps = [
        (
            "GatewayClass",
            "",
            "haproxy",
            json!({"description": "bumped"}),
        ),
        (
            "Gateway",
            "infra",
            "gw",
            json!({"listeners": [{"name": "base", "protocol": "HTTP", "port": 80,
                                  "hostname": "base.test",
                                  "allowedRoutes": {"namespaces": {"from": "All"}}}]}),
        ),
        (
            "HTTPRoute",
            "shop",
            "base",
            json!({"hostnames": ["base.test"]}),
        ),
    ];
    for (kind, ns, name, spec) in bumps {
        let before = observed_current(&api, &agent, kind, ns, name).await;
        patch_spec(&api, kind, ns, name, spec).await;
        let after = generation(&api.get(kind, ns, name).unwrap().unwrap());
        assert!(after > before, "{kind}: generation {before} -> {after}");
        assert_eq!(
            observed_current(&api, &agent, kind, ns, name).await,
            after,
            "{kind}"
        );
    }
    assert_eq!(answer(&agent, "base.test").await.as_deref(), Ok("web"));
}
