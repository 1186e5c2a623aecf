//! Gateway API routes changed at runtime on a real HAProxy (a candidate's value, a new host
//! entry, a weight change: map commands from [`gateway_commands`], 0 reloads counted by the
//! master), hostile values served inert, and a rule's server timeout.

use std::time::Duration;

use haproxy::config::Backend;
use haproxy::config::gateway::{
    ActionKind, GatewayFiles, GatewayMaps, HeaderOps, gateway_commands,
};
use integration::EchoServer;
use integration::http::Req;

use crate::gateway_support::{Routes, Served, exact, prefix, shares, to, value, weighted};
use crate::reload::{be, run_batch, server_for};

/// Applies `next` over the runtime API (the commands between the served routes and it).
async fn change(s: &mut Served, next: Routes) {
    let files = GatewayFiles::of_maps(&s.cfg.frontends[0].maps);
    let have = GatewayMaps::of_routes(&s.cfg.gateway);
    let want = GatewayMaps::of_routes(&next.0);
    let cmds = gateway_commands(&files, &have, &want, &Default::default());
    assert!(!cmds.is_empty());
    run_batch(&s.hp.runtime_client(), &cmds).await;
    s.cfg.gateway = next.0;
}

#[tokio::test]
async fn gateway_route_and_weight_changes_apply_with_no_reload() {
    let first = || Routes::default().host("rt.test", 80, vec![to(prefix("/x"), "a")]);
    let mut s = Served::start(first(), Vec::new()).await;
    let reloads = s.hp.reload_count().await.unwrap();
    let who = |host: &'static str, path: &'static str| Req::new("GET", host, path);
    assert_eq!(s.who(who("rt.test", "/x")).await, "a");

    // A candidate's value changes (`set map` on the rule map).
    change(
        &mut s,
        Routes::default().host("rt.test", 80, vec![to(prefix("/x"), "b")]),
    )
    .await;
    assert_eq!(
        s.who(who("rt.test", "/x")).await,
        "b",
        "set map of a candidate"
    );

    // A new host entry with its candidate (`add map` on both maps).
    let two = || {
        Routes::default()
            .host("rt.test", 80, vec![to(prefix("/x"), "b")])
            .host("new.test", 80, vec![to(exact("/y"), "c")])
    };
    assert_eq!(s.who(who("new.test", "/y")).await, "default");
    change(&mut s, two()).await;
    assert_eq!(s.who(who("new.test", "/y")).await, "c", "a new host entry");

    // A weight change (`set map` of the candidate).
    let split = two().host(
        "rt.test",
        80,
        vec![weighted(prefix("/x"), &[("a", 1), ("b", 1)])],
    );
    change(&mut s, split).await;
    let got = shares(&s, "rt.test", "/x", 40).await;
    // Each thread's Lua state alternates on its own: within a request or two of 1:1.
    let a = got.get("a").copied().unwrap_or(0);
    let b = got.get("b").copied().unwrap_or(0);
    assert!(
        a + b == 40 && (18..=22).contains(&a),
        "1:1 weights: {got:?}"
    );

    // The host entry removed (`del map`): its host goes back to the Ingress maps.
    change(&mut s, first()).await;
    assert_eq!(
        s.who(who("new.test", "/y")).await,
        "default",
        "a removed host entry"
    );
    assert_eq!(
        s.hp.reload_count().await.unwrap(),
        reloads,
        "runtime changes reload nothing"
    );
    // `show map` (what `ctl maps` lists) names both maps, loaded by the Lua file.
    let listed = s.hp.runtime_client().maps().await.unwrap();
    for file in ["gateway_hosts.map", "gateway_rules.map"] {
        let m = listed.iter().find(|m| m.file.ends_with(file));
        let m = m.unwrap_or_else(|| panic!("{file} not listed: {listed:?}"));
        assert!(m.description.contains("gateway.lua"), "{m:?}");
    }
}

#[tokio::test]
async fn gateway_hostile_values_are_encoded_and_served_inert() {
    let hostile = "sp ace %41 | # ; \\ & = , é☃";
    let mut set = to(prefix("/h"), "a");
    set.action.request_headers = HeaderOps {
        set: vec![("X-Hostile".into(), hostile.into())],
        ..HeaderOps::default()
    };
    set.action.response_headers.set = vec![("X-Res".into(), hostile.into())];
    let mut matched = to(prefix("/m"), "d");
    matched
        .matches
        .headers
        .push(value("x-m", "a|b#c%d;e f&g=h", false));
    matched.matches.query.push(value("k|#", "x y&z", false));
    // CR/LF in a value: refused by the checks, left out; the next candidate serves.
    let mut injected = to(prefix("/inj"), "d");
    injected.action.request_headers.set = vec![("X-A".into(), "v\r\nX-Injected: 1".into())];
    let routes = Routes::default().host(
        "h.test",
        80,
        vec![
            set,
            matched,
            to(prefix("/m"), "a"),
            injected,
            to(prefix("/inj"), "b"),
        ],
    );
    assert_eq!(routes.0.problems().len(), 1, "{:?}", routes.0.problems());
    let s = Served::start(routes, Vec::new()).await;
    let r = s.send(Req::new("GET", "h.test", "/h")).await;
    assert_eq!(r.echo_name.as_deref(), Some("a"), "{r:?}");
    assert_eq!(r.header("x-echo-h-x-hostile"), Some(hostile), "{r:?}");
    assert_eq!(r.header("x-res"), Some(hostile), "{r:?}");
    let m = Req::new("GET", "h.test", "/m?k%7C%23=x%20y%26z").header("x-m", "a|b#c%d;e f&g=h");
    assert_eq!(s.who(m).await, "d", "hostile header and query values match");
    let other = Req::new("GET", "h.test", "/m?k%7C%23=x").header("x-m", "a|b#c%d;e f&g=h");
    assert_eq!(s.who(other).await, "a");
    let r = s.send(Req::new("GET", "h.test", "/inj")).await;
    assert_eq!(r.echo_name.as_deref(), Some("b"), "{r:?}");
    assert_eq!(r.header("x-echo-h-x-injected"), None, "{r:?}");
    let maps = std::fs::read_to_string(s.hp.dir().join("maps/gateway_rules.map")).unwrap();
    assert_eq!(
        maps.lines().count(),
        4,
        "one line per servable candidate:\n{maps}"
    );
    assert!(
        maps.lines().all(|l| l.matches(' ').count() == 1),
        "key value lines:\n{maps}"
    );
}

#[tokio::test]
async fn gateway_rule_timeouts_bound_the_server_wait() {
    let slow = EchoServer::start_with_delay("slow", Duration::from_millis(800)).unwrap();
    let backend = Backend::new(be("slow")).with_server(server_for(slow.addr()));
    let mut short = to(prefix("/short"), "slow");
    if let ActionKind::Forward(f) = &mut short.action.kind {
        f.timeout = Some(Duration::from_millis(100));
    }
    let routes = Routes::default().host("t.test", 80, vec![short, to(prefix("/long"), "slow")]);
    let s = Served::start(routes, vec![backend]).await;
    assert_eq!(s.who(Req::new("GET", "t.test", "/short")).await, "504");
    assert_eq!(s.who(Req::new("GET", "t.test", "/long")).await, "slow");
}
