//! The agent following a Kubernetes API (the test server of `integration::KubeApi`, real
//! list/watch over TCP to the agent's real `kube::Client`) into a real HAProxy: paged initial
//! lists, scaling through watch events, dropped watches, compacted history, a paused server,
//! and Ingresses that are not ours.

use std::collections::BTreeSet;
use std::time::Duration;

use integration::{EchoServer, KubeApi};
use serde_json::{Value, json};

use crate::support::{Agent, CONVERGE, Options, eventually};

pub(crate) const HOST: &str = "kube.test";

pub(crate) fn service(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]}
    })
}

pub(crate) fn slice(ns: &str, name: &str, service: &str, port: u16, addrs: &[String]) -> Value {
    let endpoints: Vec<Value> = addrs
        .iter()
        .map(|a| json!({"addresses": [a], "conditions": {"ready": true}}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": ns, "name": name, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"port": port}],
        "endpoints": endpoints,
    })
}

pub(crate) fn ingress(ns: &str, name: &str, class: &str, host: &str, service: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"namespace": ns, "name": name},
        "spec": {
            "ingressClassName": class,
            "rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": service, "port": {"number": 80}}}}
            ]}}]
        }
    })
}

/// A kubeconfig for the test API server (no TLS, no auth).
pub(crate) fn kubeconfig(api: &KubeApi, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    api.write_kubeconfig(&path).unwrap();
    path
}

pub(crate) async fn agent_for(api: &KubeApi, dir: &tempfile::TempDir) -> Agent {
    let options = Options {
        kubeconfig: Some(kubeconfig(api, dir.path())),
        ..Options::default()
    };
    Agent::start(&[], options).await.unwrap()
}

/// The server names of `backend`, as HAProxy has them.
pub(crate) async fn live(agent: &Agent, backend: &str) -> BTreeSet<String> {
    agent
        .servers(backend)
        .await
        .map(|m| m.into_keys().collect())
        .unwrap_or_default()
}

pub(crate) fn names(addrs: &[String], port: u16) -> BTreeSet<String> {
    addrs.iter().map(|a| format!("{a}:{port}")).collect()
}

/// Addresses 10.1.x.y that nothing needs to answer: these tests watch HAProxy's servers.
pub(crate) fn pods(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.1.{}.{}", i / 250, 1 + i % 250))
        .collect()
}

/// Waits until all eleven watches of the agent are open (kube yields its first list's end
/// before it sends the watch request).
pub(crate) async fn watches_open(api: &KubeApi) {
    // Six for the Ingress side, five for the Gateway API and Namespaces (the test server
    // serves them).
    eventually(
        "the agent's eleven watches to be open",
        CONVERGE,
        async || api.watch_count() >= 11,
    )
    .await
    .unwrap();
}

/// Service `shop/web` with one ready endpoint, 127.0.0.1:`port` (a real echo server).
pub(crate) fn serve_web(api: &KubeApi, port: u16) {
    api.apply(service("shop", "web")).unwrap();
    api.apply(slice(
        "shop",
        "web-1",
        "web",
        port,
        &["127.0.0.1".to_string()],
    ))
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_list_of_1200_endpoints_over_pages_is_all_served() {
    let api = KubeApi::start().await.unwrap();
    api.apply(service("shop", "web")).unwrap();
    api.apply(ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    let all = pods(1200);
    for (i, a) in all.iter().enumerate() {
        api.apply(slice(
            "shop",
            &format!("web-{i:04}"),
            "web",
            8080,
            std::slice::from_ref(a),
        ))
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    eventually("1,200 servers in HAProxy", CONVERGE, async || {
        live(&agent, "shop_web_80").await.len() == 1200
    })
    .await
    .unwrap();
    assert_eq!(live(&agent, "shop_web_80").await, names(&all, 8080));
    assert!(agent.reloads().await.unwrap() <= 1);
    let pages = api
        .requests()
        .iter()
        .filter(|r| {
            r.is_list_of("/apis/discovery.k8s.io/v1/endpointslices")
                && r.param("continue").is_some()
        })
        .count();
    assert!(pages >= 2, "the 1,200 slices came in one page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_through_watch_events_needs_no_reload() {
    let api = KubeApi::start().await.unwrap();
    api.apply(service("shop", "web")).unwrap();
    api.apply(ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(3)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    for n in [3usize, 10, 2] {
        api.apply(slice("shop", "web-1", "web", 8080, &pods(n)))
            .unwrap();
        let want = names(&pods(n), 8080);
        eventually(&format!("{n} servers"), CONVERGE, async || {
            live(&agent, "shop_web_80").await == want
        })
        .await
        .unwrap();
    }
    assert_eq!(agent.reloads().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watches_and_compacted_history_converge_to_the_latest_state() {
    let api = KubeApi::start().await.unwrap();
    api.apply(service("shop", "web")).unwrap();
    api.apply(ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(2)))
        .unwrap();
    api.apply(slice("shop", "web-2", "web", 8080, &pods(4)[2..]))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    eventually("4 servers", CONVERGE, async || {
        live(&agent, "shop_web_80").await.len() == 4
    })
    .await
    .unwrap();
    watches_open(&api).await;

    // Every watch dropped while objects change: kube re-watches from its last version.
    api.drop_watches();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(3)))
        .unwrap();
    let want: BTreeSet<String> = names(&pods(3), 8080)
        .union(&names(&pods(4)[2..], 8080))
        .cloned()
        .collect();
    eventually("the changes made across the drop", CONVERGE, async || {
        live(&agent, "shop_web_80").await == want
    })
    .await
    .unwrap();
    watches_open(&api).await;

    // History compacted while disconnected: the watch gets a 410 and relists once.
    let lists_before = count_lists(&api);
    api.pause();
    api.drop_watches();
    api.delete("EndpointSlice", "shop", "web-2").unwrap();
    api.compact();
    api.resume();
    let want = names(&pods(3), 8080);
    eventually("the deleted slice's servers to go", CONVERGE, async || {
        live(&agent, "shop_web_80").await == want
    })
    .await
    .unwrap();
    watches_open(&api).await;
    let relists = count_lists(&api) - lists_before;
    assert!(
        (1..=11).contains(&relists),
        "{relists} relists after one compaction (at most one per watch)"
    );
    let slice_relists = api
        .requests()
        .iter()
        .filter(|r| r.is_list_of("/apis/discovery.k8s.io/v1/endpointslices"))
        .count();
    assert_eq!(
        slice_relists, 2,
        "the EndpointSlice watch relisted more than once"
    );
    assert_eq!(agent.reloads().await.unwrap(), 0);
}

fn count_lists(api: &KubeApi) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.method == "GET" && !r.is_watch())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_api_server_keeps_haproxy_serving_and_converges_after() {
    let echo = EchoServer::start("web").unwrap();
    let port = echo.addr().port();
    let api = KubeApi::start().await.unwrap();
    serve_web(&api, port);
    api.apply(ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    eventually("traffic to web", CONVERGE, async || {
        agent
            .get(HOST, "/")
            .await
            .is_ok_and(|r| r.echo_name.as_deref() == Some("web"))
    })
    .await
    .unwrap();
    watches_open(&api).await;

    api.pause();
    api.drop_watches();
    let paused = std::time::Instant::now();
    // Ten seconds without an API server: HAProxy keeps serving the last known state and
    // the agent stays healthy (it serves; only its view is getting old).
    while paused.elapsed() < Duration::from_secs(10) {
        assert_eq!(
            agent.healthz().await.unwrap(),
            200,
            "unhealthy while the API server was paused"
        );
        let r = agent.get(HOST, "/").await.unwrap();
        assert_eq!(r.echo_name.as_deref(), Some("web"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    api.apply(slice(
        "shop",
        "web-1",
        "web",
        port,
        &["127.0.0.1".to_string(), "127.0.0.2".to_string()],
    ))
    .unwrap();
    api.resume();
    let want: BTreeSet<String> = [format!("127.0.0.1:{port}"), format!("127.0.0.2:{port}")].into();
    eventually(
        "the change made during the pause",
        Duration::from_secs(20),
        async || live(&agent, "shop_web_80").await == want,
    )
    .await
    .unwrap();
    assert_eq!(agent.healthz().await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_class_is_ignored_and_a_service_of_another_namespace_is_a_problem() {
    let echo = EchoServer::start("web").unwrap();
    let port = echo.addr().port();
    let api = KubeApi::start().await.unwrap();
    serve_web(&api, port);
    api.apply(ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    api.apply(ingress("shop", "nginx-one", "nginx", "nginx.test", "web"))
        .unwrap();
    // `web` exists in `shop` only: an Ingress in `blog` cannot reach it.
    api.apply(ingress("blog", "cross", "haproxy", "blog.test", "web"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    eventually("traffic to web", CONVERGE, async || {
        agent
            .get(HOST, "/")
            .await
            .is_ok_and(|r| r.echo_name.as_deref() == Some("web"))
    })
    .await
    .unwrap();
    let state = agent.debug_state().await.unwrap();
    let routes = state["desired"]["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0]["host"], HOST);
    let problems = state["problems"].as_array().unwrap();
    let cross: Vec<&Value> = problems
        .iter()
        .filter(|p| p["object"] == "blog/cross")
        .collect();
    assert_eq!(cross.len(), 1, "{problems:?}");
    assert!(
        cross[0]["message"]
            .as_str()
            .unwrap()
            .contains("service blog/web does not exist"),
        "{cross:?}"
    );
    assert!(
        !problems.iter().any(|p| p["object"] == "shop/nginx-one"),
        "an Ingress of another class is not ours to judge: {problems:?}"
    );
    assert_eq!(agent.get("nginx.test", "/").await.unwrap().status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_renders_the_current_objects_and_exits() {
    let api = KubeApi::start().await.unwrap();
    api.apply(service("shop", "web")).unwrap();
    api.apply(ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(3)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("etc");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_haproxy-agent"))
        .arg("init")
        .arg("--kubeconfig")
        .arg(kubeconfig(&api, dir.path()))
        .arg("--config-dir")
        .arg(&config_dir)
        .arg("--runtime-socket")
        .arg(dir.path().join("admin.sock"))
        .arg("--haproxy-bin")
        .arg(integration::haproxy_binary())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = std::fs::read_to_string(config_dir.join("haproxy.cfg")).unwrap();
    for addr in pods(3) {
        assert!(
            cfg.contains(&format!("server {addr}:8080 {addr}:8080")),
            "{cfg}"
        );
    }
    let exact = std::fs::read_to_string(config_dir.join("maps/prefix.map")).unwrap();
    assert_eq!(exact, format!("{HOST}/ shop_web_80\n"));
    // Validated by haproxy -c and recorded as the last good config.
    assert!(config_dir.join("haproxy.cfg.last-good").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_address_writes_ingress_status_under_a_lease_released_on_shutdown() {
    let api = KubeApi::start().await.unwrap();
    api.apply(service("shop", "web")).unwrap();
    api.apply(slice("shop", "web-1", "web", 8080, &pods(1)))
        .unwrap();
    api.apply(ingress("shop", "web", "haproxy", HOST, "web"))
        .unwrap();
    api.apply(ingress("shop", "nginx-one", "nginx", "nginx.test", "web"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        kubeconfig: Some(kubeconfig(&api, dir.path())),
        extra: vec![
            "--publish-address=203.0.113.9,lb.example.com".into(),
            "--election-namespace=ingress".into(),
            "--election-id=e2e-leader".into(),
        ],
        ..Options::default()
    };
    let mut agent = Agent::start(&[], options).await.unwrap();
    let status_of = |name: &str| {
        api.get("Ingress", "shop", name).unwrap().unwrap()["status"]["loadBalancer"]["ingress"]
            .clone()
    };
    eventually(
        "the Ingress status to show the address",
        CONVERGE,
        async || {
            let got = status_of("web");
            let list = got.as_array().cloned().unwrap_or_default();
            list.len() == 2
                && list.contains(&json!({"ip": "203.0.113.9"}))
                && list.contains(&json!({"hostname": "lb.example.com"}))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", status_of("web"), agent.log_tail()));
    let holder = |api: &KubeApi| {
        api.get("Lease", "ingress", "e2e-leader")
            .unwrap()
            .map(|l| l["spec"]["holderIdentity"].clone())
    };
    let held = holder(&api).expect("the election Lease exists");
    assert!(
        held.as_str().is_some_and(|h| !h.is_empty()),
        "the writer holds the Lease: {held:?}"
    );
    assert_eq!(
        status_of("nginx-one"),
        Value::Null,
        "an Ingress of another class is not written"
    );

    let exit = agent.stop().await.unwrap();
    assert!(exit.success(), "{exit:?}");
    let released = holder(&api).expect("the Lease stays");
    assert!(
        released.as_str().is_none_or(str::is_empty),
        "a stopped agent releases the Lease: {released:?}"
    );
}

/// An Opaque basic-auth Secret arrives through its own watch (the TLS one selects
/// `kubernetes.io/tls`): its users guard the route, a new password follows a watch event,
/// and a deleted Secret fails closed with 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_auth_secrets_are_watched_and_guard_their_routes() {
    use integration::Req;
    let web = EchoServer::start("web").unwrap();
    let port = web.addr().port();
    let api = KubeApi::start().await.unwrap();
    serve_web(&api, port);
    let mut ing = ingress("shop", "web", "haproxy", HOST, "web");
    ing["metadata"]["annotations"] = json!({
        "nginx.ingress.kubernetes.io/auth-type": "basic",
        "nginx.ingress.kubernetes.io/auth-secret": "basic-auth",
    });
    api.apply(ing).unwrap();
    // foo:bar (`openssl passwd -6`), then foo:baz (`openssl passwd -5`).
    let secret = |auth: &str| {
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"namespace": "shop", "name": "basic-auth"},
            "data": {"auth": auth, "unrelated": "aHVudGVyMg=="},
        })
    };
    api.apply(secret("Zm9vOiQ2JGUyZWF1dGhzYWx0JFdHanppUnpEdnRxakxqZzAzYzdLanlHaXk1WFFPZ2czUlF4R21rd0xwMXlqeGVwTXEyWTBXVmEwblgwQmpDWnZqQ1BvSWltRXZlQmxCdGxSRHByeFgvCg==")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_for(&api, &dir).await;
    let status = async |credentials: Option<&str>| {
        let mut req = Req::new("GET", HOST, "/");
        if let Some(c) = credentials {
            req = req.header("authorization", c);
        }
        integration::request(agent.http, req)
            .await
            .map(|r| r.status)
            .unwrap_or(0)
    };
    const BAR: &str = "Basic Zm9vOmJhcg==";
    const BAZ: &str = "Basic Zm9vOmJheg==";
    eventually("foo:bar lets in", CONVERGE, async || {
        status(Some(BAR)).await == 200
    })
    .await
    .unwrap();
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some(BAZ)).await, 401);
    api.apply(secret(
        "Zm9vOiQ1JGUyZWF1dGhzYWx0JG9MNUxQeEkzc2hIcE5yVWdOOWlsZjNyTng5b21mNDhZRXhYNjJ6Llh0LjMK",
    ))
    .unwrap();
    eventually("foo:baz lets in", CONVERGE, async || {
        status(Some(BAZ)).await == 200
    })
    .await
    .unwrap();
    assert_eq!(status(Some(BAR)).await, 401);
    api.delete("Secret", "shop", "basic-auth").unwrap();
    eventually("503 without the Secret", CONVERGE, async || {
        status(Some(BAZ)).await == 503
    })
    .await
    .unwrap();
}
