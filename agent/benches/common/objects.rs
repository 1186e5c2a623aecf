//! The agent's objects for the benchmarks and the soak (the `soak` crate includes this file
//! too): `store::Object`s built with `integration::fixtures` in namespace [`NS`], as one
//! manifest file ([`to_yaml`]), and translation settings like `run`'s ([`settings`]).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use haproxy_agent::store::{Object, with_type_meta};
use haproxy_agent::translate::Settings;
use integration::fixtures;

pub use integration::fixtures::{EpState, Rule, write_atomic};

/// The namespace of every benchmark and soak object.
pub const NS: &str = "bench";

/// Service `name` with one unnamed port `port` -> `target`.
pub fn service(name: &str, port: i32, target: i32) -> Object {
    Object::Service(fixtures::service(NS, name, port, target))
}

/// Ingress `name` of class `haproxy`: one rule for `host` (any host when `None`) with
/// `paths`, all `Prefix`.
pub fn ingress(name: &str, host: Option<&str>, paths: &[Rule<'_>]) -> Object {
    Object::Ingress(fixtures::ingress(NS, name, host, paths))
}

/// A `kubernetes.io/tls` Secret `name` holding `cert`'s certificate and key.
pub fn tls_secret(name: &str, cert: &integration::tls::TestCert) -> Object {
    Object::Secret(fixtures::tls_secret(NS, name, cert))
}

/// `ingress` with `spec.tls` for `hosts` from Secret `secret`.
pub fn with_tls(ingress: Object, hosts: &[&str], secret: &str) -> Object {
    match ingress {
        Object::Ingress(i) => Object::Ingress(fixtures::with_tls(i, hosts, secret)),
        other => other,
    }
}

/// EndpointSlice `name` of Service `service`, port `port`, with `endpoints`.
pub fn slice(name: &str, service: &str, port: i32, endpoints: &[(IpAddr, EpState)]) -> Object {
    Object::EndpointSlice(fixtures::slice(NS, name, service, port, endpoints))
}

/// The objects as one multi-document manifest file.
pub fn to_yaml(objects: &[Object]) -> anyhow::Result<String> {
    let mut docs = Vec::with_capacity(objects.len());
    for o in objects {
        docs.push(match o {
            Object::Ingress(x) => serde_yaml_ng::to_string(x)?,
            Object::IngressClass(x) => serde_yaml_ng::to_string(x)?,
            Object::Service(x) => serde_yaml_ng::to_string(x)?,
            Object::EndpointSlice(x) => serde_yaml_ng::to_string(x)?,
            Object::Secret(x) => serde_yaml_ng::to_string(x)?,
            Object::ConfigMap(x) => serde_yaml_ng::to_string(x)?,
            Object::GatewayClass(x) => serde_yaml_ng::to_string(&with_type_meta(x))?,
            Object::Gateway(x) => serde_yaml_ng::to_string(&with_type_meta(x))?,
            Object::HttpRoute(x) => serde_yaml_ng::to_string(&with_type_meta(x))?,
            Object::ReferenceGrant(x) => serde_yaml_ng::to_string(&with_type_meta(x))?,
            Object::Namespace(x) => serde_yaml_ng::to_string(x)?,
        });
    }
    Ok(docs.join("---\n"))
}

/// Settings like `run`'s, on a free loopback port, with everything under `dir`.
pub fn settings(dir: &Path) -> Settings {
    Settings {
        ingress_class: "haproxy".into(),
        default_backend_service: None,
        watch_namespace: None,
        http_bind: SocketAddr::from(([127, 0, 0, 1], integration::free_port())),
        config_dir: dir.join("etc"),
        runtime_socket: dir.join("run/admin.sock"),
        hard_stop_after: Duration::from_secs(5),
        https_bind: SocketAddr::from(([127, 0, 0, 1], 1)),
        default_cert: haproxy_agent::certs::self_signed("default").unwrap().into(),
        default_ssl_certificate: None,
        trusted_proxies: Vec::new(),
        configmap: None,
        use_proxy_protocol: false,
        // No access log: the figures stay comparable with earlier runs.
        access_log: None,
        tcp_services: None,
        tcp_bind: None,
        gateway_controller_name: haproxy_agent::translate::gateway::DEFAULT_CONTROLLER.to_string(),
        gateway_address_pool: Vec::new(),
        udp_services: None,
        ssl_passthrough: false,
        agent_listen: Vec::new(),
    }
}
