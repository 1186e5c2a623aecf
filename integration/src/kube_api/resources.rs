//! The kinds the test API server serves and the URL paths they live under.

use super::table::{self, Column};

/// One kind of object the server stores, lists and watches.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Kind {
    /// `Service`, `EndpointSlice`, …
    pub kind: &'static str,
    /// The API group; empty for the core group.
    pub group: &'static str,
    /// The API version within the group.
    pub version: &'static str,
    /// The resource name in paths: `services`, `endpointslices`, …
    pub plural: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether it has a `status` subresource: then writes to the object keep the stored
    /// status, and writes to `…/status` change only the status.
    pub status: bool,
    /// Whether the server keeps `metadata.generation` (1 on creation, bumped by each write
    /// that changes anything but metadata and status), as it does for custom resources.
    pub generation: bool,
    /// What discovery offers kubectl besides the plural: `ing`, `svc`, …
    pub short_names: &'static [&'static str],
    /// The columns of table output after NAME and before AGE, as the real server prints
    /// them (see `table.rs`).
    pub columns: &'static [Column],
}

/// Every kind served. A kind is identified by its `plural`, unique in this table.
pub(crate) static KINDS: [Kind; 12] = [
    Kind {
        kind: "Ingress",
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingresses",
        namespaced: true,
        status: true,
        generation: false,
        short_names: &["ing"],
        columns: &table::INGRESS,
    },
    Kind {
        kind: "IngressClass",
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingressclasses",
        namespaced: false,
        status: false,
        generation: false,
        short_names: &[],
        columns: &table::INGRESS_CLASS,
    },
    Kind {
        kind: "Service",
        group: "",
        version: "v1",
        plural: "services",
        namespaced: true,
        status: true,
        generation: false,
        short_names: &["svc"],
        columns: &table::SERVICE,
    },
    Kind {
        kind: "EndpointSlice",
        group: "discovery.k8s.io",
        version: "v1",
        plural: "endpointslices",
        namespaced: true,
        status: false,
        generation: false,
        short_names: &[],
        columns: &table::ENDPOINT_SLICE,
    },
    Kind {
        kind: "Secret",
        group: "",
        version: "v1",
        plural: "secrets",
        namespaced: true,
        status: false,
        generation: false,
        short_names: &[],
        columns: &table::SECRET,
    },
    Kind {
        kind: "ConfigMap",
        group: "",
        version: "v1",
        plural: "configmaps",
        namespaced: true,
        status: false,
        generation: false,
        short_names: &["cm"],
        columns: &table::CONFIG_MAP,
    },
    Kind {
        kind: "Lease",
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        namespaced: true,
        status: false,
        generation: false,
        short_names: &[],
        columns: &table::LEASE,
    },
    Kind {
        kind: "GatewayClass",
        group: GATEWAY_GROUP,
        version: "v1",
        plural: "gatewayclasses",
        namespaced: false,
        status: true,
        generation: true,
        short_names: &["gc"],
        columns: &table::GATEWAY_CLASS,
    },
    Kind {
        kind: "Gateway",
        group: GATEWAY_GROUP,
        version: "v1",
        plural: "gateways",
        namespaced: true,
        status: true,
        generation: true,
        short_names: &["gtw"],
        columns: &table::GATEWAY,
    },
    Kind {
        kind: "HTTPRoute",
        group: GATEWAY_GROUP,
        version: "v1",
        plural: "httproutes",
        namespaced: true,
        status: true,
        generation: true,
        short_names: &[],
        columns: &table::HTTP_ROUTE,
    },
    Kind {
        kind: "ReferenceGrant",
        group: GATEWAY_GROUP,
        version: "v1beta1",
        plural: "referencegrants",
        namespaced: true,
        status: false,
        generation: true,
        short_names: &["refgrant"],
        columns: &[],
    },
    // Last: `/api/v1/namespaces/{ns}/{plural}` paths are tried first (a Namespace has no
    // `status` path here, which would read as a kind named `status`).
    Kind {
        kind: "Namespace",
        group: "",
        version: "v1",
        plural: "namespaces",
        namespaced: false,
        status: false,
        generation: false,
        short_names: &["ns"],
        columns: &table::NAMESPACE,
    },
];

/// The Gateway API's group, served as its CRDs define it (standard channel: GatewayClass,
/// Gateway and HTTPRoute at v1, ReferenceGrant at v1beta1).
pub(crate) const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

impl Kind {
    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kind of a list of these: `ServiceList`, …
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The resource as error messages name it: `services`, `leases.coordination.k8s.io`.
    pub fn resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The kind with this `apiVersion` and `kind`, as objects carry them.
    pub fn by_type(api_version: &str, kind: &str) -> Option<&'static Kind> {
        KINDS
            .iter()
            .find(|k| k.kind == kind && k.api_version() == api_version)
    }

    /// The kind named by its kind (`Service`) or plural (`services`), ignoring case.
    pub fn by_name(name: &str) -> Option<&'static Kind> {
        KINDS
            .iter()
            .find(|k| k.kind.eq_ignore_ascii_case(name) || k.plural.eq_ignore_ascii_case(name))
    }
}

/// What a request path addresses: a collection (all namespaces or one), one object, or one
/// object's `status` subresource.
#[derive(Debug)]
pub(crate) struct Target {
    pub kind: &'static Kind,
    /// `None`: every namespace (or a cluster-scoped kind).
    pub namespace: Option<String>,
    /// `Some`: one object rather than the collection.
    pub name: Option<String>,
    /// `true`: the object's `status` subresource (`…/{name}/status`).
    pub status: bool,
}

/// Parses `/api/v1/…` and `/apis/{group}/{version}/…` paths, with an optional `/status`
/// after an object of a kind that has that subresource; `None` for anything not served.
pub(crate) fn parse_path(path: &str) -> Option<Target> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (namespace, plural, name, status) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None, false),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), false),
        ["namespaces", ns, plural, name, "status"] => (Some(*ns), *plural, Some(*name), true),
        [plural] => (None, *plural, None, false),
        [plural, name] => (None, *plural, Some(*name), false),
        [plural, name, "status"] => (None, *plural, Some(*name), true),
        _ => return None,
    };
    let kind = KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)?;
    // A cluster-scoped kind has no namespaced paths; a namespaced object is only
    // addressable inside its namespace.
    if (namespace.is_some() && !kind.namespaced)
        || (kind.namespaced && namespace.is_none() && name.is_some())
        || (status && !kind.status)
    {
        return None;
    }
    Some(Target {
        kind,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse_path("/api/v1/services").unwrap();
        assert_eq!((t.kind.kind, t.namespace, t.name), ("Service", None, None));
        let t = parse_path("/api/v1/namespaces/ns1/secrets").unwrap();
        assert_eq!(t.kind.kind, "Secret");
        assert_eq!(t.namespace.as_deref(), Some("ns1"));
        let t = parse_path("/apis/discovery.k8s.io/v1/namespaces/a/endpointslices/x").unwrap();
        assert_eq!(
            (t.namespace.as_deref(), t.name.as_deref()),
            (Some("a"), Some("x"))
        );
        let t = parse_path("/apis/networking.k8s.io/v1/ingressclasses/haproxy").unwrap();
        assert_eq!(
            (t.kind.kind, t.name.as_deref()),
            ("IngressClass", Some("haproxy"))
        );
        let t = parse_path("/apis/networking.k8s.io/v1/namespaces/a/ingresses/x/status").unwrap();
        assert_eq!(
            (t.kind.kind, t.name.as_deref(), t.status),
            ("Ingress", Some("x"), true)
        );
        let t = parse_path("/apis/coordination.k8s.io/v1/namespaces/a/leases/l").unwrap();
        assert_eq!((t.kind.kind, t.status), ("Lease", false));
        let t = parse_path("/api/v1/namespaces").unwrap();
        assert_eq!(
            (t.kind.kind, t.namespace, t.name),
            ("Namespace", None, None)
        );
        let t = parse_path("/api/v1/namespaces/web").unwrap();
        assert_eq!((t.kind.kind, t.name.as_deref()), ("Namespace", Some("web")));
        for bad in [
            "/",
            "/apis/coordination.k8s.io/v1/namespaces/a/leases/l/status",
            "/apis/networking.k8s.io/v1/namespaces/a/ingresses/x/scale",
            "/apis/networking.k8s.io/v1/ingresses/x/status",
            "/api/v1",
            "/api/v2/services",
            "/apis/networking.k8s.io/v1/namespaces/a/ingressclasses",
            "/api/v1/services/x",
            "/api/v1/pods",
            "/api//v1/services",
            "/apis/discovery.k8s.io/v1beta1/endpointslices",
        ] {
            assert!(parse_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(
            Kind::by_type("networking.k8s.io/v1", "Ingress").map(|k| k.plural),
            Some("ingresses")
        );
        assert!(Kind::by_type("v1", "Ingress").is_none());
        assert_eq!(
            Kind::by_name("endpointslices").map(|k| k.kind),
            Some("EndpointSlice")
        );
        assert_eq!(
            Kind::by_name("Secret").map(Kind::api_version),
            Some("v1".into())
        );
        assert_eq!(
            Kind::by_name("leases").map(Kind::resource),
            Some("leases.coordination.k8s.io".into())
        );
    }
}
