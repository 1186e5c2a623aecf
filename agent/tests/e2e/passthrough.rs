//! TLS passthrough (`--enable-ssl-passthrough`, `ssl-passthrough`) through real HAProxy: the
//! client sees the backend's own certificate for a passthrough host while a terminated host
//! on the same port sees the agent's, with the client address intact; adding and removing a
//! passthrough host of an existing backend is a map update (0 reloads on the master); a new
//! passthrough backend reloads as `new_backend`. Plain HTTP to a passthrough host listed in
//! `spec.tls` is redirected to HTTPS (`308`, ssl-redirect toggled at runtime), and its
//! Secret adds no certificate (named unused).

use std::net::SocketAddr;

use integration::EchoServer;
use integration::grpc::ProtoServer;
use integration::tls::{TestCert, https_get};

use crate::support::{
    Agent, CONVERGE, Ep, NS, Options, eventually, quote, service, slice, tls_secret,
};
use crate::tls::{served, tls_ingress, web};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_passthrough_host_is_redirected_and_its_tls_secret_is_unused() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let pod_cert = TestCert::self_signed("pod.pass.test", &["pass.test"]);
    let pod = ProtoServer::start("pod", any, Some(&pod_cert))
        .await
        .unwrap();
    let unused = TestCert::self_signed("unused", &["pass.test"]);
    // spec.tls lists the host with a Secret, as cert-manager would write it.
    let with_tls = |annotations: &str| {
        passthrough_ingress("pass", "pod", &["pass.test"]).replace(
            "  annotations:\n",
            &format!("  annotations:\n{annotations}"),
        ) + "  tls:\n  - hosts: [\"pass.test\"]\n    secretName: pass-tls\n"
    };
    let files = [
        ("pod.yaml", tls_service("pod", pod.addr())),
        ("pass-tls.yaml", tls_secret("pass-tls", &unused)),
        ("pass.yaml", with_tls("")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let options = Options {
        extra: vec!["--enable-ssl-passthrough".into()],
        ..Options::default()
    };
    let agent = Agent::start(&files, options).await.unwrap();

    // TLS goes to the pod, which shows its own certificate, not the Secret's.
    served(&agent, "pass.test", &pod_cert.serial_hex()).await;
    // Plain HTTP: 308 to HTTPS, as ingress-nginx does for a host of spec.tls.
    let redirected = async || {
        let r = agent.get("pass.test", "/a?b=1").await.unwrap();
        (r.status, r.header("location").map(str::to_string))
    };
    assert_eq!(
        redirected().await,
        (308, Some("https://pass.test/a?b=1".to_string())),
        "{}",
        agent.log_tail()
    );
    // The Secret is unused: no crt-list line, no certificate file of it; named.
    let files = agent.config_files().unwrap();
    let crt_list = files
        .iter()
        .find(|(p, _)| p.ends_with("crt-list.txt"))
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    assert!(!crt_list.contains("pass.test"), "{crt_list}");
    assert!(
        !files
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("pass-tls")),
        "{:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert!(
        agent.log().contains("spec.tls[0].secretName") && agent.log().contains("unused"),
        "{}",
        agent.log_tail()
    );

    // ssl-redirect "false", then back: map updates, no reload.
    let reloads = agent.reloads().await.unwrap();
    let off = "    nginx.ingress.kubernetes.io/ssl-redirect: \"false\"\n";
    agent.write_manifest("pass.yaml", &with_tls(off)).unwrap();
    eventually("plain HTTP is not redirected", CONVERGE, async || {
        redirected().await.0 != 308
    })
    .await
    .unwrap();
    agent.write_manifest("pass.yaml", &with_tls("")).unwrap();
    eventually("plain HTTP is redirected again", CONVERGE, async || {
        redirected().await.0 == 308
    })
    .await
    .unwrap();
    served(&agent, "pass.test", &pod_cert.serial_hex()).await;
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "ssl-redirect toggled on a passthrough host\n{}",
        agent.log_tail()
    );
}
