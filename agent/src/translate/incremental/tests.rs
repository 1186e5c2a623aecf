//! The oracle: after every step of random change sequences, incremental == full, and
//! `changed` covers every difference; plus table tests of what a change recomputes.

use std::sync::OnceLock;
use std::time::Duration;

use haproxy::config::{MapEntries, MapKind, TlsCert};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::certs;
use crate::store::{Kind, Object, Store};
use crate::translate::class;
use crate::translate::translate_with;

/// Two certificates (PEM halves) and the generated default one, made once.
struct Certs {
    pairs: [(String, String); 2],
    default: TlsCert,
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let pair = |cn: &str| {
            let c = certs::self_signed(cn).expect("a certificate");
            let text = c.pem.as_str();
            let at = text
                .find("-----BEGIN PRIVATE KEY-----")
                .expect("a key after the certificate");
            (text[..at].to_string(), text[at..].to_string())
        };
        Certs {
            pairs: [pair("a.test"), pair("b.test")],
            default: certs::self_signed("default").expect("a certificate"),
        }
    })
}

fn settings(variant: u8) -> Settings {
    Settings {
        ingress_class: "haproxy".into(),
        default_backend_service: (variant & 1 != 0).then(|| ObjectKey::new("a", "s0")),
        watch_namespace: (variant & 2 != 0).then(|| "a".to_string()),
        http_bind: "127.0.0.1:8080".parse().expect("an address"),
        config_dir: "/etc/haproxy".into(),
        runtime_socket: "/run/admin.sock".into(),
        hard_stop_after: Duration::from_secs(30),
        https_bind: "127.0.0.1:8443".parse().expect("an address"),
        default_cert: certs().default.clone().into(),
        default_ssl_certificate: (variant & 4 != 0).then(|| ObjectKey::new("a", "t0")),
        trusted_proxies: Vec::new(),
        configmap: (variant & 8 != 0).then(|| ObjectKey::new("a", "cm")),
        use_proxy_protocol: false,
        access_log: None,
        tcp_services: (variant & 16 != 0).then(|| ObjectKey::new("a", "tcp")),
        tcp_bind: None,
        gateway_controller_name: crate::translate::gateway::DEFAULT_CONTROLLER.to_string(),
        gateway_address_pool: Vec::new(),
        udp_services: None,
        ssl_passthrough: variant & 32 != 0,
        agent_listen: Vec::new(),
    }
}

fn object(kind: &str, v: Value) -> Object {
    let parsed = match kind {
        "Ingress" => serde_json::from_value(v).map(Object::Ingress),
        "IngressClass" => serde_json::from_value(v).map(Object::IngressClass),
        "Service" => serde_json::from_value(v).map(Object::Service),
        "EndpointSlice" => serde_json::from_value(v).map(Object::EndpointSlice),
        "ConfigMap" => serde_json::from_value(v).map(Object::ConfigMap),
        "GatewayClass" => serde_json::from_value(v).map(Object::GatewayClass),
        "Gateway" => serde_json::from_value(v).map(Object::Gateway),
        "HTTPRoute" => serde_json::from_value(v).map(Object::HttpRoute),
        "ReferenceGrant" => serde_json::from_value(v).map(Object::ReferenceGrant),
        "Namespace" => serde_json::from_value(v).map(Object::Namespace),
        _ => serde_json::from_value(v).map(Object::Secret),
    };
    parsed.expect("a valid object")
}

fn b(v: &[u8], i: usize) -> u8 {
    v.get(i).copied().unwrap_or(0)
}

fn namespace(v: u8) -> &'static str {
    if v % 5 == 4 { "b" } else { "a" }
}

/// An Ingress from bytes: class, annotations, rules, default backend and TLS vary.
fn ingress(v: &[u8]) -> Object {
    let name = match b(v, 0) % 6 {
        5 => "Bad_Name".to_string(),
        n => format!("i{n}"),
    };
    let mut annotations = serde_json::Map::new();
    let mut spec = serde_json::Map::new();
    match b(v, 2) % 4 {
        0 => drop(spec.insert("ingressClassName".into(), json!("haproxy"))),
        1 => {}
        2 => drop(annotations.insert("kubernetes.io/ingress.class".into(), json!("haproxy"))),
        _ => drop(spec.insert("ingressClassName".into(), json!("nginx"))),
    }
    let bits = b(v, 3);
    let flags: [(u8, &str, &str); 6] = [
        (1, "haproxy-agent.io/load-balance", "roundrobin"),
        (2, "haproxy-agent.io/load-balance", "first"),
        (8, "ingress.kubernetes.io/ssl-redirect", "false"),
        (16, "ingress.kubernetes.io/force-ssl-redirect", "true"),
        (32, "haproxy-agent.io/load-balance", "bogus"),
        (64, "haproxy-agent.io/timeout-server", "30s"),
    ];
    for (bit, k, val) in flags {
        if bits & bit != 0 {
            annotations.insert(k.into(), json!(val));
        }
    }
    if bits & 4 != 0 {
        annotations.insert("haproxy-agent.io/canary-service".into(), json!("s1"));
        let weight = if bits & 128 != 0 { "30" } else { "50" };
        annotations.insert("haproxy-agent.io/canary-weight".into(), json!(weight));
    }
    // ingress-nginx canaries (joining another Ingress's route, or orphaned), regex paths
    // and rewrites (host-wide), www twins (weak routes), basic auth reading a Secret that
    // comes and goes (never an auth Secret here: fail closed), CORS wildcard origins.
    let more = b(v, 14);
    let nginx: [(u8, &str, &str); 7] = [
        (1, "canary", "true"),
        (2, "canary-by-header", "X-Canary"),
        (4, "use-regex", "true"),
        (8, "rewrite-target", "/"),
        (16, "from-to-www-redirect", "true"),
        (32, "auth-type", "basic"),
        (64, "enable-cors", "true"),
    ];
    for (bit, k, val) in nginx {
        if more & bit != 0 {
            annotations.insert(format!("nginx.ingress.kubernetes.io/{k}"), json!(val));
        }
    }
    if more & 1 != 0 {
        let weight = if more & 128 != 0 { "100" } else { "20" };
        annotations.insert(
            "nginx.ingress.kubernetes.io/canary-weight".into(),
            json!(weight),
        );
    }
    if more & 32 != 0 {
        let secret = format!("t{}", b(v, 11) % 3);
        annotations.insert(
            "nginx.ingress.kubernetes.io/auth-secret".into(),
            json!(secret),
        );
    }
    if more & 64 != 0 {
        annotations.insert(
            "nginx.ingress.kubernetes.io/cors-allow-origin".into(),
            json!("https://*.a.test, https://b.test"),
        );
    }
    // Custom error pages: codes alone (from --default-backend-service when the variant has
    // one, else a problem), or from the default-backend annotation's Service, or bad codes.
    let errors = b(v, 15);
    if errors & 3 != 0 {
        let codes = ["404,503", "500", "404,abc"][usize::from(errors & 3) - 1];
        annotations.insert(
            "nginx.ingress.kubernetes.io/custom-http-errors".into(),
            json!(codes),
        );
    }
    if errors & 4 != 0 {
        let svc = format!("s{}", (errors >> 3) % 4);
        annotations.insert(
            "nginx.ingress.kubernetes.io/default-backend".into(),
            json!(svc),
        );
    }
    // Client certificates: a CA Secret that comes and goes, changes (renewal) or is bad,
    // verify modes, the certificate header, a depth that is named, no Secret at all.
    let mtls = b(v, 16);
    if mtls & 3 != 0 {
        let secret = format!("t{}", (mtls >> 4) % 3);
        annotations.insert(
            "nginx.ingress.kubernetes.io/auth-tls-secret".into(),
            json!(secret),
        );
    }
    let modes = ["on", "optional", "off", "optional_no_ca"];
    if mtls & 4 != 0 {
        annotations.insert(
            "haproxy-agent.io/auth-tls-verify-client".into(),
            json!(modes[usize::from((mtls >> 6) % 4)]),
        );
    }
    if mtls & 8 != 0 {
        annotations.insert(
            "nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream".into(),
            json!("true"),
        );
        annotations.insert(
            "nginx.ingress.kubernetes.io/auth-tls-verify-depth".into(),
            json!("2"),
        );
    }
    // Address lists: content changes alone (no route change), both names of the allow
    // list, and a bad entry (which fails closed).
    let lists = b(v, 13);
    let nets = [
        "10.0.0.0/8",
        "127.0.0.1, ::1/128",
        "192.168.0.0/14",
        "bogus/8",
    ];
    let list_annotations = [
        (1, "nginx.ingress.kubernetes.io/whitelist-source-range", 2),
        (2, "haproxy-agent.io/denylist-source-range", 4),
        (64, "ingress.kubernetes.io/allowlist-source-range", 6),
    ];
    for (bit, k, shift) in list_annotations {
        if lists & bit != 0 {
            annotations.insert(k.into(), json!(nets[usize::from((lists >> shift) % 4)]));
        }
    }
    // ssl-passthrough (honoured when the settings variant turns the flag on): its hosts
    // move to the SNI map, and hosts others terminate are named.
    if lists & 128 != 0 {
        annotations.insert(
            "nginx.ingress.kubernetes.io/ssl-passthrough".into(),
            json!("true"),
        );
    }
    let ports = [
        json!({"number": 80}),
        json!({"number": 81}),
        json!({"name": "http"}),
        json!({"name": "admin"}),
    ];
    let backend = |svc: u8, port: u8| json!({"service": {"name": format!("s{}", svc % 4), "port": ports[usize::from(port % 4)]}});
    if b(v, 4).is_multiple_of(3) {
        spec.insert("defaultBackend".into(), backend(b(v, 4) / 3, b(v, 9)));
    }
    let hosts = ["a.test", "b.test", "*.w.test", ""];
    let rules: Vec<Value> = (0..b(v, 5) % 3)
        .map(|i| {
            let path_type = match (b(v, 7).wrapping_add(i)) % 7 {
                0..=2 => "Prefix",
                3 | 4 => "Exact",
                5 => "ImplementationSpecific",
                _ => "Bogus",
            };
            let path = ["/", "/x", "/x/y"][usize::from((b(v, 6) / 4).wrapping_add(i) % 3)];
            json!({
                "host": hosts[usize::from(b(v, 6).wrapping_add(i) % 4)],
                "http": {"paths": [{
                    "path": path,
                    "pathType": path_type,
                    "backend": backend(b(v, 8).wrapping_add(i), b(v, 9).wrapping_add(i)),
                }]},
            })
        })
        .collect();
    spec.insert("rules".into(), json!(rules));
    let secret = format!("t{}", b(v, 11) % 3);
    let tls = match b(v, 10) % 5 {
        0 | 4 => json!([]),
        1 => json!([{"secretName": secret, "hosts": ["a.test"]}]),
        2 => json!([{"hosts": ["b.test"]}]),
        _ => json!([{"secretName": secret, "hosts": ["a.test", "*.w.test"]}]),
    };
    spec.insert("tls".into(), tls);
    object(
        "Ingress",
        json!({
            "metadata": {
                "namespace": namespace(b(v, 12)),
                "name": name,
                "creationTimestamp": format!("2026-01-01T00:0{}:00Z", b(v, 1) % 4),
                "annotations": annotations,
            },
            "spec": spec,
        }),
    )
}

/// A Service: named and numbered ports, sometimes ExternalName.
fn service(v: &[u8]) -> Object {
    let ports = match b(v, 2) % 3 {
        0 => json!([{"name": "http", "port": 80}]),
        1 => json!([{"name": "http", "port": 80}, {"name": "admin", "port": 81}]),
        _ => json!([{"port": 81}]),
    };
    let kind = if b(v, 1).is_multiple_of(6) {
        "ExternalName"
    } else {
        "ClusterIP"
    };
    object(
        "Service",
        json!({
            "metadata": {"namespace": namespace(b(v, 3)), "name": format!("s{}", b(v, 0) % 4)},
            "spec": {"type": kind, "ports": ports},
        }),
    )
}

/// An EndpointSlice: moves between Services, ready/terminating endpoints, bad addresses.
fn slice(v: &[u8]) -> Object {
    let mut labels = serde_json::Map::new();
    if b(v, 1) % 5 != 4 {
        labels.insert(
            "kubernetes.io/service-name".into(),
            json!(format!("s{}", b(v, 1) % 4)),
        );
    }
    let port_name = match b(v, 3) % 3 {
        0 => json!("http"),
        1 => json!("admin"),
        _ => Value::Null,
    };
    let port = if b(v, 3) % 11 == 10 { 0 } else { 8080 };
    let endpoints: Vec<Value> = (0..b(v, 4) % 4)
        .map(|j| {
            let address = if (b(v, 6).wrapping_add(j)) % 9 == 0 {
                "nope".to_string()
            } else {
                format!("10.0.0.{}", (b(v, 5).wrapping_add(j)) % 4 + 1)
            };
            let c = b(v, 7) >> (2 * j);
            json!({
                "addresses": [address],
                "conditions": {"ready": c & 1 == 0, "serving": true, "terminating": c & 2 != 0},
            })
        })
        .collect();
    let address_type = if b(v, 2).is_multiple_of(10) {
        "FQDN"
    } else {
        "IPv4"
    };
    object(
        "EndpointSlice",
        json!({
            "metadata": {
                "namespace": namespace(b(v, 8)),
                "name": format!("e{}", b(v, 0) % 5),
                "labels": labels,
            },
            "addressType": address_type,
            "ports": [{"name": port_name, "port": port}],
            "endpoints": endpoints,
        }),
    )
}

/// A Secret: one of two valid certificates, garbage, or the wrong type.
fn secret(v: &[u8]) -> Object {
    let c = certs();
    let (kind, crt, key) = match b(v, 1) % 4 {
        0 => ("kubernetes.io/tls", &c.pairs[0].0, &c.pairs[0].1),
        1 => ("kubernetes.io/tls", &c.pairs[1].0, &c.pairs[1].1),
        2 => ("kubernetes.io/tls", &c.pairs[0].0, &c.pairs[1].1),
        _ => ("Opaque", &c.pairs[0].0, &c.pairs[0].1),
    };
    let enc = |s: &str| openssl::base64::encode_block(s.as_bytes());
    object(
        "Secret",
        json!({
            "metadata": {"namespace": namespace(b(v, 2)), "name": format!("t{}", b(v, 0) % 3)},
            "type": kind,
            "data": match b(v, 3) % 3 {
                // A CA bundle too (an auth-tls-secret's): a certificate, or garbage.
                0 => json!({"tls.crt": enc(crt), "tls.key": enc(key), "ca.crt": enc(crt)}),
                1 => json!({"tls.crt": enc(crt), "tls.key": enc(key), "ca.crt": enc("bad")}),
                _ => json!({"tls.crt": enc(crt), "tls.key": enc(key)}),
            },
        }),
    )
}

/// The global ConfigMap (`a/cm`), with settings that change fragments (an annotation
/// default, HSTS), the head (timeouts) or are named as problems.
fn config_map(v: &[u8]) -> Object {
    let data = match b(v, 0) % 5 {
        0 => json!({"hsts": "true", "hsts-max-age": "600"}),
        1 => json!({"proxy-body-size": "1k", "ssl-redirect": "false"}),
        2 => json!({"proxy-read-timeout": "7", "no-such-key": "x"}),
        3 => json!({"whitelist-source-range": "10.0.0.0/8", "hsts": "true"}),
        _ => json!({}),
    };
    object(
        "ConfigMap",
        json!({"metadata": {"namespace": "a", "name": "cm"}, "data": data}),
    )
}

/// The TCP services' ConfigMap (`a/tcp`): a subset of good entries, PROXY fields, a port
/// of the HTTP bind, a missing Service, a bad key.
fn tcp_map(v: &[u8]) -> Object {
    let all = [
        ("9000", "a/s0:80"),
        ("9001", "b/s1:http:PROXY"),
        ("9002", "a/s2:81::PROXY"),
        ("8080", "a/s0:80"),
        ("9003", "a/nope:80"),
        ("x9", "a/s3:http"),
        ("9004", "b/s3:admin:PROXY:PROXY"),
    ];
    let data: serde_json::Map<String, Value> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| b(v, 0) >> i & 1 == 1)
        .map(|(_, (k, t))| ((*k).to_string(), json!(t)))
        .collect();
    object(
        "ConfigMap",
        json!({"metadata": {"namespace": "a", "name": "tcp"}, "data": data}),
    )
}

/// Our IngressClass, the default one or not.
fn ingress_class(v: &[u8]) -> Object {
    let default = if b(v, 1).is_multiple_of(2) {
        "true"
    } else {
        "false"
    };
    object(
        "IngressClass",
        json!({
            "metadata": {
                "name": "haproxy",
                "annotations": {"ingressclass.kubernetes.io/is-default-class": default},
            },
            "spec": {"controller": class::CONTROLLER_NAME},
        }),
    )
}

/// Our GatewayClass, or the same name for another controller.
fn gateway_class(v: &[u8]) -> Object {
    let controller = if b(v, 1) % 4 == 3 {
        "example.com/other"
    } else {
        crate::translate::gateway::DEFAULT_CONTROLLER
    };
    object(
        "GatewayClass",
        json!({"metadata": {"name": "gc"}, "spec": {"controllerName": controller}}),
    )
}

/// A Gateway: HTTP and HTTPS listeners whose host names, allowed namespaces and
/// certificates (of either namespace, missing or bad) vary.
fn gateway(v: &[u8]) -> Object {
    let hosts = [
        Value::Null,
        json!("*.w.test"),
        json!("a.test"),
        json!("*.test"),
    ];
    let host = |i: u8| hosts[usize::from(i % 4)].clone();
    let namespaces = match b(v, 2) % 3 {
        0 => json!({"from": "All"}),
        1 => json!({"from": "Same"}),
        // Namespace `b`'s label decides (see `namespace_object`).
        _ => json!({"from": "Selector", "selector": {"matchLabels": {"team": "web"}}}),
    };
    let mut listeners = vec![json!({"name": "http", "protocol": "HTTP", "port": 80,
        "hostname": host(b(v, 1)), "allowedRoutes": {"namespaces": namespaces}})];
    if !b(v, 3).is_multiple_of(3) {
        listeners.push(json!({"name": "https", "protocol": "HTTPS", "port": 443,
            "hostname": host(b(v, 4)),
            "tls": {"certificateRefs": [{"name": format!("t{}", b(v, 5) % 3),
                                         "namespace": namespace(b(v, 6))}]}}));
    }
    if b(v, 3) % 5 == 4 {
        listeners.push(json!({"name": "extra", "protocol": "HTTP", "port": 80,
            "hostname": host(b(v, 7))}));
    }
    object(
        "Gateway",
        json!({"metadata": {"namespace": "a", "name": format!("g{}", b(v, 0) % 2)},
               "spec": {"gatewayClassName": "gc", "listeners": listeners}}),
    )
}

/// An HTTPRoute: parents, host names, matches, filters and weighted backends (to Services
/// of either namespace, existing or not) vary.
fn http_route(v: &[u8]) -> Object {
    let section = match b(v, 2) % 4 {
        0 => json!("http"),
        1 => json!("https"),
        2 => json!("nope"),
        _ => Value::Null,
    };
    let hostnames = match b(v, 3) % 5 {
        0 => json!([]),
        1 => json!(["a.test"]),
        2 => json!(["x.w.test", "b.test"]),
        3 => json!(["*.test"]),
        _ => json!(["Bad_Host"]),
    };
    let path = match b(v, 4) % 4 {
        0 => json!({"type": "PathPrefix", "value": "/"}),
        1 => json!({"type": "Exact", "value": "/x"}),
        2 => json!({"type": "PathPrefix", "value": "/x"}),
        _ => json!({"type": "RegularExpression", "value": "/r[0-9]+"}),
    };
    let backend = |i: u8| {
        json!({"name": format!("s{}", i % 5), "namespace": namespace(i / 5),
               "port": if i.is_multiple_of(3) { 81 } else { 80 }, "weight": i % 4})
    };
    let filters = match b(v, 8) % 4 {
        0 => json!([{"type": "RequestHeaderModifier",
                     "requestHeaderModifier": {"set": [{"name": "x", "value": "y"}]}}]),
        1 => json!([{"type": "RequestMirror", "requestMirror": {}}]),
        _ => json!([]),
    };
    object(
        "HTTPRoute",
        json!({
            "metadata": {"namespace": namespace(b(v, 0)), "name": format!("r{}", b(v, 1) % 3),
                         "creationTimestamp": format!("2026-01-01T00:0{}:00Z", b(v, 9) % 3)},
            "spec": {
                "parentRefs": [{"name": format!("g{}", b(v, 5) % 2), "namespace": "a",
                                "sectionName": section}],
                "hostnames": hostnames,
                "rules": [{"matches": [{"path": path}], "filters": filters,
                           "backendRefs": [backend(b(v, 6)), backend(b(v, 7))]}],
            },
        }),
    )
}

/// A ReferenceGrant from routes and Gateways of `a` to the Services or Secrets of `b`.
fn reference_grant(v: &[u8]) -> Object {
    let to = if b(v, 1).is_multiple_of(2) {
        json!([{"group": "", "kind": "Service"}])
    } else {
        json!([{"group": "", "kind": "Secret"}])
    };
    object(
        "ReferenceGrant",
        json!({"metadata": {"namespace": "b", "name": "grant"},
               "spec": {"from": [
                   {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "a"},
                   {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "a"}],
                        "to": to}}),
    )
}

/// One Gateway API change: an object of each kind upserted or deleted.
/// Namespace `a` or `b`, labelled `team: web` or not.
fn namespace_object(v: &[u8]) -> Object {
    let team = if b(v, 1).is_multiple_of(2) {
        "web"
    } else {
        "other"
    };
    object(
        "Namespace",
        json!({"metadata": {"name": namespace(b(v, 0)), "labels": {"team": team}}}),
    )
}

fn apply_gateway(store: &Store, v: &[u8]) {
    let o = match b(v, 0) % 7 {
        0 => gateway_class(&v[1..]),
        1 => gateway(&v[1..]),
        2 | 3 => http_route(&v[1..]),
        4 => reference_grant(&v[1..]),
        6 => namespace_object(&v[1..]),
        _ => {
            let o = match b(v, 1) % 3 {
                0 => http_route(&v[2..]),
                1 => gateway(&v[2..]),
                _ => reference_grant(&v[2..]),
            };
            store.delete(o.kind(), &o.key());
            return;
        }
    };
    store.upsert(o);
}

/// Applies one random change to the store.
fn apply(store: &Store, op: u8, v: &[u8]) {
    if op >= 208 {
        return apply_gateway(store, v);
    }
    match op % 15 {
        0..=2 => store.upsert(ingress(v)),
        3 | 4 => store.upsert(service(v)),
        5..=7 => store.upsert(slice(v)),
        8 => store.upsert(secret(v)),
        9 => store.upsert(ingress_class(v)),
        10 | 11 => {
            let kind = Kind::ALL[usize::from(b(v, 0) % 6)];
            let key = match kind {
                Kind::IngressClass => ObjectKey::new("", "haproxy"),
                Kind::Ingress => key_of(&ingress(&v[1..])),
                Kind::Service => key_of(&service(&v[1..])),
                Kind::EndpointSlice => key_of(&slice(&v[1..])),
                Kind::Secret => key_of(&secret(&v[1..])),
                Kind::ConfigMap if b(v, 1).is_multiple_of(2) => ObjectKey::new("a", "cm"),
                Kind::ConfigMap => ObjectKey::new("a", "tcp"),
                Kind::GatewayClass => ObjectKey::new("", "gc"),
                Kind::Gateway => key_of(&gateway(&v[1..])),
                Kind::HttpRoute => key_of(&http_route(&v[1..])),
                Kind::ReferenceGrant => ObjectKey::new("b", "grant"),
                Kind::Namespace => ObjectKey::new("", "b"),
            };
            store.delete(kind, &key);
        }
        12 => {
            // A relist of slices that finds one changed and one gone.
            let snap = store.snapshot();
            let drop_at = usize::from(b(v, 0));
            let mut objects: Vec<Object> = snap
                .endpoint_slices
                .values()
                .enumerate()
                .filter(|(i, _)| snap.endpoint_slices.len() < 2 || *i != drop_at % 5)
                .map(|(_, s)| Object::EndpointSlice((**s).clone().into()))
                .collect();
            objects.push(slice(&v[1..]));
            store.replace_kind(Kind::EndpointSlice, objects);
        }
        14 if b(v, 1).is_multiple_of(2) => store.upsert(config_map(v)),
        14 => store.upsert(tcp_map(v)),
        _ => {
            // Two Ingresses at once (one generation, several keys).
            store.replace_all(
                store
                    .snapshot()
                    .ingresses
                    .values()
                    .map(|i| Object::Ingress((**i).clone().into()))
                    .chain([ingress(v), ingress(&v[3..])])
                    .chain(others(store)),
            );
        }
    }
}

fn key_of(o: &Object) -> ObjectKey {
    o.key()
}

/// The store's IngressClasses, Services, EndpointSlices and Secrets.
fn others(store: &Store) -> Vec<Object> {
    let kinds = [
        Kind::IngressClass,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Secret,
    ];
    let all = store.snapshot().objects();
    all.into_iter()
        .filter(|o| kinds.contains(&o.kind()))
        .collect()
}

/// Everything `changed` leaves out must be equal.
/// Services with both ports and a slice each, so that most backends resolve.
fn seed() -> Vec<Object> {
    let mut out = Vec::new();
    for i in 0..4u8 {
        out.push(service(&[i, 1, 1, 0]));
        out.push(slice(&[i, i, 1, 0, 2, i, 1, 0, 0]));
    }
    out.push(secret(&[0, 0, 0]));
    out.push(tcp_map(&[0x7f]));
    out.push(gateway_class(&[0, 0]));
    out.push(gateway(&[0, 1, 0, 1, 1, 0, 0]));
    out.push(http_route(&[0, 0, 3, 0, 0, 0, 1, 2, 0]));
    out
}

fn check_changed(prev: &Config, next: &Config, changed: &Changed) -> Result<(), TestCaseError> {
    if changed.all {
        return Ok(());
    }
    let mut patched = prev.clone();
    for name in &changed.backends {
        match next.backends.get(name) {
            Some(b) => patched.insert_backend(b.clone()),
            None => drop(patched.backends.remove(name)),
        }
    }
    if changed.routes {
        patched.routes = next.routes.clone();
        patched.frontends[0].default_backend = next.frontends[0].default_backend.clone();
        // The header and cookie names canary routes read come with the routes.
        patched.frontends[0].canary_names = next.frontends[0].canary_names.clone();
        // TCP services' frontends, like the default backend.
        patched.tcp_services = next.tcp_services.clone();
        // The map entries differ only at the keys named.
        if let Some(keys) = &changed.map_keys {
            let mut maps = MapEntries::of_routes(&prev.routes);
            let want = MapEntries::of_routes(&next.routes);
            for (map, key) in keys {
                match want.get(*map, key) {
                    Some(v) => drop(maps.entries_mut(*map).insert(key.clone(), v.clone())),
                    None => drop(maps.entries_mut(*map).remove(key)),
                }
            }
            prop_assert!(maps == want, "map_keys {keys:?} under-reports");
        }
    }
    if changed.acls {
        patched.source_lists = next.source_lists.clone();
    }
    if changed.gateway {
        patched.gateway = next.gateway.clone();
    }
    if changed.tls {
        patched.tls = next.tls.clone();
        patched.frontends[0].tls = next.frontends[0].tls.clone();
    }
    prop_assert!(
        patched == *next,
        "changed {changed:?} under-reports:\nprev {prev:#?}\nnext {next:#?}"
    );
    Ok(())
}

fn steps() -> impl Strategy<Value = (u8, Vec<(u8, Vec<u8>)>)> {
    (
        any::<u8>(),
        prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 17)), 1..40),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_full((variant, ops) in steps()) {
        let settings = settings(variant);
        let store = Store::new();
        store.replace_all(seed());
        let mut inc = Incremental::new(settings.clone(), CertMemory::default());
        let mut full_certs = CertMemory::default();
        let mut prev: Option<Config> = None;
        for (i, (op, v)) in ops.iter().enumerate() {
            apply(&store, *op, v);
            let snap = store.snapshot();
            let full = translate_with(&snap, &settings, &full_certs).expect("a translation");
            let got = inc.translate(&snap).expect("a translation");
            prop_assert_eq!(&got.problems, &full.problems, "step {}", i);
            prop_assert!(got.config == full.config, "step {}: configs differ", i);
            // The maintained map entries are those of the routes.
            prop_assert!(got.maps == full.maps, "step {}: map entries differ", i);
            prop_assert!(
                *got.maps == MapEntries::of_routes(&full.config.routes),
                "step {}: map entries are not the routes'", i
            );
            prop_assert_eq!(&got.certs, &full.certs, "step {}", i);
            prop_assert!(got.gateway_status == full.gateway_status, "step {}: statuses differ", i);
            match &prev {
                None => prop_assert!(got.changed.all, "the first translation"),
                Some(p) => check_changed(p, &got.config, &got.changed)?,
            }
            full_certs = full.certs;
            // Held as a copy, so that the next call patches its own config in place.
            prev = Some((*got.config).clone());
        }
    }
}

/// A store with a few Services, their slices and Ingresses, each Ingress on its own Service.
fn world(n: usize) -> Store {
    let store = Store::new();
    let mut objects = Vec::new();
    for i in 0..n {
        objects.push(object(
            "Service",
            json!({"metadata": {"namespace": "a", "name": format!("svc{i}")},
                   "spec": {"ports": [{"port": 80}]}}),
        ));
        objects.push(endpoints(i, "10.0.0.1"));
        objects.push(object(
            "Ingress",
            json!({
                "metadata": {"namespace": "a", "name": format!("ing{i}")},
                "spec": {"ingressClassName": "haproxy", "rules": [{
                    "host": format!("h{i}.test"),
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                        "service": {"name": format!("svc{i}"), "port": {"number": 80}}}}]},
                }]},
            }),
        ));
    }
    store.replace_all(objects);
    store
}

fn endpoints(i: usize, address: &str) -> Object {
    object(
        "EndpointSlice",
        json!({
            "metadata": {"namespace": "a", "name": format!("svc{i}-1"),
                         "labels": {"kubernetes.io/service-name": format!("svc{i}")}},
            "addressType": "IPv4",
            "ports": [{"port": 8080}],
            "endpoints": [{"addresses": [address]}],
        }),
    )
}

fn backend(i: usize) -> BackendName {
    BackendName::new(format!("a_svc{i}_80")).expect("a backend name")
}

#[test]
fn a_slice_change_recomputes_only_the_ingresses_of_its_service() {
    let store = world(5);
    let mut inc = Incremental::new(settings(0), CertMemory::default());
    let first = inc.translate(&store.snapshot()).expect("a translation");
    assert!(first.changed.all);
    drop(first);
    let before = inc.config.clone().expect("a config");
    store.upsert(endpoints(2, "10.0.0.9"));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert_eq!(
        t.changed,
        Changed {
            all: false,
            backends: [backend(2)].into(),
            routes: false,
            map_keys: None,
            tls: false,
            acls: false,
            gateway: false,
        }
    );
    // The other backends are the same values, not rebuilt copies of the config.
    assert_eq!(t.config.backends[&backend(1)], before.backends[&backend(1)]);
    drop(before);
    // Moved to another Service: both backends change.
    let mut moved = endpoints(2, "10.0.0.9");
    if let Object::EndpointSlice(s) = &mut moved {
        s.metadata.labels = Some(
            [(
                crate::store::SERVICE_NAME_LABEL.to_string(),
                "svc3".to_string(),
            )]
            .into(),
        );
    }
    drop(t);
    store.upsert(moved);
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert_eq!(t.changed.backends, [backend(2), backend(3)].into());
    assert!(!t.changed.routes && !t.changed.tls);
}

#[test]
fn unrelated_changes_recompute_nothing() {
    let store = world(3);
    let mut inc = Incremental::new(settings(0), CertMemory::default());
    let first = inc.translate(&store.snapshot()).expect("a translation");
    // A Secret nobody names, a slice of a Service nobody routes to.
    store.upsert(secret(&[0, 0, 0]));
    store.upsert(object(
        "EndpointSlice",
        json!({"metadata": {"namespace": "a", "name": "x-1",
                            "labels": {"kubernetes.io/service-name": "nobody"}},
               "addressType": "IPv4", "endpoints": []}),
    ));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert!(t.changed.is_empty(), "{:?}", t.changed);
    assert!(
        Arc::ptr_eq(&t.config, &first.config),
        "the same config is handed out"
    );
    assert_eq!(inc.resolutions.len(), 3, "{:?}", inc.resolutions);
}

#[test]
fn a_service_change_recomputes_its_readers_and_the_default_backend() {
    let store = world(3);
    let mut inc = Incremental::new(settings(1), CertMemory::default());
    store.upsert(object(
        "Service",
        json!({"metadata": {"namespace": "a", "name": "s0"}, "spec": {"ports": [{"port": 80}]}}),
    ));
    inc.translate(&store.snapshot()).expect("a translation");
    store.upsert(object(
        "EndpointSlice",
        json!({"metadata": {"namespace": "a", "name": "s0-1",
                            "labels": {"kubernetes.io/service-name": "s0"}},
               "addressType": "IPv4", "ports": [{"port": 8080}],
               "endpoints": [{"addresses": ["10.1.1.1"]}]}),
    ));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    let default = BackendName::new("a_s0_80").expect("a backend name");
    assert_eq!(t.changed.backends, [default.clone()].into());
    assert_eq!(t.config.backends[&default].servers.len(), 1);
    // The Service loses its port: the built-in 404, a route change, the backend gone.
    store.upsert(object(
        "Service",
        json!({"metadata": {"namespace": "a", "name": "s0"}, "spec": {"ports": []}}),
    ));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert!(t.changed.routes);
    assert_eq!(t.changed.backends, [default].into());
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
}

#[test]
fn a_secret_is_parsed_once_per_content() {
    let store = world(1);
    store.upsert(secret(&[0, 0, 0]));
    let mut with_tls = ingress(&[0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0]);
    if let Object::Ingress(i) = &mut with_tls {
        i.metadata.name = Some("tls".into());
    }
    store.upsert(with_tls);
    let mut inc = Incremental::new(settings(0), CertMemory::default());
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert!(!t.config.tls.crt_list.is_empty(), "{:?}", t.problems);
    let parsed = inc.certs_parsed.parsed[&ObjectKey::new("a", "t0")]
        .0
        .clone();
    // The same content again (a relist): no new parse, nothing changed.
    store.replace_kind(Kind::Secret, [secret(&[0, 0, 0])]);
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert!(t.changed.is_empty(), "{:?}", t.changed);
    assert!(Arc::ptr_eq(
        &inc.certs_parsed.parsed[&ObjectKey::new("a", "t0")].0,
        &parsed
    ));
    // Another certificate: parsed, and only TLS changed.
    store.upsert(secret(&[0, 1, 0]));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert_eq!(
        t.changed,
        Changed {
            tls: true,
            ..Changed::default()
        }
    );
}

#[test]
fn a_route_change_names_only_its_map_keys() {
    let store = world(3);
    let mut inc = Incremental::new(settings(0), CertMemory::default());
    drop(inc.translate(&store.snapshot()).expect("a translation"));
    // ing1 moves from Prefix `/` to Prefix `/v2`.
    store.upsert(object(
        "Ingress",
        json!({
            "metadata": {"namespace": "a", "name": "ing1"},
            "spec": {"ingressClassName": "haproxy", "rules": [{
                "host": "h1.test",
                "http": {"paths": [{"path": "/v2", "pathType": "Prefix", "backend": {
                    "service": {"name": "svc1", "port": {"number": 80}}}}]},
            }]},
        }),
    ));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    let key = |s: &str| haproxy::MapKey::new(s).expect("a map key");
    assert!(t.changed.routes);
    assert_eq!(
        t.changed.map_keys,
        Some(
            [
                (MapKind::Exact, key("h1.test/v2")),
                (MapKind::Prefix, key("h1.test/")),
                (MapKind::Prefix, key("h1.test/v2/")),
            ]
            .into()
        )
    );
    assert_eq!(t.maps.prefix.len(), 3);
    assert_eq!(t.config.routes[1].path.as_str(), "/v2");
}

/// A Gateway, an HTTPRoute to `s0` and an Ingress on `s1` with their slices.
fn gateway_world() -> Store {
    let store = Store::new();
    let mut objects = seed();
    objects.push(object(
        "Ingress",
        json!({"metadata": {"namespace": "a", "name": "ing"},
               "spec": {"ingressClassName": "haproxy", "rules": [{"host": "h.test", "http": {
                   "paths": [{"path": "/", "pathType": "Prefix", "backend": {
                       "service": {"name": "s3", "port": {"number": 80}}}}]}}]}}),
    ));
    store.replace_all(objects);
    store
}

#[test]
fn unrelated_changes_leave_the_gateway_part_alone() {
    let store = gateway_world();
    let mut inc = Incremental::new(settings(0), CertMemory::default());
    let first = inc.translate(&store.snapshot()).expect("a translation");
    assert!(
        !first.config.gateway.is_empty(),
        "the seed's route is served"
    );
    let status = first.gateway_status.clone();
    drop(first);
    let builds = inc.gateway_builds;
    // An endpoint of the Ingress's Service, and a path of the Ingress (same host).
    store.upsert(slice(&[3, 3, 1, 0, 2, 1, 1, 0, 0]));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert!(!t.changed.gateway && !t.changed.backends.is_empty());
    drop(t);
    store.upsert(object(
        "Ingress",
        json!({"metadata": {"namespace": "a", "name": "ing"},
               "spec": {"ingressClassName": "haproxy", "rules": [{"host": "h.test", "http": {
                   "paths": [{"path": "/v2", "pathType": "Prefix", "backend": {
                       "service": {"name": "s3", "port": {"number": 80}}}}]}}]}}),
    ));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert!(t.changed.routes && !t.changed.gateway);
    assert_eq!(
        inc.gateway_builds, builds,
        "the Gateway part was not read again"
    );
    assert!(Arc::ptr_eq(&t.gateway_status, &status));
    drop(t);
    // The route's own Service's endpoints: read again, only its backend changes.
    store.upsert(slice(&[1, 1, 1, 0, 2, 3, 1, 0, 0]));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert_eq!(inc.gateway_builds, builds + 1);
    assert!(!t.changed.gateway && !t.changed.routes);
    drop(t);
    // A weight change: the rule map changes, no backend does.
    store.upsert(http_route(&[0, 0, 3, 0, 0, 0, 1, 7, 0]));
    let t = inc.translate(&store.snapshot()).expect("a translation");
    assert!(t.changed.gateway, "{:?}", t.changed);
    assert!(
        t.changed.backends.is_empty() && !t.changed.routes,
        "{:?}",
        t.changed
    );
}
