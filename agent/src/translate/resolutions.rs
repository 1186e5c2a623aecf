//! Service port resolutions made once per (namespace, Service, port), with the EndpointSlices
//! each read, so that a changed Service or slice forgets exactly the resolutions it affects.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::ServiceBackendPort;

use super::endpoints::{self, ResolvedService};
use crate::store::{ObjectKey, Snapshot};

/// A Service port as an Ingress backend names it (by number, else by name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PortRef {
    /// The Service.
    pub service: ObjectKey,
    /// `port.number`.
    pub number: Option<i32>,
    /// `port.name`.
    pub name: Option<String>,
}

impl PortRef {
    /// The port `port` of Service `namespace/service`.
    pub fn new(namespace: &str, service: &str, port: &ServiceBackendPort) -> Self {
        Self {
            service: ObjectKey::new(namespace, service),
            number: port.number,
            name: port.name.clone(),
        }
    }

    fn port(&self) -> ServiceBackendPort {
        ServiceBackendPort {
            number: self.number,
            name: self.name.clone(),
        }
    }
}

/// One Service's resolutions and the slices they read.
#[derive(Debug, Default)]
struct ServiceEntry {
    ports: BTreeMap<PortRef, Result<ResolvedService, String>>,
    slices: BTreeSet<ObjectKey>,
}

/// Resolutions by Service; valid for the snapshots in which neither the Service nor any
/// slice that was or is labelled with it changed (the caller forgets the others).
#[derive(Debug, Default)]
pub(super) struct Resolutions {
    by_service: BTreeMap<ObjectKey, ServiceEntry>,
    /// Slice -> the Services whose resolutions read it.
    slice_readers: BTreeMap<ObjectKey, BTreeSet<ObjectKey>>,
}

impl Resolutions {
    /// The resolution of `at`, made now if it is not known.
    pub fn get(&mut self, snapshot: &Snapshot, at: &PortRef) -> &Result<ResolvedService, String> {
        let entry = self
            .by_service
            .entry(at.service.clone())
            .or_insert_with(|| {
                let slices: BTreeSet<ObjectKey> = snapshot
                    .slices_of(&at.service.namespace, &at.service.name)
                    .map(|(k, _)| k.clone())
                    .collect();
                for s in &slices {
                    self.slice_readers
                        .entry(s.clone())
                        .or_default()
                        .insert(at.service.clone());
                }
                ServiceEntry {
                    ports: BTreeMap::new(),
                    slices,
                }
            });
        entry.ports.entry(at.clone()).or_insert_with(|| {
            endpoints::resolve(
                snapshot,
                &at.service.namespace,
                &at.service.name,
                &at.port(),
            )
        })
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
        for s in entry.slices {
            if let Some(readers) = self.slice_readers.get_mut(&s) {
                readers.remove(service);
                if readers.is_empty() {
                    self.slice_readers.remove(&s);
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
