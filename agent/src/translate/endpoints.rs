//! From an Ingress backend (Service + port) to HAProxy servers: Service port by number or
//! name, its EndpointSlices (label `kubernetes.io/service-name`) and their port of the same
//! name, pod addresses with their conditions. Pure: reads a snapshot, returns values.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use haproxy::config::ServerAddr;
use haproxy::{BackendName, ServerName};
use k8s_openapi::api::networking::v1::ServiceBackendPort;

use super::annotations::is_dns_label;
use super::annotations::upstream::Proto;
use crate::store::{ObjectKey, ServicePort, Slice, Snapshot};

pub use crate::store::SERVICE_NAME_LABEL;

/// Whether an endpoint takes new traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointState {
    /// Ready: takes traffic.
    Ready,
    /// Terminating but still serving: finishes what it has, takes nothing new.
    Drain,
}

/// One pod address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResolvedEndpoint {
    /// Pod IP and target port.
    pub addr: SocketAddr,
    /// Ready or draining.
    pub state: EndpointState,
}

impl ResolvedEndpoint {
    /// The server's stable name: a function of address and port only, so neither an agent
    /// restart nor a reload renames it.
    pub fn server_name(&self) -> ServerName {
        ServerName::new(format!("{}:{}", self.addr.ip(), self.addr.port()))
            .expect("an IP address and a port make a valid server name")
    }
}

/// A Service port resolved to its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedService {
    /// `<namespace>_<service>_<port>`.
    pub backend: BackendName,
    /// Endpoints sorted by address, each once.
    pub endpoints: Vec<ResolvedEndpoint>,
    /// Endpoints left out, and why (an FQDN address, an unparsable IP).
    pub skipped: Vec<Skipped>,
    /// The protocol the Service port's `appProtocol` names, when it names one honoured
    /// here (backend-protocol wins over it).
    pub app_protocol: Option<Proto>,
    /// An `appProtocol` that is not honoured: (field, why).
    pub app_protocol_problem: Option<(String, String)>,
}

/// Part of an EndpointSlice left out of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The EndpointSlice.
    pub slice: ObjectKey,
    /// The field to blame (`addressType`, `ports[0].port`, `endpoints[1].addresses[0]`).
    pub field: String,
    /// Why.
    pub message: String,
}

/// A port name as Kubernetes allows it (IANA_SVC_NAME): 1 to 15 lower-case letters, digits
/// and `-`, at least one letter, no `-` at either end and no `--`. So a name is never a
/// number (`80` would read as the port 80 in a backend name) and never holds `_`.
fn is_port_name(s: &str) -> bool {
    s.len() <= 15
        && is_dns_label(s)
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.contains("--")
}

/// Why a Service port cannot be resolved to a backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A port number outside 1-65535.
    #[error("port {0} is out of range 1-65535")]
    PortOutOfRange(i32),
    /// A port name Kubernetes would refuse.
    #[error(
        "port name {0:?} is not a Kubernetes port name (1 to 15 lower-case letters, digits \
         and -, with a letter)"
    )]
    BadPortName(String),
    /// Neither a number nor a name.
    #[error("the backend names neither a port number nor a port name")]
    NoPort,
    /// A namespace Kubernetes would refuse.
    #[error(
        "namespace {0:?} is not a Kubernetes namespace name (at most 63 lower-case letters, \
         digits and -)"
    )]
    BadNamespace(String),
    /// A Service name Kubernetes would refuse.
    #[error(
        "service name {0:?} is not a Kubernetes Service name (at most 63 lower-case letters, \
         digits and -)"
    )]
    BadServiceName(String),
    /// The backend name HAProxy refuses.
    #[error(transparent)]
    BackendName(#[from] haproxy::InvalidName),
    /// No such Service.
    #[error("service {0} does not exist")]
    NoService(ObjectKey),
    /// A Service without a spec.
    #[error("service {0} has no spec")]
    NoSpec(ObjectKey),
    /// An ExternalName Service.
    #[error("service {0} is of type ExternalName, which has no endpoints to route to")]
    ExternalName(ObjectKey),
    /// The Service has no such port (by number, else by name).
    #[error("service {0} has no port {1}")]
    NoSuchPort(ObjectKey, String),
    /// The Service has no port at all (`--default-backend-service` takes its first).
    #[error("service {0} has no port")]
    NoPorts(ObjectKey),
    /// The Service's port is outside 1-65535.
    #[error("service {0} port {1} is out of range 1-65535")]
    ServicePortOutOfRange(ObjectKey, i32),
}

fn port_label(port: &ServiceBackendPort) -> Result<String, ResolveError> {
    match (&port.number, &port.name) {
        (Some(n), _) if (1..=65535).contains(n) => Ok(n.to_string()),
        (Some(n), _) => Err(ResolveError::PortOutOfRange(*n)),
        (None, Some(name)) if is_port_name(name) => Ok(name.clone()),
        (None, Some(name)) if !name.is_empty() => Err(ResolveError::BadPortName(name.clone())),
        _ => Err(ResolveError::NoPort),
    }
}

fn find_port<'a>(ports: &'a [ServicePort], want: &ServiceBackendPort) -> Option<&'a ServicePort> {
    match (&want.number, &want.name) {
        (Some(n), _) => ports.iter().find(|p| p.port == *n),
        (None, Some(name)) => ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str())),
        _ => None,
    }
}

/// The backend name of a Service port: `<namespace>_<service>_<port>`. Kubernetes names
/// hold no `_`, so it is unambiguous; names Kubernetes would refuse (a manifest is not
/// checked by an API server) are refused here, which also bounds the name's length (a
/// canary backend adds `_canary_<service>` to it).
pub fn backend_name(
    namespace: &str,
    service: &str,
    port: &ServiceBackendPort,
) -> Result<BackendName, ResolveError> {
    if !is_dns_label(namespace) {
        return Err(ResolveError::BadNamespace(namespace.to_string()));
    }
    if !is_dns_label(service) {
        return Err(ResolveError::BadServiceName(service.to_string()));
    }
    let label = port_label(port)?;
    Ok(BackendName::new(format!("{namespace}_{service}_{label}"))?)
}

/// Resolves `service` in `namespace` at `port` to its endpoints.
pub fn resolve(
    snapshot: &Snapshot,
    namespace: &str,
    service: &str,
    port: &ServiceBackendPort,
) -> Result<ResolvedService, ResolveError> {
    let backend = backend_name(namespace, service, port)?;
    let key = ObjectKey::new(namespace, service);
    let Some(svc) = snapshot.services.get(&key) else {
        return Err(ResolveError::NoService(key));
    };
    let Some(spec) = svc.spec.as_ref() else {
        return Err(ResolveError::NoSpec(key));
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Err(ResolveError::ExternalName(key));
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    let Some(svc_port) = find_port(ports, port) else {
        let label = port_label(port).unwrap_or_default();
        return Err(ResolveError::NoSuchPort(key, label));
    };
    if !(1..=65535).contains(&svc_port.port) {
        return Err(ResolveError::ServicePortOutOfRange(key, svc_port.port));
    }
    let mut found: BTreeMap<SocketAddr, EndpointState> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (slice_key, slice) in snapshot.slices_of(namespace, service) {
        let mut skip = |field: String, message: String| {
            skipped.push(Skipped {
                slice: slice_key.clone(),
                field,
                message: format!("{message}; left out of service {key}"),
            })
        };
        slice_endpoints(slice, svc_port.name.as_deref(), &mut found, &mut skip);
    }
    let (app_protocol, app_protocol_problem) =
        match Proto::of_app_protocol(svc_port.app_protocol.as_deref()) {
            Ok(p) => (p, None),
            Err(why) => {
                let at = ports
                    .iter()
                    .position(|p| std::ptr::eq(p, svc_port))
                    .unwrap_or(0);
                let field = format!("spec.ports[{at}].appProtocol");
                (None, Some((field, why.to_string())))
            }
        };
    Ok(ResolvedService {
        app_protocol,
        app_protocol_problem,
        backend,
        endpoints: found
            .into_iter()
            .map(|(addr, state)| ResolvedEndpoint { addr, state })
            .collect(),
        skipped,
    })
}

/// The endpoints `slice` gives for the Service port named `port_name` (`None`: the
/// unnamed one), into `found`; what it holds that cannot be a server goes to `skip`
/// (field, why).
fn slice_endpoints(
    slice: &Slice,
    port_name: Option<&str>,
    found: &mut BTreeMap<SocketAddr, EndpointState>,
    skip: &mut dyn FnMut(String, String),
) {
    if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
        skip(
            "addressType".into(),
            format!("address type {:?} is not IPv4 or IPv6", slice.address_type),
        );
        return;
    }
    let Some((port_index, target)) = slice
        .ports
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .find(|(_, p)| p.name.as_deref().unwrap_or("") == port_name.unwrap_or(""))
    else {
        return;
    };
    let Some(target_port) = target
        .port
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
    else {
        skip(
            format!("ports[{port_index}].port"),
            format!("port {:?} is not a port number 1-65535", target.port),
        );
        return;
    };
    for (i, ep) in slice.endpoints.iter().enumerate() {
        let c = ep.conditions.as_ref();
        let ready = c.and_then(|c| c.ready).unwrap_or(true);
        let serving = c.and_then(|c| c.serving).unwrap_or(ready);
        let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
        let state = if ready && !terminating {
            EndpointState::Ready
        } else if serving && terminating {
            EndpointState::Drain
        } else {
            continue;
        };
        for (j, a) in ep.addresses.iter().enumerate() {
            // Exactly what a server may hold: a unicast IP literal without a zone
            // (`999.1.1.1` would be a host name to HAProxy, `fe80::1%eth0` has a zone), not
            // a broadcast address or one mapped from it.
            let addr = a
                .parse::<IpAddr>()
                .ok()
                .and_then(|ip| ServerAddr::new(SocketAddr::new(ip, target_port)).ok());
            match addr {
                Some(addr) => {
                    let addr = addr.get();
                    // The same address in two slices (a pod moving between them): the ready
                    // view wins.
                    let e = found.entry(addr).or_insert(state);
                    *e = (*e).min(state);
                }
                None => skip(
                    format!("endpoints[{i}].addresses[{j}]"),
                    format!("address {a:?} is not a unicast IP address"),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Object, Store};
    use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
    use k8s_openapi::api::discovery::v1::{
        Endpoint, EndpointConditions, EndpointPort, EndpointSlice,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn meta(ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    fn service(name: &str, ports: &[(Option<&str>, i32, i32)]) -> Object {
        Object::Service(Service {
            metadata: meta("ns", name),
            spec: Some(ServiceSpec {
                ports: Some(
                    ports
                        .iter()
                        .map(|(n, p, t)| ServicePort {
                            name: n.map(str::to_string),
                            port: *p,
                            target_port: Some(IntOrString::Int(*t)),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    type Ep<'a> = (&'a str, Option<bool>, Option<bool>, Option<bool>);

    fn slice(name: &str, svc: &str, port_name: Option<&str>, port: i32, eps: &[Ep<'_>]) -> Object {
        let mut m = meta("ns", name);
        m.labels = Some([(SERVICE_NAME_LABEL.to_string(), svc.to_string())].into());
        Object::EndpointSlice(EndpointSlice {
            metadata: m,
            address_type: if eps.iter().any(|e| e.0.contains(':')) {
                "IPv6".into()
            } else {
                "IPv4".into()
            },
            ports: Some(vec![EndpointPort {
                name: port_name.map(str::to_string),
                port: Some(port),
                ..Default::default()
            }]),
            endpoints: eps
                .iter()
                .map(|(a, ready, serving, terminating)| Endpoint {
                    addresses: vec![a.to_string()],
                    conditions: Some(EndpointConditions {
                        ready: *ready,
                        serving: *serving,
                        terminating: *terminating,
                    }),
                    ..Default::default()
                })
                .collect(),
        })
    }

    fn by_number(n: i32) -> ServiceBackendPort {
        ServiceBackendPort {
            number: Some(n),
            name: None,
        }
    }

    fn by_name(n: &str) -> ServiceBackendPort {
        ServiceBackendPort {
            number: None,
            name: Some(n.into()),
        }
    }

    fn snapshot(objects: Vec<Object>) -> std::sync::Arc<Snapshot> {
        let store = Store::new();
        store.replace_all(objects);
        store.snapshot()
    }

    #[test]
    fn conditions_map_to_states() {
        let snap = snapshot(vec![
            service("web", &[(None, 80, 8080)]),
            slice(
                "web-1",
                "web",
                None,
                8080,
                &[
                    ("10.0.0.1", Some(true), None, None),
                    ("10.0.0.2", None, None, None),
                    ("10.0.0.3", Some(false), Some(true), Some(true)),
                    ("10.0.0.4", Some(false), Some(false), Some(true)),
                    ("10.0.0.5", Some(false), None, None),
                ],
            ),
            slice(
                "other",
                "api",
                None,
                9999,
                &[("10.9.9.9", Some(true), None, None)],
            ),
        ]);
        let r = resolve(&snap, "ns", "web", &by_number(80)).unwrap();
        assert_eq!(r.backend.as_str(), "ns_web_80");
        let got: Vec<(String, EndpointState)> = r
            .endpoints
            .iter()
            .map(|e| (e.addr.to_string(), e.state))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.0.0.1:8080".to_string(), EndpointState::Ready),
                ("10.0.0.2:8080".to_string(), EndpointState::Ready),
                ("10.0.0.3:8080".to_string(), EndpointState::Drain),
            ]
        );
        assert_eq!(r.endpoints[0].server_name().as_str(), "10.0.0.1:8080");
    }

    #[test]
    fn named_ports_follow_the_service_port_name() {
        let snap = snapshot(vec![
            service(
                "web",
                &[(Some("http"), 80, 8080), (Some("admin"), 81, 9000)],
            ),
            slice(
                "web-http",
                "web",
                Some("http"),
                8080,
                &[("10.0.0.1", Some(true), None, None)],
            ),
            slice(
                "web-admin",
                "web",
                Some("admin"),
                9000,
                &[("10.0.0.1", Some(true), None, None)],
            ),
        ]);
        let r = resolve(&snap, "ns", "web", &by_name("admin")).unwrap();
        assert_eq!(r.backend.as_str(), "ns_web_admin");
        assert_eq!(r.endpoints[0].addr.port(), 9000);
        let r = resolve(&snap, "ns", "web", &by_number(80)).unwrap();
        assert_eq!(r.endpoints[0].addr.port(), 8080);
    }

    #[test]
    fn failures_are_named() {
        let snap = snapshot(vec![service("web", &[(None, 80, 8080)])]);
        let table: Vec<(&str, ServiceBackendPort, &str)> = vec![
            (
                "missing",
                by_number(80),
                "service ns/missing does not exist",
            ),
            ("web", by_number(81), "service ns/web has no port 81"),
            ("web", by_number(70000), "port 70000 is out of range"),
            (
                "web",
                ServiceBackendPort::default(),
                "neither a port number nor a port name",
            ),
        ];
        for (svc, port, want) in table {
            let err = resolve(&snap, "ns", svc, &port).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn duplicates_and_bad_addresses() {
        let snap = snapshot(vec![
            service("web", &[(None, 80, 8080)]),
            slice(
                "a",
                "web",
                None,
                8080,
                &[("10.0.0.1", Some(false), Some(true), Some(true))],
            ),
            slice(
                "b",
                "web",
                None,
                8080,
                &[
                    ("10.0.0.1", Some(true), None, None),
                    ("not-an-ip", Some(true), None, None),
                ],
            ),
            slice(
                "c",
                "web",
                None,
                8080,
                &[("fd00::1", Some(true), None, None)],
            ),
        ]);
        let r = resolve(&snap, "ns", "web", &by_number(80)).unwrap();
        assert_eq!(r.endpoints.len(), 2);
        assert_eq!(r.endpoints[0].state, EndpointState::Ready);
        assert_eq!(r.endpoints[1].server_name().as_str(), "fd00::1:8080");
        assert_eq!(r.skipped.len(), 1);
    }
}
