use std::path::Path;

use super::*;
use crate::source::manifests::parse_manifests;
use crate::store::Store;

const CORPUS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: legacy
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/load-balance: ewma
    nginx.ingress.kubernetes.io/proxy-read-timeout: "120"
    nginx.ingress.kubernetes.io/configuration-snippet: "more_set_headers X: y;"
    nginx.ingress.kubernetes.io/auth-url: http://auth.shop.svc/check
    nginx.ingress.kubernetes.io/ssl-redirect: "maybe"
    prometheus.io/scrape: "true"
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example.com
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: moved
  namespace: shop
  annotations:
    haproxy-agent.io/load-balance: roundrobin
    nginx.ingress.kubernetes.io/load-balance: ewma
spec:
  ingressClassName: haproxy
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: plain
  namespace: web
spec:
  ingressClassName: haproxy
"#;

fn corpus() -> Report {
    let store = Store::new();
    store.replace_all(parse_manifests(Path::new("corpus.yaml"), CORPUS).unwrap());
    report(&store.snapshot(), "haproxy")
}

fn row<'a>(r: &'a Report, ingress: &str, key: &str) -> &'a Row {
    let ing = r.ingresses.iter().find(|i| i.ingress == ingress).unwrap();
    ing.annotations.iter().find(|a| a.key == key).unwrap()
}

#[test]
fn every_annotation_is_classified() {
    let r = corpus();
    let n = "nginx.ingress.kubernetes.io/";
    // (ingress, key, status, says what it becomes)
    let table = [
        ("shop/legacy", "load-balance", "differs", true),
        ("shop/legacy", "proxy-read-timeout", "differs", true),
        ("shop/legacy", "configuration-snippet", "refused", false),
        ("shop/legacy", "auth-url", "unsupported", false),
        ("shop/legacy", "ssl-redirect", "invalid", false),
        ("shop/moved", "load-balance", "shadowed", false),
    ];
    for (ingress, name, status, becomes) in table {
        let row = row(&r, ingress, &format!("{n}{name}"));
        assert_eq!(row.status, status, "{ingress} {name}");
        assert_eq!(row.becomes.is_some(), becomes, "{ingress} {name}");
        assert_eq!(row.reloads.is_some(), becomes, "{ingress} {name}");
        if status != "honoured" {
            assert!(row.detail.as_deref().is_some_and(|d| !d.is_empty()));
        }
    }
    let moved = row(&r, "shop/moved", "haproxy-agent.io/load-balance");
    assert_eq!(moved.status, "honoured");
    assert_eq!(moved.reloads, Some("yes"));
    let legacy = r
        .ingresses
        .iter()
        .find(|i| i.ingress == "shop/legacy")
        .unwrap();
    assert_eq!(
        legacy.annotations.len(),
        5,
        "prometheus.io/ is not ours to judge"
    );
    assert!(!legacy.served);
    assert_eq!(legacy.class.as_deref(), Some("nginx"));
    assert_eq!(
        r.summary,
        Summary {
            ingresses: 3,
            annotations: 7,
            honoured: 1,
            differs: 2,
            invalid: 1,
            shadowed: 1,
            unsupported: 1,
            refused: 1,
        }
    );
    assert!(r.summary.has_gaps());
}

#[test]
fn text_names_each_annotation_and_counts() {
    let t = text(&corpus());
    for want in [
        "shop/legacy  class \"nginx\": not served until its class is \"haproxy\"",
        "  nginx.ingress.kubernetes.io/configuration-snippet = \"more_set_headers X: y;\"",
        "    refused: raw configuration from an object is never rendered",
        "    a change reloads: yes",
        "web/plain  served (class haproxy)",
        "3 Ingresses, 7 annotations: 1 honoured, 2 honoured with a difference, 1 invalid, 1 \
         shadowed, 1 unsupported, 1 refused",
    ] {
        assert!(t.contains(want), "want {want:?} in:\n{t}");
    }
}

#[test]
fn json_has_the_same_rows() {
    let v = serde_json::to_value(corpus()).unwrap();
    assert_eq!(v["summary"]["refused"], 1);
    assert_eq!(v["ingresses"][0]["ingress"], "shop/legacy");
    assert_eq!(
        v["ingresses"][0]["annotations"][1]["key"],
        "nginx.ingress.kubernetes.io/configuration-snippet"
    );
    assert_eq!(v["ingresses"][0]["annotations"][1]["status"], "refused");
}
