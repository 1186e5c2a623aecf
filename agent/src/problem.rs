//! Problems: what is wrong with one object (or one manifest file), named precisely enough to
//! fix it. A problem never stops the other objects from being served.

use std::fmt;

use serde::Serialize;

/// What kind of thing a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ProblemKind {
    /// A manifest file that does not parse.
    ManifestFile,
    /// An Ingress that is invalid or points at something missing.
    Ingress,
    /// A Service.
    Service,
    /// An EndpointSlice.
    EndpointSlice,
    /// An IngressClass.
    IngressClass,
    /// A Secret.
    Secret,
    /// HAProxy refused a configuration or command.
    Haproxy,
    /// The global ConfigMap (`--configmap`).
    ConfigMap,
    /// A Gateway API GatewayClass.
    GatewayClass,
    /// A Gateway API Gateway.
    Gateway,
    /// A Gateway API HTTPRoute.
    HttpRoute,
    /// A Gateway API ReferenceGrant.
    ReferenceGrant,
    /// A Namespace (read for Gateway listeners' namespace selectors).
    Namespace,
    /// An API group the cluster does not serve (the Gateway API's CRDs not installed).
    ApiGroup,
    /// The API server: a watch whose requests fail (the object is the resource watched).
    ApiServer,
}

impl ProblemKind {
    /// A stable lower-case label (metrics, logs).
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::ManifestFile => "manifest_file",
            ProblemKind::Ingress => "ingress",
            ProblemKind::Service => "service",
            ProblemKind::EndpointSlice => "endpointslice",
            ProblemKind::IngressClass => "ingressclass",
            ProblemKind::Secret => "secret",
            ProblemKind::Haproxy => "haproxy",
            ProblemKind::ConfigMap => "configmap",
            ProblemKind::GatewayClass => "gatewayclass",
            ProblemKind::Gateway => "gateway",
            ProblemKind::HttpRoute => "httproute",
            ProblemKind::ReferenceGrant => "referencegrant",
            ProblemKind::Namespace => "namespace",
            ProblemKind::ApiGroup => "api_group",
            ProblemKind::ApiServer => "api_server",
        }
    }

    /// The problem kind of an object of this kind.
    pub fn of(kind: crate::store::Kind) -> Self {
        use crate::store::Kind;
        match kind {
            Kind::Ingress => ProblemKind::Ingress,
            Kind::IngressClass => ProblemKind::IngressClass,
            Kind::Service => ProblemKind::Service,
            Kind::EndpointSlice => ProblemKind::EndpointSlice,
            Kind::Secret => ProblemKind::Secret,
            Kind::ConfigMap => ProblemKind::ConfigMap,
            Kind::GatewayClass => ProblemKind::GatewayClass,
            Kind::Gateway => ProblemKind::Gateway,
            Kind::HttpRoute => ProblemKind::HttpRoute,
            Kind::ReferenceGrant => ProblemKind::ReferenceGrant,
            Kind::Namespace => ProblemKind::Namespace,
        }
    }
}

/// What is wrong, for the annotations that are named as a class (`problems{reason}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemReason {
    /// A value or reference that is wrong (the default).
    #[default]
    Invalid,
    /// An annotation with a value that cannot be used, or shadowed by another prefix.
    InvalidAnnotation,
    /// An annotation the agent recognises but does not act on.
    UnsupportedAnnotation,
    /// An annotation the agent never renders, on purpose (snippets).
    RefusedAnnotation,
    /// A ConfigMap key that neither ingress-nginx nor the agent has.
    UnknownKey,
    /// A ConfigMap key of ingress-nginx's that the agent does not act on.
    UnsupportedKey,
    /// A ConfigMap key taken with a difference from ingress-nginx (named).
    Differs,
    /// A served certificate that has expired or expires within 7 days.
    CertificateExpiry,
    /// Something the cluster does not serve (an API group whose CRDs are not installed).
    NotServed,
    /// An object the API server sent that does not decode (a field of the wrong type).
    Malformed,
    /// Requests to the API server for a resource fail (its watch retries with backoff).
    Unavailable,
}

impl ProblemReason {
    /// A stable lower-case label (metrics, logs).
    pub fn label(self) -> &'static str {
        match self {
            ProblemReason::Invalid => "invalid",
            ProblemReason::InvalidAnnotation => "invalid_annotation",
            ProblemReason::UnsupportedAnnotation => "unsupported_annotation",
            ProblemReason::RefusedAnnotation => "refused_annotation",
            ProblemReason::UnknownKey => "unknown_key",
            ProblemReason::UnsupportedKey => "unsupported_key",
            ProblemReason::Differs => "differs",
            ProblemReason::CertificateExpiry => "certificate_expiry",
            ProblemReason::NotServed => "not_served",
            ProblemReason::Malformed => "malformed",
            ProblemReason::Unavailable => "unavailable",
        }
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Problem {
    /// What kind of object.
    pub kind: ProblemKind,
    /// What class of problem.
    pub reason: ProblemReason,
    /// Which object: `namespace/name`, a cluster-scoped name, or a file path (with `:line`).
    pub object: String,
    /// Which field, when one is to blame (`spec.rules[0].http.paths[1].path`).
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

impl Problem {
    /// A problem about `object`.
    pub fn new(kind: ProblemKind, object: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            reason: ProblemReason::Invalid,
            object: object.into(),
            field: None,
            message: message.into(),
        }
    }

    /// The same problem, of a named class.
    pub fn because(mut self, reason: ProblemReason) -> Self {
        self.reason = reason;
        self
    }

    /// The same problem, blaming a field.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.label(), self.object)?;
        if let Some(field) = &self.field {
            write!(f, " field {field}")?;
        }
        if self.reason != ProblemReason::Invalid {
            write!(f, ": {}", self.reason.label())?;
        }
        write!(f, ": {}", self.message)
    }
}
