//! Client certificates (auth-tls-*) end to end: real TLS clients with and without a
//! certificate against the real HAProxy the agent runs, per host on the shared HTTPS bind.
//! `on` refuses a client without a certificate (in the handshake) or with one from another
//! CA (`400`, as nginx: the bind ignores verification errors and the request is judged;
//! `optional_no_ca` in [`super::client_cert_no_ca`]), and sends the
//! certificate upstream URL-encoded; `optional` lets a client without one through with
//! `ssl-client-verify: NONE`; a host of the same certificate without client auth is
//! unaffected, and cannot be used to reach the others (`421`). Adding client auth to a host, renewing its CA and adding a revocation list
//! are runtime changes, counted on HAProxy's master; after a reload the files the agent
//! wrote give the same. auth-tls-match-cn: a subject that does not match answers `403`, and a
//! changed pattern is a runtime change too. auth-tls-error-page: a client without a certificate
//! is redirected there (the handshake asks for one as optional), at runtime.

use integration::EchoServer;
use integration::tls::{HttpsReply, TestCert, https_get_as, https_get_sni};

use crate::support::{
    Agent, CONVERGE, Ep, NS, Options, eventually, ingress, quote, route, service, slice, tls_secret,
};
use crate::tls::{tls_ingress, web};

const SECRET: &str = "nginx.ingress.kubernetes.io/auth-tls-secret";

/// An Opaque Secret `name` with `ca.crt`.
pub(crate) fn ca_secret(name: &str, ca: &TestCert) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {NS}\n\
         type: Opaque\nstringData:\n  ca.crt: {}\n",
        quote(&ca.cert_pem())
    )
}

/// An Opaque Secret `name` with `ca.crt` and a `ca.crl`.
fn ca_secret_with_crl(name: &str, ca: &TestCert, crl: &str) -> String {
    format!("{}  ca.crl: {}\n", ca_secret(name, ca), quote(crl))
}

/// A CRL of `ca` revoking `revoked`, made by `openssl ca -gencrl` (the real tool; the
/// openssl crate cannot build CRLs).
fn crl_revoking(ca: &TestCert, revoked: &TestCert) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("ca.crt"), ca.cert_pem()).unwrap();
    std::fs::write(p("ca.key"), ca.key_pem()).unwrap();
    let index = format!(
        "R\t491231235959Z\t260101000000Z\t{}\tunknown\t/CN=revoked\n",
        revoked.serial_hex()
    );
    std::fs::write(p("index.txt"), index).unwrap();
    std::fs::write(p("crlnumber"), "01\n").unwrap();
    let cnf = format!(
        "[ca]\ndefault_ca=c\n[c]\ndatabase={}\ncrlnumber={}\ndefault_md=sha256\n\
         default_crl_days=30\n",
        p("index.txt").display(),
        p("crlnumber").display()
    );
    std::fs::write(p("ca.cnf"), cnf).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["ca", "-gencrl", "-config"])
        .arg(p("ca.cnf"))
        .arg("-keyfile")
        .arg(p("ca.key"))
        .arg("-cert")
        .arg(p("ca.crt"))
        .arg("-out")
        .arg(p("crl.pem"))
        .output()
        .expect("the openssl tool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(p("crl.pem")).unwrap()
}

pub(crate) fn header<'a>(reply: &'a HttpsReply, name: &str) -> Option<&'a str> {
    reply
        .1
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The certificate as `ssl-client-cert` carries it: URL-encoded PEM, base64 on one line.
pub(crate) fn url_pem(cert: &TestCert) -> String {
    let b64 = openssl::base64::encode_block(&cert.der())
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("-----BEGIN%20CERTIFICATE-----%0A{b64}%0A-----END%20CERTIFICATE-----%0A")
}

/// Waits until `host` answers `client` with 200 (`want_ok`) or refuses the handshake.
async fn until(agent: &Agent, host: &str, client: Option<&TestCert>, want_ok: bool) {
    until_answer(agent, host, client, want_ok.then_some(200)).await
}

/// Waits until `host` answers `client` with `want`, or refuses the handshake (`None`).
pub(crate) async fn until_answer(
    agent: &Agent,
    host: &str,
    client: Option<&TestCert>,
    want: Option<u16>,
) {
    let mut last = String::new();
    let ok = eventually(&format!("{host} {want:?}"), CONVERGE, async || {
        let got = https_get_as(agent.https, host, "/", client).await;
        last = format!("{got:?}");
        match got {
            Ok(r) => want == Some(r.0),
            Err(_) => want.is_none(),
        }
    })
    .await;
    if let Err(e) = ok {
        panic!("{e}: last {last}\n{}", agent.log_tail());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_per_host_a_renewed_ca_and_a_crl_need_no_reload() {
    let echo = EchoServer::start("web").unwrap();
    let site = TestCert::self_signed("site", &["m.test", "o.test", "p.test"]);
    let files = [
        ("web.yaml", web(echo.addr().port())),
        ("site-tls.yaml", tls_secret("site-tls", &site)),
        ("p.yaml", tls_ingress("p", "p.test", Some("site-tls"), &[])),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let agent = Agent::start(&files, Options::default()).await.unwrap();
    until(&agent, "p.test", None, true).await;
    let start = agent.reloads().await.unwrap();

    let ca = TestCert::ca("client ca");
    let good = TestCert::signed_by(&ca, "client one", &[]);
    let stranger = TestCert::signed_by(&TestCert::ca("other ca"), "client two", &[]);
    agent
        .write_manifest("ca.yaml", &ca_secret("client-ca", &ca))
        .unwrap();
    let on = [
        (SECRET, "client-ca"),
        (
            "nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream",
            "true",
        ),
        ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
    ];
    agent
        .write_manifest("m.yaml", &tls_ingress("m", "m.test", Some("site-tls"), &on))
        .unwrap();
    let optional = [
        (SECRET, "client-ca"),
        (
            "nginx.ingress.kubernetes.io/auth-tls-verify-client",
            "optional",
        ),
    ];
    agent
        .write_manifest(
            "o.yaml",
            &tls_ingress("o", "o.test", Some("site-tls"), &optional),
        )
        .unwrap();

    // on: a certificate from the CA passes, with the headers upstream.
    until(&agent, "m.test", Some(&good), true).await;
    let r = https_get_as(agent.https, "m.test", "/", Some(&good))
        .await
        .unwrap();
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-verify"),
        Some("SUCCESS"),
        "{r:?}"
    );
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-cert"),
        Some(url_pem(&good).as_str())
    );
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-subject-dn"),
        Some("CN=client one")
    );
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-issuer-dn"),
        Some("CN=client ca")
    );
    // on: no certificate is refused in the handshake; one from another CA answers 400,
    // never served (the echo's headers are not there).
    until(&agent, "m.test", None, false).await;
    let r = https_get_as(agent.https, "m.test", "/", Some(&stranger))
        .await
        .unwrap();
    assert_eq!(r.0, 400, "{r:?}");
    assert!(!r.1.iter().any(|(k, _)| k.starts_with("x-echo")), "{r:?}");
    // optional: no certificate passes, said so; no certificate header without pass-….
    until(&agent, "o.test", None, true).await;
    let r = https_get_as(agent.https, "o.test", "/", None)
        .await
        .unwrap();
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-verify"),
        Some("NONE"),
        "{r:?}"
    );
    assert_eq!(header(&r, "x-echo-h-ssl-client-cert"), None);
    let r = https_get_as(agent.https, "o.test", "/", Some(&good))
        .await
        .unwrap();
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-verify"),
        Some("SUCCESS"),
        "{r:?}"
    );
    // A connection made for another name (no client certificate asked) cannot reach the
    // client-auth host by its Host header: 421, as nginx answers.
    let r = https_get_sni(agent.https, "p.test", "m.test", "/", None)
        .await
        .unwrap();
    assert_eq!(r.0, 421, "{r:?}");
    let r = https_get_sni(agent.https, "o.test", "m.test", "/", Some(&good))
        .await
        .unwrap();
    assert_eq!(r.0, 421, "{r:?}");
    // Plain HTTP (no redirect asked) to a host that requires a certificate: 403.
    assert_eq!(agent.get("m.test", "/").await.unwrap().status, 403);
    // The host of the same certificate without client auth is unaffected.
    let r = https_get_as(agent.https, "p.test", "/", None)
        .await
        .unwrap();
    assert_eq!(r.0, 200);
    assert_eq!(header(&r, "x-echo-h-ssl-client-verify"), None, "{r:?}");
    assert_eq!(
        agent.reloads().await.unwrap(),
        start,
        "client auth added to two hosts at runtime\n{}",
        agent.log_tail()
    );

    // A renewed CA: its clients pass, the old CA's are refused (400), still no reload.
    let ca2 = TestCert::ca("client ca 2");
    let good2 = TestCert::signed_by(&ca2, "client three", &[]);
    agent
        .write_manifest("ca.yaml", &ca_secret("client-ca", &ca2))
        .unwrap();
    until(&agent, "m.test", Some(&good2), true).await;
    until_answer(&agent, "m.test", Some(&good), Some(400)).await;
    until(&agent, "p.test", None, true).await;
    assert_eq!(
        agent.reloads().await.unwrap(),
        start,
        "a renewed CA at runtime\n{}",
        agent.log_tail()
    );

    // A revocation list: the revoked certificate is refused, another of the CA passes.
    let good3 = TestCert::signed_by(&ca2, "client four", &[]);
    let crl = crl_revoking(&ca2, &good2);
    agent
        .write_manifest("ca.yaml", &ca_secret_with_crl("client-ca", &ca2, &crl))
        .unwrap();
    until_answer(&agent, "m.test", Some(&good2), Some(400)).await;
    until(&agent, "m.test", Some(&good3), true).await;
    assert_eq!(
        agent.reloads().await.unwrap(),
        start,
        "a CRL at runtime\n{}",
        agent.log_tail()
    );

    // A reload (a new backend) loads the crt-list, CA and CRL files the agent wrote.
    let other = [
        service("web2", 80, echo.addr().port()),
        slice(
            "web2-1",
            "web2",
            echo.addr().port(),
            &[Ep::ready("127.0.0.1")],
        ),
        ingress("q", &[], &[route("/q", "web2", 80)]),
    ]
    .join("---\n");
    agent.write_manifest("q.yaml", &other).unwrap();
    eventually("the reload", CONVERGE, async || {
        agent.reloads().await.unwrap() > start
    })
    .await
    .unwrap();
    until(&agent, "m.test", Some(&good3), true).await;
    until_answer(&agent, "m.test", Some(&good2), Some(400)).await;
    until(&agent, "m.test", None, false).await;
    let r = https_get_as(agent.https, "o.test", "/", None)
        .await
        .unwrap();
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-verify"),
        Some("NONE"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_cn_refuses_other_subjects_with_403_and_changes_need_no_reload() {
    let until_status = async |agent: &Agent, host: &str, client: &TestCert, status: u16| {
        until_answer(agent, host, Some(client), Some(status)).await
    };
    let echo = EchoServer::start("web").unwrap();
    let site = TestCert::self_signed("site", &["n.test", "p.test"]);
    let ca = TestCert::ca("client ca");
    let files = [
        ("web.yaml", web(echo.addr().port())),
        ("site-tls.yaml", tls_secret("site-tls", &site)),
        ("ca.yaml", ca_secret("client-ca", &ca)),
        ("p.yaml", tls_ingress("p", "p.test", Some("site-tls"), &[])),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let agent = Agent::start(&files, Options::default()).await.unwrap();
    until(&agent, "p.test", None, true).await;
    let start = agent.reloads().await.unwrap();

    let one = TestCert::signed_by(&ca, "client one", &[]);
    let two = TestCert::signed_by(&ca, "client two", &[]);
    let with = |pattern: &'static str| {
        [
            (SECRET, "client-ca"),
            ("nginx.ingress.kubernetes.io/auth-tls-match-cn", pattern),
        ]
    };
    let write = |pattern: &'static str| {
        agent.write_manifest(
            "n.yaml",
            &tls_ingress("n", "n.test", Some("site-tls"), &with(pattern)),
        )
    };
    write("CN=client one").unwrap();
    // The subject matches: 200 with the headers; another subject of the same CA: 403.
    until_status(&agent, "n.test", &one, 200).await;
    let r = https_get_as(agent.https, "n.test", "/", Some(&one))
        .await
        .unwrap();
    assert_eq!(
        header(&r, "x-echo-h-ssl-client-subject-dn"),
        Some("CN=client one"),
        "{r:?}"
    );
    let r = https_get_as(agent.https, "n.test", "/", Some(&two))
        .await
        .unwrap();
    assert_eq!(r.0, 403, "{r:?}");
    // Case-sensitive, as nginx's `~`.
    write("CN=Client one").unwrap();
    until_status(&agent, "n.test", &one, 403).await;
    // Alternatives, unanchored: both subjects pass.
    write("CN=client (one|two)").unwrap();
    until_status(&agent, "n.test", &two, 200).await;
    until_status(&agent, "n.test", &one, 200).await;
    // Anchored to the end: `CN=client t` no longer matches `CN=client two` whole.
    write("CN=client t$").unwrap();
    until_status(&agent, "n.test", &two, 403).await;
    // Other hosts are unaffected.
    assert_eq!(
        https_get_as(agent.https, "p.test", "/", None)
            .await
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        agent.reloads().await.unwrap(),
        start,
        "match-cn added and changed at runtime\n{}",
        agent.log_tail()
    );
    // A value without `CN=`: named, and the routes fail closed.
    write("client one").unwrap();
    until_status(&agent, "n.test", &one, 503).await;
    assert!(
        agent.log_tail().contains("auth-tls-match-cn"),
        "{}",
        agent.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_page_redirects_a_client_without_a_certificate_and_needs_no_reload() {
    let echo = EchoServer::start("web").unwrap();
    let site = TestCert::self_signed("site", &["e.test"]);
    let ca = TestCert::ca("client ca");
    let on = [(SECRET, "client-ca")];
    let files = [
        ("web.yaml", web(echo.addr().port())),
        ("site-tls.yaml", tls_secret("site-tls", &site)),
        ("ca.yaml", ca_secret("client-ca", &ca)),
        ("e.yaml", tls_ingress("e", "e.test", Some("site-tls"), &on)),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let agent = Agent::start(&files, Options::default()).await.unwrap();
    let good = TestCert::signed_by(&ca, "client one", &[]);
    let stranger = TestCert::signed_by(&TestCert::ca("other ca"), "client two", &[]);
    until(&agent, "e.test", Some(&good), true).await;
    // Without an error page, no certificate is refused in the handshake.
    until(&agent, "e.test", None, false).await;
    let start = agent.reloads().await.unwrap();

    let page = "https://errors.test/no-cert";
    let with_page = [
        (SECRET, "client-ca"),
        ("nginx.ingress.kubernetes.io/auth-tls-error-page", page),
    ];
    agent
        .write_manifest(
            "e.yaml",
            &tls_ingress("e", "e.test", Some("site-tls"), &with_page),
        )
        .unwrap();
    until_answer(&agent, "e.test", None, Some(302)).await;
    let r = https_get_as(agent.https, "e.test", "/", None)
        .await
        .unwrap();
    assert_eq!(header(&r, "location"), Some(page), "{r:?}");
    // A certificate of the CA still passes; one of another CA is redirected too (nginx's
    // `error_page 495`).
    until(&agent, "e.test", Some(&good), true).await;
    let r = https_get_as(agent.https, "e.test", "/", Some(&stranger))
        .await
        .unwrap();
    assert_eq!((r.0, header(&r, "location")), (302, Some(page)), "{r:?}");
    // The page removed: no certificate is refused in the handshake again, another CA's
    // with 400.
    agent
        .write_manifest("e.yaml", &tls_ingress("e", "e.test", Some("site-tls"), &on))
        .unwrap();
    until(&agent, "e.test", None, false).await;
    until(&agent, "e.test", Some(&good), true).await;
    until_answer(&agent, "e.test", Some(&stranger), Some(400)).await;
    assert_eq!(
        agent.reloads().await.unwrap(),
        start,
        "an error page added and removed at runtime\n{}",
        agent.log_tail()
    );
}

/// One request with `openssl s_client` (TLS 1.3), the way a resuming client sends it:
/// `--sess_out`/`-sess_in` files name the session to save or to resume. Returns what the
/// server answered (nothing when the handshake was refused) and whether the session was
/// resumed (`Reused`).
fn s_client(
    addr: std::net::SocketAddr,
    host: &str,
    client: Option<(&std::path::Path, &std::path::Path)>,
    session: (&str, &std::path::Path),
) -> (String, bool) {
    use std::io::Write as _;
    let mut cmd = std::process::Command::new("timeout");
    cmd.args(["10", "openssl", "s_client", "-tls1_3", "-ign_eof"])
        .arg("-connect")
        .arg(addr.to_string())
        .args(["-servername", host])
        .arg(session.0)
        .arg(session.1);
    if let Some((cert, key)) = client {
        cmd.arg("-cert").arg(cert).arg("-key").arg(key);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_client (scripts/test installs openssl)");
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let _ = child.stdin.take().unwrap().write_all(request.as_bytes());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let reused = text.lines().any(|l| l.starts_with("Reused,"));
    let answer = text
        .lines()
        .skip_while(|l| !l.starts_with("HTTP/"))
        .collect::<Vec<_>>()
        .join("\n");
    (answer, reused)
}

/// HAProxy 2.6 resumes a TLS 1.3 session verified for one name's client CA under another
/// name's SNI with `ssl_c_verify` 0 (measured on 2.6.12). With two hosts trusting two CAs
/// the shared bind turns resumption off: a session made for `a.test` with a certificate of
/// its CA does not get a client into `b.test`, which trusts another CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_verified_for_one_client_ca_never_resumes_on_a_host_of_another() {
    let echo = EchoServer::start("web").unwrap();
    let site = TestCert::self_signed("site", &["a.test", "b.test"]);
    let (ca_a, ca_b) = (TestCert::ca("ca a"), TestCert::ca("ca b"));
    let client = TestCert::signed_by(&ca_a, "client of a", &[]);
    let plain_http = ("nginx.ingress.kubernetes.io/ssl-redirect", "false");
    let files = [
        ("web.yaml", web(echo.addr().port())),
        ("site-tls.yaml", tls_secret("site-tls", &site)),
        ("ca-a.yaml", ca_secret("ca-a", &ca_a)),
        ("ca-b.yaml", ca_secret("ca-b", &ca_b)),
        (
            "a.yaml",
            tls_ingress(
                "a",
                "a.test",
                Some("site-tls"),
                &[(SECRET, "ca-a"), plain_http],
            ),
        ),
        (
            "b.yaml",
            tls_ingress(
                "b",
                "b.test",
                Some("site-tls"),
                &[(SECRET, "ca-b"), plain_http],
            ),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let agent = Agent::start(&files, Options::default()).await.unwrap();
    until(&agent, "a.test", Some(&client), true).await;
    until_answer(&agent, "b.test", Some(&client), Some(400)).await;

    let dir = tempfile::tempdir().unwrap();
    let (cert, key, session) = (
        dir.path().join("client.crt"),
        dir.path().join("client.key"),
        dir.path().join("session.pem"),
    );
    std::fs::write(&cert, client.cert_pem()).unwrap();
    std::fs::write(&key, client.key_pem()).unwrap();
    let https = agent.https;
    let (a, _) = tokio::task::spawn_blocking({
        let (cert, key, session) = (cert.clone(), key.clone(), session.clone());
        move || {
            s_client(
                https,
                "a.test",
                Some((&cert, &key)),
                ("-sess_out", &session),
            )
        }
    })
    .await
    .unwrap();
    assert!(
        a.starts_with("HTTP/1.1 200"),
        "a.test with its CA's certificate: {a}"
    );
    assert!(
        std::fs::metadata(&session).is_ok_and(|m| m.len() > 0),
        "s_client saved the session"
    );
    // The same session offered under b.test's name: a full handshake, which asks for a
    // certificate of b.test's CA and gets none: refused, nothing served.
    let (b, reused) = tokio::task::spawn_blocking(move || {
        s_client(https, "b.test", None, ("-sess_in", &session))
    })
    .await
    .unwrap();
    assert!(!reused, "the session was resumed under b.test: {b}");
    assert!(
        !b.contains("200"),
        "b.test served a resumed session of a.test's CA: {b}"
    );
}
