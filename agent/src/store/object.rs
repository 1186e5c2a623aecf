//! What the store holds: object keys and kinds, the objects as sources give them
//! ([`Object`]) and as the store keeps them ([`Shared`], stripped to what is read).

use std::sync::Arc;

use compact_str::CompactString;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::gateway_api::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};

use super::{SERVICE_NAME_LABEL, Slice, StoredIngress, StoredService, namespace};

/// `namespace/name` of an object (`namespace` empty for cluster-scoped kinds). Each name is
/// kept inline up to 24 bytes (`CompactString`): a key is copied into the store's maps, the
/// manifests source's index and translation's memo (~150,000 live at 10,000 Services), and
/// two heap strings each cost two allocations per copy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: CompactString,
    /// Name.
    pub name: CompactString,
}

impl ObjectKey {
    /// A key.
    pub fn new(namespace: impl Into<CompactString>, name: impl Into<CompactString>) -> Self {
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
