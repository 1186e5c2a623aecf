//! The real kubectl against the test API server: discovery, `apply` of the quick start,
//! table output, a strategic merge patch, a client-side re-apply, a server-side apply,
//! the status subresource and `delete`. Fails when kubectl is not installed.

use std::path::PathBuf;
use std::time::Duration;

use integration::kubectl::rows;
use integration::{KubeApi, Kubectl};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Bound on waiting for a line of `kubectl get --watch`.
const DEADLINE: Duration = Duration::from_secs(10);

fn quickstart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart")
}

async fn started() -> (KubeApi, Kubectl, tempfile::TempDir) {
    let api = KubeApi::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubectl = Kubectl::for_api(&api, dir.path()).unwrap();
    (api, kubectl, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_quickstart_and_lists_it_as_the_real_server_prints_it() {
    let (api, kubectl, _dir) = started().await;
    let quickstart = quickstart();
    let applied = kubectl
        .run(&["apply", "-f", quickstart.to_str().unwrap()])
        .await
        .unwrap();
    for line in [
        "service/default-http-backend created",
        "endpointslice.discovery.k8s.io/heapster-xyz12 created",
        "ingressclass.networking.k8s.io/haproxy created",
        "ingress.networking.k8s.io/heapster-ingress created",
    ] {
        assert!(applied.contains(line), "{line:?} not in:\n{applied}");
    }
    let stored = api
        .get("Ingress", "kube-system", "heapster-ingress")
        .unwrap();
    assert_eq!(
        stored.unwrap()["spec"]["rules"][0]["http"]["paths"][0]["path"],
        "/api"
    );

    let again = kubectl
        .run(&["apply", "-f", quickstart.to_str().unwrap()])
        .await
        .unwrap();
    assert_eq!(again.matches("unchanged").count(), 6, "{again}");

    let ingresses = rows(&kubectl.run(&["get", "ingress", "-A"]).await.unwrap());
    assert_eq!(
        ingresses[0],
        [
            "NAMESPACE",
            "NAME",
            "CLASS",
            "HOSTS",
            "ADDRESS",
            "PORTS",
            "AGE"
        ]
    );
    assert_eq!(
        ingresses[1][..5],
        ["kube-system", "heapster-ingress", "haproxy", "*", "80"],
        "{ingresses:?}"
    );
    let services = rows(
        &kubectl
            .run(&["get", "svc", "-n", "kube-system"])
            .await
            .unwrap(),
    );
    assert_eq!(
        services[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(services.len(), 3, "{services:?}");
    let slices = rows(
        &kubectl
            .run(&[
                "get",
                "endpointslices",
                "-n",
                "kube-system",
                "heapster-xyz12",
            ])
            .await
            .unwrap(),
    );
    assert_eq!(
        slices[0],
        ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    );
    assert_eq!(
        slices[1][..4],
        ["heapster-xyz12", "IPv4", "18182", "127.0.0.1"]
    );
    let classes = rows(&kubectl.run(&["get", "ingressclass"]).await.unwrap());
    assert_eq!(
        classes[1][..3],
        ["haproxy", "haproxy-agent.io/ingress-controller", "<none>"]
    );
    let names = kubectl
        .run(&["get", "ing", "-A", "-o", "name"])
        .await
        .unwrap();
    assert_eq!(names.trim(), "ingress.networking.k8s.io/heapster-ingress");
    let resources = kubectl
        .run(&["api-resources", "--no-headers"])
        .await
        .unwrap();
    assert!(
        resources
            .lines()
            .any(|l| rows(l)[0][..2] == ["ingresses", "ing"]),
        "{resources}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_patches_reapplies_applies_server_side_and_deletes() {
    let (api, kubectl, dir) = started().await;
    let quickstart = quickstart();
    kubectl
        .run(&["apply", "-f", quickstart.to_str().unwrap()])
        .await
        .unwrap();
    let endpoints = |api: &KubeApi, name: &str| {
        api.get("EndpointSlice", "kube-system", name)
            .unwrap()
            .unwrap()["endpoints"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| e["addresses"][0].clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };

    // A strategic merge patch: the endpoints list is atomic, replaced whole.
    let patch = json!({"endpoints": [
        {"addresses": ["127.0.0.1"], "conditions": {"ready": true}},
        {"addresses": ["127.0.0.2"], "conditions": {"ready": true}},
    ]});
    let patched = kubectl
        .run(&[
            "-n",
            "kube-system",
            "patch",
            "endpointslice",
            "heapster-xyz12",
            "-p",
            &patch.to_string(),
        ])
        .await
        .unwrap();
    assert!(patched.contains("patched"), "{patched}");
    assert_eq!(
        endpoints(&api, "heapster-xyz12"),
        [json!("127.0.0.1"), json!("127.0.0.2")]
    );

    // A client-side re-apply of an edited file: a strategic merge patch from the
    // last-applied annotation; the Service's ports merge by port.
    let edited = std::fs::read_to_string(quickstart.join("default-backend.yaml"))
        .unwrap()
        .replace(
            r#"addresses: ["127.0.0.1"]"#,
            r#"addresses: ["127.0.0.1", "127.0.0.3"]"#,
        )
        .replace("targetPort: 8080", "targetPort: 8081");
    let file = dir.path().join("default-backend.yaml");
    std::fs::write(&file, edited).unwrap();
    let applied = kubectl
        .run(&["apply", "-f", file.to_str().unwrap()])
        .await
        .unwrap();
    assert!(
        applied.contains("endpointslice.discovery.k8s.io/default-http-backend-abcde configured"),
        "{applied}"
    );
    let svc = api
        .get("Service", "kube-system", "default-http-backend")
        .unwrap()
        .unwrap();
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"port": 80, "targetPort": 8081}])
    );
    let ep = api
        .get("EndpointSlice", "kube-system", "default-http-backend-abcde")
        .unwrap()
        .unwrap();
    assert_eq!(
        ep["endpoints"][0]["addresses"],
        json!(["127.0.0.1", "127.0.0.3"])
    );

    // Server-side apply with a field manager.
    let class = quickstart.join("ingress-class.yaml");
    let ssa = kubectl
        .run(&[
            "apply",
            "--server-side",
            "--field-manager=e2e",
            "-f",
            class.to_str().unwrap(),
        ])
        .await
        .unwrap();
    assert!(
        ssa.contains("ingressclass.networking.k8s.io/haproxy serverside-applied"),
        "{ssa}"
    );
    let ssa_patches = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.param("fieldManager").as_deref() == Some("e2e"))
        .count();
    assert_eq!(ssa_patches, 1);

    // The status subresource, as the agent's status writer sets it, in the ADDRESS column.
    let ingresses: Api<Ingress> = Api::namespaced(api.client().unwrap(), "kube-system");
    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}});
    ingresses
        .patch_status(
            "heapster-ingress",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
    let listed = rows(
        &kubectl
            .run(&["get", "ing", "-n", "kube-system"])
            .await
            .unwrap(),
    );
    assert_eq!(
        listed[1][..5],
        ["heapster-ingress", "haproxy", "*", "203.0.113.9", "80"]
    );

    let deleted = kubectl
        .run(&["-n", "kube-system", "delete", "ingress", "heapster-ingress"])
        .await
        .unwrap();
    assert!(
        deleted.contains(r#"ingress.networking.k8s.io "heapster-ingress" deleted"#),
        "{deleted}"
    );
    assert!(
        api.get("Ingress", "kube-system", "heapster-ingress")
            .unwrap()
            .is_none()
    );
    let gone = kubectl
        .run(&["-n", "kube-system", "get", "ingress", "heapster-ingress"])
        .await;
    assert!(
        gone.unwrap_err().to_string().contains("NotFound"),
        "a deleted Ingress is not found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_prints_a_row_per_change() {
    let (api, kubectl, _dir) = started().await;
    let quickstart = quickstart();
    kubectl
        .run(&[
            "apply",
            "-f",
            quickstart.join("ingress.yaml").to_str().unwrap(),
        ])
        .await
        .unwrap();
    let mut watch = kubectl.spawn(&["get", "ingress", "-A", "--watch"]).unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next_row = async || {
        tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("kubectl prints a line in time")
            .unwrap()
            .map(|l| rows(&l).remove(0))
            .expect("kubectl is still watching")
    };
    assert_eq!(next_row().await[..2], ["NAMESPACE", "NAME"]);
    assert_eq!(
        next_row().await[..4],
        ["kube-system", "heapster-ingress", "haproxy", "*"]
    );
    let ingresses: Api<Ingress> = Api::namespaced(api.client().unwrap(), "kube-system");
    let status = json!({"status": {"loadBalancer": {"ingress": [{"hostname": "lb.test"}]}}});
    ingresses
        .patch_status(
            "heapster-ingress",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
    assert_eq!(
        next_row().await[..6],
        [
            "kube-system",
            "heapster-ingress",
            "haproxy",
            "*",
            "lb.test",
            "80"
        ],
        "the watch prints the changed row"
    );
}
