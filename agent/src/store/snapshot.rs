//! The store's snapshot: every object as translation reads it, the index of EndpointSlices
//! by Service, and the change log that says what changed after a generation.

use std::collections::BTreeSet;
use std::sync::Arc;

use imbl::{OrdMap, Vector};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::networking::v1::IngressClass;

use super::{Kind, Object, ObjectKey, Shared, Slice, StoredIngress, StoredService};
use crate::gateway_api::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};

/// How many changes a snapshot remembers (see [`Snapshot::changes_since`]).
pub const CHANGE_LOG_LEN: usize = 4096;

/// What changed in the store after some generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Anything may have changed: the generation is older than the change log remembers
    /// (or is not one of this store's).
    Everything,
    /// These objects were added, modified or deleted, and nothing else.
    Some(BTreeSet<(Kind, ObjectKey)>),
}

/// One entry of the change log.
#[derive(Debug, Clone)]
pub(super) struct Change {
    pub(super) generation: u64,
    kind: Kind,
    key: ObjectKey,
}

/// An immutable view of every object, as translation reads it. Cheap to clone and to
/// modify while a clone is held: the maps are persistent and share what did not change.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Ingresses by key.
    pub ingresses: OrdMap<ObjectKey, Arc<StoredIngress>>,
    /// IngressClasses by name (empty namespace).
    pub ingress_classes: OrdMap<ObjectKey, Arc<IngressClass>>,
    /// Services by key.
    pub services: OrdMap<ObjectKey, Arc<StoredService>>,
    /// EndpointSlices by key.
    pub endpoint_slices: OrdMap<ObjectKey, Arc<Slice>>,
    /// Secrets by key.
    pub secrets: OrdMap<ObjectKey, Arc<Secret>>,
    /// ConfigMaps by key (only the `--configmap` one is read).
    pub config_maps: OrdMap<ObjectKey, Arc<ConfigMap>>,
    /// GatewayClasses by name (empty namespace).
    pub gateway_classes: OrdMap<ObjectKey, Arc<GatewayClass>>,
    /// Gateways by key.
    pub gateways: OrdMap<ObjectKey, Arc<Gateway>>,
    /// HTTPRoutes by key.
    pub http_routes: OrdMap<ObjectKey, Arc<HttpRoute>>,
    /// ReferenceGrants by key.
    pub reference_grants: OrdMap<ObjectKey, Arc<ReferenceGrant>>,
    /// Namespaces by name (empty namespace): name and labels only.
    pub namespaces: OrdMap<ObjectKey, Arc<Namespace>>,
    /// True once every source has delivered its initial state: nothing is rendered before,
    /// so HAProxy never sees a half-empty world at start-up.
    pub synced: bool,
    /// Bumped on every change.
    pub generation: u64,
    /// EndpointSlice keys by the Service they belong to (their `kubernetes.io/service-name`
    /// label, in their namespace): translation looks a Service's slices up here instead of
    /// scanning every slice for every backend. Each Service's keys are one sorted, shared
    /// slice (a Service has a slice or two; a persistent set's node took ~1 KB each).
    slices_by_service: OrdMap<ObjectKey, Arc<[ObjectKey]>>,
    /// The last changes, oldest first, at most [`CHANGE_LOG_LEN`].
    pub(super) log: Vector<Change>,
    /// The log holds every change made after this generation.
    log_from: u64,
    /// Which store this is a snapshot of (unique in the process): generations of two stores
    /// say nothing about each other.
    pub(super) store: u64,
}

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn service_of(slice: &Slice, slice_key: &ObjectKey) -> Option<ObjectKey> {
    let name = slice.service.as_ref()?;
    Some(ObjectKey::new(slice_key.namespace.clone(), name))
}

/// Inserts `new` at `key` unless an equal object is there; true when it changed the map.
fn put<T: PartialEq>(map: &mut OrdMap<ObjectKey, Arc<T>>, key: ObjectKey, new: Arc<T>) -> bool {
    if map.get(&key).is_some_and(|old| **old == *new) {
        return false;
    }
    map.insert(key, new);
    true
}

impl Snapshot {
    /// The EndpointSlices of Service `namespace/service`, by key.
    pub fn slices_of<'a>(
        &'a self,
        namespace: &str,
        service: &str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Slice>)> + 'a {
        self.slices_by_service
            .get(&ObjectKey::new(namespace, service))
            .into_iter()
            .flat_map(|set| set.iter())
            .filter_map(|k| self.endpoint_slices.get_key_value(k))
    }

    /// The Service an EndpointSlice of this snapshot belongs to (by its label).
    pub fn service_of_slice(&self, slice: &ObjectKey) -> Option<ObjectKey> {
        service_of(self.endpoint_slices.get(slice)?, slice)
    }

    /// The store this snapshot belongs to, for [`Snapshot::changes_since`]'s callers: a
    /// generation seen in another store means nothing here.
    pub fn store_id(&self) -> u64 {
        self.store
    }

    /// What changed after `generation` (a [`Snapshot::generation`] of this store, see
    /// [`Snapshot::store_id`]), up to this snapshot.
    pub fn changes_since(&self, generation: u64) -> Changes {
        if generation < self.log_from || generation > self.generation {
            return Changes::Everything;
        }
        let changed = self
            .log
            .iter()
            .rev()
            .take_while(|c| c.generation > generation)
            .map(|c| (c.kind, c.key.clone()))
            .collect();
        Changes::Some(changed)
    }

    /// The objects changed after `generation`, newest first, at most `limit` of them, and
    /// how many changes there were in all; `None` when the log does not reach back so far.
    /// Cheaper than [`Snapshot::changes_since`] for a look at the latest changes.
    pub fn recent_changes(
        &self,
        generation: u64,
        limit: usize,
    ) -> Option<(Vec<(Kind, &ObjectKey)>, usize)> {
        if generation < self.log_from || generation > self.generation {
            return None;
        }
        let mut kept = Vec::new();
        let mut all = 0;
        for c in self
            .log
            .iter()
            .rev()
            .take_while(|c| c.generation > generation)
        {
            all += 1;
            if kept.len() < limit {
                kept.push((c.kind, &c.key));
            }
        }
        Some((kept, all))
    }

    pub(super) fn record(&mut self, kind: Kind, key: ObjectKey) {
        self.log.push_back(Change {
            generation: self.generation,
            kind,
            key,
        });
        while self.log.len() > CHANGE_LOG_LEN {
            if let Some(dropped) = self.log.pop_front() {
                self.log_from = self.log_from.max(dropped.generation);
            }
        }
    }

    pub(super) fn unindex_slice(&mut self, key: &ObjectKey) {
        let Some(old) = self.endpoint_slices.get(key) else {
            return;
        };
        if let Some(svc) = service_of(old, key)
            && let Some(set) = self.slices_by_service.get(&svc)
        {
            let rest: Arc<[ObjectKey]> = set.iter().filter(|k| *k != key).cloned().collect();
            if rest.is_empty() {
                self.slices_by_service.remove(&svc);
            } else {
                self.slices_by_service.insert(svc, rest);
            }
        }
    }

    /// Adds slice `key` to Service `svc`'s slices (kept sorted, each once).
    pub(super) fn index_slice(&mut self, svc: ObjectKey, key: &ObjectKey) {
        let set = self
            .slices_by_service
            .get(&svc)
            .cloned()
            .unwrap_or_default();
        if let Err(i) = set.binary_search(key) {
            let mut keys = Vec::with_capacity(set.len() + 1);
            keys.extend_from_slice(&set[..i]);
            keys.push(key.clone());
            keys.extend_from_slice(&set[i..]);
            self.slices_by_service.insert(svc, keys.into());
        }
    }

    pub(super) fn insert(&mut self, object: Shared) {
        let key = object.key();
        let kind = object.kind();
        let changed = match object {
            Shared::Ingress(o) => put(&mut self.ingresses, key.clone(), o),
            Shared::IngressClass(o) => put(&mut self.ingress_classes, key.clone(), o),
            Shared::Service(o) => put(&mut self.services, key.clone(), o),
            Shared::EndpointSlice(o) => {
                let same = self
                    .endpoint_slices
                    .get(&key)
                    .is_some_and(|old| **old == *o);
                if !same {
                    self.unindex_slice(&key);
                    if let Some(svc) = service_of(&o, &key) {
                        self.index_slice(svc, &key);
                    }
                    self.endpoint_slices.insert(key.clone(), o);
                }
                !same
            }
            Shared::Secret(o) => put(&mut self.secrets, key.clone(), o),
            Shared::ConfigMap(o) => put(&mut self.config_maps, key.clone(), o),
            Shared::GatewayClass(o) => put(&mut self.gateway_classes, key.clone(), o),
            Shared::Gateway(o) => put(&mut self.gateways, key.clone(), o),
            Shared::HttpRoute(o) => put(&mut self.http_routes, key.clone(), o),
            Shared::ReferenceGrant(o) => put(&mut self.reference_grants, key.clone(), o),
            Shared::Namespace(o) => put(&mut self.namespaces, key.clone(), o),
        };
        if changed {
            self.record(kind, key);
        }
    }

    pub(super) fn remove(&mut self, kind: Kind, key: &ObjectKey) {
        let removed = match kind {
            Kind::Ingress => self.ingresses.remove(key).is_some(),
            Kind::IngressClass => self.ingress_classes.remove(key).is_some(),
            Kind::Service => self.services.remove(key).is_some(),
            Kind::EndpointSlice => {
                self.unindex_slice(key);
                self.endpoint_slices.remove(key).is_some()
            }
            Kind::Secret => self.secrets.remove(key).is_some(),
            Kind::ConfigMap => self.config_maps.remove(key).is_some(),
            Kind::GatewayClass => self.gateway_classes.remove(key).is_some(),
            Kind::Gateway => self.gateways.remove(key).is_some(),
            Kind::HttpRoute => self.http_routes.remove(key).is_some(),
            Kind::ReferenceGrant => self.reference_grants.remove(key).is_some(),
            Kind::Namespace => self.namespaces.remove(key).is_some(),
        };
        if removed {
            self.record(kind, key.clone());
        }
    }

    /// The keys of every object of `kind`.
    pub(super) fn keys_of(&self, kind: Kind) -> Vec<ObjectKey> {
        match kind {
            Kind::Ingress => self.ingresses.keys().cloned().collect(),
            Kind::IngressClass => self.ingress_classes.keys().cloned().collect(),
            Kind::Service => self.services.keys().cloned().collect(),
            Kind::EndpointSlice => self.endpoint_slices.keys().cloned().collect(),
            Kind::Secret => self.secrets.keys().cloned().collect(),
            Kind::ConfigMap => self.config_maps.keys().cloned().collect(),
            Kind::GatewayClass => self.gateway_classes.keys().cloned().collect(),
            Kind::Gateway => self.gateways.keys().cloned().collect(),
            Kind::HttpRoute => self.http_routes.keys().cloned().collect(),
            Kind::ReferenceGrant => self.reference_grants.keys().cloned().collect(),
            Kind::Namespace => self.namespaces.keys().cloned().collect(),
        }
    }

    /// Makes the objects of `kinds` exactly `objects`, recording only what differs (a
    /// relist that finds what the store has changes nothing).
    pub(super) fn replace(&mut self, kinds: &[Kind], objects: impl IntoIterator<Item = Shared>) {
        let mut seen = BTreeSet::new();
        for o in objects {
            seen.insert((o.kind(), o.key()));
            self.insert(o);
        }
        for &kind in kinds {
            for key in self.keys_of(kind) {
                if !seen.contains(&(kind, key.clone())) {
                    self.remove(kind, &key);
                }
            }
        }
    }

    /// The number of objects of every kind.
    pub fn len(&self) -> usize {
        self.ingresses.len()
            + self.ingress_classes.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.secrets.len()
            + self.config_maps.len()
            + self.gateway_classes.len()
            + self.gateways.len()
            + self.http_routes.len()
            + self.reference_grants.len()
            + self.namespaces.len()
    }

    /// True when the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every object held, kind by kind (in the order of the fields above), each kind in key
    /// order.
    pub fn objects(&self) -> Vec<Object> {
        fn all<T: Clone>(m: &OrdMap<ObjectKey, Arc<T>>, f: impl Fn(T) -> Object) -> Vec<Object> {
            m.values().map(|o| f((**o).clone())).collect()
        }
        [
            all(&self.ingresses, |o| Object::Ingress(o.into())),
            all(&self.ingress_classes, Object::IngressClass),
            all(&self.services, |o| Object::Service(o.into())),
            all(&self.endpoint_slices, |o| Object::EndpointSlice(o.into())),
            all(&self.secrets, Object::Secret),
            all(&self.config_maps, Object::ConfigMap),
            all(&self.gateway_classes, Object::GatewayClass),
            all(&self.gateways, Object::Gateway),
            all(&self.http_routes, Object::HttpRoute),
            all(&self.reference_grants, Object::ReferenceGrant),
            all(&self.namespaces, Object::Namespace),
        ]
        .concat()
    }
}
