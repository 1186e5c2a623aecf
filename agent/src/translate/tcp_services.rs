//! TCP services (`--tcp-services-configmap`): ingress-nginx's ConfigMap of
//! `"<port>": "<namespace>/<service>:<service port>[:PROXY][:PROXY]"`, each entry a `mode tcp`
//! frontend on that port and a `mode tcp` backend of the Service port's endpoints.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use haproxy::config::{Backend, SendProxy, TcpService, tcp_backend_name};
use k8s_openapi::api::networking::v1::ServiceBackendPort;

use super::Settings;
use super::annotations::BackendOptions;
use super::endpoints;
use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot};

/// The TCP services of the ConfigMap: frontends by port, their backends, and a problem for
/// each entry left out (the others keep working).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TcpPart {
    /// The services by port.
    pub services: BTreeMap<u16, TcpService>,
    /// Their backends, one per service.
    pub backends: Vec<Backend>,
    /// What is wrong, entry by entry.
    pub problems: Vec<Problem>,
}

/// One entry's value, parsed.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    namespace: String,
    service: String,
    port: ServiceBackendPort,
    /// The first `PROXY`: accept the PROXY protocol from clients.
    decode: bool,
    /// The second `PROXY`: send it to the servers.
    encode: bool,
}

/// Reads `--tcp-services-configmap` from the snapshot (nothing when the flag is absent).
pub fn read(snapshot: &Snapshot, settings: &Settings) -> TcpPart {
    let Some(key) = &settings.tcp_services else {
        return TcpPart::default();
    };
    let mut part = TcpPart::default();
    let Some(cm) = snapshot.config_maps.get(key) else {
        part.problems.push(problem(
            key,
            None,
            "--tcp-services-configmap: the ConfigMap does not exist; no TCP service is served"
                .into(),
        ));
        return part;
    };
    for (name, value) in cm.data.iter().flatten() {
        match entry(snapshot, settings, name, value) {
            Ok((service, backend, skipped)) => {
                part.problems.extend(skipped);
                part.services.insert(service.bind.port(), service);
                part.backends.push(backend);
            }
            Err(why) => part.problems.push(problem(
                key,
                Some(name),
                format!("{why}; this TCP service is not served"),
            )),
        }
    }
    part
}

fn problem(key: &ObjectKey, entry: Option<&str>, message: String) -> Problem {
    let p = Problem::new(ProblemKind::ConfigMap, key.to_string(), message);
    match entry {
        Some(e) => p.at(format!("data[{e}]")),
        None => p,
    }
}

type Entry = (TcpService, Backend, Vec<Problem>);

/// Why an entry of the TCP services ConfigMap is left out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum EntryError {
    /// The key is not a port number.
    #[error("the key {0:?} is not a port number from 1 to 65535")]
    NotAPort(String),
    /// The port is an HTTP(S) bind's.
    #[error("port {port} is the HTTP(S) bind's ({flag} {bind})")]
    HttpBind {
        port: u16,
        flag: &'static str,
        bind: SocketAddr,
    },
    /// The port is one the agent listens on.
    #[error("port {port} is the agent's own ({flag} {bind}: health and metrics)")]
    AgentPort {
        port: u16,
        flag: &'static str,
        bind: SocketAddr,
    },
    /// The value has too few or too many `:` fields.
    #[error("the value {0:?} is not <namespace>/<service>:<port>[:PROXY][:PROXY]")]
    NotATarget(String),
    /// The first field has no `/`.
    #[error("the target {0:?} is not <namespace>/<service>")]
    NotAService(String),
    /// A PROXY field holding something else.
    #[error(
        "field {} of {value:?} is {field:?}, not PROXY{}",
        index + 1,
        if *empty_ok { " or empty" } else { "" }
    )]
    NotProxy {
        value: String,
        index: usize,
        field: String,
        empty_ok: bool,
    },
    /// The Service port does not resolve.
    #[error(transparent)]
    Resolve(#[from] endpoints::ResolveError),
}

/// One entry: its service and backend, or why it is left out.
fn entry(
    snapshot: &Snapshot,
    settings: &Settings,
    name: &str,
    value: &str,
) -> Result<Entry, EntryError> {
    let port = external_port(name, settings)?;
    let target = parse_target(value)?;
    let resolved = endpoints::resolve(snapshot, &target.namespace, &target.service, &target.port)?;
    let skipped = resolved
        .skipped
        .iter()
        .map(|s| {
            Problem::new(
                ProblemKind::EndpointSlice,
                s.slice.to_string(),
                s.message.clone(),
            )
            .at(s.field.clone())
        })
        .collect();
    let send_proxy = target.encode.then_some(SendProxy::V1);
    let backend = pod_backend(&resolved, tcp_backend_name(port), send_proxy);
    let bind = SocketAddr::new(settings.tcp_bind_ip(), port);
    Ok((TcpService::new(bind, target.decode), backend, skipped))
}

/// A `mode tcp` backend `name` of a Service port's pods, sending the PROXY protocol when
/// asked: bytes go to the pods as they came (no HTTP protocol or TLS from appProtocol).
pub(super) fn pod_backend(
    resolved: &endpoints::ResolvedService,
    name: haproxy::BackendName,
    send_proxy: Option<SendProxy>,
) -> Backend {
    let mut backend = super::backend::backend_of(resolved, &BackendOptions::default());
    backend.protocol = Default::default();
    backend.files.clear();
    backend.name = name;
    backend.tcp = true;
    backend.send_proxy = send_proxy;
    backend
}

/// The key: a port from 1 to 65535 that no HTTP bind uses.
fn external_port(name: &str, settings: &Settings) -> Result<u16, EntryError> {
    let port = port_key(name).ok_or_else(|| EntryError::NotAPort(name.to_string()))?;
    for (bind, flag) in [
        (settings.http_bind, "--http-bind"),
        (settings.https_bind, "--https-bind"),
    ] {
        if bind.port() == port {
            return Err(EntryError::HttpBind { port, flag, bind });
        }
    }
    if let Some(&(bind, flag)) = settings.agent_listen.iter().find(|(b, _)| b.port() == port) {
        return Err(EntryError::AgentPort { port, flag, bind });
    }
    Ok(port)
}

/// The port an entry's key names: 1 to 65535 in decimal digits, no leading zero.
pub(super) fn port_key(name: &str) -> Option<u16> {
    name.parse::<u16>()
        .ok()
        .filter(|p| *p > 0 && name.bytes().all(|b| b.is_ascii_digit()) && !name.starts_with('0'))
}

/// `<namespace>/<service>:<port>[:PROXY|:][:PROXY]`, as ingress-nginx reads it (`PROXY` in
/// any case; an empty third field leaves decoding off).
fn parse_target(value: &str) -> Result<Target, EntryError> {
    let fields: Vec<&str> = value.split(':').collect();
    if fields.len() < 2 || fields.len() > 4 {
        return Err(EntryError::NotATarget(value.to_string()));
    }
    let (namespace, service) = fields[0]
        .split_once('/')
        .ok_or_else(|| EntryError::NotAService(fields[0].to_string()))?;
    let port = match fields[1].parse::<i32>() {
        Ok(n) if fields[1].bytes().all(|b| b.is_ascii_digit()) => ServiceBackendPort {
            number: Some(n),
            name: None,
        },
        _ => ServiceBackendPort {
            number: None,
            name: Some(fields[1].to_string()),
        },
    };
    let proxy = |index: usize, empty_ok: bool| match fields.get(index) {
        None => Ok(false),
        Some(f) if f.eq_ignore_ascii_case("PROXY") => Ok(true),
        Some(f) if f.is_empty() && empty_ok => Ok(false),
        Some(f) => Err(EntryError::NotProxy {
            value: value.to_string(),
            index,
            field: f.to_string(),
            empty_ok,
        }),
    };
    Ok(Target {
        namespace: namespace.to_string(),
        service: service.to_string(),
        port,
        decode: proxy(2, true)?,
        encode: proxy(3, false)?,
    })
}

#[cfg(test)]
mod tests;

/// Puts `part` into `config` (backends and frontends), noting in `changed` what differs;
/// returns its problems. The config is copied only when something differs.
pub fn patch(
    config: &mut std::sync::Arc<haproxy::config::Config>,
    part: TcpPart,
    changed: &mut super::Changed,
) -> Vec<Problem> {
    use std::collections::BTreeSet;
    let mut want: BTreeMap<_, _> = part
        .backends
        .into_iter()
        .map(|b| (b.name.clone(), b))
        .collect();
    let names: BTreeSet<_> = config
        .tcp_services
        .values()
        .map(|s| s.backend.clone())
        .chain(want.keys().cloned())
        .collect();
    for name in names {
        let desired = want.remove(&name);
        if config.backends.get(&name) == desired.as_ref() {
            continue;
        }
        let c = std::sync::Arc::make_mut(config);
        match desired {
            Some(b) => c.insert_backend(b),
            None => drop(c.backends.remove(&name)),
        }
        changed.backends.insert(name);
    }
    if config.tcp_services != part.services {
        // A frontend: the plan compares the head and reloads (`tcp_services`).
        std::sync::Arc::make_mut(config).tcp_services = part.services;
        changed.routes = true;
    }
    part.problems
}
