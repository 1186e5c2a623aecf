//! Canary: `haproxy-agent.io/canary-service` and `canary-weight` split a route's traffic
//! between two Services by server weights; changing the percentage changes weights at
//! runtime, with no reload.

use std::time::Duration;

use haproxy::proto::{Command, Reply};
use haproxy::{BackendName, ServerName, ServerRef};
use integration::{EchoServer, LoadLoop, LoadStats};

use crate::support::{Agent, CONVERGE, Ep, Options, eventually, ingress, route, service, slice};

pub(crate) const HOST: &str = "canary.example";
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

/// Services `shop` (on `primary`) and `shop-canary` (on `canary`), one endpoint each.
pub(crate) fn shop_services(primary: &EchoServer, canary: &EchoServer) -> String {
    let (pp, cp) = (primary.addr().port(), canary.addr().port());
    [
        service("shop", 80, pp),
        slice("shop-1", "shop", pp, &[Ep::ready("127.0.0.1")]),
        service("shop-canary", 80, cp),
        slice(
            "shop-canary-1",
            "shop-canary",
            cp,
            &[Ep::ready("127.0.0.1")],
        ),
    ]
    .join("---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_weight_splits_traffic_and_changes_without_reload() {
    let (primary, canary) = (
        EchoServer::start("primary").unwrap(),
        EchoServer::start("canary").unwrap(),
    );
    let agent = Agent::start(
        &[
            ("services.yaml", &shop_services(&primary, &canary)),
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

/// An ingress-nginx canary Ingress for `/shop`: `canary: "true"` with a weight and, when
/// given, a header value; the header and cookie are always `x-canary` and `canary_cookie`.
pub(crate) fn nginx_canary(weight: &str, header_value: Option<&str>) -> String {
    nginx_canary_with(weight, header_value, None)
}

/// [`nginx_canary`], with a header pattern (canary-by-header-pattern) when given.
fn nginx_canary_with(weight: &str, header_value: Option<&str>, pattern: Option<&str>) -> String {
    let n = |k: &str| format!("nginx.ingress.kubernetes.io/{k}");
    let p = n("canary-by-header-pattern");
    let (canary, w, h, c, v) = (
        n("canary"),
        n("canary-weight"),
        n("canary-by-header"),
        n("canary-by-cookie"),
        n("canary-by-header-value"),
    );
    let mut annotations = vec![
        (canary.as_str(), "true"),
        (w.as_str(), weight),
        (h.as_str(), "X-Canary"),
        (c.as_str(), "canary_cookie"),
    ];
    if let Some(value) = header_value {
        annotations.push((v.as_str(), value));
    }
    if let Some(pattern) = pattern {
        annotations.push((p.as_str(), pattern));
    }
    [
        ingress("shop", &[], &[route("/shop", "shop", 80)]),
        ingress(
            "shop-canary",
            &annotations,
            &[route("/shop", "shop-canary", 80)],
        ),
    ]
    .join("---\n")
}

/// An agent serving [`nginx_canary`] with `weight` (no header value) on echo servers
/// `primary` and `canary` (returned: they stop when dropped).
pub(crate) async fn nginx_canary_agent(weight: &str) -> (Agent, [EchoServer; 2]) {
    let (primary, canary) = (
        EchoServer::start("primary").unwrap(),
        EchoServer::start("canary").unwrap(),
    );
    let agent = Agent::start(
        &[
            ("services.yaml", &shop_services(&primary, &canary)),
            ("ingress.yaml", &nginx_canary(weight, None)),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    (agent, [primary, canary])
}

/// Which echo server answered `/shop` with these request headers.
pub(crate) async fn answered_by(agent: &Agent, headers: &[(&str, &str)]) -> String {
    let mut req = integration::http::Req::new("GET", HOST, "/shop");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = integration::http::request(agent.http, req).await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    r.echo_name.unwrap_or_default()
}

/// ingress-nginx's canary model: a second Ingress with `canary: "true"` for the same path
/// takes requests by header (`always`/`never`, or a value), then cookie, then weight.
/// Changing the weight or the header value is a map update: HAProxy's master counts no
/// reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_nginx_canary_ingress_routes_by_header_cookie_and_weight() {
    let (agent, _echoes) = nginx_canary_agent("20").await;
    let state = agent.debug_state().await.unwrap();
    assert_eq!(state["problems"], serde_json::json!([]), "{state:#}");
    let reloads = agent.reloads().await.unwrap();

    // Header first, then cookie: `never` on the header wins over `always` on the cookie.
    let cookie = ("cookie", "canary_cookie=always");
    for (headers, want) in [
        (&[("x-canary", "always")][..], "canary"),
        (&[("x-canary", "never")][..], "primary"),
        (&[cookie][..], "canary"),
        (&[("cookie", "canary_cookie=never")][..], "primary"),
        (&[("x-canary", "never"), cookie][..], "primary"),
        (&[("x-canary", "other"), cookie][..], "canary"),
    ] {
        for _ in 0..20 {
            assert_eq!(answered_by(&agent, headers).await, want, "{headers:?}");
        }
    }

    let (share, stats) = canary_share(&agent).await;
    eprintln!(
        "nginx canary-weight 20: canary got {share:.1} % ({:?})",
        stats.by_name
    );
    assert!(
        (15.0..=25.0).contains(&share),
        "canary share {share:.1} %, want 20 ± 5"
    );

    // A new weight and a header value: map updates only.
    agent
        .write_manifest("ingress.yaml", &nginx_canary("80", Some("beta")))
        .unwrap();
    eventually(
        "the header value routes to the canary",
        CONVERGE,
        async || {
            answered_by(
                &agent,
                &[("x-canary", "beta"), ("cookie", "canary_cookie=never")],
            )
            .await
                == "canary"
        },
    )
    .await
    .unwrap();
    // With a value set, `always` is just another value: the cookie decides.
    for _ in 0..20 {
        let by = answered_by(
            &agent,
            &[("x-canary", "always"), ("cookie", "canary_cookie=never")],
        );
        assert_eq!(by.await, "primary");
    }
    let (share, stats) = canary_share(&agent).await;
    eprintln!(
        "nginx canary-weight 80: canary got {share:.1} % ({:?})",
        stats.by_name
    );
    assert!(
        (75.0..=85.0).contains(&share),
        "canary share {share:.1} %, want 80 ± 5"
    );
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a canary weight or header value change reloaded"
    );

    // Without its main Ingress, a canary takes nothing and is named.
    let main_elsewhere = nginx_canary("100", None).replacen("\"/shop\"", "\"/main\"", 1);
    agent
        .write_manifest("ingress.yaml", &main_elsewhere)
        .unwrap();
    eventually("the orphan canary is named", CONVERGE, async || {
        agent.debug_state().await.is_ok_and(|s| {
            s["problems"].as_array().into_iter().flatten().any(|p| {
                p["object"] == "default/shop-canary"
                    && p["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("takes no requests"))
            })
        })
    })
    .await
    .unwrap();
    let r = agent.get(HOST, "/shop").await.unwrap();
    assert_eq!(r.status, 404, "{r:?}");
}

/// canary-by-header-pattern: a header value matching the regex (PCRE, unanchored unless
/// the regex anchors itself) sends to the canary; `always` is not special then; a new
/// pattern is an ACL entry and a map update: HAProxy's master counts no reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_by_header_pattern_matches_and_changes_without_reload() {
    let (agent, _echoes) = nginx_canary_agent("0").await;
    agent
        .write_manifest(
            "ingress.yaml",
            &nginx_canary_with("0", None, Some("^beta-(eu|us)$")),
        )
        .unwrap();
    eventually("the pattern routes to the canary", CONVERGE, async || {
        answered_by(&agent, &[("x-canary", "beta-eu")]).await == "canary"
    })
    .await
    .unwrap();
    let state = agent.debug_state().await.unwrap();
    assert_eq!(state["problems"], serde_json::json!([]), "{state:#}");
    assert_eq!(
        state["desired"]["acl_files"]["canary"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{state:#}"
    );
    let reloads = agent.reloads().await.unwrap();
    for (value, want) in [
        ("beta-eu", "canary"),
        ("beta-us", "canary"),
        ("beta-eux", "primary"),
        ("xbeta-eu", "primary"),
        ("always", "primary"),
    ] {
        for _ in 0..5 {
            assert_eq!(
                answered_by(&agent, &[("x-canary", value)]).await,
                want,
                "{value}"
            );
        }
        // ctl route reads HAProxy's pattern entry and agrees.
        let header = format!("x-canary:{value}");
        let args = [
            "--output", "json", "route", HOST, "/shop", "--header", &header,
        ];
        let (code, out) = crate::ctl::against_an_agent::ctl(&agent, &args);
        assert_eq!(code, 0, "{out}");
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        let service = if want == "canary" {
            "shop-canary"
        } else {
            "shop"
        };
        assert_eq!(
            doc["backend"],
            format!("default_{service}_80"),
            "{value}: {out}"
        );
    }
    // Unanchored, with a space: anywhere in the value.
    agent
        .write_manifest(
            "ingress.yaml",
            &nginx_canary_with("0", None, Some("gamma ray")),
        )
        .unwrap();
    eventually(
        "the new pattern routes to the canary",
        CONVERGE,
        async || answered_by(&agent, &[("x-canary", "a gamma ray burst")]).await == "canary",
    )
    .await
    .unwrap();
    for (value, want) in [
        ("gamma ray", "canary"),
        ("beta-eu", "primary"),
        ("gammaray", "primary"),
    ] {
        assert_eq!(
            answered_by(&agent, &[("x-canary", value)]).await,
            want,
            "{value}"
        );
    }
    // A header value set beside it wins, and the pattern is named as ignored.
    agent
        .write_manifest(
            "ingress.yaml",
            &nginx_canary_with("0", Some("exact"), Some("gamma")),
        )
        .unwrap();
    eventually("the header value wins", CONVERGE, async || {
        answered_by(&agent, &[("x-canary", "exact")]).await == "canary"
    })
    .await
    .unwrap();
    assert_eq!(
        answered_by(&agent, &[("x-canary", "gamma")]).await,
        "primary"
    );
    let state = agent.debug_state().await.unwrap();
    let named = state["problems"].as_array().into_iter().flatten().any(|p| {
        p["field"]
            .as_str()
            .is_some_and(|f| f.contains("canary-by-header-pattern"))
            && p["message"].as_str().is_some_and(|m| m.contains("wins"))
    });
    assert!(named, "{state:#}");
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "a canary header pattern change reloaded"
    );
}
