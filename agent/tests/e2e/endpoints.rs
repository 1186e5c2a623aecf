//! Endpoint changes go over the runtime API with no reload: an added endpoint serves, a
//! removed one drains (its in-flight request completes) and is then deleted, a terminating
//! one drains and takes nothing new.

use std::time::Duration;

use haproxy::proto::parse::ServerAdmin;
use integration::get;

use crate::support::{
    Agent, CONVERGE, Ep, Options, backend, echo_group, eventually, ingress, loopback, route,
    server, service, slice,
};

const HOST: &str = "shop.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_endpoint_serves_and_removed_one_drains_then_goes_without_reload() {
    let delay = Duration::from_millis(2500);
    let (port, echoes) = echo_group(&[("web-a", Duration::ZERO), ("web-b", delay)]).unwrap();
    let b = &echoes[1];
    let (ip_a, ip_b) = ("127.0.0.1", "127.0.0.2");
    let slice_a = slice("web-1", "web", port, &[Ep::ready(ip_a)]);
    let objects = [
        service("web", 80, port),
        ingress("web", &[], &[route("/web", "web", 80)]),
    ];
    let agent = Agent::start(
        &[
            ("web.yaml", &objects.join("---\n")),
            ("web-slice.yaml", &slice_a),
        ],
        Options {
            drain_timeout: Duration::from_secs(10),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let be = backend("web", 80);
    let (name_a, name_b) = (server(loopback(0, port)), server(loopback(1, port)));
    let reloads = agent.reloads().await.unwrap();
    assert_eq!(
        agent.get(HOST, "/web").await.unwrap().echo_name.as_deref(),
        Some("web-a")
    );

    // Added: appended to the slice file, it serves, with no reload.
    agent
        .append_manifest("web-slice.yaml", &Ep::ready(ip_b).yaml())
        .unwrap();
    eventually("the appended endpoint serves", CONVERGE, async || {
        agent
            .get(HOST, "/web")
            .await
            .is_ok_and(|r| r.echo_name.as_deref() == Some("web-b"))
    })
    .await
    .unwrap();
    let live = agent.servers(&be).await.unwrap();
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        [&name_a, &name_b],
        "{live:?}"
    );
    assert!(live[&name_b].admin.is_ready(), "{:?}", live[&name_b]);
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "adding an endpoint reloaded"
    );

    // A slow request in flight on web-b (requests go to either server: retry until one
    // lands on web-b).
    let http = agent.http;
    let mut in_flight = None;
    for _ in 0..20 {
        let before = b.requests();
        let request = tokio::spawn(async move { get(http, HOST, "/web").await });
        eventually("the request reaches a server", CONVERGE, async || {
            b.requests() > before || request.is_finished()
        })
        .await
        .unwrap();
        if b.requests() > before {
            in_flight = Some(request);
            break;
        }
        request.await.unwrap().unwrap();
    }
    let in_flight = in_flight.expect("no request reached web-b in 20 tries");
    let completed_b = b.completed();

    // Removed while busy: drained first (admin state drain, still listed) ...
    agent.write_manifest("web-slice.yaml", &slice_a).unwrap();
    eventually("web-b is in drain", CONVERGE, async || {
        agent.servers(&be).await.is_ok_and(|s| {
            s.get(&name_b)
                .is_some_and(|r| r.admin.0 & ServerAdmin::FORCED_DRAIN != 0)
        })
    })
    .await
    .unwrap();
    assert_eq!(
        b.completed(),
        completed_b,
        "the slow request already finished"
    );
    // ... taking no new requests ...
    let requests_b = b.requests();
    for _ in 0..10 {
        let r = agent.get(HOST, "/web").await.unwrap();
        assert_eq!(r.echo_name.as_deref(), Some("web-a"), "{r:?}");
    }
    assert_eq!(
        b.requests(),
        requests_b,
        "a draining server got a new request"
    );
    // ... then deleted once its request completed, which completed fine.
    eventually("web-b is deleted", CONVERGE, async || {
        agent
            .servers(&be)
            .await
            .is_ok_and(|s| !s.contains_key(&name_b))
    })
    .await
    .unwrap();
    assert!(
        b.completed() > completed_b,
        "web-b was deleted with its request in flight"
    );
    let reply = in_flight.await.unwrap().unwrap();
    assert_eq!(
        (reply.status, reply.echo_name.as_deref()),
        (200, Some("web-b"))
    );
    let live = agent.servers(&be).await.unwrap();
    assert_eq!(live.keys().collect::<Vec<_>>(), [&name_a]);
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "removing an endpoint reloaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_endpoint_drains_and_takes_no_new_requests() {
    let (port, echoes) = echo_group(&[("t-a", Duration::ZERO), ("t-b", Duration::ZERO)]).unwrap();
    let b = &echoes[1];
    let (ip_a, ip_b) = ("127.0.0.1", "127.0.0.2");
    let objects = [
        service("term", 80, port),
        ingress("term", &[], &[route("/t", "term", 80)]),
    ];
    let both = slice("term-1", "term", port, &[Ep::ready(ip_a), Ep::ready(ip_b)]);
    let agent = Agent::start(
        &[
            ("term.yaml", &objects.join("---\n")),
            ("term-slice.yaml", &both),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let be = backend("term", 80);
    let name_b = server(loopback(1, port));
    let reloads = agent.reloads().await.unwrap();
    eventually("t-b serves", CONVERGE, async || {
        agent
            .get(HOST, "/t")
            .await
            .is_ok_and(|r| r.echo_name.as_deref() == Some("t-b"))
    })
    .await
    .unwrap();

    let terminating = slice(
        "term-1",
        "term",
        port,
        &[Ep::ready(ip_a), Ep::terminating(ip_b)],
    );
    agent
        .write_manifest("term-slice.yaml", &terminating)
        .unwrap();
    eventually("t-b is in drain (admin state 0x08)", CONVERGE, async || {
        agent.servers(&be).await.is_ok_and(|s| {
            s.get(&name_b)
                .is_some_and(|r| r.admin.0 & ServerAdmin::FORCED_DRAIN != 0)
        })
    })
    .await
    .unwrap();
    let requests_b = b.requests();
    for _ in 0..20 {
        let r = agent.get(HOST, "/t").await.unwrap();
        assert_eq!(r.echo_name.as_deref(), Some("t-a"), "{r:?}");
    }
    assert_eq!(
        b.requests(),
        requests_b,
        "a terminating endpoint got new requests"
    );
    // Still there, still draining: terminating is not gone.
    let live = agent.servers(&be).await.unwrap();
    assert!(live[&name_b].admin.is_drain(), "{:?}", live[&name_b]);
    let state = agent.debug_state().await.unwrap();
    let servers = &state["desired"]["backends"][&be]["servers"];
    assert!(
        servers
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == name_b.as_str() && s["state"] == "drain"),
        "{servers}"
    );
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a terminating endpoint reloaded"
    );
}

const FULL: &str = "haproxy_agent_observations_total{scope=\"full\"}";
const BACKEND: &str = "haproxy_agent_observations_total{scope=\"backend\"}";
const WRITES: &str = "haproxy_agent_file_writes_total";

/// One endpoint change reads only its backend from HAProxy (no full observation) and
/// brings haproxy.cfg up to date afterwards; with nothing changing, the agent reads nothing
/// whole and writes no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_change_reads_its_backend_only_and_idle_writes_nothing() {
    let (port, _echoes) =
        echo_group(&[("web-a", Duration::ZERO), ("web-b", Duration::ZERO)]).unwrap();
    let objects = [
        service("web", 80, port),
        service("api", 80, port),
        slice("api-1", "api", port, &[Ep::ready("127.0.0.1")]),
        ingress(
            "web",
            &[],
            &[route("/web", "web", 80), route("/api", "api", 80)],
        ),
    ];
    let agent = Agent::start(
        &[
            ("web.yaml", &objects.join("---\n")),
            (
                "web-slice.yaml",
                &slice("web-1", "web", port, &[Ep::ready("127.0.0.1")]),
            ),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    let full = agent.metric(FULL).await.unwrap();
    let backends = agent.metric(BACKEND).await.unwrap();
    let writes = agent.metric(WRITES).await.unwrap();
    assert!(full >= 1.0, "the first sync reads everything");

    agent
        .append_manifest("web-slice.yaml", &Ep::ready("127.0.0.2").yaml())
        .unwrap();
    let be = backend("web", 80);
    let added = server(loopback(1, port));
    eventually("the new server is in HAProxy", CONVERGE, async || {
        agent
            .servers(&be)
            .await
            .is_ok_and(|s| s.contains_key(&added))
    })
    .await
    .unwrap();
    // Then haproxy.cfg on disk carries it too (written off the path to HAProxy's ack).
    let cfg = agent.config_dir.join("haproxy.cfg");
    eventually("haproxy.cfg carries the new server", CONVERGE, async || {
        std::fs::read_to_string(&cfg).is_ok_and(|t| t.contains(&format!("server {added} ")))
    })
    .await
    .unwrap();
    assert_eq!(
        agent.metric(FULL).await.unwrap(),
        full,
        "no full observation for one endpoint"
    );
    assert!(
        agent.metric(BACKEND).await.unwrap() > backends,
        "the changed backend was read"
    );
    assert_eq!(agent.reloads().await.unwrap(), reloads);

    // The flush that wrote haproxy.cfg counts its files once all are written.
    eventually("the flush is counted", CONVERGE, async || {
        agent.metric(WRITES).await.is_ok_and(|w| w > writes)
    })
    .await
    .unwrap();

    // Idle, then a marker change: the loop handles everything in order, so once the
    // marker's own effects show, anything the agent did while idle has shown too. Its
    // flush writes haproxy.cfg alone; nothing was read whole.
    let (full, writes) = (
        agent.metric(FULL).await.unwrap(),
        agent.metric(WRITES).await.unwrap(),
    );
    agent
        .append_manifest("web-slice.yaml", &Ep::ready("127.0.0.3").yaml())
        .unwrap();
    let marker = server(loopback(2, port));
    eventually(
        "the marker is in haproxy.cfg and counted",
        CONVERGE,
        async || {
            let on_disk = std::fs::read_to_string(&cfg)
                .is_ok_and(|t| t.contains(&format!("server {marker} ")));
            on_disk && agent.metric(WRITES).await.is_ok_and(|w| w > writes)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        agent.metric(WRITES).await.unwrap(),
        writes + 1.0,
        "only the marker's haproxy.cfg was written"
    );
    assert_eq!(
        agent.metric(FULL).await.unwrap(),
        full,
        "idle and the marker: no full observation"
    );
}
