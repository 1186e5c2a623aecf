//! auth-tls-verify-client end to end on one shared HTTPS bind, with real TLS clients against
//! the real HAProxy the agent runs. The bind ignores verification errors in the handshake,
//! so what each mode lets through is judged per request: `on` and `optional` answer `400` to
//! a certificate from another CA or an expired one (`on` serves a good one, `optional` also
//! none); `optional_no_ca` passes such a certificate upstream with
//! `ssl-client-verify: FAILED:<code>`; a host without client certificates is not asked for
//! one. A connection made for the `optional_no_ca` name cannot carry a request for the `on`
//! host (`421`), kept alive over HTTP/1.1 or on HTTP/2. Switching a host between `optional`
//! and `optional_no_ca` is a settings map entry: no reload, counted on HAProxy's master.

use integration::EchoServer;
use integration::tls::{HttpsReply, TestCert, https_get_as, https_get_sni};
use integration::tls_conn::{Alpn, cert_requested, gets_on_one_connection};

use crate::client_certs::{ca_secret, header, until_answer, url_pem};
use crate::support::tls_secret;
use crate::support::{Agent, Options};
use crate::tls::{tls_ingress, web};

const SECRET: &str = "nginx.ingress.kubernetes.io/auth-tls-secret";
const VERIFY: &str = "nginx.ingress.kubernetes.io/auth-tls-verify-client";
const PASS: &str = "nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream";

/// The upstream's view of `reply`: `ssl-client-verify` as the echo saw it.
fn verify_seen(reply: &HttpsReply) -> Option<&str> {
    header(reply, "x-echo-h-ssl-client-verify")
}

/// Whether the echo server answered (it names every request header it saw).
fn served(reply: &HttpsReply) -> bool {
    reply.1.iter().any(|(k, _)| k.starts_with("x-echo"))
}

/// The client certificates of a test: a good one of the trusted CA, one of another CA
/// (`ssl_c_verify` 21 there) and an expired one of the trusted CA (10).
struct Clients {
    good: TestCert,
    stranger: TestCert,
    expired: TestCert,
}

/// `GET https://<host>/` presenting `client`, which must get an answer.
async fn get(agent: &Agent, host: &str, client: Option<&TestCert>) -> HttpsReply {
    https_get_as(agent.https, host, "/", client)
        .await
        .unwrap_or_else(|e| panic!("{host}: {e:#}\n{}", agent.log_tail()))
}

/// `host` refuses another CA's certificate and an expired one with `400`, neither served.
async fn refuses_failed_certificates(agent: &Agent, host: &str, c: &Clients) {
    for bad in [&c.stranger, &c.expired] {
        let r = get(agent, host, Some(bad)).await;
        assert_eq!(r.0, 400, "{host} {bad:?}: {r:?}");
        assert!(!served(&r), "{host}: {r:?}");
    }
}

/// On an `optional_no_ca` host, another CA's and an expired certificate reach the upstream
/// with their error (and the certificate itself); none is `NONE`, a good one `SUCCESS`.
async fn passes_failed_certificates(agent: &Agent, host: &str, c: &Clients) {
    let r = get(agent, host, Some(&c.stranger)).await;
    assert_eq!((r.0, verify_seen(&r)), (200, Some("FAILED:21")), "{r:?}");
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-cert"),
        Some(url_pem(&c.stranger).as_str()),
        "{r:?}"
    );
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-issuer-dn"),
        Some("CN=other ca"),
        "{r:?}"
    );
    let r = get(agent, host, Some(&c.expired)).await;
    assert_eq!((r.0, verify_seen(&r)), (200, Some("FAILED:10")), "{r:?}");
    let r = get(agent, host, None).await;
    assert_eq!((r.0, verify_seen(&r)), (200, Some("NONE")), "{r:?}");
    let r = get(agent, host, Some(&c.good)).await;
    assert_eq!((r.0, verify_seen(&r)), (200, Some("SUCCESS")), "{r:?}");
}

/// A connection made for the `optional_no_ca` name `lenient` with another CA's certificate
/// serves `lenient` but answers `421` to a request for the `on` host `strict` on it, over
/// HTTP/1.1 keep-alive and HTTP/2 (where the connection goes on serving `lenient`).
async fn reuse_cannot_reach_a_stricter_host(
    agent: &Agent,
    lenient: &str,
    strict: &str,
    c: &Clients,
) {
    for (alpn, hosts) in [
        (Alpn::Http1, vec![lenient, strict]),
        (Alpn::H2, vec![lenient, strict, lenient]),
    ] {
        let replies = gets_on_one_connection(agent.https, lenient, alpn, Some(&c.stranger), &hosts)
            .await
            .unwrap_or_else(|e| panic!("{alpn:?}: {e:#}\n{}", agent.log_tail()));
        let seen: Vec<(u16, Option<&str>)> =
            replies.iter().map(|r| (r.0, verify_seen(r))).collect();
        // This client sends the chain, which ends in the other CA: error 19 (a self-signed
        // certificate in the chain), where the leaf alone is 21.
        let mut want = vec![(200, Some("FAILED:19")), (421, None)];
        if alpn == Alpn::H2 {
            want.push((200, Some("FAILED:19")));
        }
        assert_eq!(seen, want, "{alpn:?}: {replies:?}");
        assert!(!served(&replies[1]), "{alpn:?}: {replies:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_no_ca_passes_a_failed_certificate_upstream_and_switching_needs_no_reload() {
    let echo = EchoServer::start("web").unwrap();
    let site = TestCert::self_signed("site", &["n.test", "m.test", "p.test"]);
    let ca = TestCert::ca("client ca");
    let c = Clients {
        good: TestCert::signed_by(&ca, "client one", &[]),
        stranger: TestCert::signed_by(&TestCert::ca("other ca"), "client two", &[]),
        expired: TestCert::signed_by_valid(&ca, "client three", -30, -1),
    };
    let with = |mode: &'static str| [(SECRET, "client-ca"), (VERIFY, mode), (PASS, "true")];
    let files = [
        ("web.yaml", web(echo.addr().port())),
        ("site-tls.yaml", tls_secret("site-tls", &site)),
        ("ca.yaml", ca_secret("client-ca", &ca)),
        ("p.yaml", tls_ingress("p", "p.test", Some("site-tls"), &[])),
        (
            "m.yaml",
            tls_ingress("m", "m.test", Some("site-tls"), &with("on")),
        ),
        (
            "n.yaml",
            tls_ingress("n", "n.test", Some("site-tls"), &with("optional")),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let agent = Agent::start(&files, Options::default()).await.unwrap();
    until_answer(&agent, "m.test", Some(&c.good), Some(200)).await;
    until_answer(&agent, "n.test", None, Some(200)).await;
    let start = agent.reloads().await.unwrap();

    // on: no certificate is refused in the handshake, a failed one with 400, a good one served.
    until_answer(&agent, "m.test", None, None).await;
    refuses_failed_certificates(&agent, "m.test", &c).await;
    let r = get(&agent, "m.test", Some(&c.good)).await;
    assert_eq!((r.0, verify_seen(&r)), (200, Some("SUCCESS")), "{r:?}");
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-subject-dn"),
        Some("CN=client one")
    );
    // optional: a failed certificate is refused as nginx does (400); none passes, said so.
    refuses_failed_certificates(&agent, "n.test", &c).await;
    let r = get(&agent, "n.test", None).await;
    assert_eq!((r.0, verify_seen(&r)), (200, Some("NONE")), "{r:?}");
    let r = get(&agent, "n.test", Some(&c.good)).await;
    assert_eq!((r.0, verify_seen(&r)), (200, Some("SUCCESS")), "{r:?}");
    // A host without client certificates is not even asked for one, and is unaffected.
    assert!(!cert_requested(agent.https, "p.test").await.unwrap());
    assert!(cert_requested(agent.https, "n.test").await.unwrap());
    let r = get(&agent, "p.test", Some(&c.stranger)).await;
    assert_eq!((r.0, verify_seen(&r)), (200, None), "{r:?}");

    let switch = |mode: &'static str| {
        agent.write_manifest(
            "n.yaml",
            &tls_ingress("n", "n.test", Some("site-tls"), &with(mode)),
        )
    };
    switch("optional_no_ca").unwrap();
    until_answer(&agent, "n.test", Some(&c.stranger), Some(200)).await;
    passes_failed_certificates(&agent, "n.test", &c).await;
    // The `on` host of the same bind still refuses them: directly (400), and through a
    // connection made for the optional_no_ca name (421), also kept alive or on HTTP/2.
    refuses_failed_certificates(&agent, "m.test", &c).await;
    let r = https_get_sni(agent.https, "n.test", "m.test", "/", Some(&c.stranger))
        .await
        .unwrap();
    assert_eq!(r.0, 421, "{r:?}");
    assert!(!served(&r), "{r:?}");
    reuse_cannot_reach_a_stricter_host(&agent, "n.test", "m.test", &c).await;
    let r = get(&agent, "m.test", Some(&c.good)).await;
    assert_eq!((r.0, verify_seen(&r)), (200, Some("SUCCESS")), "{r:?}");

    // Back to optional: refused again; and once more to optional_no_ca.
    switch("optional").unwrap();
    until_answer(&agent, "n.test", Some(&c.stranger), Some(400)).await;
    refuses_failed_certificates(&agent, "n.test", &c).await;
    switch("optional_no_ca").unwrap();
    until_answer(&agent, "n.test", Some(&c.stranger), Some(200)).await;
    assert_eq!(
        agent.reloads().await.unwrap(),
        start,
        "optional <-> optional_no_ca at runtime\n{}",
        agent.log_tail()
    );
}
