//! The global ConfigMap through real HAProxy: from --manifests (HSTS at runtime, on routed
//! and unrouted HTTPS responses, an annotation default an Ingress overrides, a timeout reloading as global_settings,
//! forwarded headers) and from the test Kubernetes API server (watched, changed, deleted).

use integration::EchoServer;
use integration::tls::{TestCert, https_get};

use crate::frontdoor::{HOST, N, files, web_service};
use crate::support::{
    Agent, CONVERGE, IngressPath, NS, Options, eventually, ingress, quote, route,
};

const PLAIN: &str = "plain.test";

fn config_map(data: &[(&str, &str)]) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: haproxy-agent\n  namespace: {NS}\ndata:\n"
    );
    for (k, v) in data {
        out.push_str(&format!("  {}: {}\n", quote(k), quote(v)));
    }
    out
}

/// A TLS Secret `front` for [`HOST`] and the Ingress `tls` serving `path` with it.
fn tls_ingress(path: IngressPath<'_>) -> (String, String) {
    let cert = TestCert::self_signed(HOST, &[HOST]);
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: front\n  namespace: {NS}\n\
         type: kubernetes.io/tls\nstringData:\n  tls.crt: {}\n  tls.key: {}\n",
        quote(&cert.cert_pem()),
        quote(&cert.key_pem())
    );
    let tls = ingress("tls", &[], &[path]).replacen(
        "  rules:\n",
        &format!("  tls:\n    - hosts: [{HOST}]\n      secretName: front\n  rules:\n"),
        1,
    );
    (secret, tls)
}

/// --configmap from --manifests: HSTS on HTTPS responses (a change is a map update, no
/// reload), a timeout (a reload named global_settings), an annotation default an Ingress
/// overrides, and unknown keys named in /debug/state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_settings_apply_hsts_at_runtime_and_timeouts_reload() {
    let web = EchoServer::start("web").unwrap();
    let on_host = |host: &'static str, path: &'static str| IngressPath {
        host: Some(host),
        path,
        service: "web",
        port: 80,
    };
    let (secret, tls) = tls_ingress(on_host(HOST, "/"));
    // Plain HTTP: the body-size limits (a TLS host would redirect to HTTPS first).
    let small = ingress("small", &[], &[on_host(PLAIN, "/")]);
    let own_limit = ingress(
        "big",
        &[(&format!("{N}proxy-body-size"), "1m")],
        &[on_host(PLAIN, "/big")],
    );
    let base = [
        ("hsts", "true"),
        ("hsts-max-age", "600"),
        ("proxy-body-size", "1k"),
        ("no-such-key", "x"),
    ];
    let list = [
        ("web.yaml", web_service(web.addr().port(), &["127.0.0.1"])),
        ("secret.yaml", secret),
        ("tls.yaml", tls),
        ("big.yaml", own_limit),
        ("small.yaml", small),
        ("cm.yaml", config_map(&base)),
    ];
    let options = Options {
        extra: vec!["--configmap".into(), format!("{NS}/haproxy-agent")],
        ..Options::default()
    };
    let agent = Agent::start(&files(&list), options).await.unwrap();
    let hsts = || async {
        let (_, headers, _) = https_get(agent.https, HOST, "/").await.unwrap();
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("strict-transport-security"))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        hsts().await.as_deref(),
        Some("max-age=600; includeSubDomains")
    );
    // Over plain HTTP: no HSTS.
    let plain = integration::request(agent.http, integration::Req::new("GET", HOST, "/"))
        .await
        .unwrap();
    assert_eq!(plain.header("strict-transport-security"), None);
    // The ConfigMap's proxy-body-size is the default; the Ingress's annotation wins.
    let post = |path: &'static str| async move {
        let body = "x".repeat(4096);
        let req = integration::Req::new("POST", PLAIN, path).body(body.as_bytes());
        integration::request(agent.http, req).await.unwrap().status
    };
    assert_eq!(post("/").await, 413, "the ConfigMap's 1k");
    assert_eq!(post("/big").await, 200, "the Ingress's own 1m");
    let state = agent.debug_state().await.unwrap();
    let problems = state["problems"].to_string();
    assert!(problems.contains("data[no-such-key]"), "{problems}");

    let reloads = agent.reloads().await.unwrap();
    let mut next = base.to_vec();
    next[1] = ("hsts-max-age", "1200");
    next.push(("hsts-preload", "true"));
    agent.write_manifest("cm.yaml", &config_map(&next)).unwrap();
    eventually("the new HSTS", CONVERGE, || async {
        hsts().await.as_deref() == Some("max-age=1200; includeSubDomains; preload")
    })
    .await
    .unwrap();
    assert_eq!(agent.reloads().await.unwrap(), reloads, "HSTS reloaded");

    next.push(("proxy-read-timeout", "7"));
    agent.write_manifest("cm.yaml", &config_map(&next)).unwrap();
    eventually("timeout server 7s", CONVERGE, || async {
        std::fs::read_to_string(agent.config_dir.join("haproxy.cfg"))
            .is_ok_and(|c| c.contains("    timeout server 7s\n"))
    })
    .await
    .unwrap();
    let metric = "haproxy_agent_reloads_total{reason=\"global_settings\"}";
    eventually("a global_settings reload", CONVERGE, || async {
        agent.metric(metric).await.unwrap_or(0.0) >= 1.0
    })
    .await
    .unwrap();
}

/// HSTS on an HTTPS response no route takes (the built-in 404), as ingress-nginx's default
/// server sends it: the settings map's `hsts` entry, added, deleted and added again by
/// turning the ConfigMap's `hsts` off and on, with 0 reloads; never over plain HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_reaches_https_responses_no_route_takes_and_flips_without_reloads() {
    let web = EchoServer::start("web").unwrap();
    let app = IngressPath {
        host: Some(HOST),
        path: "/app",
        service: "web",
        port: 80,
    };
    let (secret, tls) = tls_ingress(app);
    let on = [("hsts", "true"), ("hsts-max-age", "600")];
    let list = [
        ("web.yaml", web_service(web.addr().port(), &["127.0.0.1"])),
        ("secret.yaml", secret),
        ("tls.yaml", tls),
        ("cm.yaml", config_map(&on)),
    ];
    let options = Options {
        extra: vec!["--configmap".into(), format!("{NS}/haproxy-agent")],
        ..Options::default()
    };
    let agent = Agent::start(&files(&list), options).await.unwrap();
    // `/nothing` matches no route: the built-in 404.
    let unrouted = || async {
        let reply = https_get(agent.https, HOST, "/nothing").await.unwrap();
        assert_eq!(reply.0, 404, "no route takes /nothing");
        reply
            .1
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("strict-transport-security"))
            .map(|(_, v)| v.clone())
    };
    let with = Some("max-age=600; includeSubDomains".to_string());
    eventually("HSTS on the 404", CONVERGE, || async {
        unrouted().await == with
    })
    .await
    .unwrap();
    let plain = integration::request(agent.http, integration::Req::new("GET", "other.test", "/"))
        .await
        .unwrap();
    assert_eq!(plain.status, 404);
    assert_eq!(
        plain.header("strict-transport-security"),
        None,
        "plain HTTP"
    );
    let reloads = agent.reloads().await.unwrap();
    agent
        .write_manifest("cm.yaml", &config_map(&[("hsts", "false")]))
        .unwrap();
    eventually("no HSTS on the 404", CONVERGE, || async {
        unrouted().await.is_none()
    })
    .await
    .unwrap();
    agent.write_manifest("cm.yaml", &config_map(&on)).unwrap();
    eventually("HSTS on the 404 again", CONVERGE, || async {
        unrouted().await == with
    })
    .await
    .unwrap();
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "flipping HSTS reloaded"
    );
    // The file follows (written after the runtime change), so a restart starts current.
    let file = agent.config_dir.join("maps/settings.map");
    eventually("the settings map on disk", CONVERGE, || async {
        std::fs::read_to_string(&file).is_ok_and(|m| m == "hsts 600.s\n")
    })
    .await
    .unwrap();
}

/// --configmap from the cluster (the test API server): one more watch, on the ConfigMap's
/// name; a changed value reloads (global_settings), an unknown key is a named problem, and
/// a deleted ConfigMap is named and its settings go back to the defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_is_watched_in_the_cluster() {
    let api = integration::KubeApi::start().await.unwrap();
    let web = EchoServer::start("web").unwrap();
    crate::kube::serve_web(&api, web.addr().port());
    api.apply(crate::kube::ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    let cm = |timeout: &str| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"namespace": "ingress", "name": "settings"},
            "data": {"proxy-read-timeout": timeout, "gzip-level": "5"}
        })
    };
    api.apply(cm("7")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        kubeconfig: Some(crate::kube::kubeconfig(&api, dir.path())),
        extra: vec!["--configmap".into(), "ingress/settings".into()],
        ..Options::default()
    };
    let agent = Agent::start(&[], options).await.unwrap();
    let cfg_has = |text: &'static str| {
        let path = agent.config_dir.join("haproxy.cfg");
        async move || std::fs::read_to_string(&path).is_ok_and(|c| c.contains(text))
    };
    eventually(
        "timeout server 7s",
        CONVERGE,
        cfg_has("    timeout server 7s\n"),
    )
    .await
    .unwrap();
    let reply = integration::request(agent.http, integration::Req::new("GET", HOST, "/"))
        .await
        .unwrap();
    assert_eq!(reply.echo_name.as_deref(), Some("web"));
    let problems = agent.debug_state().await.unwrap()["problems"].to_string();
    assert!(problems.contains("data[gzip-level]"), "{problems}");

    api.apply(cm("9")).unwrap();
    eventually(
        "timeout server 9s",
        CONVERGE,
        cfg_has("    timeout server 9s\n"),
    )
    .await
    .unwrap();
    let metric = "haproxy_agent_reloads_total{reason=\"global_settings\"}";
    eventually("a global_settings reload", CONVERGE, async || {
        agent.metric(metric).await.unwrap_or(0.0) >= 1.0
    })
    .await
    .unwrap();

    api.delete("ConfigMap", "ingress", "settings").unwrap();
    eventually(
        "the default timeout server",
        CONVERGE,
        cfg_has("    timeout server 50s\n"),
    )
    .await
    .unwrap();
    let problems = agent.debug_state().await.unwrap()["problems"].to_string();
    assert!(problems.contains("does not exist"), "{problems}");
}

/// The ConfigMap's use-forwarded-headers with forwarded-for-header: the named header's
/// last address is the client the deny list judges, from any source; without the header
/// the connection's source is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_forwarded_headers_name_the_client() {
    let web = EchoServer::start("web").unwrap();
    let denied = ingress(
        "denied",
        &[(&format!("{N}denylist-source-range"), "10.0.0.0/8")],
        &[route("/d", "web", 80)],
    );
    let cm = config_map(&[
        ("use-forwarded-headers", "true"),
        ("forwarded-for-header", "X-Real-IP"),
    ]);
    let list = [
        ("web.yaml", web_service(web.addr().port(), &["127.0.0.1"])),
        ("denied.yaml", denied),
        ("cm.yaml", cm),
    ];
    let options = Options {
        extra: vec!["--configmap".into(), format!("{NS}/haproxy-agent")],
        ..Options::default()
    };
    let agent = Agent::start(&files(&list), options).await.unwrap();
    let status = async |header: Option<(&'static str, &'static str)>| -> u16 {
        let mut req = integration::Req::new("GET", HOST, "/d");
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        integration::request(agent.http, req).await.unwrap().status
    };
    assert_eq!(status(Some(("x-real-ip", "10.1.2.3"))).await, 403);
    assert_eq!(status(Some(("x-real-ip", "192.168.1.1"))).await, 200);
    assert_eq!(
        status(Some(("x-forwarded-for", "10.1.2.3"))).await,
        200,
        "another header"
    );
    assert_eq!(status(None).await, 200, "the connection's source");
}
