//! Gateways on binds of their own, on a real HAProxy: each bind (named, read by the Lua
//! action with `so_name`) serves only its own routes, a request on one that no route serves
//! gets 404 (never an Ingress route), and a route change on one is map commands with 0
//! reloads.

use std::net::SocketAddr;

use haproxy::config::gateway::{
    CandidateId, GatewayBind, GatewayFiles, GatewayMaps, HostEntry, HostKey, HostPattern, Listen,
    gateway_commands,
};
use integration::http::{self, Req};

use crate::gateway_support::{Routes, Served, prefix, to};
use crate::reload::run_batch;

/// A loopback address of this test's own (port `port`): 127.<pid>.<n>.1.
fn own_addr(n: u8, port: u16) -> SocketAddr {
    let second = 150 + (std::process::id() % 100) as u8;
    SocketAddr::from(([127, second, n, 1], port))
}

/// Routes with `*` on the shared HTTP bind to `a`, and `*` on each of `binds` to its
/// service.
fn routes(binds: &[(SocketAddr, &str)], empty: &[SocketAddr]) -> Routes {
    let mut r = Routes::default().host("*", 80, vec![to(prefix("/"), "a")]);
    for (i, (addr, svc)) in binds.iter().enumerate() {
        let bind = GatewayBind {
            addr: *addr,
            tls: false,
        };
        let id = CandidateId::new("gw", &format!("own{i}"), 0, 0).unwrap();
        r.0.candidates.insert(id.clone(), to(prefix("/"), svc));
        let key = HostKey {
            listen: Listen::Bind(bind),
            host: HostPattern::Any,
        };
        let entry = HostEntry::Rules {
            listener_port: 80,
            candidates: vec![id],
        };
        r.0.hosts.insert(key, entry);
        r.0.binds.insert(bind);
    }
    for addr in empty {
        r.0.binds.insert(GatewayBind {
            addr: *addr,
            tls: false,
        });
    }
    r
}

async fn who(addr: SocketAddr) -> String {
    let r = http::request(addr, Req::new("GET", "any.test", "/"))
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e:#}"));
    match (r.status, r.echo_name) {
        (200, Some(n)) => n,
        (s, _) => s.to_string(),
    }
}

#[tokio::test]
async fn gateway_binds_keep_each_gateways_routes_apart() {
    let port = integration::free_port();
    // Two Gateways on the same port, told apart by address; a third bind with no route.
    let (one, two, bare) = (own_addr(1, port), own_addr(2, port), own_addr(3, port));
    let mut s = Served::start(routes(&[(one, "b"), (two, "c")], &[bare]), Vec::new()).await;
    let cfg = &s.hp.started_with().haproxy_cfg;
    for line in [
        format!("bind {one} name http@{one}"),
        format!("bind {two} name http@{two}"),
    ] {
        assert!(cfg.contains(&line), "{line} in\n{cfg}");
    }
    let shared = SocketAddr::from(([127, 0, 0, 1], s.port));
    assert_eq!(who(shared).await, "a", "the shared bind");
    assert_eq!(who(one).await, "b", "the first Gateway's bind");
    assert_eq!(who(two).await, "c", "the second Gateway's bind");
    assert_eq!(
        who(bare).await,
        "404",
        "no route on a Gateway's bind: no Ingress either"
    );

    // The second Gateway's route changes over the runtime API: no reload.
    let reloads = s.hp.reload_count().await.unwrap();
    let next = routes(&[(one, "b"), (two, "d")], &[bare]);
    let files = GatewayFiles::of_maps(&s.cfg.frontends[0].maps);
    let cmds = gateway_commands(
        &files,
        &GatewayMaps::of_routes(&s.cfg.gateway),
        &GatewayMaps::of_routes(&next.0),
        &Default::default(),
    );
    run_batch(&s.hp.runtime_client(), &cmds).await;
    s.cfg.gateway = next.0;
    assert_eq!(who(two).await, "d", "set map on the second Gateway's bind");
    assert_eq!(who(one).await, "b", "the first keeps its route");
    assert_eq!(s.hp.reload_count().await.unwrap(), reloads, "0 reloads");
}
