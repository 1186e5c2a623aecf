//! The store's form of an object's metadata: what translation and the status writer read of
//! a Service's or an Ingress's `metadata`, without k8s-openapi's `ObjectMeta` room for the
//! fields the store drops (~340 bytes inline, where these take ~120).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

/// Stripped metadata. Field names are k8s-openapi's, so readers read it as they read an
/// `ObjectMeta`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    /// `name`.
    pub name: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `annotations`, those of [`KEPT_ANNOTATIONS`](super::KEPT_ANNOTATIONS) only.
    pub annotations: Option<BTreeMap<String, String>>,
    /// `resourceVersion` (the status writer's note of what it wrote).
    pub resource_version: Option<String>,
    /// `creationTimestamp` (the oldest Ingress wins a conflict).
    pub creation_timestamp: Option<Time>,
}

impl From<ObjectMeta> for Meta {
    /// Keeps name, namespace, resource version, creation time and the annotations
    /// translation reads; every other field is dropped.
    fn from(m: ObjectMeta) -> Self {
        let mut annotations = m.annotations;
        if let Some(a) = annotations.as_mut() {
            a.retain(|k, _| super::KEPT_ANNOTATIONS.iter().any(|p| k.starts_with(p)));
        }
        Self {
            name: m.name,
            namespace: m.namespace,
            annotations,
            resource_version: m.resource_version,
            creation_timestamp: m.creation_timestamp,
        }
    }
}

impl From<Meta> for ObjectMeta {
    fn from(m: Meta) -> Self {
        Self {
            name: m.name,
            namespace: m.namespace,
            annotations: m.annotations,
            resource_version: m.resource_version,
            creation_timestamp: m.creation_timestamp,
            ..Default::default()
        }
    }
}
