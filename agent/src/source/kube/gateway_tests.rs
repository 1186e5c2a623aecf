//! The Kubernetes source and the Gateway API group, against the test API server: followed
//! when served, one problem and no watches when not, its objects dropped when it goes away;
//! Ingresses synced either way.

use std::time::Duration;

use integration::{KubeApi, wait_until};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::*;
use crate::store::{ObjectKey, Store};

const DEADLINE: Duration = Duration::from_secs(15);
const V1: &str = "gateway.networking.k8s.io/v1";

struct Source {
    store: Store,
    problems: watch::Receiver<Vec<Problem>>,
    task: JoinHandle<()>,
}

impl Drop for Source {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start(api: &KubeApi) -> Source {
    let store = Store::new();
    let (tx, problems) = watch::channel(Vec::new());
    let task = tokio::spawn(super::super::run(
        api.client().unwrap(),
        None,
        Vec::new(),
        store.clone(),
        tx,
        std::future::pending(),
    ));
    Source {
        store,
        problems,
        task,
    }
}

fn objects(api: &KubeApi) {
    api.apply(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                     "metadata": {"namespace": "shop", "name": "web"}, "spec": {}}),
    )
    .unwrap();
    api.apply(
        json!({"apiVersion": V1, "kind": "GatewayClass", "metadata": {"name": "haproxy"},
                     "spec": {"controllerName": "haproxy-agent.io/gateway-controller"}}),
    )
    .unwrap();
    api.apply(json!({"apiVersion": V1, "kind": "Gateway",
                     "metadata": {"namespace": "infra", "name": "gw"},
                     "spec": {"gatewayClassName": "haproxy",
                              "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}))
        .unwrap();
    api.apply(json!({"apiVersion": V1, "kind": "HTTPRoute",
                     "metadata": {"namespace": "shop", "name": "r"},
                     "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}],
                              "hostnames": ["shop.example.com"]}}))
        .unwrap();
    api.apply(
        json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
                     "metadata": {"namespace": "shop", "name": "g"},
                     "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                        "namespace": "infra"}],
                              "to": [{"group": "", "kind": "Service"}]}}),
    )
    .unwrap();
}

async fn synced(source: &Source) {
    let mut rx = source.store.subscribe();
    tokio::time::timeout(DEADLINE, rx.wait_for(|s| s.synced))
        .await
        .expect("the store syncs")
        .unwrap();
}

/// Requests of the Gateway API's paths (discovery, lists, watches).
fn group_requests(api: &KubeApi) -> Vec<String> {
    api.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/apis/gateway.networking.k8s.io"))
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_api_objects_are_followed_when_the_cluster_serves_them() {
    let api = KubeApi::start().await.unwrap();
    objects(&api);
    let source = start(&api);
    synced(&source).await;
    let snap = source.store.snapshot();
    assert!(
        snap.gateway_classes
            .contains_key(&ObjectKey::new("", "haproxy"))
    );
    assert_eq!(
        snap.gateways[&ObjectKey::new("infra", "gw")].spec.listeners[0].port,
        80
    );
    let route = &snap.http_routes[&ObjectKey::new("shop", "r")];
    assert_eq!(route.spec.hostnames, ["shop.example.com"]);
    assert_eq!(
        route.metadata.generation,
        Some(1),
        "the server keeps generation"
    );
    assert!(
        snap.reference_grants
            .contains_key(&ObjectKey::new("shop", "g"))
    );
    assert!(snap.ingresses.contains_key(&ObjectKey::new("shop", "web")));
    assert!(source.problems.borrow().is_empty());

    // A change arrives by the watch; so does a deletion.
    api.apply(json!({"apiVersion": V1, "kind": "HTTPRoute",
                     "metadata": {"namespace": "shop", "name": "r"},
                     "spec": {"hostnames": ["new.example.com"]}}))
        .unwrap();
    api.delete("ReferenceGrant", "shop", "g").unwrap();
    wait_until("the change and the deletion", DEADLINE, async || {
        let snap = source.store.snapshot();
        snap.http_routes
            .get(&ObjectKey::new("shop", "r"))
            .is_some_and(|r| {
                r.spec.hostnames == ["new.example.com"] && r.metadata.generation == Some(2)
            })
            && snap.reference_grants.is_empty()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_the_gateway_api_gets_one_problem_and_ingresses_still_sync() {
    let api = KubeApi::start().await.unwrap();
    api.serve_gateway_api(false);
    objects(&api);
    let source = start(&api);
    synced(&source).await;
    let snap = source.store.snapshot();
    assert!(snap.ingresses.contains_key(&ObjectKey::new("shop", "web")));
    assert!(snap.gateways.is_empty() && snap.http_routes.is_empty());
    let problems = source.problems.borrow().clone();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].kind, ProblemKind::ApiGroup);
    assert_eq!(problems[0].reason, ProblemReason::NotServed);
    assert!(
        problems[0].to_string().contains(
            "gateway.networking.k8s.io/v1 gatewayclasses, gateways, httproutes not served"
        ),
        "{}",
        problems[0]
    );
    // Discovery once; no list or watch of the group, now or after more changes.
    api.apply(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                     "metadata": {"namespace": "shop", "name": "more"}, "spec": {}}),
    )
    .unwrap();
    wait_until("the new Ingress", DEADLINE, async || {
        source.store.snapshot().ingresses.len() == 2
    })
    .await
    .unwrap();
    assert_eq!(
        group_requests(&api),
        ["GET /apis/gateway.networking.k8s.io/v1?"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_going_away_drops_its_objects_and_names_the_problem() {
    let api = KubeApi::start().await.unwrap();
    objects(&api);
    let source = start(&api);
    synced(&source).await;
    assert_eq!(source.store.snapshot().http_routes.len(), 1);
    api.serve_gateway_api(false);
    wait_until("the Gateway API objects to go", DEADLINE, async || {
        let snap = source.store.snapshot();
        snap.gateway_classes.is_empty()
            && snap.gateways.is_empty()
            && snap.http_routes.is_empty()
            && snap.reference_grants.is_empty()
    })
    .await
    .unwrap();
    // The group's watches may fail (named `unavailable`) before discovery sees it gone;
    // what is left is the one problem saying the group is not served.
    wait_until("only the not-served problem", DEADLINE, async || {
        let problems = source.problems.borrow().clone();
        problems.len() == 1 && problems[0].kind == ProblemKind::ApiGroup
    })
    .await
    .unwrap();
    assert_eq!(
        source.store.snapshot().ingresses.len(),
        1,
        "the Ingress stays"
    );
}

#[test]
fn discovery_results_name_what_is_missing() {
    let p = not_served_problem("gateway.networking.k8s.io/v1 httproutes not served");
    assert_eq!(p.object, "gateway.networking.k8s.io");
    assert!(
        p.message.contains("Ingresses are served as ever"),
        "{}",
        p.message
    );
}
