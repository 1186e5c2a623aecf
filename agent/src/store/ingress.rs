//! The store's form of an Ingress: its spec and status as k8s-openapi has them, with the
//! store's [`Meta`] for metadata (an `ObjectMeta` is ~340 bytes inline, most of it for
//! fields the store drops). Field names are k8s-openapi's, so readers read it as they read
//! an `Ingress`; it converts back to the stripped `Ingress`.

use k8s_openapi::api::networking::v1::{Ingress, IngressSpec, IngressStatus};

use super::Meta;

/// A stripped Ingress.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredIngress {
    /// Its metadata, as stripped.
    pub metadata: Meta,
    /// `spec`.
    pub spec: Option<IngressSpec>,
    /// `status` (what the status writer compares with what it would publish).
    pub status: Option<IngressStatus>,
}

impl From<Ingress> for StoredIngress {
    fn from(i: Ingress) -> Self {
        Self {
            metadata: i.metadata.into(),
            spec: i.spec,
            status: i.status,
        }
    }
}

impl From<StoredIngress> for Ingress {
    fn from(i: StoredIngress) -> Self {
        Self {
            metadata: i.metadata.into(),
            spec: i.spec,
            status: i.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ingress(v: serde_json::Value) -> Ingress {
        serde_json::from_value(v).expect("an Ingress")
    }

    /// Each case: an Ingress, and the Ingress the store's form gives back.
    #[test]
    fn keeps_what_is_read_and_gives_it_back() {
        let spec = json!({"ingressClassName": "haproxy", "rules": [{"host": "a.example",
            "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}],
            "tls": [{"hosts": ["a.example"], "secretName": "t"}]});
        let status = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}});
        let cases = [
            ("empty", json!({}), json!({})),
            (
                "metadata: name, namespace, version, creation time, our annotations",
                json!({"metadata": {"name": "web", "namespace": "a", "uid": "u", "generation": 3,
                    "resourceVersion": "9", "creationTimestamp": "2026-01-02T03:04:05Z",
                    "labels": {"app": "web"}, "finalizers": ["f"],
                    "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/",
                                    "kubectl.kubernetes.io/last-applied-configuration": "{}"}}}),
                json!({"metadata": {"name": "web", "namespace": "a", "resourceVersion": "9",
                    "creationTimestamp": "2026-01-02T03:04:05Z",
                    "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}}}),
            ),
            (
                "spec and status as they are",
                json!({"metadata": {"name": "web"}, "spec": spec, "status": status}),
                json!({"metadata": {"name": "web"}, "spec": spec, "status": status}),
            ),
        ];
        for (name, given, want) in cases {
            let stored = StoredIngress::from(ingress(given));
            assert_eq!(Ingress::from(stored), ingress(want), "{name}");
        }
    }
}
