//! Writes over HTTP through a real `kube::Client`: creates, replaces and patches, their
//! preconditions, the status subresource, the change log and chosen failures.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

use super::*;
use crate::kube_api::KubeApi;

#[test]
fn merge_patch_is_rfc_7386() {
    let mut v = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
    merge_patch(
        &mut v,
        &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": 1}}),
    );
    assert_eq!(
        v,
        json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}})
    );
    merge_patch(&mut v, &json!({"c": "flat"}));
    assert_eq!(v["c"], "flat");
}

fn code(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("not an API error: {other}"),
    }
}

fn lease(holder: &str) -> Lease {
    Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("l".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_created_and_replaced_with_optimistic_concurrency_and_watched() {
    let api = KubeApi::start().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(api.client_as("u1").unwrap(), "ns");
    let events = leases
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let pp = PostParams::default();
    let created = leases.create(&pp, &lease("a")).await.unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("ns"));
    assert_eq!(
        code(leases.create(&pp, &lease("b")).await.unwrap_err()).0,
        409
    );

    let mut next = created.clone();
    next.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let replaced = leases.replace("l", &pp, &next).await.unwrap();
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    // The same resourceVersion again is stale now.
    next.spec.as_mut().unwrap().holder_identity = Some("c".into());
    let err = code(leases.replace("l", &pp, &next).await.unwrap_err());
    assert_eq!(err, (409, "Conflict".to_string()));
    // Without one, the update is unconditional.
    next.metadata.resource_version = None;
    leases.replace("l", &pp, &next).await.unwrap();
    let got = leases.get("l").await.unwrap();
    assert_eq!(got.spec.unwrap().holder_identity.as_deref(), Some("c"));
    let err = code(
        leases
            .replace("missing", &pp, &lease("a"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.0, 400, "the name in the body is not the URL's");

    let seen: Vec<String> = tokio::time::timeout(
        Duration::from_secs(10),
        events
            .map_ok(|e| match e {
                WatchEvent::Added(l) | WatchEvent::Modified(l) => {
                    l.spec.unwrap().holder_identity.unwrap()
                }
                other => panic!("unexpected {other:?}"),
            })
            .take(3)
            .try_collect(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen, ["a", "b", "c"]);
    let writes = api.writes();
    assert_eq!(writes.len(), 3);
    assert!(
        writes
            .iter()
            .all(|w| w.kind == "Lease" && w.user.as_deref() == Some("u1"))
    );
    assert!(
        api.requests()
            .iter()
            .all(|r| r.user.as_deref() == Some("u1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_subresource_alone_changes_the_status() {
    let api = KubeApi::start().await.unwrap();
    api.apply(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                     "metadata": {"name": "web", "namespace": "ns"},
                     "spec": {"ingressClassName": "haproxy"}}),
    )
    .unwrap();
    let ingresses: Api<Ingress> = Api::namespaced(api.client().unwrap(), "ns");
    let pp = PatchParams::default();
    let status = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}});
    let patch = json!({"spec": {"ingressClassName": "other"}, "status": status});
    let got = ingresses
        .patch_status("web", &pp, &Patch::Merge(&patch))
        .await
        .unwrap();
    let v = serde_json::to_value(&got).unwrap();
    assert_eq!(
        (&v["spec"]["ingressClassName"], &v["status"]),
        (&json!("haproxy"), &status)
    );
    // Writes to the object keep the status.
    let patch = json!({"metadata": {"labels": {"x": "y"}}, "status": null});
    let got = ingresses
        .patch("web", &pp, &Patch::Merge(&patch))
        .await
        .unwrap();
    let v = serde_json::to_value(&got).unwrap();
    assert_eq!(
        (&v["metadata"]["labels"]["x"], &v["status"]),
        (&json!("y"), &status)
    );
    // Strategic merge and apply patches are applied as merge patches.
    let cleared = json!({"status": {"loadBalancer": {"ingress": null}}});
    ingresses
        .patch_status("web", &pp, &Patch::Strategic(&cleared))
        .await
        .unwrap();
    assert_eq!(
        api.get("Ingress", "ns", "web").unwrap().unwrap()["status"],
        json!({"loadBalancer": {}})
    );
    let apply = PatchParams::apply("test");
    ingresses
        .patch_status("web", &apply, &Patch::Apply(&json!({"status": status})))
        .await
        .unwrap();
    // A resourceVersion in a patch, or a PUT, is a precondition.
    let mut stale = ingresses.get_status("web").await.unwrap();
    stale.metadata.resource_version = Some("2".into());
    let err = code(
        ingresses
            .replace_status("web", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.0, 409);
    let patch = json!({"metadata": {"resourceVersion": "2"}, "status": null});
    let err = code(
        ingresses
            .patch_status("web", &pp, &Patch::Merge(&patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.0, 409);
    let err = code(
        ingresses
            .patch_status("nope", &pp, &Patch::Merge(&patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(err, (404, "NotFound".to_string()));
    // Five changes: the apply, the status, the label, the cleared and the applied status.
    let rvs: Vec<u64> = api.writes().iter().map(|w| w.resource_version).collect();
    assert_eq!(rvs, [2, 3, 4, 5, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chosen_requests_fail_until_told_otherwise() {
    let api = KubeApi::start().await.unwrap();
    let ok: Api<Lease> = Api::namespaced(api.client_as("ok").unwrap(), "ns");
    let failing: Api<Lease> = Api::namespaced(api.client_as("bad").unwrap(), "ns");
    api.fail_requests(500, |r| r.user.as_deref() == Some("bad"));
    assert_eq!(code(failing.get_opt("l").await.unwrap_err()).0, 500);
    assert!(ok.get_opt("l").await.unwrap().is_none());
    api.stop_failing();
    assert!(failing.get_opt("l").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_next_requests_fail_when_counted() {
    let api = KubeApi::start().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(api.client().unwrap(), "ns");
    api.fail_next(2, 500, |r| r.path.ends_with("/leases/l"));
    assert!(
        leases.list(&Default::default()).await.is_ok(),
        "not matched"
    );
    assert_eq!(code(leases.get_opt("l").await.unwrap_err()).0, 500);
    assert_eq!(code(leases.get_opt("l").await.unwrap_err()).0, 500);
    assert!(
        leases.get_opt("l").await.unwrap().is_none(),
        "the third is answered"
    );
    assert!(leases.get_opt("l").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_requests_are_answered_no_sooner_than_the_delay() {
    let api = KubeApi::start().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(api.client().unwrap(), "ns");
    let by = Duration::from_millis(300);
    api.delay_requests(by, |r| r.path.ends_with("/leases/slow"));
    let asked = std::time::Instant::now();
    assert!(leases.get_opt("slow").await.unwrap().is_none());
    // A lower bound (what the control promises), not a speed assertion.
    assert!(asked.elapsed() >= by, "{:?}", asked.elapsed());
    assert!(leases.get_opt("fast").await.unwrap().is_none());
    api.stop_delaying();
    assert!(leases.get_opt("slow").await.unwrap().is_none());
}
