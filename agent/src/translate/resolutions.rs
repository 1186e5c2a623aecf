//! Service port resolutions made once per (namespace, Service, port), with the EndpointSlices
//! each read, so that a changed Service or slice forgets exactly the resolutions it affects.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::ServiceBackendPort;

use super::endpoints::{self, ResolveError, ResolvedService};
use crate::store::{ObjectKey, Snapshot};

/// A Service port as an Ingress backend names it (by number, else by name). Shared: the
/// recipe that names it and the resolution made for it hold one copy (a pointer each).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PortRef(Arc<PortKey>);

/// What a [`PortRef`] names.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PortKey {
    /// The Service.
    pub service: ObjectKey,
    /// `port.number`.
    pub number: Option<i32>,
    /// `port.name`.
    pub name: Option<String>,
}

impl Deref for PortRef {
    type Target = PortKey;

    fn deref(&self) -> &PortKey {
        &self.0
    }
}

impl PortRef {
    /// The port `port` of Service `namespace/service`.
    pub fn new(namespace: &str, service: &str, port: &ServiceBackendPort) -> Self {
        Self(Arc::new(PortKey {
            service: ObjectKey::new(namespace, service),
            number: port.number,
            name: port.name.clone(),
        }))
    }

    fn port(&self) -> ServiceBackendPort {
        ServiceBackendPort {
            number: self.number,
            name: self.name.clone(),
        }
    }
}

/// One Service's resolutions and the slices they read. Vectors, not maps: a Service has a
/// port or two and a slice or two, and a map's smallest node holds eleven entries (at
/// 10,000 Services that was ~30 MB of empty slots).
#[derive(Debug, Default)]
struct ServiceEntry {
    ports: Vec<(PortRef, Result<ResolvedService, ResolveError>)>,
    slices: Box<[ObjectKey]>,
}

/// Resolutions by Service; valid for the snapshots in which neither the Service nor any
/// slice that was or is labelled with it changed (the caller forgets the others).
#[derive(Debug, Default)]
pub(super) struct Resolutions {
    by_service: BTreeMap<ObjectKey, ServiceEntry>,
    /// Slice -> the Services whose resolutions read it (sorted, each once; usually one).
    slice_readers: BTreeMap<ObjectKey, Vec<ObjectKey>>,
}

impl Resolutions {
    /// The resolution of `at`, made now if it is not known.
    pub fn get(
        &mut self,
        snapshot: &Snapshot,
        at: &PortRef,
    ) -> &Result<ResolvedService, ResolveError> {
        let entry = self
            .by_service
            .entry(at.service.clone())
            .or_insert_with(|| {
                // In key order, each once: the store's index is a set.
                let slices: Box<[ObjectKey]> = snapshot
                    .slices_of(&at.service.namespace, &at.service.name)
                    .map(|(k, _)| k.clone())
                    .collect();
                for s in &slices {
                    let readers = self.slice_readers.entry(s.clone()).or_default();
                    if let Err(i) = readers.binary_search(&at.service) {
                        readers.insert(i, at.service.clone());
                    }
                }
                ServiceEntry {
                    ports: Vec::new(),
                    slices,
                }
            });
        let i = match entry.ports.iter().position(|(p, _)| p == at) {
            Some(i) => i,
            None => {
                let resolved = endpoints::resolve(
                    snapshot,
                    &at.service.namespace,
                    &at.service.name,
                    &at.port(),
                );
                // A port or two per Service: room for exactly these, where `Vec`'s first
                // growth makes room for four.
                entry.ports.reserve_exact(1);
                entry.ports.push((at.clone(), resolved));
                entry.ports.len() - 1
            }
        };
        &entry.ports[i].1
    }

    /// The Services whose resolutions read slice `slice`.
    pub fn readers_of_slice(&self, slice: &ObjectKey) -> impl Iterator<Item = &ObjectKey> {
        self.slice_readers.get(slice).into_iter().flatten()
    }

    /// Forgets every resolution of Service `service`.
    pub fn forget(&mut self, service: &ObjectKey) {
        let Some(entry) = self.by_service.remove(service) else {
            return;
        };
        for s in &entry.slices {
            if let Some(readers) = self.slice_readers.get_mut(s) {
                readers.retain(|r| r != service);
                if readers.is_empty() {
                    self.slice_readers.remove(s);
                }
            }
        }
    }

    /// How many Services have resolutions.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_service.len()
    }
}
