//! Canary: `haproxy-agent.io/canary-service` and `canary-weight` split a route's traffic
//! between two Services by server weights; changing the percentage changes weights at
//! runtime, with no reload.

use std::time::Duration;

use haproxy::proto::{Command, Reply};
use haproxy::{BackendName, ServerName, ServerRef};
use integration::{EchoServer, LoadLoop, LoadStats};

use crate::support::{Agent, CONVERGE, Ep, Options, eventually, ingress, route, service, slice};

const HOST: &str = "canary.example";
const REQUESTS: u64 = 2000;

fn canary_ingress(percent: u8) -> String {
    let percent = percent.to_string();
    ingress(
        "shop",
        &[
            ("haproxy-agent.io/canary-service", "shop-canary"),
            ("haproxy-agent.io/canary-weight", &percent),
        ],
        &[route("/shop", "shop", 80)],
    )
}

/// Sends [`REQUESTS`] requests and returns the canary's share in percent.
async fn canary_share(agent: &Agent) -> (f64, LoadStats) {
    let stats = LoadLoop::start(agent.http, HOST, "/shop", Duration::from_secs(15), REQUESTS)
        .stop_when_done()
        .await;
    assert_eq!(stats.failed, 0, "{:?}", stats.errors);
    assert_eq!(
        stats.ok, REQUESTS,
        "the load loop ran out of time: {stats:?}"
    );
    let canary = stats.by_name.get("canary").copied().unwrap_or(0);
    (100.0 * canary as f64 / stats.ok as f64, stats)
}

async fn weight(agent: &Agent, server: &ServerRef) -> u32 {
    match agent
        .runtime_client()
        .send(Command::GetWeight(server.clone()))
        .await
        .unwrap()
    {
        Reply::Weight(w) => w.current,
        other => panic!("get weight {server}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_weight_splits_traffic_and_changes_without_reload() {
    let primary = EchoServer::start("primary").unwrap();
    let canary = EchoServer::start("canary").unwrap();
    let (pp, cp) = (primary.addr().port(), canary.addr().port());
    let services = [
        service("shop", 80, pp),
        slice("shop-1", "shop", pp, &[Ep::ready("127.0.0.1")]),
        service("shop-canary", 80, cp),
        slice(
            "shop-canary-1",
            "shop-canary",
            cp,
            &[Ep::ready("127.0.0.1")],
        ),
    ];
    let agent = Agent::start(
        &[
            ("services.yaml", &services.join("---\n")),
            ("ingress.yaml", &canary_ingress(20)),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let reloads = agent.reloads().await.unwrap();
    let be = BackendName::new("default_shop_80_canary_shop-canary").unwrap();
    let at = |addr: std::net::SocketAddr| {
        ServerRef::new(be.clone(), ServerName::new(addr.to_string()).unwrap())
    };
    let (primary_srv, canary_srv) = (at(primary.addr()), at(canary.addr()));
    let (wp, wc) = (
        weight(&agent, &primary_srv).await,
        weight(&agent, &canary_srv).await,
    );
    assert_eq!((wp, wc), (256, 64), "weights for a 20 % canary");

    let (share, stats) = canary_share(&agent).await;
    eprintln!(
        "canary-weight 20: canary got {share:.1} % ({:?})",
        stats.by_name
    );
    assert!(
        (15.0..=25.0).contains(&share),
        "canary share {share:.1} %, want 20 ± 5"
    );

    agent
        .write_manifest("ingress.yaml", &canary_ingress(50))
        .unwrap();
    eventually("the canary's weight changes", CONVERGE, async || {
        weight(&agent, &canary_srv).await == 256
    })
    .await
    .unwrap();
    assert_eq!(weight(&agent, &primary_srv).await, 256);
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a weight change reloaded"
    );

    let (share, stats) = canary_share(&agent).await;
    eprintln!(
        "canary-weight 50: canary got {share:.1} % ({:?})",
        stats.by_name
    );
    assert!(
        (45.0..=55.0).contains(&share),
        "canary share {share:.1} %, want 50 ± 5"
    );
    assert_eq!(agent.reloads().await.unwrap(), reloads);
}
