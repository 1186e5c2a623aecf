//! Security posture, checked on a running agent: the files and sockets it makes are for its
//! own user only, no byte of a Secret (TLS key, the client key of a proxy-ssl-secret, basic-auth
//! hash) reaches any output, the
//! debug endpoints can move off `--listen` or go, and certificates near expiry are named.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use integration::EchoServer;
use integration::tls::TestCert;

use crate::auth::{BAR_SHA512, auth_secret, basic};
use crate::ctl::against_an_agent::ctl;
use crate::support::{
    Agent, CONVERGE, Ep, Options, eventually, ingress, quote, route, service, slice, tls_secret,
};
use crate::tls::{served, tls_ingress, web};
use integration::free_port;

const HOST: &str = "secure.test";
const N: &str = "nginx.ingress.kubernetes.io/";

/// The proxy-ssl-secret of the `upstream` Service's backend: a CA and a client certificate
/// whose key is [`TestCert::key_pem`] of `cert` (the same key material the needles look for).
fn upstream_files(echo: &EchoServer, cert: &TestCert) -> Vec<(String, String)> {
    let port = echo.addr().port();
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: upstream-client\n  namespace: default\n\
         type: kubernetes.io/tls\nstringData:\n  ca.crt: {}\n  tls.crt: {}\n  tls.key: {}\n",
        quote(&cert.cert_pem()),
        quote(&cert.cert_pem()),
        quote(&cert.key_pem())
    );
    let upstream = ingress(
        "upstream",
        &[
            (&format!("{N}backend-protocol"), "HTTPS"),
            (&format!("{N}proxy-ssl-secret"), "upstream-client"),
        ],
        &[route("/upstream", "upstream", 80)],
    );
    vec![
        (
            "upstream-service.yaml".into(),
            [
                service("upstream", 80, port),
                slice("upstream-1", "upstream", port, &[Ep::ready("127.0.0.1")]),
            ]
            .join("---\n"),
        ),
        ("upstream.yaml".into(), upstream),
        ("upstream-secret.yaml".into(), secret),
    ]
}

/// A web backend, an Ingress with TLS from `secure-tls`, one with basic auth from `users`
/// (whose hash is [`BAR_SHA512`]) and an HTTPS backend with a client certificate from
/// `upstream-client` (the same key as `secure-tls`).
fn files(echo: &EchoServer, cert: &TestCert) -> Vec<(String, String)> {
    let auth = ingress(
        "locked",
        &[
            (&format!("{N}auth-type"), "basic"),
            (&format!("{N}auth-secret"), "users"),
        ],
        &[route("/locked", "web", 80)],
    );
    vec![
        ("web.yaml".into(), web(echo.addr().port())),
        (
            "tls.yaml".into(),
            tls_ingress("secure", HOST, Some("secure-tls"), &[]),
        ),
        ("secret.yaml".into(), tls_secret("secure-tls", cert)),
        ("auth.yaml".into(), auth),
        (
            "users.yaml".into(),
            auth_secret("users", &[("auth", &format!("foo:{BAR_SHA512}\n"))]),
        ),
    ]
    .into_iter()
    .chain(upstream_files(echo, cert))
    .collect()
}

async fn start(echo: &EchoServer, cert: &TestCert, extra: &[&str]) -> Agent {
    let files = files(echo, cert);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let options = Options {
        extra: extra.iter().map(ToString::to_string).collect(),
        ..Options::default()
    };
    let agent = Agent::start(&files, options).await.unwrap();
    served(&agent, HOST, &cert.serial_hex()).await;
    eventually("basic auth lets foo:bar in", CONVERGE, async || {
        integration::http::request(
            agent.http,
            integration::http::Req::new("GET", "any.test", "/locked")
                .header("Authorization", &basic("foo", "bar")),
        )
        .await
        .is_ok_and(|r| r.status == 200)
    })
    .await
    .unwrap();
    agent
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_sockets_are_for_the_agents_user_only() {
    let echo = EchoServer::start("web").unwrap();
    let cert = TestCert::self_signed(HOST, &[HOST]);
    let agent = start(&echo, &cert, &[]).await;
    let files = agent.config_files().unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|(p, _)| {
            p.strip_prefix(&agent.config_dir)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    for want in [
        "haproxy.cfg",
        "maps/exact.map",
        "certs/crt-list.txt",
        "certs/default.pem",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not among {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("certs/default_secure-tls")),
        "{names:?}"
    );
    for (path, _) in &files {
        let m = mode(path);
        assert!(
            m == 0o600 || m == 0o660,
            "{} is mode {m:o}, not 0600/0660",
            path.display()
        );
    }
    for socket in [&agent.runtime_socket, &agent.master_socket] {
        let m = mode(socket);
        assert!(
            m == 0o600 || m == 0o660,
            "{} is mode {m:o}",
            socket.display()
        );
    }
}

/// The strings that would give a Secret away: every base64 line of the key (PEM as the
/// Secret has it and as the agent re-encodes it), the key's PEM markers, the key's bytes as
/// Rust prints a byte slice, and the basic-auth hash.
fn needles(cert: &TestCert) -> Vec<String> {
    let key = cert.key_pem();
    let mut out: Vec<String> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect();
    out.push("PRIVATE KEY".into());
    let bytes: Vec<String> = key.bytes().take(12).map(|b| b.to_string()).collect();
    out.push(format!("[{}", bytes.join(", ")));
    out.push(BAR_SHA512.into());
    // Its salt and digest alone, in case something splits or escapes the `$`s.
    out.push(BAR_SHA512.rsplit('$').next().unwrap().into());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_byte_reaches_any_output() {
    let echo = EchoServer::start("web").unwrap();
    let cert = TestCert::self_signed(HOST, &[HOST]);
    let agent = start(&echo, &cert, &["--log-level", "debug"]).await;
    let mut outputs = vec![
        (
            "/debug/state",
            agent.debug_state().await.unwrap().to_string(),
        ),
        ("/metrics", agent.metrics().await.unwrap()),
    ];
    for path in ["/debug/history", "/debug/config"] {
        let reply = integration::get(agent.listen, "localhost", path)
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{path}");
        outputs.push((path, reply.body));
    }
    let ctl_runs: [&[&str]; 5] = [
        &["servers"],
        &["maps"],
        &["diff"],
        &["history"],
        &["--output", "json", "servers"],
    ];
    for args in ctl_runs {
        let (_, text) = ctl(&agent, args);
        outputs.push(("ctl", text));
    }
    outputs.push(("the agent's log", agent.log()));
    assert!(agent.log().contains("DEBUG"), "the log is at debug level");
    for needle in needles(&cert) {
        for (what, text) in &outputs {
            assert!(!text.contains(&needle), "{what} holds {needle:?}");
        }
    }
    // The needles are real: the files HAProxy reads do hold them (the hash in haproxy.cfg,
    // the key in the served certificate and in the backend's client certificate file).
    let config = std::fs::read_to_string(agent.config_dir.join("haproxy.cfg")).unwrap();
    assert!(config.contains(BAR_SHA512));
    let files = agent.config_files().unwrap();
    let client = files
        .iter()
        .find(|(p, _)| p.to_string_lossy().ends_with(".client.pem"))
        .unwrap_or_else(|| panic!("no proxy-ssl client certificate file: {files:?}"));
    let line = needles(&cert)[0].clone();
    assert!(client.1.contains(&line), "{}", client.0.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_listen_moves_metrics_and_state_off_listen_or_turns_them_off() {
    let echo = EchoServer::start("web").unwrap();
    let cert = TestCert::self_signed(HOST, &[HOST]);
    let debug: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let agent = start(&echo, &cert, &["--debug-listen", &debug.to_string()]).await;
    let get = async |addr, path| {
        integration::get(addr, "localhost", path)
            .await
            .unwrap()
            .status
    };
    assert_eq!(get(agent.listen, "/healthz").await, 200);
    assert_eq!(get(agent.listen, "/metrics").await, 404);
    assert_eq!(get(agent.listen, "/debug/state").await, 404);
    assert_eq!(get(debug, "/metrics").await, 200);
    assert_eq!(get(debug, "/debug/state").await, 200);
    assert_eq!(get(debug, "/healthz").await, 404);
    drop(agent);

    let agent = start(&echo, &cert, &["--debug-listen", "off"]).await;
    assert_eq!(get(agent.listen, "/healthz").await, 200);
    assert_eq!(get(agent.listen, "/metrics").await, 404);
    assert_eq!(get(agent.listen, "/debug/state").await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_expiry_is_exported_and_named_when_near() {
    let echo = EchoServer::start("web").unwrap();
    // Valid for three more days: served, exported, and a problem.
    let cert = TestCert::self_signed_valid(HOST, &[HOST], -1, 3);
    let agent = start(&echo, &cert, &[]).await;
    let sample = format!(
        "haproxy_agent_certificate_not_after_seconds{{secret=\"default/secure-tls\",host=\"{HOST}\"}}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    let not_after = agent.metric(&sample).await.unwrap();
    assert!(
        (not_after - (now + 3.0 * 86_400.0)).abs() < 3_600.0,
        "{sample} = {not_after}; {}",
        agent.metrics().await.unwrap()
    );
    let generated =
        "haproxy_agent_certificate_not_after_seconds{secret=\"(generated)\",host=\"*\"}";
    assert!(agent.metric(generated).await.unwrap() > now + 365.0 * 86_400.0);
    let problems = agent.debug_state().await.unwrap()["problems"].clone();
    let named = problems.as_array().unwrap().iter().any(|p| {
        p["object"] == "default/secure-tls"
            && p["reason"] == "certificate_expiry"
            && p["message"]
                .as_str()
                .is_some_and(|m| m.contains(HOST) && m.contains("day(s) (less than 7)"))
    });
    assert!(named, "{problems:#}");
    let gauge = "haproxy_agent_problems{kind=\"secret\",reason=\"certificate_expiry\"}";
    assert_eq!(agent.metric(gauge).await.unwrap(), 1.0);
}
