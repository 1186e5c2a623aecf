//! Kubernetes objects for the tests, the benchmarks and the soak, in one place: typed
//! (k8s-openapi Services, EndpointSlices, Ingresses, TLS Secrets, in the namespace given) and
//! as manifest text ([`manifest`], namespace `default`); and writing a manifest file the way
//! an editor does ([`write_atomic`]).

pub mod manifest;

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{
    Endpoint as SliceEndpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::tls::TestCert;

/// The label naming an EndpointSlice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Metadata naming `ns`/`name`.
pub fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        ..Default::default()
    }
}

/// Service `ns`/`name` with one unnamed port `port` -> `target`.
pub fn service(ns: &str, name: &str, port: i32, target: i32) -> Service {
    Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                port,
                target_port: Some(IntOrString::Int(target)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One Ingress path: `path` (Prefix) -> Service `service` port `port`.
#[derive(Debug, Clone, Copy)]
pub struct Rule<'a> {
    /// The path.
    pub path: &'a str,
    /// The Service.
    pub service: &'a str,
    /// Its port number.
    pub port: i32,
}

/// Ingress `ns`/`name` of class `haproxy`: one rule for `host` (any host when `None`) with
/// `paths`, all `Prefix`.
pub fn ingress(ns: &str, name: &str, host: Option<&str>, paths: &[Rule<'_>]) -> Ingress {
    let paths = paths
        .iter()
        .map(|p| HTTPIngressPath {
            path: Some(p.path.to_string()),
            path_type: "Prefix".to_string(),
            backend: IngressBackend {
                service: Some(IngressServiceBackend {
                    name: p.service.to_string(),
                    port: Some(ServiceBackendPort {
                        number: Some(p.port),
                        name: None,
                    }),
                }),
                resource: None,
            },
        })
        .collect();
    Ingress {
        metadata: meta(ns, name),
        spec: Some(IngressSpec {
            ingress_class_name: Some("haproxy".to_string()),
            rules: Some(vec![IngressRule {
                host: host.map(str::to_string),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `ingress` with `spec.tls` for `hosts` from Secret `secret`.
pub fn with_tls(mut ingress: Ingress, hosts: &[&str], secret: &str) -> Ingress {
    if let Some(spec) = ingress.spec.as_mut() {
        spec.tls = Some(vec![IngressTLS {
            hosts: Some(hosts.iter().map(|h| h.to_string()).collect()),
            secret_name: Some(secret.to_string()),
        }]);
    }
    ingress
}

/// A `kubernetes.io/tls` Secret `ns`/`name` holding `cert`'s certificate and key.
pub fn tls_secret(ns: &str, name: &str, cert: &TestCert) -> Secret {
    let bytes = |s: String| k8s_openapi::ByteString(s.into_bytes());
    Secret {
        metadata: meta(ns, name),
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(
            [
                ("tls.crt".to_string(), bytes(cert.cert_pem())),
                ("tls.key".to_string(), bytes(cert.key_pem())),
            ]
            .into(),
        ),
        ..Default::default()
    }
}

/// An endpoint's conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpState {
    /// Ready.
    Ready,
    /// Terminating but still serving (ready: false, serving: true, terminating: true).
    Terminating,
}

impl EpState {
    /// The conditions Kubernetes gives an endpoint in this state.
    pub fn conditions(self) -> EndpointConditions {
        let ready = self == EpState::Ready;
        EndpointConditions {
            ready: Some(ready),
            serving: Some(true),
            terminating: Some(!ready),
        }
    }
}

/// EndpointSlice `ns`/`name` of Service `service`, port `port`, one endpoint per address.
pub fn slice(
    ns: &str,
    name: &str,
    service: &str,
    port: i32,
    endpoints: &[(IpAddr, EpState)],
) -> EndpointSlice {
    let endpoints = endpoints
        .iter()
        .map(|(ip, state)| SliceEndpoint {
            addresses: vec![ip.to_string()],
            conditions: Some(state.conditions()),
            ..Default::default()
        })
        .collect();
    let mut m = meta(ns, name);
    m.labels = Some([(SERVICE_NAME_LABEL.to_string(), service.to_string())].into());
    EndpointSlice {
        metadata: m,
        address_type: "IPv4".to_string(),
        ports: Some(vec![EndpointPort {
            port: Some(port),
            ..Default::default()
        }]),
        endpoints,
    }
}

/// Writes a file atomically (a temp name the manifests source ignores, then a rename).
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminating_endpoint_serves_but_is_not_ready() {
        let c = EpState::Terminating.conditions();
        assert_eq!(
            (c.ready, c.serving, c.terminating),
            (Some(false), Some(true), Some(true))
        );
        let c = EpState::Ready.conditions();
        assert_eq!(
            (c.ready, c.serving, c.terminating),
            (Some(true), Some(true), Some(false))
        );
    }

    #[test]
    fn a_slice_names_its_service_and_port() {
        let s = slice(
            "ns",
            "web-1",
            "web",
            8080,
            &[([10, 0, 0, 1].into(), EpState::Ready)],
        );
        let labels = s.metadata.labels.unwrap();
        assert_eq!(labels[SERVICE_NAME_LABEL], "web");
        assert_eq!(s.ports.unwrap()[0].port, Some(8080));
        assert_eq!(s.endpoints[0].addresses, ["10.0.0.1"]);
    }
}
