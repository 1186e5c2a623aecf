//! TCP services (`--tcp-services-configmap`) through real HAProxy: a TCP echo reached on
//! its port, scaled up and down with no reload, a new port reloading as `tcp_services`,
//! PROXY protocol decoded from the client and sent to the pod, a bad entry named while a
//! good one serves.

use std::net::SocketAddr;
use std::time::Duration;

use integration::tcp_echo::exchange;
use integration::{TcpEcho, free_port};

use crate::support::{
    Agent, CONVERGE, Ep, NS, Options, eventually, loopback, quote, service, slice,
};

const MAP: &str = "tcp-services";

fn tcp_map(data: &[(String, String)]) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {MAP}\n  namespace: {NS}\ndata:\n"
    );
    for (k, v) in data {
        out.push_str(&format!("  {}: {}\n", quote(k), quote(v)));
    }
    out
}

fn options() -> Options {
    Options {
        extra: vec!["--tcp-services-configmap".into(), format!("{NS}/{MAP}")],
        ..Options::default()
    }
}

/// TCP echoes `names[i]` on `127.0.0.<i+1>`, one shared port.
fn echoes(names: &[&str]) -> (u16, Vec<TcpEcho>) {
    for _ in 0..20 {
        let port = free_port();
        let started: anyhow::Result<Vec<TcpEcho>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| TcpEcho::start_on(n, loopback(i, port)))
            .collect();
        if let Ok(group) = started {
            return (port, group);
        }
    }
    panic!("no port free on every address");
}

/// The name of the echo that answers a new connection to `addr`, if one does.
async fn who(addr: SocketAddr) -> Option<String> {
    let reply = exchange(addr, b"hi\n", "hi\n", Duration::from_secs(2))
        .await
        .ok()?;
    reply.strip_suffix("|hi\n").map(str::to_string)
}

fn at(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Endpoints come and go over the runtime API (0 reloads) and traffic follows; a new port
/// reloads once, named `tcp_services`; a bad entry is named while the good one serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_service_scales_without_reload_and_a_new_port_reloads() {
    let (target, _echoes) = echoes(&["a", "b"]);
    let port = free_port();
    let entries = vec![
        (port.to_string(), "default/db:5432".to_string()),
        ("0".to_string(), "default/db:5432".to_string()),
    ];
    let mut agent = Agent::start(
        &[
            ("svc.yaml", &service("db", 5432, target)),
            (
                "slice.yaml",
                &slice("db-1", "db", target, &[Ep::ready("127.0.0.1")]),
            ),
            ("tcp.yaml", &tcp_map(&entries)),
        ],
        options(),
    )
    .await
    .unwrap();
    eventually("the TCP port answers", CONVERGE, async || {
        who(at(port)).await.as_deref() == Some("a")
    })
    .await
    .unwrap();
    let problems = agent.debug_state().await.unwrap()["problems"].to_string();
    assert!(problems.contains("data[0]"), "{problems}");
    let reloads = agent.reloads().await.unwrap();
    let backend = format!("tcp_{port}");

    // Scale up: b joins at runtime and takes connections.
    let both = [Ep::ready("127.0.0.1"), Ep::ready("127.0.0.2")];
    agent
        .write_manifest("slice.yaml", &slice("db-1", "db", target, &both))
        .unwrap();
    eventually("b takes a connection", CONVERGE, async || {
        who(at(port)).await.as_deref() == Some("b")
    })
    .await
    .unwrap();
    assert_eq!(agent.servers(&backend).await.unwrap().len(), 2);
    // Scale down to b alone.
    agent
        .write_manifest(
            "slice.yaml",
            &slice("db-1", "db", target, &[Ep::ready("127.0.0.2")]),
        )
        .unwrap();
    eventually("only b is left", CONVERGE, async || {
        let servers = agent.servers(&backend).await.unwrap_or_default();
        servers.len() == 1 && servers.keys().all(|s| s.starts_with("127.0.0.2"))
    })
    .await
    .unwrap();
    for _ in 0..4 {
        assert_eq!(who(at(port)).await.as_deref(), Some("b"));
    }
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "endpoint churn reloaded"
    );

    a_new_port_reloads_once(&agent, &entries, reloads).await;
    agent.stop().await.unwrap();
}

/// Adds a port to the ConfigMap: a frontend, so one reload named `tcp_services`; the new
/// port and the first one (`entries[0]`) then serve.
async fn a_new_port_reloads_once(agent: &Agent, entries: &[(String, String)], reloads: u32) {
    let port: u16 = entries[0].0.parse().unwrap();
    let second = free_port();
    let mut more = entries.to_vec();
    more.push((second.to_string(), "default/db:5432".to_string()));
    agent.write_manifest("tcp.yaml", &tcp_map(&more)).unwrap();
    eventually("the new port answers", CONVERGE, async || {
        who(at(second)).await.as_deref() == Some("b")
    })
    .await
    .unwrap();
    let metric = "haproxy_agent_reloads_total{reason=\"tcp_services\"}";
    eventually(
        "the reload is counted as tcp_services",
        CONVERGE,
        async || agent.metric(metric).await.unwrap_or(0.0) >= 1.0,
    )
    .await
    .unwrap();
    assert_eq!(agent.metric(metric).await.unwrap(), 1.0);
    assert_eq!(agent.reloads().await.unwrap(), reloads + 1);
    assert_eq!(
        who(at(port)).await.as_deref(),
        Some("b"),
        "the first port still serves"
    );
}

/// `:PROXY` decodes the client's PROXY v1 header (hand-written, naming 192.0.2.7) and the
/// pod sees only the payload; `:PROXY:PROXY` also sends one to the pod, naming that same
/// client (one header: the client's was decoded, not passed on). A connection without a
/// header is not served on either port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_service_decodes_and_sends_proxy_protocol() {
    let (target, _echoes) = echoes(&["a"]);
    let (decode, both) = (free_port(), free_port());
    let entries = vec![
        (decode.to_string(), "default/db:5432:PROXY".to_string()),
        (both.to_string(), "default/db:5432:proxy:PROXY".to_string()),
    ];
    let mut agent = Agent::start(
        &[
            ("svc.yaml", &service("db", 5432, target)),
            (
                "slice.yaml",
                &slice("db-1", "db", target, &[Ep::ready("127.0.0.1")]),
            ),
            ("tcp.yaml", &tcp_map(&entries)),
        ],
        options(),
    )
    .await
    .unwrap();
    let send = async |port: u16| {
        let req = format!("PROXY TCP4 192.0.2.7 127.0.0.1 40000 {port}\r\nhi\n");
        exchange(at(port), req.as_bytes(), "hi\n", Duration::from_secs(2))
            .await
            .unwrap_or_default()
    };
    eventually("both PROXY ports answer", CONVERGE, async || {
        send(decode).await.contains("hi\n") && send(both).await.contains("hi\n")
    })
    .await
    .unwrap();
    assert_eq!(send(decode).await, "a|hi\n", "decoded, nothing sent on");
    let reply = send(both).await;
    assert_eq!(reply.matches("PROXY ").count(), 1, "{reply:?}");
    assert!(
        reply.starts_with("a|PROXY TCP4 192.0.2.7 "),
        "the pod sees the client the header named: {reply:?}"
    );
    for port in [decode, both] {
        let bare = exchange(at(port), b"hi\n", "hi\n", Duration::from_secs(2)).await;
        assert!(
            !bare.is_ok_and(|r| r.contains("hi")),
            "a connection to {port} without a PROXY header was served"
        );
    }
    agent.stop().await.unwrap();
}

/// From the cluster (the test API server): the TCP services' ConfigMap and the global one
/// are two watches by name, each listing its own ConfigMap without dropping the other's;
/// both take effect, and deleting the global one leaves the TCP service serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_services_configmap_is_watched_in_the_cluster_next_to_the_global_one() {
    let api = integration::KubeApi::start().await.unwrap();
    let (target, _echoes) = echoes(&["a"]);
    crate::kube::serve_web(&api, target);
    let port = free_port();
    let map = |name: &str, data: serde_json::Value| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"namespace": "ingress", "name": name}, "data": data
        })
    };
    api.apply(map(
        "settings",
        serde_json::json!({"proxy-read-timeout": "7"}),
    ))
    .unwrap();
    api.apply(map(
        "tcp",
        serde_json::json!({port.to_string(): "shop/web:80"}),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        kubeconfig: Some(crate::kube::kubeconfig(&api, dir.path())),
        extra: [
            "--configmap",
            "ingress/settings",
            "--tcp-services-configmap",
            "ingress/tcp",
        ]
        .map(String::from)
        .to_vec(),
        ..Options::default()
    };
    let agent = Agent::start(&[], options).await.unwrap();
    let cfg = agent.config_dir.join("haproxy.cfg");
    eventually("the TCP port answers", CONVERGE, async || {
        who(at(port)).await.as_deref() == Some("a")
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("    timeout server 7s\n"),
        "the global ConfigMap applies too"
    );

    api.delete("ConfigMap", "ingress", "settings").unwrap();
    eventually("the default timeout server", CONVERGE, async || {
        std::fs::read_to_string(&cfg).is_ok_and(|c| c.contains("    timeout server 50s\n"))
    })
    .await
    .unwrap();
    assert_eq!(who(at(port)).await.as_deref(), Some("a"));
}
