//! The session docs/operations.md offers for trying the Kubernetes mode without a cluster:
//! the real kubectl drives the test API server (`integration::KubeApi`) while the agent
//! follows it into a real HAProxy. `kubectl apply` of the quick start serves its route,
//! `kubectl get ingress` shows the address the agent's status writer published, a
//! `kubectl patch` that adds an endpoint reaches HAProxy without a reload, and
//! `kubectl delete` takes the route away. Fails when kubectl is not installed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::kubectl::rows;
use integration::{EchoServer, KubeApi, Kubectl};
use serde_json::json;

use crate::support::{Agent, CONVERGE, Options, echo_group, eventually};

/// The quick start's manifests, copied into `dir` with their endpoints on these ports.
fn quickstart_on(dir: &Path, default_port: u16, heapster_port: u16) -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart");
    let target = dir.join("quickstart");
    std::fs::create_dir_all(&target).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("- port: 18181", &format!("- port: {default_port}"))
            .replace("- port: 18182", &format!("- port: {heapster_port}"));
        std::fs::write(target.join(path.file_name().unwrap()), text).unwrap();
    }
    target
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drives_the_agent_through_the_test_api_server() {
    let default = EchoServer::start("default").unwrap();
    let (port, _heapster) = echo_group(&[
        ("heapster-a", Duration::ZERO),
        ("heapster-b", Duration::ZERO),
    ])
    .unwrap();
    let api = KubeApi::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubectl = Kubectl::for_api(&api, dir.path()).unwrap();
    let quickstart = quickstart_on(dir.path(), default.addr().port(), port);
    kubectl
        .run(&["apply", "-f", quickstart.to_str().unwrap()])
        .await
        .unwrap();

    let options = Options {
        kubeconfig: Some(kubectl.kubeconfig().to_path_buf()),
        extra: vec!["--publish-address=203.0.113.9".into()],
        ..Options::default()
    };
    let agent = Agent::start(&[], options).await.unwrap();
    let answered_by = async |agent: &Agent| {
        agent
            .get("any.test", "/api")
            .await
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.body)
    };
    eventually("the quick start's route to answer", CONVERGE, async || {
        answered_by(&agent).await.as_deref() == Some("heapster-a")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail()));

    eventually(
        "kubectl to show the published address",
        CONVERGE,
        async || {
            let out = kubectl
                .run(&["get", "ingress", "-A"])
                .await
                .unwrap_or_default();
            rows(&out).get(1).is_some_and(|row| {
                row[..6]
                    == [
                        "kube-system",
                        "heapster-ingress",
                        "haproxy",
                        "*",
                        "203.0.113.9",
                        "80",
                    ]
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail()));

    // A scale-like edit: a second ready endpoint, added by kubectl.
    let reloads = agent.reloads().await.unwrap();
    let patch = json!({"endpoints": [
        {"addresses": ["127.0.0.1"], "conditions": {"ready": true}},
        {"addresses": ["127.0.0.2"], "conditions": {"ready": true}},
    ]});
    kubectl
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
    let both = [format!("127.0.0.1:{port}"), format!("127.0.0.2:{port}")];
    eventually("HAProxy to have both endpoints", CONVERGE, async || {
        agent
            .servers("kube-system_heapster_80")
            .await
            .is_ok_and(|s| s.keys().cloned().collect::<Vec<_>>() == both)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail()));
    eventually("the new endpoint to answer", CONVERGE, async || {
        answered_by(&agent).await.as_deref() == Some("heapster-b")
    })
    .await
    .unwrap();
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "an added endpoint needs no reload"
    );

    let deleted = kubectl
        .run(&["-n", "kube-system", "delete", "ingress", "heapster-ingress"])
        .await
        .unwrap();
    assert!(deleted.contains("deleted"), "{deleted}");
    eventually("the route to go", CONVERGE, async || {
        agent
            .get("any.test", "/api")
            .await
            .is_ok_and(|r| r.status == 404)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail()));
}
