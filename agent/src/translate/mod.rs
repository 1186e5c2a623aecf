//! Translation, pure: the objects of a store snapshot -> the HAProxy config model + the
//! problems found. No IO; table-tested without sockets.
//!
//! Precedence is deterministic: Ingresses are read oldest first (creation time, then
//! namespace/name), so when two claim the same host and path, or set different options on
//! one backend, the older one wins and the newer one gets a problem.

pub mod annotations;
pub mod canary;
pub mod class;
pub mod endpoints;
mod ingress;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use haproxy::FrontendName;
use haproxy::config::{
    Backend, Config, ConfigPath, DefaultBackend, Frontend, Global, Route, RouteMaps, Timeout,
    TlsBind, TlsCert, default_cert_path, route_maps,
};
use k8s_openapi::api::networking::v1::ServiceBackendPort;

use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot};

/// What translation needs from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--ingress-class`: the IngressClass name whose Ingresses are ours.
    pub ingress_class: String,
    /// `--default-backend-service`: where unmatched requests go when no Ingress says.
    pub default_backend_service: Option<ObjectKey>,
    /// `--watch-namespace`: only Ingresses of this namespace (all when `None`).
    pub watch_namespace: Option<String>,
    /// `--http-bind`: the HTTP frontend's address.
    pub http_bind: SocketAddr,
    /// `--config-dir`: where haproxy.cfg and the maps live.
    pub config_dir: PathBuf,
    /// `--runtime-socket`: the admin socket the config declares.
    pub runtime_socket: PathBuf,
    /// `hard-stop-after`: how long an old worker may finish its connections after a reload.
    pub hard_stop_after: std::time::Duration,
    /// `--https-bind`: the HTTPS address, bound only when some Ingress has TLS.
    pub https_bind: SocketAddr,
    /// The certificate for clients whose SNI matches no Ingress (generated at start-up).
    pub default_cert: TlsCert,
    /// `--default-ssl-certificate`: a TLS Secret that replaces the generated default.
    pub default_ssl_certificate: Option<ObjectKey>,
}

/// The result of a translation.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The desired HAProxy configuration.
    pub config: Config,
    /// Everything that was left out, and why.
    pub problems: Vec<Problem>,
    /// The certificates in use: pass them to the next [`translate_with`], so that a host
    /// whose Secret turns bad keeps its certificate.
    pub certs: tls::CertMemory,
}

/// Translates a snapshot, with no certificates remembered; see [`translate_with`].
pub fn translate(snapshot: &Snapshot, settings: &Settings) -> Result<Translation, String> {
    translate_with(snapshot, settings, &tls::CertMemory::default())
}

/// Translates a snapshot. `certs` are the certificates of the previous translation (its
/// [`Translation::certs`]). Settings that cannot produce a config (a socket or config path
/// HAProxy cannot take) are an error: they are checked once at start-up.
pub fn translate_with(
    snapshot: &Snapshot,
    settings: &Settings,
    certs: &tls::CertMemory,
) -> Result<Translation, String> {
    let mut config = base_config(settings)?;
    let mut problems = Vec::new();
    let ours = ingress::ours_oldest_first(snapshot, settings);
    let mut builder = ingress::Builder::new(snapshot, &mut problems);
    for (key, ing) in &ours {
        builder.add_ingress(key, ing);
    }
    let mut built = builder.finish();
    let tls = tls::collect(snapshot, &ours, settings, certs, &mut problems);
    for (route, origin) in built.routes.iter_mut().zip(&built.origins) {
        route.https_redirect = origin
            .redirect
            .applies(tls::host_has_tls(&route.host, &tls.hosts));
    }
    if tls.wanted {
        let default_path =
            default_cert_path(&settings.config_dir).map_err(|e| format!("--config-dir: {e}"))?;
        let bind = TlsBind::in_dir(&settings.config_dir, vec![settings.https_bind])
            .map_err(|e| format!("--config-dir: {e}"))?;
        config.frontends[0].tls = Some(bind);
        config.tls = tls.files;
        let default = tls::default_cert(snapshot, settings, &mut problems);
        config
            .tls
            .certs
            .insert(default_path.to_file_path(), default);
    }
    let default_backend = match built.default_backend {
        Some(b) => DefaultBackend::Backend(b),
        None => match &settings.default_backend_service {
            Some(key) => match default_service_backend(snapshot, key) {
                Ok(backend) => {
                    let name = backend.name.clone();
                    config.insert_backend(backend);
                    DefaultBackend::Backend(name)
                }
                Err(message) => {
                    problems.push(Problem::new(
                        ProblemKind::Service,
                        key.to_string(),
                        format!("--default-backend-service: {message}; using the built-in 404"),
                    ));
                    DefaultBackend::Builtin404
                }
            },
            None => DefaultBackend::Builtin404,
        },
    };
    for backend in built.backends.into_values() {
        config.insert_backend(backend);
    }
    let conflicts = route_maps(&built.routes).conflicts;
    for c in conflicts {
        let (lost, won) = (&built.origins[c.dropped], &built.origins[c.kept]);
        problems.push(
            Problem::new(
                ProblemKind::Ingress,
                lost.ingress.to_string(),
                format!(
                    "host and path {} are already routed by ingress {} ({}); this rule is ignored",
                    c.key, won.ingress, won.field
                ),
            )
            .at(lost.field.clone()),
        );
    }
    config.routes = built.routes;
    config.frontends[0].default_backend = default_backend;
    problems.sort();
    problems.dedup();
    Ok(Translation {
        config,
        problems,
        certs: tls.memory,
    })
}

fn base_config(settings: &Settings) -> Result<Config, String> {
    let socket = ConfigPath::from_path(&settings.runtime_socket)
        .map_err(|e| format!("--runtime-socket: {e}"))?;
    let maps = RouteMaps::in_dir(&settings.config_dir).map_err(|e| format!("--config-dir: {e}"))?;
    let mut global = Global::new(socket);
    global.hard_stop_after =
        Timeout::new(settings.hard_stop_after).map_err(|e| format!("hard-stop-after: {e}"))?;
    let mut config = Config::new(global);
    config.frontends.push(Frontend {
        name: FrontendName::new("http").expect("a valid name"),
        binds: vec![settings.http_bind],
        maps,
        default_backend: DefaultBackend::Builtin404,
        tls: None,
    });
    Ok(config)
}

/// The backend of `--default-backend-service ns/name`: its first port.
fn default_service_backend(snapshot: &Snapshot, key: &ObjectKey) -> Result<Backend, String> {
    let svc = snapshot
        .services
        .get(key)
        .ok_or_else(|| format!("service {key} does not exist"))?;
    let port = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.first())
        .ok_or_else(|| format!("service {key} has no port"))?;
    let port = ServiceBackendPort {
        number: Some(port.port),
        name: None,
    };
    let resolved = endpoints::resolve(snapshot, &key.namespace, &key.name, &port)?;
    Ok(ingress::backend_of(
        &resolved,
        &annotations::BackendOptions::default(),
    ))
}

/// Where a route came from, for problems about it.
#[derive(Debug, Clone)]
struct Origin {
    ingress: ObjectKey,
    field: String,
    redirect: annotations::Redirect,
}

/// Routes with their origins, backends and the default backend an Ingress asked for.
#[derive(Debug, Default)]
struct Built {
    routes: Vec<Route>,
    origins: Vec<Origin>,
    backends: BTreeMap<haproxy::BackendName, Backend>,
    default_backend: Option<haproxy::BackendName>,
}

#[cfg(test)]
mod hostile_tests;
