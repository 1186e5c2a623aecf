//! Backend protocols end to end: gRPC over h2c and over TLS (GRPCS) through the real HAProxy
//! the agent runs, with status codes and trailers checked; clients reaching HAProxy with
//! prior-knowledge h2c on the HTTP bind and ALPN h2 on the HTTPS bind; an h2c backend picked
//! by the Service port's appProtocol; HTTPS backends verified against a proxy-ssl-secret CA
//! (200), or against the wrong CA (503, counted as connection errors of the server); SNI sent
//! as proxy-ssl-name; a scale-up of an HTTPS backend with no reload; a protocol change
//! reloading with the reason `backend_protocol`.

use std::net::SocketAddr;

use haproxy::proto::{Command, Reply};
use integration::grpc::{GrpcReply, ProtoServer, Transport, grpc_call};
use integration::tls::TestCert;

use crate::support::{
    Agent, CONVERGE, Ep, IngressPath, NS, Options, eventually, ingress, quote, slice, tls_secret,
};

/// The name the backends' certificates hold, sent as SNI by proxy-ssl-name.
const BACKEND_NAME: &str = "backend.internal";

/// A Service `name` with port `port` -> `target`, and an `appProtocol` when given.
fn service(name: &str, port: u16, target: u16, app_protocol: Option<&str>) -> String {
    let app = app_protocol
        .map(|a| format!("      appProtocol: {}\n", quote(a)))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {NS}\n\
         spec:\n  ports:\n    - port: {port}\n      targetPort: {target}\n{app}"
    )
}

/// An Opaque Secret with `ca.crt`.
fn ca_secret(name: &str, ca: &TestCert) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {NS}\n\
         type: Opaque\nstringData:\n  ca.crt: {}\n",
        quote(&ca.cert_pem())
    )
}

/// An Ingress `name` routing `host` `/` to `service:port` with `annotations`, and
/// `spec.tls` for the host from `tls` when given.
fn route(
    name: &str,
    host: &str,
    service: &str,
    port: u16,
    annotations: &[(&str, &str)],
    tls: Option<&str>,
) -> String {
    let path = IngressPath {
        host: Some(host),
        path: "/",
        service,
        port: port.into(),
    };
    let text = ingress(name, annotations, &[path]);
    match tls {
        None => text,
        Some(s) => text.replacen(
            "  rules:\n",
            &format!("  tls:\n    - hosts: [{host}]\n      secretName: {s}\n  rules:\n"),
            1,
        ),
    }
}

/// The annotations of a verified TLS backend: `protocol`, the CA from `secret`, SNI and
/// verified name [`BACKEND_NAME`].
fn verified(protocol: &'static str, secret: &'static str) -> [(&'static str, &'static str); 5] {
    [
        ("nginx.ingress.kubernetes.io/backend-protocol", protocol),
        ("nginx.ingress.kubernetes.io/proxy-ssl-secret", secret),
        ("nginx.ingress.kubernetes.io/proxy-ssl-verify", "on"),
        ("nginx.ingress.kubernetes.io/proxy-ssl-name", BACKEND_NAME),
        ("nginx.ingress.kubernetes.io/proxy-ssl-server-name", "on"),
    ]
}

async fn start(files: &[(String, String)]) -> Agent {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    Agent::start(&files, Options::default()).await.unwrap()
}

/// Calls until the reply has `grpc-status` `want` (HAProxy may not route yet).
async fn grpc_until(
    agent: &Agent,
    addr: SocketAddr,
    transport: Transport<'_>,
    host: &str,
    path: &str,
    want: &str,
) -> GrpcReply {
    let mut last = None;
    let ok = eventually(
        &format!("gRPC {host}{path} -> {want}"),
        CONVERGE,
        async || {
            let r = grpc_call(addr, transport, host, path, b"ping").await;
            let hit = r
                .as_ref()
                .is_ok_and(|r| r.grpc_status.as_deref() == Some(want));
            last = Some(r.map_err(|e| e.to_string()));
            hit
        },
    )
    .await;
    if let Err(e) = ok {
        panic!("{e}: last {last:?}\n{}", agent.log_tail());
    }
    last.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_h2c_and_grpcs_keeps_status_and_trailers() {
    let backend_ca = TestCert::ca("backend ca");
    let backend_cert = TestCert::signed_by(&backend_ca, BACKEND_NAME, &[BACKEND_NAME]);
    let front_ca = TestCert::ca("front ca");
    let front_cert = TestCert::signed_by(&front_ca, "grpcs.test", &["grpcs.test"]);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let h2c = ProtoServer::start("h2c", any, None).await.unwrap();
    let tls = ProtoServer::start("tls", any, Some(&backend_cert))
        .await
        .unwrap();
    let h2app = ProtoServer::start("h2app", any, None).await.unwrap();
    let mut files = Vec::new();
    for (svc, s, app) in [
        ("grpc", &h2c, None),
        ("grpcs", &tls, None),
        ("h2app", &h2app, Some("kubernetes.io/h2c")),
    ] {
        let port = s.addr().port();
        files.push((format!("{svc}-svc.yaml"), service(svc, 80, port, app)));
        files.push((
            format!("{svc}-slice.yaml"),
            slice(&format!("{svc}-1"), svc, port, &[Ep::ready("127.0.0.1")]),
        ));
    }
    files.push(("ca.yaml".into(), ca_secret("backend-ca", &backend_ca)));
    files.push(("front.yaml".into(), tls_secret("front", &front_cert)));
    let grpc = [("nginx.ingress.kubernetes.io/backend-protocol", "GRPC")];
    files.push((
        "grpc.yaml".into(),
        route("grpc", "grpc.test", "grpc", 80, &grpc, None),
    ));
    let grpcs = verified("GRPCS", "default/backend-ca");
    files.push((
        "grpcs.yaml".into(),
        route("grpcs", "grpcs.test", "grpcs", 80, &grpcs, Some("front")),
    ));
    files.push((
        "h2app.yaml".into(),
        route("h2app", "h2app.test", "h2app", 80, &[], None),
    ));
    let agent = start(&files).await;

    // h2c with prior knowledge on the HTTP bind, h2c to the pods.
    let ok = grpc_until(
        &agent,
        agent.http,
        Transport::H2c,
        "grpc.test",
        "/echo.Echo/Echo",
        "0",
    )
    .await;
    assert_eq!(ok.http_status, 200);
    assert_eq!(ok.messages, vec![b"h2c:ping".to_vec()]);
    let fail = grpc_until(
        &agent,
        agent.http,
        Transport::H2c,
        "grpc.test",
        "/echo.Echo/Fail",
        "5",
    )
    .await;
    assert_eq!(fail.grpc_message.as_deref(), Some("no such thing"));
    assert!(fail.messages.is_empty());
    assert!(
        h2c.seen()
            .iter()
            .all(|s| s.version == "HTTP/2.0" && s.sni.is_none())
    );

    // Scale-up of the h2c backend: the new server speaks h2 at once, no reload.
    let reloads = agent.reloads().await.unwrap();
    let port = h2c.addr().port();
    let h2c_2 = ProtoServer::start("h2c-2", SocketAddr::from(([127, 0, 0, 2], port)), None)
        .await
        .unwrap();
    let two = [Ep::ready("127.0.0.1"), Ep::ready("127.0.0.2")];
    agent
        .write_manifest("grpc-slice.yaml", &slice("grpc-1", "grpc", port, &two))
        .unwrap();
    eventually("the second h2c server answers gRPC", CONVERGE, async || {
        grpc_call(
            agent.http,
            Transport::H2c,
            "grpc.test",
            "/echo.Echo/Echo",
            b"ping",
        )
        .await
        .is_ok_and(|r| r.messages == vec![b"h2c-2:ping".to_vec()])
    })
    .await
    .unwrap();
    assert!(h2c_2.seen().iter().all(|s| s.version == "HTTP/2.0"));
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "endpoint churn is runtime"
    );

    // ALPN h2 on the HTTPS bind, h2 over verified TLS to the pods with proxy-ssl-name as SNI.
    let front = Transport::Tls {
        ca: &front_ca,
        sni: "grpcs.test",
    };
    let ok = grpc_until(
        &agent,
        agent.https,
        front,
        "grpcs.test",
        "/echo.Echo/Echo",
        "0",
    )
    .await;
    assert_eq!(ok.messages, vec![b"tls:ping".to_vec()]);
    let fail = grpc_until(
        &agent,
        agent.https,
        front,
        "grpcs.test",
        "/echo.Echo/Fail",
        "5",
    )
    .await;
    assert_eq!(fail.grpc_message.as_deref(), Some("no such thing"));
    let seen = tls.seen();
    assert!(!seen.is_empty());
    for s in seen {
        assert_eq!(s.version, "HTTP/2.0");
        assert_eq!(s.sni.as_deref(), Some(BACKEND_NAME));
    }

    // appProtocol kubernetes.io/h2c: an HTTP/1.1 client, HTTP/2 to the pod.
    let mut body = String::new();
    eventually("h2app.test over h2c", CONVERGE, async || {
        let r = agent.get("h2app.test", "/").await;
        body = r.map(|r| r.body).unwrap_or_default();
        body.contains("name=h2app")
    })
    .await
    .unwrap();
    assert!(body.contains("version=HTTP/2.0"), "{body}");
}

/// Connection errors HAProxy counted for the servers of `backend` (`show stat`, `econ`).
async fn connection_errors(agent: &Agent, backend: &str) -> u64 {
    let be = haproxy::BackendName::new(backend).unwrap();
    let Ok(Reply::Stat(rows)) = agent
        .runtime_client()
        .send(Command::ShowStatServers(be))
        .await
    else {
        return 0;
    };
    rows.iter()
        .filter(|r| r.get("svname") != Some("BACKEND"))
        .filter_map(|r| r.get("econ")?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_backends_verify_their_ca_and_scale_up_without_a_reload() {
    let ca = TestCert::ca("backend ca");
    let other_ca = TestCert::ca("another ca");
    let cert = TestCert::signed_by(&ca, BACKEND_NAME, &[BACKEND_NAME]);
    let first = ProtoServer::start("first", "127.0.0.1:0".parse().unwrap(), Some(&cert))
        .await
        .unwrap();
    let port = first.addr().port();
    let second = ProtoServer::start(
        "second",
        SocketAddr::from(([127, 0, 0, 2], port)),
        Some(&cert),
    )
    .await
    .unwrap();
    let files = vec![
        ("web-svc.yaml".to_string(), service("web", 443, port, None)),
        (
            "web-slice.yaml".into(),
            slice("web-1", "web", port, &[Ep::ready("127.0.0.1")]),
        ),
        ("bad-svc.yaml".into(), service("bad", 443, port, None)),
        (
            "bad-slice.yaml".into(),
            slice("bad-1", "bad", port, &[Ep::ready("127.0.0.1")]),
        ),
        ("ca.yaml".into(), ca_secret("backend-ca", &ca)),
        ("other.yaml".into(), ca_secret("other-ca", &other_ca)),
        (
            "ok.yaml".into(),
            route(
                "ok",
                "ok.test",
                "web",
                443,
                &verified("HTTPS", "backend-ca"),
                None,
            ),
        ),
        (
            "bad.yaml".into(),
            route(
                "bad",
                "bad.test",
                "bad",
                443,
                &verified("HTTPS", "other-ca"),
                None,
            ),
        ),
    ];
    let agent = start(&files).await;

    let mut body = String::new();
    eventually("ok.test over verified TLS", CONVERGE, async || {
        let r = agent.get("ok.test", "/").await;
        body = r.map(|r| r.body).unwrap_or_default();
        body.contains("name=first")
    })
    .await
    .unwrap();
    assert!(body.contains("version=HTTP/1.1"), "{body}");
    assert!(body.contains(&format!("sni={BACKEND_NAME}")), "{body}");

    // The wrong CA: the handshake fails, the request gets 503, HAProxy counts the errors.
    assert_eq!(agent.get("bad.test", "/").await.unwrap().status, 503);
    assert!(connection_errors(&agent, "default_bad_443").await > 0);
    assert_eq!(connection_errors(&agent, "default_web_443").await, 0);

    // Scale up: the new server gets the backend's TLS settings at runtime, no reload.
    let reloads = agent.reloads().await.unwrap();
    agent
        .write_manifest(
            "web-slice.yaml",
            &slice(
                "web-1",
                "web",
                port,
                &[Ep::ready("127.0.0.1"), Ep::ready("127.0.0.2")],
            ),
        )
        .unwrap();
    eventually("the second server serves over TLS", CONVERGE, async || {
        let r = agent.get("ok.test", "/").await;
        r.is_ok_and(|r| r.status == 200 && r.body.contains("name=second"))
    })
    .await
    .unwrap();
    assert!(
        second
            .seen()
            .iter()
            .all(|s| s.sni.as_deref() == Some(BACKEND_NAME))
    );
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "endpoint churn is runtime"
    );

    // The wrong CA Secret renewed with the right CA: a new CA file, served after a reload.
    agent
        .write_manifest("other.yaml", &ca_secret("other-ca", &ca))
        .unwrap();
    eventually(
        "bad.test verified with the renewed CA",
        CONVERGE,
        async || {
            let r = agent.get("bad.test", "/").await;
            r.is_ok_and(|r| r.status == 200 && r.body.contains(&format!("sni={BACKEND_NAME}")))
        },
    )
    .await
    .unwrap();
    assert!(agent.reloads().await.unwrap() > reloads);

    // A protocol change is structural: one reload, named backend_protocol.
    let before = agent
        .metric("haproxy_agent_reloads_total{reason=\"backend_protocol\"}")
        .await
        .unwrap_or(0.0);
    let h2 = [
        ("nginx.ingress.kubernetes.io/backend-protocol", "GRPCS"),
        ("nginx.ingress.kubernetes.io/proxy-ssl-secret", "backend-ca"),
        ("nginx.ingress.kubernetes.io/proxy-ssl-verify", "on"),
    ];
    agent
        .write_manifest("ok.yaml", &route("ok", "ok.test", "web", 443, &h2, None))
        .unwrap();
    eventually("ok.test over h2", CONVERGE, async || {
        let r = agent.get("ok.test", "/").await;
        r.is_ok_and(|r| r.status == 200 && r.body.contains("version=HTTP/2.0"))
    })
    .await
    .unwrap();
    eventually(
        "a reload counted as backend_protocol",
        CONVERGE,
        async || {
            agent
                .metric("haproxy_agent_reloads_total{reason=\"backend_protocol\"}")
                .await
                .is_ok_and(|after| after > before)
        },
    )
    .await
    .unwrap();
}
