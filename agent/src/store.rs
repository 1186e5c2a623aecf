//! The object store: the Kubernetes objects the agent follows, whichever source fills them
//! (a manifests directory or the cluster). Sources write; the reconcile loop reads immutable
//! snapshots and is woken on every change.

use std::collections::BTreeSet;
use std::sync::Arc;

use imbl::{OrdMap, Vector};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::networking::v1::IngressClass;
use tokio::sync::watch;

use crate::gateway_api::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};

mod gateway;
mod ingress;
mod meta;
mod namespace;
mod service;
mod slice;

pub use gateway::with_type_meta;
pub use ingress::StoredIngress;
pub use meta::Meta;
pub use service::{ServicePort, ServiceSpec, StoredService};
pub use slice::{Slice, SliceEndpoint};
mod object;
pub use object::{KEPT_ANNOTATIONS, Kind, Object, ObjectKey, Shared};

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
struct Change {
    generation: u64,
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
    log: Vector<Change>,
    /// The log holds every change made after this generation.
    log_from: u64,
    /// Which store this is a snapshot of (unique in the process): generations of two stores
    /// say nothing about each other.
    store: u64,
}

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn service_of(slice: &Slice, slice_key: &ObjectKey) -> Option<ObjectKey> {
    let name = slice.service.as_ref()?;
    Some(ObjectKey::new(&slice_key.namespace, name))
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

    fn record(&mut self, kind: Kind, key: ObjectKey) {
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

    fn unindex_slice(&mut self, key: &ObjectKey) {
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
    fn index_slice(&mut self, svc: ObjectKey, key: &ObjectKey) {
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

    fn insert(&mut self, object: Shared) {
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

    fn remove(&mut self, kind: Kind, key: &ObjectKey) {
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
    fn keys_of(&self, kind: Kind) -> Vec<ObjectKey> {
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
    fn replace(&mut self, kinds: &[Kind], objects: impl IntoIterator<Item = Shared>) {
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
}

/// The writer side; cheap to clone. Readers subscribe to snapshots.
#[derive(Debug, Clone)]
pub struct Store {
    tx: Arc<watch::Sender<Arc<Snapshot>>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty, not yet synced store.
    pub fn new() -> Self {
        static STORES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let snapshot = Snapshot {
            store: STORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ..Snapshot::default()
        };
        let (tx, _) = watch::channel(Arc::new(snapshot));
        Self { tx: Arc::new(tx) }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.tx.borrow().clone()
    }

    /// A receiver woken on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.tx.subscribe()
    }

    fn modify(&self, f: impl FnOnce(&mut Snapshot)) {
        self.tx.send_modify(|snap| {
            // Cheap even while a reader holds the previous snapshot: the maps are shared.
            let s = Arc::make_mut(snap);
            s.generation += 1;
            f(s);
        });
    }

    /// Replaces everything with `objects` (the manifests source's whole state) and marks
    /// the store synced.
    pub fn replace_all(&self, objects: impl IntoIterator<Item = Object>) {
        self.replace_all_shared(objects.into_iter().map(Shared::from));
    }

    /// [`Store::replace_all`] with objects already in the store's form.
    pub fn replace_all_shared(&self, objects: impl IntoIterator<Item = Shared>) {
        self.modify(|s| {
            s.replace(&Kind::ALL, objects);
            s.synced = true;
        });
    }

    /// Adds or replaces `upserts` and removes `deletes`, as one generation. Returns true when
    /// anything changed; otherwise nothing is published (no generation, no wake-up).
    pub fn apply(
        &self,
        upserts: impl IntoIterator<Item = Object>,
        deletes: impl IntoIterator<Item = (Kind, ObjectKey)>,
    ) -> bool {
        self.apply_shared(upserts.into_iter().map(Shared::from), deletes)
    }

    /// [`Store::apply`] with objects already in the store's form.
    pub fn apply_shared(
        &self,
        upserts: impl IntoIterator<Item = Shared>,
        deletes: impl IntoIterator<Item = (Kind, ObjectKey)>,
    ) -> bool {
        self.tx.send_if_modified(|snap| {
            let s = Arc::make_mut(snap);
            s.generation += 1;
            for o in upserts {
                s.insert(o);
            }
            for (kind, key) in deletes {
                s.remove(kind, &key);
            }
            let changed = s.log.back().is_some_and(|c| c.generation == s.generation);
            if !changed {
                s.generation -= 1;
            }
            changed
        })
    }

    /// Adds or replaces one object.
    pub fn upsert(&self, object: Object) {
        self.modify(|s| s.insert(object.into()));
    }

    /// Removes one object of `kind`.
    pub fn delete(&self, kind: Kind, key: &ObjectKey) {
        self.modify(|s| s.remove(kind, key));
    }

    /// Replaces every object of one kind (a relist) without touching the others.
    pub fn replace_kind(&self, kind: Kind, objects: impl IntoIterator<Item = Object>) {
        self.modify(|s| s.replace(&[kind], objects.into_iter().map(Shared::from)));
    }

    /// [`Store::replace_kind`], but the objects of `keep` stay as they are (a relist in which
    /// they did not decode: their last good version is kept).
    pub fn replace_kind_keeping(
        &self,
        kind: Kind,
        objects: impl IntoIterator<Item = Object>,
        keep: &BTreeSet<ObjectKey>,
    ) {
        if keep.is_empty() {
            return self.replace_kind(kind, objects);
        }
        self.modify(|s| {
            let mut seen = keep.clone();
            for o in objects.into_iter().map(Shared::from) {
                seen.insert(o.key());
                s.insert(o);
            }
            for key in s.keys_of(kind) {
                if !seen.contains(&key) {
                    s.remove(kind, &key);
                }
            }
        });
    }

    /// Removes every object of `kinds` (kinds the cluster does not serve); publishes
    /// nothing when there were none.
    pub fn clear_kinds(&self, kinds: &[Kind]) -> bool {
        let snap = self.snapshot();
        let deletes: Vec<(Kind, ObjectKey)> = kinds
            .iter()
            .flat_map(|&kind| snap.keys_of(kind).into_iter().map(move |key| (kind, key)))
            .collect();
        self.apply_shared(std::iter::empty(), deletes)
    }

    /// Replaces the Secrets of one `type` (a Secret's type never changes) with `objects`,
    /// leaving Secrets of other types (each Secret watch lists one type) and those of `keep`.
    pub fn replace_secrets_of_type(
        &self,
        secret_type: &str,
        objects: impl IntoIterator<Item = Object>,
        keep: &BTreeSet<ObjectKey>,
    ) {
        self.modify(|s| {
            let mut seen = keep.clone();
            for o in objects.into_iter().map(Shared::from) {
                seen.insert(o.key());
                s.insert(o);
            }
            let gone: Vec<ObjectKey> = s
                .secrets
                .iter()
                .filter(|(k, o)| {
                    o.type_.as_deref().unwrap_or("Opaque") == secret_type && !seen.contains(*k)
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                s.remove(Kind::Secret, &k);
            }
        });
    }

    /// Marks the initial state complete.
    pub fn set_synced(&self) {
        self.modify(|s| s.synced = true);
    }
}

#[cfg(test)]
mod tests;
