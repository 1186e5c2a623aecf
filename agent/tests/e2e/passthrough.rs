//! TLS passthrough (`--enable-ssl-passthrough`, `ssl-passthrough`) through real HAProxy: the
//! client sees the backend's own certificate for a passthrough host while a terminated host
//! on the same port sees the agent's, with the client address intact; adding and removing a
//! passthrough host of an existing backend is a map update (0 reloads on the master); a new
//! passthrough backend reloads as `new_backend`.

use std::net::SocketAddr;

use integration::EchoServer;
use integration::grpc::ProtoServer;
use integration::tls::{TestCert, https_get};

use crate::support::{Agent, CONVERGE, Ep, NS, Options, eventually, quote, service, slice};
use crate::tls::{served, tls_ingress, tls_secret, web};

const PASS: &str = "nginx.ingress.kubernetes.io/ssl-passthrough";

/// An Ingress `name` passing `hosts` through to `svc`:443.
fn passthrough_ingress(name: &str, svc: &str, hosts: &[&str]) -> String {
    let mut out = format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  \
         namespace: {NS}\n  annotations:\n    {}: \"true\"\nspec:\n  ingressClassName: haproxy\n  \
         rules:\n",
        quote(PASS)
    );
    for h in hosts {
        out.push_str(&format!(
            "    - host: {}\n      http:\n        paths:\n          - path: /\n            \
             pathType: Prefix\n            backend:\n              service:\n                \
             name: {svc}\n                port:\n                  number: 443\n",
            quote(h)
        ));
    }
    out
}

/// Service `name` (port 443) with one ready endpoint on `addr`.
fn tls_service(name: &str, addr: SocketAddr) -> String {
    [
        service(name, 443, addr.port()),
        slice(
            &format!("{name}-1"),
            name,
            addr.port(),
            &[Ep::ready("127.0.0.1")],
        ),
    ]
    .join("---\n")
}

/// GET `/` over TLS with `sni` as SNI and Host: the body, or the error.
async fn body(agent: &Agent, sni: &str) -> String {
    match https_get(agent.https, sni, "/").await {
        Ok((_, _, body)) => body,
        Err(e) => format!("error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_hosts_show_the_backends_certificate_beside_terminated_hosts() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let pod_cert = TestCert::self_signed("pod.pass.test", &["pass.test", "more.pass.test"]);
    let pod = ProtoServer::start("pod", any, Some(&pod_cert))
        .await
        .unwrap();
    let other_cert = TestCert::self_signed("other.pod", &["other.test"]);
    let other = ProtoServer::start("other", any, Some(&other_cert))
        .await
        .unwrap();
    let front = TestCert::self_signed("term.test", &["term.test"]);
    let echo = EchoServer::start("web").unwrap();
    let allow = [(
        "nginx.ingress.kubernetes.io/allowlist-source-range",
        "127.0.0.1/32",
    )];
    let files = [
        ("web.yaml", web(echo.addr().port())),
        ("term-secret.yaml", tls_secret("term", &front)),
        (
            "term.yaml",
            tls_ingress("term", "term.test", Some("term"), &allow),
        ),
        ("pod.yaml", tls_service("pod", pod.addr())),
        ("other.yaml", tls_service("other", other.addr())),
        (
            "pass.yaml",
            passthrough_ingress("pass", "pod", &["pass.test"]),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let options = Options {
        extra: vec!["--enable-ssl-passthrough".into()],
        ..Options::default()
    };
    let agent = Agent::start(&files, options).await.unwrap();

    // The pod terminates TLS for its host: its own certificate, its own answer.
    served(&agent, "pass.test", &pod_cert.serial_hex()).await;
    let got = body(&agent, "pass.test").await;
    assert!(
        got.contains("name=pod") && got.contains("sni=pass.test"),
        "{got}"
    );
    // The terminated host on the same port: the agent's certificate, the client address
    // intact through the internal socket (the allowlist lets 127.0.0.1 in).
    served(&agent, "term.test", &front.serial_hex()).await;
    let (status, headers, _) = https_get(agent.https, "term.test", "/").await.unwrap();
    assert_eq!(status, 200, "{headers:?}\n{}", agent.log_tail());
    let xff = headers
        .iter()
        .find(|(k, _)| k == "x-echo-h-x-forwarded-for");
    assert_eq!(
        xff.map(|(_, v)| v.as_str()),
        Some("127.0.0.1"),
        "{headers:?}"
    );

    // A host added to, then removed from, the existing backend: map updates only.
    let reloads = agent.reloads().await.unwrap();
    agent
        .write_manifest(
            "pass.yaml",
            &passthrough_ingress("pass", "pod", &["pass.test", "more.pass.test"]),
        )
        .unwrap();
    served(&agent, "more.pass.test", &pod_cert.serial_hex()).await;
    agent
        .write_manifest(
            "pass.yaml",
            &passthrough_ingress("pass", "pod", &["more.pass.test"]),
        )
        .unwrap();
    eventually(
        "pass.test is no longer passed through",
        CONVERGE,
        async || !body(&agent, "pass.test").await.contains("name=pod"),
    )
    .await
    .unwrap();
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a host change reloaded"
    );
    let map = agent.map("sni.map").await.unwrap();
    assert_eq!(
        map.keys().collect::<Vec<_>>(),
        ["more.pass.test"],
        "{map:?}"
    );

    // A passthrough host of another Service: a new backend, one reload named so.
    let metric = "haproxy_agent_reloads_total{reason=\"new_backend\"}";
    let before = agent.metric(metric).await.unwrap_or(0.0);
    agent
        .write_manifest(
            "other-pass.yaml",
            &passthrough_ingress("o", "other", &["other.test"]),
        )
        .unwrap();
    served(&agent, "other.test", &other_cert.serial_hex()).await;
    // The agent counts the reload once it has seen the new worker, which may serve first.
    eventually(
        "the reload is counted as new_backend",
        CONVERGE,
        async || agent.metric(metric).await.unwrap_or(0.0) >= before + 1.0,
    )
    .await
    .unwrap();
    assert_eq!(agent.reloads().await.unwrap(), reloads + 1, "one reload");
    served(&agent, "term.test", &front.serial_hex()).await;
}
