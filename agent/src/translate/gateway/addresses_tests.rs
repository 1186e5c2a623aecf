//! Gateway addresses and binds: the shared binds, a bind per other port, a pool address
//! per Gateway, requested addresses, and the clashes that are refused.

use std::net::SocketAddr;
use std::path::Path;

use haproxy::config::gateway::{GatewayBind, Listen};

use super::super::tests::{BASE, entry, problems, services};
use crate::source::manifests::parse_manifests;
use crate::store::{ObjectKey, Store};
use crate::translate::tls::tests::settings;
use crate::translate::{Settings, Translation, translate};

fn run_with(s: &Settings, docs: &str) -> Translation {
    let text = format!("{BASE}\n{}\n---\n{docs}", services());
    let objects = parse_manifests(Path::new("t.yaml"), &text).expect("the manifests parse");
    let store = Store::new();
    store.replace_all(objects);
    translate(&store.snapshot(), s).expect("a translation")
}

fn pool(ips: &[&str]) -> Settings {
    Settings {
        gateway_address_pool: ips.iter().map(|i| i.parse().unwrap()).collect(),
        ..settings()
    }
}

/// Gateway `infra/<name>` (created at `minute`), with `addresses` (YAML, may be empty)
/// and an HTTP listener on each of `ports`, and a route on it to v1 for `/<name>`.
fn gw(name: &str, minute: u32, addresses: &str, ports: &[u16]) -> String {
    let listeners: String = ports
        .iter()
        .map(|p| format!("  - {{name: l{p}, protocol: HTTP, port: {p}}}\n"))
        .collect();
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n\
         metadata: {{namespace: infra, name: {name}, generation: 1, \
         creationTimestamp: '2026-01-01T00:{minute:02}:00Z'}}\n\
         spec:\n  gatewayClassName: haproxy\n{addresses}  listeners:\n{listeners}\
         ---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
         metadata: {{namespace: infra, name: r-{name}}}\nspec:\n  \
         parentRefs: [{{name: {name}}}]\n  rules:\n  - matches: \
         [{{path: {{type: PathPrefix, value: /{name}}}}}]\n    \
         backendRefs: [{{name: v1, port: 8080}}]\n"
    )
}

fn own(addr: &str) -> Listen {
    Listen::Bind(GatewayBind {
        addr: addr.parse().unwrap(),
        tls: false,
    })
}

fn binds(t: &Translation) -> Vec<String> {
    t.config.gateway.binds.iter().map(|b| b.name()).collect()
}

fn addresses(t: &Translation, name: &str) -> Vec<String> {
    t.gateway_status.gateways[&ObjectKey::new("infra", name)]
        .addresses
        .iter()
        .map(|a| a.value.clone())
        .collect()
}

/// `(status, reason)` of Gateway `name`'s condition `type_`.
fn gw_condition(t: &Translation, name: &str, type_: &str) -> (String, String) {
    let g = &t.gateway_status.gateways[&ObjectKey::new("infra", name)];
    let c = g.conditions.iter().find(|c| c.type_ == type_).unwrap();
    (c.status.clone(), c.reason.clone())
}

#[test]
fn without_a_pool_port_80_is_the_shared_bind_and_another_port_gets_its_own() {
    // --http-bind is 127.0.0.1:8080: port 80 and 8080 are the shared bind, 9090 is not.
    let t = run_with(&settings(), &gw("a", 1, "", &[80, 9090]));
    assert_eq!(binds(&t), ["http@127.0.0.1:9090"]);
    let id = vec!["infra/r-a/0/0".to_string()];
    assert_eq!(entry(&t, Listen::Http, "*"), Some(id.clone()));
    assert_eq!(entry(&t, own("127.0.0.1:9090"), "*"), Some(id));
    assert!(addresses(&t, "a").is_empty(), "the agent's binds' address");
    assert_eq!(gw_condition(&t, "a", "Programmed").0, "True");
}

#[test]
fn a_pool_gives_each_gateway_its_own_address_and_routes() {
    let s = pool(&["127.0.1.1", "127.0.1.2"]);
    let t = run_with(
        &s,
        &[gw("a", 1, "", &[80]), gw("b", 2, "", &[80, 8081])].concat(),
    );
    let (a, b) = (addresses(&t, "a"), addresses(&t, "b"));
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_ne!(a, b, "two Gateways never share an address");
    // Port 80 is the agent's HTTP port (8080) on the Gateway's address.
    let mut want = vec![
        format!("http@{}:8080", a[0]),
        format!("http@{}:8080", b[0]),
        format!("http@{}:8081", b[0]),
    ];
    want.sort();
    assert_eq!(binds(&t), want);
    assert_eq!(
        entry(&t, own(&format!("{}:8080", a[0])), "*"),
        Some(vec!["infra/r-a/0/0".to_string()])
    );
    assert_eq!(
        entry(&t, own(&format!("{}:8080", b[0])), "*"),
        Some(vec!["infra/r-b/0/0".to_string()])
    );
    assert_eq!(
        entry(&t, Listen::Http, "*"),
        None,
        "nothing on the shared bind"
    );
    // The same objects give the same addresses.
    let again = run_with(
        &s,
        &[gw("b", 2, "", &[80, 8081]), gw("a", 1, "", &[80])].concat(),
    );
    assert_eq!((addresses(&again, "a"), addresses(&again, "b")), (a, b));
}

#[test]
fn requested_addresses_are_judged_against_the_pool() {
    let s = pool(&["127.0.1.1", "127.0.1.2"]);
    let asks = |ip: &str| format!("  addresses: [{{type: IPAddress, value: '{ip}'}}]\n");
    let t = run_with(
        &s,
        &[
            gw("old", 1, &asks("127.0.1.2"), &[80]),
            gw("young", 2, &asks("127.0.1.2"), &[80]),
            gw("outside", 3, &asks("10.9.9.9"), &[80]),
            gw(
                "name",
                4,
                "  addresses: [{type: Hostname, value: gw.example}]\n",
                &[80],
            ),
            gw("bad", 5, &asks("127.0.1.1;x"), &[80]),
        ]
        .concat(),
    );
    assert_eq!(addresses(&t, "old"), ["127.0.1.2"]);
    assert_eq!(
        gw_condition(&t, "young", "Programmed"),
        ("False".into(), "AddressNotUsable".into())
    );
    for name in ["outside", "name", "bad"] {
        assert_eq!(
            gw_condition(&t, name, "Accepted"),
            ("False".into(), "UnsupportedAddress".into()),
            "{name}"
        );
        assert!(addresses(&t, name).is_empty(), "{name}");
    }
    assert_eq!(
        binds(&t),
        ["http@127.0.1.2:8080"],
        "only the old Gateway is served"
    );
    let p = problems(&t);
    for want in [
        "gateway infra/young spec.addresses",
        "gateway infra/outside spec.addresses[0].value",
        "gateway infra/name spec.addresses[0].type",
        "gateway infra/bad spec.addresses[0].value",
    ] {
        assert!(p.iter().any(|x| x == want), "{want} in {p:?}");
    }
    // Without a pool, asking for an address is not accepted.
    let t = run_with(&settings(), &gw("old", 1, &asks("127.0.1.2"), &[80]));
    assert_eq!(
        gw_condition(&t, "old", "Accepted"),
        ("False".into(), "UnsupportedAddress".into())
    );
    assert!(t.config.gateway.binds.is_empty());
}

#[test]
fn an_exhausted_pool_leaves_the_younger_gateway_unprogrammed() {
    let t = run_with(
        &pool(&["127.0.1.1"]),
        &[gw("a", 1, "", &[80]), gw("b", 2, "", &[80])].concat(),
    );
    assert_eq!(addresses(&t, "a"), ["127.0.1.1"]);
    assert_eq!(
        gw_condition(&t, "b", "Programmed"),
        ("False".into(), "AddressNotAssigned".into())
    );
    assert_eq!(gw_condition(&t, "b", "Accepted").0, "True");
    assert_eq!(binds(&t), ["http@127.0.1.1:8080"]);
}

#[test]
fn a_bind_clashing_with_the_agents_addresses_or_another_protocol_is_refused() {
    let s = Settings {
        agent_listen: vec![("0.0.0.0:9000".parse().unwrap(), "--listen")],
        ..settings()
    };
    let https_on_9090 = "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n\
         metadata: {namespace: infra, name: tls, creationTimestamp: '2026-01-01T00:09:00Z'}\n\
         spec:\n  gatewayClassName: haproxy\n  listeners:\n  \
         - {name: s, protocol: HTTPS, port: 9090, tls: {certificateRefs: [{name: nope}]}}\n";
    // 8443 is --https-bind's port: an HTTP listener there is refused, as are the agent's
    // own port and an HTTPS listener on an HTTP Gateway bind.
    let t = run_with(
        &s,
        &[gw("a", 1, "", &[8443, 9000, 9090]), https_on_9090.into()].concat(),
    );
    let g = &t.gateway_status.gateways[&ObjectKey::new("infra", "a")];
    let accepted: Vec<(String, String)> = g
        .listeners
        .iter()
        .map(|l| {
            (
                l.conditions[0].status.clone(),
                l.conditions[0].reason.clone(),
            )
        })
        .collect();
    let refused = ("False".to_string(), "PortUnavailable".to_string());
    assert_eq!(accepted[0], refused, "--https-bind");
    assert_eq!(accepted[1], refused, "--listen");
    assert_eq!(accepted[2].0, "True");
    let tls = &t.gateway_status.gateways[&ObjectKey::new("infra", "tls")];
    assert_eq!(
        (
            tls.listeners[0].conditions[0].status.as_str(),
            tls.listeners[0].conditions[0].reason.as_str()
        ),
        ("False", "PortUnavailable")
    );
    assert_eq!(binds(&t), ["http@127.0.0.1:9090"]);
    let p = problems(&t);
    for want in [
        "gateway infra/a spec.listeners[0].port",
        "gateway infra/a spec.listeners[1].port",
        "gateway infra/tls spec.listeners[0].port",
    ] {
        assert!(p.iter().any(|x| x == want), "{want} in {p:?}");
    }
}

#[test]
fn bind_names_read_back() {
    for addr in ["127.0.1.1:80", "[::1]:8443"] {
        for tls in [false, true] {
            let a: SocketAddr = addr.parse().unwrap();
            let l = Listen::Bind(GatewayBind { addr: a, tls });
            assert_eq!(Listen::decode(&l.key()), Some(l));
        }
    }
    for shared in [Listen::Http, Listen::Https] {
        assert_eq!(Listen::decode(&shared.key()), Some(shared));
    }
    for bad in [
        "",
        "tcp@127.0.0.1:80",
        "http@127.0.0.1",
        "http@x:80",
        "http@",
    ] {
        assert_eq!(Listen::decode(bad), None, "{bad}");
    }
}

/// A Gateway listener's own bind and a TCP service on one port: the later object gives
/// way, named; HAProxy gets one bind.
#[test]
fn a_gateway_bind_and_a_tcp_service_on_one_port_the_later_gives_way() {
    let s = Settings {
        tcp_services: Some(ObjectKey::new("ingress", "tcp")),
        ..settings()
    };
    let cm = |minute: u32| {
        format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{namespace: ingress, name: tcp, \
             creationTimestamp: '2026-01-01T00:{minute:02}:00Z'}}\n\
             data: {{'9000': 'infra/v1:8080'}}\n"
        )
    };
    let tcp_ports = |t: &Translation| t.config.tcp_services.keys().copied().collect::<Vec<_>>();
    // The Gateway newer: its listener is not accepted, the TCP service binds.
    let t = run_with(&s, &format!("{}{}", cm(5), gw("g", 10, "", &[9000])));
    assert!(binds(&t).is_empty(), "{:?}", binds(&t));
    assert_eq!(tcp_ports(&t), [9000]);
    let p = problems(&t);
    assert!(
        p.contains(&"gateway infra/g spec.listeners[0].port".to_string()),
        "{p:?}"
    );
    let l = &t.gateway_status.gateways[&ObjectKey::new("infra", "g")].listeners[0];
    assert_eq!(
        (
            l.conditions[0].status.as_str(),
            l.conditions[0].reason.as_str()
        ),
        ("False", "PortUnavailable")
    );
    // The ConfigMap newer: the Gateway binds, the TCP service is left out.
    let t = run_with(&s, &format!("{}{}", cm(10), gw("g", 5, "", &[9000])));
    assert_eq!(binds(&t), ["http@127.0.0.1:9000"]);
    assert!(tcp_ports(&t).is_empty());
    let p = problems(&t);
    assert!(
        p.contains(&"configmap ingress/tcp data[9000]".to_string()),
        "{p:?}"
    );
    assert!(!p.iter().any(|p| p.starts_with("gateway")), "{p:?}");
    // Another port: both bind.
    let t = run_with(&s, &format!("{}{}", cm(5), gw("g", 10, "", &[9001])));
    assert_eq!(
        (binds(&t), tcp_ports(&t)),
        (vec!["http@127.0.0.1:9001".to_string()], vec![9000])
    );
}
