//! Table tests of ssl-passthrough in translation: routes, backends, the flag, the hosts
//! another Ingress terminates, `spec.tls` (a redirect, no certificate).

use haproxy::config::{MapKind, PathKind, passthrough_backend_name};
use serde_json::{Value, json};

use crate::store::{Object, Store};
use crate::translate::{Settings, Translation, translate};

const PASS: &str = "nginx.ingress.kubernetes.io/ssl-passthrough";

fn settings(on: bool) -> Settings {
    Settings {
        ssl_passthrough: on,
        ..crate::translate::tls::tests::settings()
    }
}

fn service(name: &str) -> Vec<Object> {
    let svc = json!({"metadata": {"namespace": "a", "name": name},
                     "spec": {"ports": [{"name": "https", "port": 443}]}});
    let slice = json!({"metadata": {"namespace": "a", "name": format!("{name}-1"),
                                    "labels": {"kubernetes.io/service-name": name}},
                       "addressType": "IPv4", "ports": [{"name": "https", "port": 8443}],
                       "endpoints": [{"addresses": ["10.0.0.1"]}]});
    vec![
        Object::Service(serde_json::from_value(svc).expect("a Service")),
        Object::EndpointSlice(serde_json::from_value(slice).expect("a slice")),
    ]
}

/// Ingress `name` (created at minute `age`) with `rules`.
fn ingress(name: &str, age: u8, annotations: Value, rules: Value) -> Object {
    let v = json!({
        "metadata": {"namespace": "a", "name": name, "annotations": annotations,
                     "creationTimestamp": format!("2026-01-01T00:0{age}:00Z")},
        "spec": {"ingressClassName": "haproxy", "rules": rules},
    });
    Object::Ingress(serde_json::from_value(v).expect("an Ingress"))
}

fn rule(host: &str, paths: &[(&str, &str)]) -> Value {
    let paths: Vec<Value> = paths
        .iter()
        .map(|(p, svc)| {
            json!({"path": p, "pathType": "Prefix",
                   "backend": {"service": {"name": svc, "port": {"number": 443}}}})
        })
        .collect();
    json!({"host": host, "http": {"paths": paths}})
}

fn run(objects: Vec<Object>, on: bool) -> Translation {
    let store = Store::new();
    store.replace_all(objects);
    translate(&store.snapshot(), &settings(on)).expect("a translation")
}

fn passthrough_entries(t: &Translation) -> Vec<(String, String)> {
    t.maps
        .entries(MapKind::Passthrough)
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The routes that serve plain HTTP.
fn http_routes(t: &Translation) -> Vec<&haproxy::config::Route> {
    t.config
        .routes
        .iter()
        .filter(|r| r.kind != PathKind::Passthrough)
        .collect()
}

#[test]
fn a_passthrough_ingress_maps_its_hosts_to_a_tcp_backend_of_its_root_path() {
    let mut objects = [service("tls"), service("other")].concat();
    let rules = json!([
        rule("Pass.example", &[("/api", "other"), ("/", "tls")]),
        rule("two.example", &[("/x", "other")]),
        rule("*.wild.example", &[("/", "tls")]),
    ]);
    objects.push(ingress("p", 0, json!({PASS: "true"}), rules));
    let t = run(objects, true);
    assert_eq!(
        passthrough_entries(&t),
        [
            (
                "pass.example".to_string(),
                "a_tls_443_passthrough".to_string()
            ),
            ("two.example".into(), "a_other_443_passthrough".into()),
        ]
    );
    // The rules also serve plain HTTP as HTTP routes (no spec.tls: not redirected).
    let http = http_routes(&t);
    assert_eq!(http.len(), 4, "{http:?}");
    assert!(http.iter().all(|r| !r.https_redirect), "{http:?}");
    let backend = &t.config.backends
        [&passthrough_backend_name(&haproxy::BackendName::new("a_tls_443").unwrap())];
    assert!(backend.tcp);
    assert_eq!(backend.servers.len(), 1);
    assert!(t.config.passthrough.is_some());
    let wild: Vec<_> = t
        .problems
        .iter()
        .filter(|p| p.field.as_deref() == Some("spec.rules[2].host"))
        .collect();
    assert_eq!(wild.len(), 1, "{:?}", t.problems);
    assert!(wild[0].message.contains("exact host"), "{wild:?}");
}

#[test]
fn without_the_flag_the_annotation_is_named_and_tls_is_terminated() {
    let mut objects = service("tls");
    objects.push(ingress(
        "p",
        0,
        json!({PASS: "true"}),
        json!([rule("pass.example", &[("/", "tls")])]),
    ));
    let t = run(objects, false);
    assert!(passthrough_entries(&t).is_empty());
    assert!(t.config.passthrough.is_none());
    assert_eq!(t.maps.prefix.len(), 1, "an ordinary route: {:?}", t.maps);
    let p = t
        .problems
        .iter()
        .find(|p| p.field.as_deref() == Some(&format!("metadata.annotations[{PASS}]")))
        .expect("the annotation is named");
    assert!(
        p.message.contains("--enable-ssl-passthrough is off"),
        "{p:?}"
    );
}

#[test]
fn a_host_both_passed_through_and_terminated_is_named_on_the_terminating_ingress() {
    let mut objects = [service("tls"), service("web")].concat();
    objects.push(ingress(
        "pass",
        1,
        json!({PASS: "true"}),
        json!([rule("both.example", &[("/", "tls")])]),
    ));
    objects.push(ingress(
        "web",
        0,
        json!({}),
        json!([rule("both.example", &[("/a", "web"), ("/b", "web")])]),
    ));
    let t = run(objects, true);
    assert_eq!(passthrough_entries(&t).len(), 1);
    let named: Vec<_> = t
        .problems
        .iter()
        .filter(|p| p.object == "a/web" && p.message.contains("passthrough wins"))
        .collect();
    assert_eq!(named.len(), 1, "{:?}", t.problems);
    assert!(named[0].message.contains("ingress a/pass"), "{named:?}");
    // The terminated routes still serve plain HTTP.
    assert!(!t.maps.prefix.is_empty());
}

#[test]
fn two_passthrough_ingresses_for_one_host_keep_the_older() {
    let mut objects = [service("tls"), service("other")].concat();
    objects.push(ingress(
        "new",
        1,
        json!({PASS: "true"}),
        json!([rule("h.example", &[("/", "other")])]),
    ));
    objects.push(ingress(
        "old",
        0,
        json!({PASS: "true"}),
        json!([rule("h.example", &[("/", "tls")])]),
    ));
    let t = run(objects, true);
    assert_eq!(
        passthrough_entries(&t),
        [("h.example".to_string(), "a_tls_443_passthrough".to_string())]
    );
    assert!(
        t.problems.iter().any(|p| p.object == "a/new"),
        "{:?}",
        t.problems
    );
}

/// Ingress `p` passing `pass.example` through, its `spec.tls` naming Secret `pass-tls`.
fn with_tls(annotations: Value) -> Object {
    let Object::Ingress(mut ing) = ingress(
        "p",
        0,
        annotations,
        json!([rule("pass.example", &[("/", "tls")])]),
    ) else {
        unreachable!("an Ingress")
    };
    let tls = json!({"hosts": ["pass.example"], "secretName": "pass-tls"});
    ing.spec.as_mut().expect("a spec").tls = Some(vec![serde_json::from_value(tls).unwrap()]);
    Object::Ingress(ing)
}

#[test]
fn spec_tls_of_a_passthrough_ingress_redirects_plain_http_and_adds_no_certificate() {
    let (crt, key, _) = crate::translate::tls::tests::pair("pass.example");
    let b64 = |s: &str| openssl::base64::encode_block(s.as_bytes());
    let secret = json!({"metadata": {"namespace": "a", "name": "pass-tls"},
                        "type": "kubernetes.io/tls",
                        "data": {"tls.crt": b64(&crt), "tls.key": b64(&key)}});
    let objects = |annotations: Value| {
        let mut out = service("tls");
        out.push(Object::Secret(
            serde_json::from_value(secret.clone()).unwrap(),
        ));
        out.push(with_tls(annotations));
        out
    };
    let t = run(objects(json!({PASS: "true"})), true);
    assert_eq!(passthrough_entries(&t).len(), 1);
    let http = http_routes(&t);
    assert_eq!(http.len(), 1, "{http:?}");
    assert!(http[0].https_redirect, "plain HTTP goes to HTTPS: {http:?}");
    let tls = format!("{:?}", t.config.tls);
    assert!(
        !tls.contains("pass.example") && !tls.contains("pass-tls"),
        "no certificate and no crt-list line: {tls}"
    );
    let unused: Vec<_> = t
        .problems
        .iter()
        .filter(|p| p.field.as_deref() == Some("spec.tls[0].secretName"))
        .collect();
    assert_eq!(unused.len(), 1, "{:?}", t.problems);
    assert!(unused[0].message.contains("unused"), "{unused:?}");

    // ssl-redirect "false": plain HTTP is proxied to the pods, as ingress-nginx does.
    let off = json!({PASS: "true", "nginx.ingress.kubernetes.io/ssl-redirect": "false"});
    let t = run(objects(off), true);
    assert!(http_routes(&t).iter().all(|r| !r.https_redirect));
    // Without --enable-ssl-passthrough the Secret is served as usual.
    let t = run(objects(json!({PASS: "true"})), false);
    assert!(format!("{:?}", t.config.tls).contains("pass-tls"));
}
