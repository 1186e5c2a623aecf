//! The object store: the Kubernetes objects the agent follows, whichever source fills them
//! (a manifests directory or the cluster). Sources write; the reconcile loop reads immutable
//! snapshots and is woken on every change.

use std::collections::BTreeSet;
use std::sync::Arc;

use imbl::{OrdMap, Vector};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
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
        Self::of_names(meta.namespace.as_deref(), meta.name.as_deref(), namespaced)
    }

    /// The key of an object named `name` in `namespace` (as [`ObjectKey::of`]).
    pub fn of_names(namespace: Option<&str>, name: Option<&str>, namespaced: bool) -> Self {
        Self::new(
            key_namespace(namespace, namespaced),
            name.unwrap_or_default(),
        )
    }
}

/// The namespace of a key: `default` when a namespaced object names none, empty for a
/// cluster-scoped one.
fn key_namespace(namespace: Option<&str>, namespaced: bool) -> &str {
    match (namespaced, namespace) {
        (false, _) => "",
        (true, ns) => ns.unwrap_or("default"),
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
pub const KEPT_ANNOTATIONS: [&str; 5] = [
    "haproxy-agent.io/",
    "nginx.ingress.kubernetes.io/",
    "ingress.kubernetes.io/",
    "kubernetes.io/ingress.class",
    "ingressclass.kubernetes.io/",
];

/// The kinds of objects the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `networking.k8s.io/v1` Ingress.
    Ingress,
    /// `networking.k8s.io/v1` IngressClass.
    IngressClass,
    /// `v1` Service.
    Service,
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice,
    /// `v1` Secret.
    Secret,
    /// `v1` ConfigMap (the global settings, `--configmap`).
    ConfigMap,
    /// `gateway.networking.k8s.io/v1` GatewayClass.
    GatewayClass,
    /// `gateway.networking.k8s.io/v1` Gateway.
    Gateway,
    /// `gateway.networking.k8s.io/v1` HTTPRoute.
    HttpRoute,
    /// `gateway.networking.k8s.io/v1beta1` ReferenceGrant.
    ReferenceGrant,
    /// `v1` Namespace (its labels, for Gateway listeners' namespace selectors).
    Namespace,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 11] = [
        Kind::Ingress,
        Kind::IngressClass,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Secret,
        Kind::ConfigMap,
        Kind::GatewayClass,
        Kind::Gateway,
        Kind::HttpRoute,
        Kind::ReferenceGrant,
        Kind::Namespace,
    ];

    /// The Gateway API kinds (gateway.networking.k8s.io).
    pub const GATEWAY_API: [Kind; 4] = [
        Kind::GatewayClass,
        Kind::Gateway,
        Kind::HttpRoute,
        Kind::ReferenceGrant,
    ];

    /// The kind of this name (as in manifests), if it is one the store holds.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kind's name, as in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ingress => "Ingress",
            Kind::IngressClass => "IngressClass",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Secret => "Secret",
            Kind::ConfigMap => "ConfigMap",
            Kind::GatewayClass => "GatewayClass",
            Kind::Gateway => "Gateway",
            Kind::HttpRoute => "HTTPRoute",
            Kind::ReferenceGrant => "ReferenceGrant",
            Kind::Namespace => "Namespace",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// `v1` ConfigMap.
    ConfigMap(ConfigMap),
    /// `gateway.networking.k8s.io/v1` GatewayClass.
    GatewayClass(GatewayClass),
    /// `gateway.networking.k8s.io/v1` Gateway.
    Gateway(Gateway),
    /// `gateway.networking.k8s.io/v1` HTTPRoute.
    HttpRoute(HttpRoute),
    /// `gateway.networking.k8s.io/v1beta1` ReferenceGrant.
    ReferenceGrant(ReferenceGrant),
    /// `v1` Namespace.
    Namespace(Namespace),
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
            Object::ConfigMap(o) => ObjectKey::of(&o.metadata, true),
            Object::GatewayClass(o) => ObjectKey::of(&o.metadata, false),
            Object::Gateway(o) => ObjectKey::of(&o.metadata, true),
            Object::HttpRoute(o) => ObjectKey::of(&o.metadata, true),
            Object::ReferenceGrant(o) => ObjectKey::of(&o.metadata, true),
            Object::Namespace(o) => ObjectKey::of(&o.metadata, false),
        }
    }

    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Ingress(_) => Kind::Ingress,
            Object::IngressClass(_) => Kind::IngressClass,
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Secret(_) => Kind::Secret,
            Object::ConfigMap(_) => Kind::ConfigMap,
            Object::GatewayClass(_) => Kind::GatewayClass,
            Object::Gateway(_) => Kind::Gateway,
            Object::HttpRoute(_) => Kind::HttpRoute,
            Object::ReferenceGrant(_) => Kind::ReferenceGrant,
            Object::Namespace(_) => Kind::Namespace,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Ingress(o) => &mut o.metadata,
            Object::IngressClass(o) => &mut o.metadata,
            Object::Service(o) => &mut o.metadata,
            Object::EndpointSlice(o) => &mut o.metadata,
            Object::Secret(o) => &mut o.metadata,
            Object::ConfigMap(o) => &mut o.metadata,
            Object::GatewayClass(o) => &mut o.metadata,
            Object::Gateway(o) => &mut o.metadata,
            Object::HttpRoute(o) => &mut o.metadata,
            Object::ReferenceGrant(o) => &mut o.metadata,
            Object::Namespace(o) => &mut o.metadata,
        }
    }

    /// Drops what neither translation nor the status writer reads (managed fields,
    /// annotations of other tools, owner references, labels but an EndpointSlice's Service,
    /// a Service's selector and traffic policies, an endpoint's target, node and hints,
    /// Secret keys other than `tls.crt`/`tls.key`, the Gateway API objects' labels, all of a
    /// Namespace but its name and labels), to keep
    /// memory low with many objects.
    pub fn strip(mut self) -> Self {
        let meta = self.meta_mut();
        meta.managed_fields = None;
        meta.owner_references = None;
        if let Some(a) = meta.annotations.as_mut() {
            a.retain(|k, _| KEPT_ANNOTATIONS.iter().any(|p| k.starts_with(p)));
        }
        match &mut self {
            Object::Ingress(o) => o.metadata.labels = None,
            Object::IngressClass(o) => o.metadata.labels = None,
            // The store's form keeps what is read of a Service ([`StoredService`]).
            Object::Service(o) => o.metadata.labels = None,
            Object::EndpointSlice(o) => {
                if let Some(labels) = o.metadata.labels.as_mut() {
                    labels.retain(|k, _| k == SERVICE_NAME_LABEL);
                }
                for ep in &mut o.endpoints {
                    ep.target_ref = None;
                    ep.hints = None;
                    ep.node_name = None;
                    ep.zone = None;
                    ep.deprecated_topology = None;
                    ep.hostname = None;
                }
            }
            Object::Secret(o) => {
                o.metadata.labels = None;
                let tls = o.type_.as_deref() == Some("kubernetes.io/tls");
                if let Some(data) = o.data.as_mut() {
                    strip_secret_data(data, tls);
                }
            }
            Object::ConfigMap(o) => {
                o.metadata.labels = None;
                o.binary_data = None;
            }
            Object::GatewayClass(o) => o.metadata.labels = None,
            Object::Gateway(o) => o.metadata.labels = None,
            Object::HttpRoute(o) => o.metadata.labels = None,
            Object::ReferenceGrant(o) => o.metadata.labels = None,
            Object::Namespace(o) => namespace::strip(o),
        }
        self
    }
}

/// Keeps of a Secret's data what TLS and basic authentication read: `tls.crt`, `tls.key`
/// and `ca.crt`/`ca.crl` (a proxy-ssl-secret's or auth-tls-secret's CA bundle and
/// revocation list; all a `kubernetes.io/tls` Secret keeps); `auth` (an htpasswd file, `auth-secret-type: auth-file`); and, for `auth-map` (each key
/// a user), the keys that can be user names whose values look like password hashes (`$…`,
/// `{…}` or a 13-character DES hash, at most 256 bytes). Any other value of such a key is
/// kept empty, so a problem can still name the user without the agent holding what is
/// likely a plain-text secret. Other keys go: the Secret watch sees every `Opaque` Secret
/// of the cluster, and holds only this of each.
fn strip_secret_data(
    data: &mut std::collections::BTreeMap<String, k8s_openapi::ByteString>,
    tls: bool,
) {
    data.retain(|k, v| {
        // ca.crt: a proxy-ssl-secret's or auth-tls-secret's CA bundle (public certificates);
        // ca.crl: an auth-tls-secret's revocation list (public too).
        if k == "tls.crt" || k == "tls.key" || k == "ca.crt" || k == "ca.crl" {
            return true;
        }
        if tls {
            return false;
        }
        if k == "auth" {
            return true;
        }
        let user_like = !k.is_empty()
            && k.len() <= 128
            && k.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+')
            });
        if !user_like {
            return false;
        }
        let hash_like = v.0.len() <= 256
            && (v.0.starts_with(b"$")
                || v.0.starts_with(b"{")
                || (v.0.len() == 13
                    && v.0
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/'))));
        if !hash_like {
            v.0 = Vec::new();
        }
        true
    });
}

/// An object as the store keeps it: stripped, in its own `Arc` (sized for its kind, where an
/// [`Object`] is as large as its largest kind). A source that holds many objects before it
/// writes them (the manifests source during a scan) holds them in this form.
#[derive(Debug, Clone, PartialEq)]
pub enum Shared {
    /// `networking.k8s.io/v1` Ingress.
    Ingress(Arc<StoredIngress>),
    /// `networking.k8s.io/v1` IngressClass.
    IngressClass(Arc<IngressClass>),
    /// `v1` Service, in its compact form.
    Service(Arc<StoredService>),
    /// `discovery.k8s.io/v1` EndpointSlice, in its compact form.
    EndpointSlice(Arc<Slice>),
    /// `v1` Secret.
    Secret(Arc<Secret>),
    /// `v1` ConfigMap.
    ConfigMap(Arc<ConfigMap>),
    /// `gateway.networking.k8s.io/v1` GatewayClass.
    GatewayClass(Arc<GatewayClass>),
    /// `gateway.networking.k8s.io/v1` Gateway.
    Gateway(Arc<Gateway>),
    /// `gateway.networking.k8s.io/v1` HTTPRoute.
    HttpRoute(Arc<HttpRoute>),
    /// `gateway.networking.k8s.io/v1beta1` ReferenceGrant.
    ReferenceGrant(Arc<ReferenceGrant>),
    /// `v1` Namespace: its name and labels only.
    Namespace(Arc<Namespace>),
}

impl From<Object> for Shared {
    /// Strips the object ([`Object::strip`]) and shares it.
    fn from(object: Object) -> Self {
        match object.strip() {
            Object::Ingress(o) => Shared::Ingress(Arc::new(StoredIngress::from(o))),
            Object::IngressClass(o) => Shared::IngressClass(Arc::new(o)),
            Object::Service(o) => Shared::Service(Arc::new(StoredService::from(o))),
            Object::EndpointSlice(o) => Shared::EndpointSlice(Arc::new(Slice::from(o))),
            Object::Secret(o) => Shared::Secret(Arc::new(o)),
            Object::ConfigMap(o) => Shared::ConfigMap(Arc::new(o)),
            Object::GatewayClass(o) => Shared::GatewayClass(Arc::new(o)),
            Object::Gateway(o) => Shared::Gateway(Arc::new(o)),
            Object::HttpRoute(o) => Shared::HttpRoute(Arc::new(o)),
            Object::ReferenceGrant(o) => Shared::ReferenceGrant(Arc::new(o)),
            Object::Namespace(o) => Shared::Namespace(Arc::new(o)),
        }
    }
}

impl Shared {
    /// The object's key.
    pub fn key(&self) -> ObjectKey {
        let (namespace, name, namespaced) = self.names();
        ObjectKey::of_names(namespace, name, namespaced)
    }

    /// The object's namespace and name as its metadata says, and whether its kind is
    /// namespaced.
    fn names(&self) -> (Option<&str>, Option<&str>, bool) {
        fn of(m: &ObjectMeta) -> (Option<&str>, Option<&str>) {
            (m.namespace.as_deref(), m.name.as_deref())
        }
        let ((namespace, name), namespaced) = match self {
            Shared::Ingress(o) => (
                (o.metadata.namespace.as_deref(), o.metadata.name.as_deref()),
                true,
            ),
            Shared::IngressClass(o) => (of(&o.metadata), false),
            Shared::Service(o) => (
                (o.metadata.namespace.as_deref(), o.metadata.name.as_deref()),
                true,
            ),
            Shared::EndpointSlice(o) => (of(&o.metadata), true),
            Shared::Secret(o) => (of(&o.metadata), true),
            Shared::ConfigMap(o) => (of(&o.metadata), true),
            Shared::GatewayClass(o) => (of(&o.metadata), false),
            Shared::Gateway(o) => (of(&o.metadata), true),
            Shared::HttpRoute(o) => (of(&o.metadata), true),
            Shared::ReferenceGrant(o) => (of(&o.metadata), true),
            Shared::Namespace(o) => (of(&o.metadata), false),
        };
        (namespace, name, namespaced)
    }

    /// True when this is object `key` of `kind`; the same as comparing [`Shared::kind`] and
    /// [`Shared::key`], without making a key.
    pub fn is(&self, kind: Kind, key: &ObjectKey) -> bool {
        let (namespace, name, namespaced) = self.names();
        self.kind() == kind
            && key_namespace(namespace, namespaced) == key.namespace
            && name.unwrap_or_default() == key.name
    }

    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Shared::Ingress(_) => Kind::Ingress,
            Shared::IngressClass(_) => Kind::IngressClass,
            Shared::Service(_) => Kind::Service,
            Shared::EndpointSlice(_) => Kind::EndpointSlice,
            Shared::Secret(_) => Kind::Secret,
            Shared::ConfigMap(_) => Kind::ConfigMap,
            Shared::GatewayClass(_) => Kind::GatewayClass,
            Shared::Gateway(_) => Kind::Gateway,
            Shared::HttpRoute(_) => Kind::HttpRoute,
            Shared::ReferenceGrant(_) => Kind::ReferenceGrant,
            Shared::Namespace(_) => Kind::Namespace,
        }
    }
}

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
        let kept: Vec<&String> = svc.metadata.annotations.as_ref().unwrap().keys().collect();
        assert_eq!(kept, vec!["haproxy-agent.io/load-balance"]);
        assert!(!snap.synced);
        store.delete(Kind::Service, &ObjectKey::new("a", "web"));
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
        store.delete(Kind::EndpointSlice, &ObjectKey::new("a", "web-1"));
        assert!(slices_of(&store, "a", "web").is_empty());
        store.replace_kind(Kind::EndpointSlice, [slice("a", "new-1", "web")]);
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

    fn changed(store: &Store, since: u64) -> Vec<String> {
        match store.snapshot().changes_since(since) {
            Changes::Everything => vec!["everything".to_string()],
            Changes::Some(set) => set.iter().map(|(k, key)| format!("{k} {key}")).collect(),
        }
    }

    #[test]
    fn each_generation_says_what_changed() {
        let store = Store::new();
        store.upsert(service("a", "web"));
        let g1 = store.snapshot().generation;
        store.upsert(slice("a", "web-1", "web"));
        store.upsert(service("a", "web"));
        assert_eq!(
            changed(&store, g1),
            ["EndpointSlice a/web-1"],
            "an equal upsert"
        );
        assert_eq!(
            changed(&store, 0),
            ["Service a/web", "EndpointSlice a/web-1"]
        );
        let g2 = store.snapshot().generation;
        store.delete(Kind::Service, &ObjectKey::new("a", "web"));
        store.delete(Kind::Service, &ObjectKey::new("a", "gone"));
        assert_eq!(changed(&store, g2), ["Service a/web"]);
        // A relist records what differs only.
        let g3 = store.snapshot().generation;
        store.replace_kind(
            Kind::EndpointSlice,
            [slice("a", "web-1", "web"), slice("a", "web-2", "web")],
        );
        assert_eq!(changed(&store, g3), ["EndpointSlice a/web-2"]);
        let g4 = store.snapshot().generation;
        store.replace_all([service("a", "web")]);
        assert_eq!(
            changed(&store, g4),
            [
                "Service a/web",
                "EndpointSlice a/web-1",
                "EndpointSlice a/web-2"
            ]
        );
        assert_eq!(
            changed(&store, store.snapshot().generation),
            Vec::<String>::new()
        );
        assert_eq!(
            changed(&store, store.snapshot().generation + 1),
            ["everything"]
        );
    }

    #[test]
    fn the_change_log_is_bounded() {
        let store = Store::new();
        let held = store.snapshot();
        for i in 0..CHANGE_LOG_LEN + 10 {
            store.upsert(service("a", &format!("s{i}")));
        }
        let snap = store.snapshot();
        assert!(snap.log.len() <= CHANGE_LOG_LEN);
        assert_eq!(snap.changes_since(held.generation), Changes::Everything);
        assert_eq!(changed(&store, snap.generation - 1), ["Service a/s4105"]);
        // The snapshot held from before is untouched.
        assert!(held.is_empty());
    }

    #[test]
    fn strip_keeps_what_translation_and_status_read() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80}], "externalIPs": ["192.0.2.1"]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}},
        }))
        .unwrap();
        let Shared::Service(stored) = Shared::from(Object::Service(svc.clone())) else {
            unreachable!()
        };
        let stripped = Service::from((*stored).clone());
        let (spec, was) = (stripped.spec.unwrap(), svc.spec.unwrap());
        assert!(spec.selector.is_none() && stripped.metadata.labels.is_none());
        assert_eq!(
            (spec.type_, spec.ports, spec.cluster_ip, spec.external_ips),
            (was.type_, was.ports, was.cluster_ip, was.external_ips)
        );
        assert_eq!(stripped.status, svc.status);
        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "labels": {SERVICE_NAME_LABEL: "web", "x": "y"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true},
                           "nodeName": "n1", "targetRef": {"kind": "Pod", "name": "p"}}],
        }))
        .unwrap();
        let Object::EndpointSlice(s) = Object::EndpointSlice(slice).strip() else {
            unreachable!()
        };
        assert_eq!(s.metadata.labels.as_ref().unwrap().len(), 1);
        let ep = &s.endpoints[0];
        assert!(ep.target_ref.is_none() && ep.node_name.is_none());
        assert_eq!((ep.addresses.len(), ep.conditions.is_some()), (1, true));
        // The store's form holds the Service's label as `service`, and gives it back.
        let compact = Slice::from(s.clone());
        assert_eq!(compact.service.as_deref(), Some("web"));
        assert!(compact.metadata.labels.is_none());
        assert_eq!(EndpointSlice::from(compact), s);
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "t"}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Yw==", "tls.key": "aw==", "ca.crt": "Yw==", "ca.crl": "Yw=="},
        }))
        .unwrap();
        let Object::Secret(s) = Object::Secret(secret).strip() else {
            unreachable!()
        };
        let keys: Vec<&String> = s.data.as_ref().unwrap().keys().collect();
        // ca.crt, ca.crl: a CA bundle and a revocation list.
        assert_eq!(keys, ["ca.crl", "ca.crt", "tls.crt", "tls.key"]);
        // An Opaque Secret: `auth`, and users with hash-like values; other values blanked,
        // keys that cannot be users dropped.
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "o"}, "type": "Opaque",
            "data": {"auth": "Zm9vOiQxJHgkeQo=", "jane": "JDJ5JDA1JGFiYw==",
                     "db-password": "aHVudGVyMg==", "config.yaml": "YTogYg==",
                     "des": "TURSa0M0N1dUNloyaw=="},
        }))
        .unwrap();
        let Object::Secret(s) = Object::Secret(secret).strip() else {
            unreachable!()
        };
        let data = s.data.unwrap();
        let kept: Vec<(&str, usize)> = data.iter().map(|(k, v)| (k.as_str(), v.0.len())).collect();
        assert_eq!(
            kept,
            [
                ("auth", 11),
                ("config.yaml", 0),
                ("db-password", 0),
                ("des", 13),
                ("jane", 10)
            ]
        );
    }

    #[test]
    fn shared_is_its_kind_and_key() {
        let o = Shared::from(service("a", "web"));
        assert!(o.is(Kind::Service, &o.key()));
        assert!(!o.is(Kind::Ingress, &o.key()));
        assert!(!o.is(Kind::Service, &ObjectKey::new("a", "api")));
        assert!(!o.is(Kind::Service, &ObjectKey::new("b", "web")));
        let unnamed = Shared::from(Object::Service(Service::default()));
        assert!(unnamed.is(Kind::Service, &ObjectKey::new("default", "")));
        let class = Shared::from(Object::IngressClass(IngressClass {
            metadata: ObjectMeta {
                name: Some("c".into()),
                namespace: Some("ignored".into()),
                ..Default::default()
            },
            ..Default::default()
        }));
        assert_eq!(class.key(), ObjectKey::new("", "c"));
        assert!(class.is(Kind::IngressClass, &ObjectKey::new("", "c")));
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
