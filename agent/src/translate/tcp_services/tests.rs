//! Table tests of the TCP services' ConfigMap: entries, PROXY fields, clashes, problems.

use std::collections::BTreeMap;

use haproxy::config::{SendProxy, tcp_backend_name};
use serde_json::json;

use super::*;
use crate::store::{Object, Store};

fn settings() -> Settings {
    let mut s = crate::translate::custom_errors_tests::settings(None);
    s.tcp_services = Some(ObjectKey::new("ingress", "tcp"));
    s
}

fn store(data: &[(&str, &str)]) -> Store {
    let store = Store::new();
    let data: BTreeMap<&str, &str> = data.iter().copied().collect();
    let objects = [
        json!({"kind": "ConfigMap", "metadata": {"namespace": "ingress", "name": "tcp"}, "data": data}),
        json!({"kind": "Service", "metadata": {"namespace": "db", "name": "pg"},
               "spec": {"ports": [{"name": "sql", "port": 5432}]}}),
        json!({"kind": "EndpointSlice", "metadata": {"namespace": "db", "name": "pg-1",
               "labels": {"kubernetes.io/service-name": "pg"}},
               "addressType": "IPv4", "ports": [{"name": "sql", "port": 15432}],
               "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}]}),
    ];
    store.replace_all(objects.into_iter().map(|o| match o["kind"].as_str() {
        Some("ConfigMap") => Object::ConfigMap(serde_json::from_value(o).unwrap()),
        Some("Service") => Object::Service(serde_json::from_value(o).unwrap()),
        _ => Object::EndpointSlice(serde_json::from_value(o).unwrap()),
    }));
    store
}

#[test]
fn entries_become_tcp_frontends_and_backends() {
    let s = settings();
    let part = read(
        &store(&[
            ("5432", "db/pg:5432"),
            ("5433", "db/pg:sql:PROXY"),
            ("5434", "db/pg:5432::proxy"),
        ])
        .snapshot(),
        &s,
    );
    assert_eq!(part.problems, vec![]);
    let ports: Vec<u16> = part.services.keys().copied().collect();
    assert_eq!(ports, vec![5432, 5433, 5434]);
    let svc = &part.services[&5433];
    assert!(svc.accept_proxy);
    assert_eq!(svc.bind.ip(), s.http_bind.ip());
    assert_eq!(svc.backend, tcp_backend_name(5433));
    assert!(!part.services[&5434].accept_proxy);
    for b in &part.backends {
        assert!(b.tcp);
        assert_eq!(b.servers.len(), 1, "{}", b.name);
        let want = (b.name == tcp_backend_name(5434)).then_some(SendProxy::V1);
        assert_eq!(b.send_proxy, want, "{}", b.name);
    }
}

#[test]
fn each_bad_entry_is_named_and_the_good_one_served() {
    let mut s = settings();
    s.agent_listen = vec![
        ("0.0.0.0:10254".parse().unwrap(), "--listen"),
        ("127.0.0.1:10255".parse().unwrap(), "--debug-listen"),
    ];
    let http = s.http_bind.port().to_string();
    let https = s.https_bind.port().to_string();
    let cases = [
        ("0", "db/pg:5432", "not a port number"),
        ("65536", "db/pg:5432", "not a port number"),
        ("05432", "db/pg:5432", "not a port number"),
        ("abc", "db/pg:5432", "not a port number"),
        (http.as_str(), "db/pg:5432", "--http-bind"),
        (https.as_str(), "db/pg:5432", "--https-bind"),
        ("10254", "db/pg:5432", "the agent's own (--listen"),
        ("10255", "db/pg:5432", "the agent's own (--debug-listen"),
        ("6001", "db/pg", "is not <namespace>/<service>:<port>"),
        ("6002", "pg:5432", "is not <namespace>/<service>"),
        ("6003", "db/nope:5432", "does not exist"),
        ("6004", "db/pg:80", "has no port 80"),
        ("6005", "db/pg:5432:PROXY:PROXY:PROXY", "is not <namespace>"),
        ("6006", "db/pg:5432:yes", "not PROXY or empty"),
        ("6007", "db/pg:5432:PROXY:", "not PROXY"),
        ("6008", "DB/pg:5432", "namespace"),
        ("6009", "db/pg:Bad$Name", "port name"),
    ];
    for (key, value, why) in cases {
        let part = read(
            &store(&[(key, value), ("7000", "db/pg:5432")]).snapshot(),
            &s,
        );
        assert_eq!(part.services.len(), 1, "{key}: {value}");
        assert!(part.services.contains_key(&7000));
        assert_eq!(
            part.problems.len(),
            1,
            "{key}: {value}: {:?}",
            part.problems
        );
        let p = &part.problems[0];
        assert_eq!(p.kind, ProblemKind::ConfigMap);
        assert_eq!(p.object, "ingress/tcp");
        assert_eq!(p.field.as_deref(), Some(format!("data[{key}]").as_str()));
        assert!(p.message.contains(why), "{key}: {value}: {}", p.message);
    }
}

#[test]
fn a_missing_configmap_is_named() {
    let mut s = settings();
    s.tcp_services = Some(ObjectKey::new("ingress", "gone"));
    let part = read(&store(&[]).snapshot(), &s);
    assert!(part.services.is_empty());
    assert_eq!(part.problems.len(), 1);
    assert!(part.problems[0].message.contains("does not exist"));
}

#[test]
fn the_bind_address_flag_wins() {
    let mut s = settings();
    s.tcp_bind = Some("127.0.0.9".parse().unwrap());
    let part = read(&store(&[("5432", "db/pg:5432")]).snapshot(), &s);
    assert_eq!(part.services[&5432].bind, "127.0.0.9:5432".parse().unwrap());
}
