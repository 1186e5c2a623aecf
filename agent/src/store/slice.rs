//! The store's form of an EndpointSlice: what [`Object::strip`](super::Object::strip) keeps,
//! without the k8s-openapi `Endpoint`'s room for the fields it drops (~330 bytes inline per
//! endpoint, where addresses and conditions take 27). Field names are k8s-openapi's, so
//! readers read it as they read an `EndpointSlice`; it converts back losslessly.

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A stripped EndpointSlice.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Its metadata, as stripped (our annotations), without labels: the one label kept is
    /// [`Slice::service`] (a label map of one entry took a B-tree node of eleven, ~600 bytes
    /// per slice).
    pub metadata: ObjectMeta,
    /// Its `kubernetes.io/service-name` label: the Service it belongs to.
    pub service: Option<String>,
    /// `addressType`.
    pub address_type: String,
    /// `ports`.
    pub ports: Option<Vec<EndpointPort>>,
    /// `endpoints`.
    pub endpoints: Vec<SliceEndpoint>,
}

/// One endpoint of a [`Slice`]: what translation reads.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceEndpoint {
    /// `addresses`.
    pub addresses: Vec<String>,
    /// `conditions`.
    pub conditions: Option<EndpointConditions>,
}

impl From<EndpointSlice> for Slice {
    /// Keeps what a stripped slice holds: an endpoint's other fields are dropped.
    fn from(mut s: EndpointSlice) -> Self {
        // A new vector: `collect` would reuse the k8s-openapi one in place, keeping its
        // ~330 bytes per endpoint allocated.
        let mut endpoints = Vec::with_capacity(s.endpoints.len());
        endpoints.extend(s.endpoints.into_iter().map(|e| SliceEndpoint {
            addresses: e.addresses,
            conditions: e.conditions,
        }));
        let service = s
            .metadata
            .labels
            .take()
            .and_then(|mut labels| labels.remove(super::SERVICE_NAME_LABEL));
        Self {
            metadata: s.metadata,
            service,
            address_type: s.address_type,
            ports: s.ports,
            endpoints,
        }
    }
}

impl From<Slice> for EndpointSlice {
    fn from(s: Slice) -> Self {
        let mut metadata = s.metadata;
        metadata.labels = s
            .service
            .map(|name| [(super::SERVICE_NAME_LABEL.to_string(), name)].into());
        Self {
            metadata,
            address_type: s.address_type,
            ports: s.ports,
            endpoints: s
                .endpoints
                .into_iter()
                .map(|e| Endpoint {
                    addresses: e.addresses,
                    conditions: e.conditions,
                    ..Default::default()
                })
                .collect(),
        }
    }
}
