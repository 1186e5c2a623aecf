//! The object store: the Kubernetes objects the agent follows, whichever source fills them
//! (a manifests directory or the cluster). Sources write; the reconcile loop reads immutable
//! snapshots and is woken on every change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::sync::watch;

/// `namespace/name` of an object (`namespace` empty for cluster-scoped kinds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object's metadata (`default` namespace when a namespaced manifest
    /// omits it, as kubectl does).
    pub fn of(meta: &ObjectMeta, namespaced: bool) -> Self {
        let namespace = if namespaced {
            meta.namespace
                .clone()
                .unwrap_or_else(|| "default".to_string())
        } else {
            String::new()
        };
        Self::new(namespace, meta.name.clone().unwrap_or_default())
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// Annotation prefixes translation reads; every other annotation is dropped on the way in.
pub const KEPT_ANNOTATIONS: [&str; 4] = [
    "haproxy-agent.io/",
    "ingress.kubernetes.io/",
    "kubernetes.io/ingress.class",
    "ingressclass.kubernetes.io/",
];

/// One object of a kind the agent follows.
// Objects are moved once, from a source into an `Arc` in the store: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// `networking.k8s.io/v1` Ingress.
    Ingress(Ingress),
    /// `networking.k8s.io/v1` IngressClass.
    IngressClass(IngressClass),
    /// `v1` Service.
    Service(Service),
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice(EndpointSlice),
    /// `v1` Secret.
    Secret(Secret),
}

impl Object {
    /// The object's key.
    pub fn key(&self) -> ObjectKey {
        match self {
            Object::Ingress(o) => ObjectKey::of(&o.metadata, true),
            Object::IngressClass(o) => ObjectKey::of(&o.metadata, false),
            Object::Service(o) => ObjectKey::of(&o.metadata, true),
            Object::EndpointSlice(o) => ObjectKey::of(&o.metadata, true),
            Object::Secret(o) => ObjectKey::of(&o.metadata, true),
        }
    }

    /// The kind's name, as in manifests.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Ingress(_) => "Ingress",
            Object::IngressClass(_) => "IngressClass",
            Object::Service(_) => "Service",
            Object::EndpointSlice(_) => "EndpointSlice",
            Object::Secret(_) => "Secret",
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Ingress(o) => &mut o.metadata,
            Object::IngressClass(o) => &mut o.metadata,
            Object::Service(o) => &mut o.metadata,
            Object::EndpointSlice(o) => &mut o.metadata,
            Object::Secret(o) => &mut o.metadata,
        }
    }

    /// Drops what translation never reads (managed fields, annotations of other tools,
    /// owner references), to keep memory low with many objects.
    pub fn strip(mut self) -> Self {
        let meta = self.meta_mut();
        meta.managed_fields = None;
        meta.owner_references = None;
        if let Some(a) = meta.annotations.as_mut() {
            a.retain(|k, _| KEPT_ANNOTATIONS.iter().any(|p| k.starts_with(p)));
        }
        self
    }
}

/// An immutable view of every object, as translation reads it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Ingresses by key.
    pub ingresses: BTreeMap<ObjectKey, Arc<Ingress>>,
    /// IngressClasses by name (empty namespace).
    pub ingress_classes: BTreeMap<ObjectKey, Arc<IngressClass>>,
    /// Services by key.
    pub services: BTreeMap<ObjectKey, Arc<Service>>,
    /// EndpointSlices by key.
    pub endpoint_slices: BTreeMap<ObjectKey, Arc<EndpointSlice>>,
    /// Secrets by key.
    pub secrets: BTreeMap<ObjectKey, Arc<Secret>>,
    /// True once every source has delivered its initial state: nothing is rendered before,
    /// so HAProxy never sees a half-empty world at start-up.
    pub synced: bool,
    /// Bumped on every change.
    pub generation: u64,
    /// EndpointSlice keys by the Service they belong to (their `kubernetes.io/service-name`
    /// label, in their namespace): translation looks a Service's slices up here instead of
    /// scanning every slice for every backend.
    slices_by_service: BTreeMap<ObjectKey, BTreeSet<ObjectKey>>,
}

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn service_of(slice: &EndpointSlice, slice_key: &ObjectKey) -> Option<ObjectKey> {
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(ObjectKey::new(&slice_key.namespace, name))
}

impl Snapshot {
    /// The EndpointSlices of Service `namespace/service`, by key.
    pub fn slices_of<'a>(
        &'a self,
        namespace: &str,
        service: &str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<EndpointSlice>)> + 'a {
        self.slices_by_service
            .get(&ObjectKey::new(namespace, service))
            .into_iter()
            .flatten()
            .filter_map(|k| self.endpoint_slices.get_key_value(k))
    }

    fn unindex_slice(&mut self, key: &ObjectKey) {
        let Some(old) = self.endpoint_slices.get(key) else {
            return;
        };
        if let Some(svc) = service_of(old, key)
            && let Some(set) = self.slices_by_service.get_mut(&svc)
        {
            set.remove(key);
            if set.is_empty() {
                self.slices_by_service.remove(&svc);
            }
        }
    }

    fn insert(&mut self, object: Object) {
        let key = object.key();
        match object.strip() {
            Object::Ingress(o) => {
                self.ingresses.insert(key, Arc::new(o));
            }
            Object::IngressClass(o) => {
                self.ingress_classes.insert(key, Arc::new(o));
            }
            Object::Service(o) => {
                self.services.insert(key, Arc::new(o));
            }
            Object::EndpointSlice(o) => {
                self.unindex_slice(&key);
                if let Some(svc) = service_of(&o, &key) {
                    self.slices_by_service
                        .entry(svc)
                        .or_default()
                        .insert(key.clone());
                }
                self.endpoint_slices.insert(key, Arc::new(o));
            }
            Object::Secret(o) => {
                self.secrets.insert(key, Arc::new(o));
            }
        }
    }

    fn remove(&mut self, kind: &str, key: &ObjectKey) {
        match kind {
            "Ingress" => drop(self.ingresses.remove(key)),
            "IngressClass" => drop(self.ingress_classes.remove(key)),
            "Service" => drop(self.services.remove(key)),
            "EndpointSlice" => {
                self.unindex_slice(key);
                self.endpoint_slices.remove(key);
            }
            "Secret" => drop(self.secrets.remove(key)),
            _ => {}
        }
    }

    /// The number of objects of every kind.
    pub fn len(&self) -> usize {
        self.ingresses.len()
            + self.ingress_classes.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.secrets.len()
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
        let (tx, _) = watch::channel(Arc::new(Snapshot::default()));
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
            let s = Arc::make_mut(snap);
            f(s);
            s.generation += 1;
        });
    }

    /// Replaces everything with `objects` (the manifests source's whole state) and marks
    /// the store synced.
    pub fn replace_all(&self, objects: impl IntoIterator<Item = Object>) {
        self.modify(|s| {
            let generation = s.generation;
            *s = Snapshot::default();
            s.generation = generation;
            for o in objects {
                s.insert(o);
            }
            s.synced = true;
        });
    }

    /// Adds or replaces one object.
    pub fn upsert(&self, object: Object) {
        self.modify(|s| s.insert(object));
    }

    /// Removes one object of `kind` (`"Ingress"`, `"Service"`, …).
    pub fn delete(&self, kind: &str, key: &ObjectKey) {
        self.modify(|s| s.remove(kind, key));
    }

    /// Replaces every object of one kind (a relist) without touching the others.
    pub fn replace_kind(&self, kind: &str, objects: impl IntoIterator<Item = Object>) {
        self.modify(|s| {
            match kind {
                "Ingress" => s.ingresses.clear(),
                "IngressClass" => s.ingress_classes.clear(),
                "Service" => s.services.clear(),
                "EndpointSlice" => {
                    s.endpoint_slices.clear();
                    s.slices_by_service.clear();
                }
                "Secret" => s.secrets.clear(),
                _ => {}
            }
            for o in objects {
                s.insert(o);
            }
        });
    }

    /// Marks the initial state complete.
    pub fn set_synced(&self) {
        self.modify(|s| s.synced = true);
    }
}

#[cfg(test)]
mod tests {
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
        assert!(svc.metadata.managed_fields.is_none());
        let kept: Vec<&String> = svc.metadata.annotations.as_ref().unwrap().keys().collect();
        assert_eq!(kept, vec!["haproxy-agent.io/load-balance"]);
        assert!(!snap.synced);
        store.delete("Service", &ObjectKey::new("a", "web"));
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
        store.delete("EndpointSlice", &ObjectKey::new("a", "web-1"));
        assert!(slices_of(&store, "a", "web").is_empty());
        store.replace_kind("EndpointSlice", [slice("a", "new-1", "web")]);
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
}
