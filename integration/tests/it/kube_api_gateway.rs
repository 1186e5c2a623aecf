//! The test API server's Gateway API group (gateway.networking.k8s.io) with the real kubectl
//! and a real `kube::Client`: discovery, `apply`, table output, a watcher seeing status
//! writes, and the `status` subresource (GET, PUT, merge PATCH) that alone changes the status
//! while `metadata.generation` follows the spec. Fails when kubectl is not installed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use integration::kube_api::GATEWAY_MANIFESTS;
use integration::kubectl::rows;
use integration::{KubeApi, Kubectl, wait_until};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(10);
const GROUP: &str = "gateway.networking.k8s.io";

fn resource(kind: &str, version: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: version.into(),
        api_version: format!("{GROUP}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn accepted(status: &str) -> Value {
    json!({"type": "Accepted", "status": status, "reason": "Accepted", "message": "",
           "lastTransitionTime": "2026-01-01T00:00:00Z"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_api_kinds_list_watch_and_take_status_from_kubectl_and_kube() {
    let api = KubeApi::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubectl = Kubectl::for_api(&api, dir.path()).unwrap();
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, GATEWAY_MANIFESTS).unwrap();
    let applied = kubectl
        .run(&["apply", "-f", file.to_str().unwrap()])
        .await
        .unwrap();
    for line in [
        "gatewayclass.gateway.networking.k8s.io/haproxy created",
        "gateway.gateway.networking.k8s.io/gw created",
        "httproute.gateway.networking.k8s.io/r created",
        "referencegrant.gateway.networking.k8s.io/g created",
    ] {
        assert!(applied.contains(line), "{line:?} not in:\n{applied}");
    }

    // kube's own discovery finds the kinds, the status subresources and both versions.
    let client = api.client().unwrap();
    let group = kube::discovery::group(&client, GROUP).await.unwrap();
    assert_eq!(group.preferred_version_or_latest(), "v1");
    let (route_resource, caps) = group.recommended_kind("HTTPRoute").unwrap();
    assert_eq!(route_resource.plural, "httproutes");
    assert!(
        caps.subresources
            .iter()
            .any(|(r, _)| r.plural == "httproutes/status" || r.plural == "status"),
        "{:?}",
        caps.subresources
    );
    let v1beta1 = group.versioned_resources("v1beta1");
    assert!(
        v1beta1.iter().any(|(r, _)| r.kind == "ReferenceGrant"),
        "{v1beta1:?}"
    );

    // A watcher of HTTPRoutes, recording each route's parents as it sees them.
    let routes: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &resource("HTTPRoute", "v1", "httproutes"),
    );
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let recorder = {
        let seen = seen.clone();
        let stream = watcher(routes.clone(), watcher::Config::default()).applied_objects();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(o)) = stream.next().await {
                seen.lock()
                    .unwrap()
                    .push(o.data["status"]["parents"].clone());
            }
        })
    };
    wait_until("the watcher's list", DEADLINE, async || {
        !seen.lock().unwrap().is_empty()
    })
    .await
    .unwrap();

    // A merge patch of the status subresource: the status only, generation unchanged.
    let status = json!({"status": {"parents": [{"parentRef": {"name": "gw", "namespace": "infra"},
        "controllerName": "haproxy-agent.io/gateway-controller", "conditions": [accepted("True")]}]}});
    let patched = routes
        .patch_status("r", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(patched.data["status"], status["status"]);
    assert_eq!(patched.metadata.generation, Some(1));
    assert_eq!(
        patched.data["spec"]["hostnames"],
        json!(["shop.example.com"])
    );
    let got = routes.get_status("r").await.unwrap();
    assert_eq!(got.data["status"], status["status"]);
    wait_until("the watcher sees the status", DEADLINE, async || {
        seen.lock().unwrap().last() == Some(&status["status"]["parents"])
    })
    .await
    .unwrap();
    recorder.abort();
    // A write to the object itself keeps the stored status, and bumps generation.
    let mut obj = routes.get("r").await.unwrap();
    obj.data["spec"]["hostnames"] = json!(["new.example.com"]);
    obj.data["status"] = json!({"parents": []});
    let replaced = routes
        .replace("r", &PostParams::default(), &obj)
        .await
        .unwrap();
    assert_eq!(replaced.metadata.generation, Some(2));
    assert_eq!(replaced.data["status"], status["status"]);

    // PUT of a Gateway's status, with its resourceVersion; kubectl's own status patch.
    let gateways: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "infra",
        &resource("Gateway", "v1", "gateways"),
    );
    let mut gw = gateways.get("gw").await.unwrap();
    gw.data["status"] = json!({"addresses": [{"type": "IPAddress", "value": "203.0.113.7"}],
        "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed",
                        "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    let put = gateways
        .replace_status("gw", &PostParams::default(), &gw)
        .await
        .unwrap();
    assert_eq!(put.data["status"]["addresses"][0]["value"], "203.0.113.7");
    let class_patch = json!({"status": {"conditions": [accepted("True")]}}).to_string();
    let out = kubectl
        .run(&[
            "patch",
            "gatewayclass",
            "haproxy",
            "--subresource=status",
            "--type=merge",
            "-p",
            &class_patch,
        ])
        .await
        .unwrap();
    assert!(out.contains("patched"), "{out}");

    // Tables as the CRDs' printer columns print them.
    let classes = rows(&kubectl.run(&["get", "gatewayclass"]).await.unwrap());
    assert_eq!(classes[0], ["NAME", "CONTROLLER", "ACCEPTED", "AGE"]);
    assert_eq!(
        classes[1][..3],
        ["haproxy", "haproxy-agent.io/gateway-controller", "True"]
    );
    let both = rows(
        &kubectl
            .run(&["get", "gateway,httproute", "-A"])
            .await
            .unwrap(),
    );
    assert_eq!(
        both[0],
        ["NAMESPACE", "NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"],
        "{both:?}"
    );
    assert_eq!(
        both[1][..5],
        [
            "infra",
            "gateway.gateway.networking.k8s.io/gw",
            "haproxy",
            "203.0.113.7",
            "True"
        ]
    );
    assert_eq!(both[2][..3], ["NAMESPACE", "NAME", "HOSTNAMES"], "{both:?}");
    assert_eq!(
        both[3][..3],
        [
            "default",
            "httproute.gateway.networking.k8s.io/r",
            r#"["new.example.com"]"#
        ]
    );
    let grants = rows(
        &kubectl
            .run(&["get", "refgrant", "-n", "infra"])
            .await
            .unwrap(),
    );
    assert_eq!(grants[1][0], "g");

    // Without the CRDs: not discovered, 404 for its paths.
    api.serve_gateway_api(false);
    let err = kubectl
        .run(&["get", "gateways", "-A"])
        .await
        .unwrap_err()
        .to_string();
    // (kubectl's cached discovery may still name the resource: the server's 404 then.)
    assert!(
        err.contains("doesn't have a resource type")
            || err.contains("could not find the requested resource"),
        "{err}"
    );
    assert!(gateways.get("gw").await.is_err());
}
