//! The store: keys, stripping, snapshots, the change log and the indexes.

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn service(ns: &str, name: &str) -> Object {
    Object::Service(Service {
        metadata: ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            managed_fields: Some(vec![Default::default()]),
            annotations: Some(
                [
                    (
                        "haproxy-agent.io/load-balance".to_string(),
                        "first".to_string(),
                    ),
                    (
                        "deployment.kubernetes.io/revision".to_string(),
                        "7".to_string(),
                    ),
                ]
                .into(),
            ),
            ..Default::default()
        },
        ..Default::default()
    })
}

#[test]
fn writes_are_seen_by_subscribers_and_stripped() {
    let store = Store::new();
    let mut rx = store.subscribe();
    store.upsert(service("a", "web"));
    assert!(rx.has_changed().unwrap());
    let snap = rx.borrow_and_update().clone();
    let svc = &snap.services[&ObjectKey::new("a", "web")];
    let kept: Vec<&String> = svc.metadata.annotations.as_ref().unwrap().keys().collect();
    assert_eq!(kept, vec!["haproxy-agent.io/load-balance"]);
    assert!(!snap.synced);
    store.delete(Kind::Service, &ObjectKey::new("a", "web"));
    assert!(store.snapshot().services.is_empty());
}

fn slice(ns: &str, name: &str, service: &str) -> Object {
    Object::EndpointSlice(EndpointSlice {
        metadata: ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            labels: Some([(SERVICE_NAME_LABEL.to_string(), service.to_string())].into()),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: vec![],
        ports: None,
    })
}

fn slices_of(store: &Store, ns: &str, service: &str) -> Vec<String> {
    store
        .snapshot()
        .slices_of(ns, service)
        .map(|(k, _)| k.to_string())
        .collect()
}

#[test]
fn slices_are_indexed_by_their_service() {
    let store = Store::new();
    store.upsert(slice("a", "web-1", "web"));
    store.upsert(slice("a", "web-2", "web"));
    store.upsert(slice("b", "web-1", "web"));
    store.upsert(slice("a", "api-1", "api"));
    assert_eq!(slices_of(&store, "a", "web"), ["a/web-1", "a/web-2"]);
    assert_eq!(slices_of(&store, "b", "web"), ["b/web-1"]);
    // Relabelled to another Service: it moves.
    store.upsert(slice("a", "web-2", "api"));
    assert_eq!(slices_of(&store, "a", "web"), ["a/web-1"]);
    assert_eq!(slices_of(&store, "a", "api"), ["a/api-1", "a/web-2"]);
    store.delete(Kind::EndpointSlice, &ObjectKey::new("a", "web-1"));
    assert!(slices_of(&store, "a", "web").is_empty());
    store.replace_kind(Kind::EndpointSlice, [slice("a", "new-1", "web")]);
    assert_eq!(slices_of(&store, "a", "web"), ["a/new-1"]);
    assert!(slices_of(&store, "a", "api").is_empty());
    store.replace_all([slice("c", "x", "y")]);
    assert_eq!(slices_of(&store, "c", "y"), ["c/x"]);
    assert!(slices_of(&store, "a", "web").is_empty());
}

#[test]
fn replace_all_swaps_everything_and_syncs() {
    let store = Store::new();
    store.upsert(service("a", "old"));
    store.replace_all([service("a", "new")]);
    let snap = store.snapshot();
    assert!(snap.synced);
    assert_eq!(
        snap.services.keys().collect::<Vec<_>>(),
        vec![&ObjectKey::new("a", "new")]
    );
    assert!(snap.generation >= 2);
}

fn changed(store: &Store, since: u64) -> Vec<String> {
    match store.snapshot().changes_since(since) {
        Changes::Everything => vec!["everything".to_string()],
        Changes::Some(set) => set.iter().map(|(k, key)| format!("{k} {key}")).collect(),
    }
}

#[test]
fn each_generation_says_what_changed() {
    let store = Store::new();
    store.upsert(service("a", "web"));
    let g1 = store.snapshot().generation;
    store.upsert(slice("a", "web-1", "web"));
    store.upsert(service("a", "web"));
    assert_eq!(
        changed(&store, g1),
        ["EndpointSlice a/web-1"],
        "an equal upsert"
    );
    assert_eq!(
        changed(&store, 0),
        ["Service a/web", "EndpointSlice a/web-1"]
    );
    let g2 = store.snapshot().generation;
    store.delete(Kind::Service, &ObjectKey::new("a", "web"));
    store.delete(Kind::Service, &ObjectKey::new("a", "gone"));
    assert_eq!(changed(&store, g2), ["Service a/web"]);
    // A relist records what differs only.
    let g3 = store.snapshot().generation;
    store.replace_kind(
        Kind::EndpointSlice,
        [slice("a", "web-1", "web"), slice("a", "web-2", "web")],
    );
    assert_eq!(changed(&store, g3), ["EndpointSlice a/web-2"]);
    let g4 = store.snapshot().generation;
    store.replace_all([service("a", "web")]);
    assert_eq!(
        changed(&store, g4),
        [
            "Service a/web",
            "EndpointSlice a/web-1",
            "EndpointSlice a/web-2"
        ]
    );
    assert_eq!(
        changed(&store, store.snapshot().generation),
        Vec::<String>::new()
    );
    assert_eq!(
        changed(&store, store.snapshot().generation + 1),
        ["everything"]
    );
}

#[test]
fn the_change_log_is_bounded() {
    let store = Store::new();
    let held = store.snapshot();
    for i in 0..CHANGE_LOG_LEN + 10 {
        store.upsert(service("a", &format!("s{i}")));
    }
    let snap = store.snapshot();
    assert!(snap.log.len() <= CHANGE_LOG_LEN);
    assert_eq!(snap.changes_since(held.generation), Changes::Everything);
    assert_eq!(changed(&store, snap.generation - 1), ["Service a/s4105"]);
    // The snapshot held from before is untouched.
    assert!(held.is_empty());
}

#[test]
fn strip_keeps_what_translation_and_status_read() {
    let svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1", "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80}], "externalIPs": ["192.0.2.1"]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}},
    }))
    .unwrap();
    let Shared::Service(stored) = Shared::from(Object::Service(svc.clone())) else {
        unreachable!()
    };
    let stripped = Service::from((*stored).clone());
    let (spec, was) = (stripped.spec.unwrap(), svc.spec.unwrap());
    assert!(spec.selector.is_none() && stripped.metadata.labels.is_none());
    assert_eq!(
        (spec.type_, spec.ports, spec.cluster_ip, spec.external_ips),
        (was.type_, was.ports, was.cluster_ip, was.external_ips)
    );
    assert_eq!(stripped.status, svc.status);
    let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web-1", "labels": {SERVICE_NAME_LABEL: "web", "x": "y"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true},
                       "nodeName": "n1", "targetRef": {"kind": "Pod", "name": "p"}}],
    }))
    .unwrap();
    let Object::EndpointSlice(s) = Object::EndpointSlice(slice).strip() else {
        unreachable!()
    };
    assert_eq!(s.metadata.labels.as_ref().unwrap().len(), 1);
    let ep = &s.endpoints[0];
    assert!(ep.target_ref.is_none() && ep.node_name.is_none());
    assert_eq!((ep.addresses.len(), ep.conditions.is_some()), (1, true));
    // The store's form holds the Service's label as `service`, and gives it back.
    let compact = Slice::from(s.clone());
    assert_eq!(compact.service.as_deref(), Some("web"));
    assert!(compact.metadata.labels.is_none());
    assert_eq!(EndpointSlice::from(compact), s);
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "t"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Yw==", "tls.key": "aw==", "ca.crt": "Yw==", "ca.crl": "Yw=="},
    }))
    .unwrap();
    let Object::Secret(s) = Object::Secret(secret).strip() else {
        unreachable!()
    };
    let keys: Vec<&String> = s.data.as_ref().unwrap().keys().collect();
    // ca.crt, ca.crl: a CA bundle and a revocation list.
    assert_eq!(keys, ["ca.crl", "ca.crt", "tls.crt", "tls.key"]);
    // An Opaque Secret: `auth`, and users with hash-like values; other values blanked,
    // keys that cannot be users dropped.
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "o"}, "type": "Opaque",
        "data": {"auth": "Zm9vOiQxJHgkeQo=", "jane": "JDJ5JDA1JGFiYw==",
                 "db-password": "aHVudGVyMg==", "config.yaml": "YTogYg==",
                 "des": "TURSa0M0N1dUNloyaw=="},
    }))
    .unwrap();
    let Object::Secret(s) = Object::Secret(secret).strip() else {
        unreachable!()
    };
    let data = s.data.unwrap();
    let kept: Vec<(&str, usize)> = data.iter().map(|(k, v)| (k.as_str(), v.0.len())).collect();
    assert_eq!(
        kept,
        [
            ("auth", 11),
            ("config.yaml", 0),
            ("db-password", 0),
            ("des", 13),
            ("jane", 10)
        ]
    );
}

#[test]
fn shared_is_its_kind_and_key() {
    let o = Shared::from(service("a", "web"));
    assert!(o.is(Kind::Service, &o.key()));
    assert!(!o.is(Kind::Ingress, &o.key()));
    assert!(!o.is(Kind::Service, &ObjectKey::new("a", "api")));
    assert!(!o.is(Kind::Service, &ObjectKey::new("b", "web")));
    let unnamed = Shared::from(Object::Service(Service::default()));
    assert!(unnamed.is(Kind::Service, &ObjectKey::new("default", "")));
    let class = Shared::from(Object::IngressClass(IngressClass {
        metadata: ObjectMeta {
            name: Some("c".into()),
            namespace: Some("ignored".into()),
            ..Default::default()
        },
        ..Default::default()
    }));
    assert_eq!(class.key(), ObjectKey::new("", "c"));
    assert!(class.is(Kind::IngressClass, &ObjectKey::new("", "c")));
}

#[test]
fn missing_namespace_defaults_like_kubectl() {
    let o = Object::Service(Service {
        metadata: ObjectMeta {
            name: Some("x".into()),
            ..Default::default()
        },
        ..Default::default()
    });
    assert_eq!(o.key(), ObjectKey::new("default", "x"));
}
