//! Arbitrary annotations (catalog names and any others, under every prefix; see
//! `annotation_input`) on an Ingress of ours beside a valid Service: `haproxy-agent check`
//! gives every key under a recognised prefix exactly one verdict (and no other key one),
//! with the catalog's status where the catalog decides, a detail for every status but
//! honoured, and counts that add up; translation names each problem verdict at
//! `metadata.annotations[<key>]` (and only annotations that are set; an honoured one may be
//! named for what it refers to), and renders a clean config.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use haproxy_agent::check;
use haproxy_agent::source::manifests::parse_manifests;
use haproxy_agent::store::Object;
use haproxy_agent::translate::annotations::catalog::{self, Support};
use haproxy_agent_fuzz::{annotation_input, render_check};
use libfuzzer_sys::fuzz_target;

const OBJECTS: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: fz, namespace: shop}
spec:
  ingressClassName: haproxy
  tls: [{hosts: [fz.example.com], secretName: fz-tls}]
  rules:
  - host: fz.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-canary, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
";

fn objects() -> &'static [Object] {
    static OBJECTS_PARSED: OnceLock<Vec<Object>> = OnceLock::new();
    OBJECTS_PARSED.get_or_init(|| parse_manifests(Path::new("fz.yaml"), OBJECTS).unwrap())
}

/// What the catalog alone decides for `key`, when it does.
fn catalog_status(key: &str) -> Option<&'static str> {
    let (prefix, name) = catalog::split(key)?;
    let Some(entry) = catalog::entry(name) else {
        return Some("unsupported");
    };
    match (entry.support, entry.ours_only) {
        (Support::Unsupported(_), _) => Some("unsupported"),
        (Support::Refused(_), _) => Some("refused"),
        (Support::Honoured, Some(_)) if prefix != catalog::PREFIXES[0] => Some("unsupported"),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let annotations = annotation_input::parse(data);
    let mut all = objects().to_vec();
    if let Object::Ingress(ing) = &mut all[0] {
        ing.metadata.annotations = Some(annotations.clone());
    }
    let snap = render_check::snapshot(all.clone());
    let report = check::report(&snap, "haproxy");
    assert_eq!(report.ingresses.len(), 1);
    let ing = &report.ingresses[0];
    assert!(ing.served, "the Ingress is ours");
    let recognised: BTreeMap<&str, &str> = annotations
        .iter()
        .filter(|(k, _)| catalog::split(k).is_some())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let rows: BTreeMap<&str, &check::Row> = ing
        .annotations
        .iter()
        .map(|r| (r.key.as_str(), r))
        .collect();
    assert_eq!(rows.len(), ing.annotations.len(), "a key with two verdicts");
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        recognised.keys().collect::<Vec<_>>(),
        "verdicts for exactly the keys under a recognised prefix"
    );
    let mut problems = BTreeSet::new();
    for (key, row) in &rows {
        assert_eq!(row.value, recognised[key], "{key}: the value shown");
        if let Some(want) = catalog_status(key) {
            assert_eq!(row.status, want, "{key}: the catalog's status");
        }
        match row.status {
            "honoured" => assert!(row.detail.is_none(), "{key}: honoured with a detail"),
            "differs" => assert!(row.detail.as_ref().is_some_and(|d| !d.is_empty())),
            "invalid" | "shadowed" | "unsupported" | "refused" => {
                assert!(
                    row.detail.as_ref().is_some_and(|d| !d.is_empty()),
                    "{key}: no why"
                );
                problems.insert(format!("metadata.annotations[{key}]"));
            }
            other => panic!("{key}: status {other}"),
        }
    }
    let s = &report.summary;
    assert_eq!(s.ingresses, 1);
    assert_eq!(s.annotations, rows.len());
    assert_eq!(
        s.honoured + s.differs + s.invalid + s.shadowed + s.unsupported + s.refused,
        s.annotations
    );
    let t = render_check::run(all);
    let named: BTreeSet<String> = t
        .problems
        .iter()
        .filter(|p| p.object == "shop/fz")
        .filter_map(|p| p.field.clone())
        .filter(|f| f.starts_with("metadata.annotations["))
        .collect();
    assert!(
        problems.is_subset(&named),
        "translation names every problem verdict: {:?} missing",
        problems.difference(&named).collect::<Vec<_>>()
    );
    let fields: BTreeSet<String> = annotations
        .keys()
        .map(|k| format!("metadata.annotations[{k}]"))
        .collect();
    assert!(
        named.is_subset(&fields),
        "a problem at an annotation not set"
    );
});
