//! TLS termination from Ingress `spec.tls` Secrets, end to end: a real TLS client with SNI
//! against the real HAProxy the agent runs, with certificates generated here. The first
//! TLS Ingress costs one reload (the HTTPS bind appears); after that a renewed certificate,
//! a new host with a new Secret, redirect toggles and a removed host are all runtime
//! changes, counted on HAProxy's master. Bad Secrets are named problems and never take a
//! host's working certificate away.

use haproxy::FilePath;
use haproxy::proto::{Command, PemPayload};
use integration::EchoServer;
use integration::tls::{TestCert, https_get, tls_peer_cert};
use serde_json::Value;

use crate::ctl::against_an_agent::ctl;
use crate::support::{
    Agent, CONVERGE, Ep, IngressPath, NS, Options, eventually, ingress, quote, secret, service,
    slice, tls_secret,
};

/// The CN of the certificate the agent generates for unknown SNI names.
const DEFAULT_CN: &str = "haproxy-agent default certificate";

/// An Ingress `name` routing `host` `/` to `web:80`, with `spec.tls` for `host` from
/// `secret` (no `spec.tls` when `None`).
pub(crate) fn tls_ingress(
    name: &str,
    host: &str,
    secret: Option<&str>,
    annotations: &[(&str, &str)],
) -> String {
    let path = IngressPath {
        host: Some(host),
        path: "/",
        service: "web",
        port: 80,
    };
    let text = ingress(name, annotations, &[path]);
    match secret {
        None => text,
        Some(s) => {
            let tls = format!(
                "  tls:\n    - hosts: [{}]\n      secretName: {}\n  rules:\n",
                quote(host),
                quote(s)
            );
            text.replacen("  rules:\n", &tls, 1)
        }
    }
}

pub(crate) fn web(port: u16) -> String {
    [
        service("web", 80, port),
        slice("web-1", "web", port, &[Ep::ready("127.0.0.1")]),
    ]
    .join("---\n")
}

/// Waits until a TLS client asking for `sni` is served the certificate with `serial`.
pub(crate) async fn served(agent: &Agent, sni: &str, serial: &str) {
    let mut last = None;
    let ok = eventually(
        &format!("{sni} to be served {serial}"),
        CONVERGE,
        async || {
            let got = tls_peer_cert(agent.https, Some(sni)).await;
            let hit = got.as_ref().is_ok_and(|c| c.serial_hex == serial);
            last = Some(
                got.map(|c| (c.subject_cn, c.serial_hex))
                    .map_err(|e| e.to_string()),
            );
            hit
        },
    )
    .await;
    if let Err(e) = ok {
        panic!("{e}: last saw {last:?}\n{}", agent.log_tail());
    }
}

async fn served_cn(agent: &Agent, sni: &str) -> String {
    tls_peer_cert(agent.https, Some(sni))
        .await
        .unwrap_or_else(|e| panic!("TLS to {sni}: {e}"))
        .subject_cn
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_hosts_rotation_and_redirects_need_no_reload_after_the_first_tls_ingress() {
    let echo = EchoServer::start("web").unwrap();
    let files = [
        ("web.yaml", web(echo.addr().port())),
        ("plain.yaml", tls_ingress("plain", "plain.test", None, &[])),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let options = Options {
        extra: vec!["--resync-period=2s".into()],
        ..Options::default()
    };
    let agent = Agent::start(&files, options).await.unwrap();
    assert_eq!(agent.get("plain.test", "/").await.unwrap().status, 200);
    assert!(
        tls_peer_cert(agent.https, Some("plain.test"))
            .await
            .is_err(),
        "no HTTPS bind while no Ingress has TLS"
    );
    let start = agent.reloads().await.unwrap();

    // The first TLS Ingress: the HTTPS bind appears, one reload.
    let a1 = TestCert::self_signed("a.test", &["a.test"]);
    agent
        .write_manifest("a-tls.yaml", &tls_secret("a-tls", &a1))
        .unwrap();
    agent
        .write_manifest("a.yaml", &tls_ingress("a", "a.test", Some("a-tls"), &[]))
        .unwrap();
    served(&agent, "a.test", &a1.serial_hex()).await;
    assert_eq!(
        agent.reloads().await.unwrap(),
        start + 1,
        "the HTTPS bind is structure"
    );
    let after_bind = start + 1;
    assert_eq!(served_cn(&agent, "unknown.test").await, DEFAULT_CN);
    let (status, _, body) = https_get(agent.https, "a.test", "/hello").await.unwrap();
    assert_eq!(status, 200, "{body}");
    // ssl-redirect defaults to true for a host with TLS; not for a host without.
    let r = agent.get("a.test", "/x?y=1").await.unwrap();
    assert_eq!(r.status, 308);
    assert_eq!(r.header("location"), Some("https://a.test/x?y=1"));
    assert_eq!(agent.get("plain.test", "/").await.unwrap().status, 200);

    // Renewal: same Secret, new certificate, no reload.
    let a2 = TestCert::self_signed("a.test", &["a.test"]);
    agent
        .write_manifest("a-tls.yaml", &tls_secret("a-tls", &a2))
        .unwrap();
    served(&agent, "a.test", &a2.serial_hex()).await;

    // `ctl diff` compares certificates by fingerprint: equal now; a certificate swapped
    // behind the agent's back is reported, and the next sync puts the Secret's back.
    let (code, text) = ctl(&agent, &["diff"]);
    assert_eq!(code, 0, "{text}");
    let file = agent.config_dir.join("certs/default_a-tls.pem");
    let file = FilePath::new(file.to_str().unwrap()).unwrap();
    let rogue = PemPayload::new(a1.combined_pem()).unwrap();
    let replies = agent
        .runtime_client()
        .batch(&[
            Command::SetSslCert(file.clone(), rogue),
            Command::CommitSslCert(file.clone()),
        ])
        .await
        .unwrap();
    assert!(replies.iter().all(Result::is_ok), "{replies:?}");
    let (code, text) = ctl(&agent, &["diff"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("different certificate {file}")),
        "{text}"
    );
    // A sync reads only what a change touched; the periodic resync (every 2 s here) reads
    // everything, finds the swapped certificate and puts the Secret's back.
    served(&agent, "a.test", &a2.serial_hex()).await;

    // A new host with a new Secret, redirect off: no reload.
    let b = TestCert::self_signed("b.test", &["b.test"]);
    agent
        .write_manifest("b-tls.yaml", &tls_secret("b-tls", &b))
        .unwrap();
    agent
        .write_manifest(
            "b.yaml",
            &tls_ingress(
                "b",
                "b.test",
                Some("b-tls"),
                &[("ingress.kubernetes.io/ssl-redirect", "false")],
            ),
        )
        .unwrap();
    served(&agent, "b.test", &b.serial_hex()).await;
    let (status, _, _) = https_get(agent.https, "b.test", "/").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(agent.get("b.test", "/").await.unwrap().status, 200);

    // force-ssl-redirect on a host without TLS, then ssl-redirect off on a.test: map values.
    agent
        .write_manifest(
            "plain.yaml",
            &tls_ingress(
                "plain",
                "plain.test",
                None,
                &[("ingress.kubernetes.io/force-ssl-redirect", "true")],
            ),
        )
        .unwrap();
    eventually("plain.test to redirect", CONVERGE, async || {
        agent
            .get("plain.test", "/")
            .await
            .is_ok_and(|r| r.status == 308)
    })
    .await
    .unwrap();
    agent
        .write_manifest(
            "a.yaml",
            &tls_ingress(
                "a",
                "a.test",
                Some("a-tls"),
                &[("ingress.kubernetes.io/ssl-redirect", "false")],
            ),
        )
        .unwrap();
    eventually("a.test to stop redirecting", CONVERGE, async || {
        agent
            .get("a.test", "/")
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await
    .unwrap();

    // The host goes away: its SNI falls back to the default certificate.
    agent.remove_manifest("b.yaml").unwrap();
    agent.remove_manifest("b-tls.yaml").unwrap();
    eventually(
        "b.test to get the default certificate",
        CONVERGE,
        async || {
            tls_peer_cert(agent.https, Some("b.test"))
                .await
                .is_ok_and(|c| c.subject_cn.as_deref() == Some(DEFAULT_CN))
        },
    )
    .await
    .unwrap();

    assert_eq!(
        agent.reloads().await.unwrap(),
        after_bind,
        "renewal, a new host, redirects and a removed host are runtime changes"
    );
    // Keys are written for HAProxy alone.
    for (path, _) in agent.config_files().unwrap() {
        if path.extension().is_some_and(|e| e == "pem") {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_secrets_are_named_problems_and_hosts_keep_their_certificate() {
    let echo = EchoServer::start("web").unwrap();
    let good = TestCert::self_signed("good.test", &["good.test"]);
    let other = TestCert::self_signed("other.test", &["other.test"]);
    let files = [
        ("web.yaml", web(echo.addr().port())),
        ("good-tls.yaml", tls_secret("good-tls", &good)),
        (
            "good.yaml",
            tls_ingress("good", "good.test", Some("good-tls"), &[]),
        ),
        (
            "missing.yaml",
            tls_ingress("missing", "missing.test", Some("nope"), &[]),
        ),
        (
            "opaque.yaml",
            [
                secret("opaque-tls", "Opaque", &good.cert_pem(), &good.key_pem()),
                tls_ingress("opaque", "opaque.test", Some("opaque-tls"), &[]),
            ]
            .join("---\n"),
        ),
        (
            "mismatch.yaml",
            [
                secret(
                    "mismatch-tls",
                    "kubernetes.io/tls",
                    &good.cert_pem(),
                    &other.key_pem(),
                ),
                tls_ingress("mismatch", "mismatch.test", Some("mismatch-tls"), &[]),
            ]
            .join("---\n"),
        ),
        (
            "garbage.yaml",
            [
                secret(
                    "garbage-tls",
                    "kubernetes.io/tls",
                    "not a certificate",
                    "nor a key",
                ),
                tls_ingress("garbage", "garbage.test", Some("garbage-tls"), &[]),
            ]
            .join("---\n"),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let agent = Agent::start(&files, Options::default()).await.unwrap();
    served(&agent, "good.test", &good.serial_hex()).await;
    let reloads = agent.reloads().await.unwrap();

    let problems = agent.debug_state().await.unwrap()["problems"].clone();
    let of = |object: &str| -> Vec<String> {
        problems
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["object"] == format!("{NS}/{object}").as_str())
            .map(|p| {
                format!(
                    "{} {}",
                    p["field"].as_str().unwrap_or(""),
                    p["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    for (ingress, reason) in [
        ("missing", "does not exist"),
        ("opaque", "not \"kubernetes.io/tls\""),
        ("mismatch", "does not belong to the certificate"),
        ("garbage", "no PEM certificate"),
    ] {
        let got = of(ingress);
        assert_eq!(got.len(), 1, "{ingress}: {got:?}");
        assert!(
            got[0].starts_with("spec.tls[0].secretName"),
            "{ingress}: {got:?}"
        );
        assert!(got[0].contains(reason), "{ingress}: {got:?}");
        assert!(
            !got[0].contains("BEGIN"),
            "no key material in problems: {got:?}"
        );
        // The host is still served, over TLS, with the default certificate.
        assert_eq!(
            served_cn(&agent, &format!("{ingress}.test")).await,
            DEFAULT_CN
        );
    }
    assert!(of("good").is_empty(), "{:?}", of("good"));

    // The good Secret turns bad: a problem, and the host keeps the certificate it had.
    agent
        .write_manifest(
            "good-tls.yaml",
            &secret("good-tls", "kubernetes.io/tls", "garbage", "garbage"),
        )
        .unwrap();
    eventually("a problem for the broken Secret", CONVERGE, async || {
        agent.debug_state().await.is_ok_and(|s: Value| {
            s["problems"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p["object"] == format!("{NS}/good").as_str()
                        && p["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("keep the certificate it had"))
                })
            })
        })
    })
    .await
    .unwrap();
    let now = tls_peer_cert(agent.https, Some("good.test")).await.unwrap();
    assert_eq!(
        now.serial_hex,
        good.serial_hex(),
        "the host keeps its certificate"
    );
    let (status, _, _) = https_get(agent.https, "good.test", "/").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "bad Secrets cost no reload"
    );
}
