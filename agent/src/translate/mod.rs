//! Translation, pure: the objects of a store snapshot -> the HAProxy config model + the
//! problems found. No IO; table-tested without sockets.
//!
//! Precedence is deterministic: Ingresses are read oldest first (creation time, then
//! namespace/name), so when two claim the same host and path, or set different options on
//! one backend, the older one wins and the newer one gets a problem.

pub mod annotations;
mod backend;
pub mod canary;
pub mod class;
pub mod client_ca;
pub mod configmap;
pub mod endpoints;
mod error;
mod fold;
pub mod gateway;
mod incremental;
mod ingress;
mod names;
mod passthrough;
mod refold;
mod resolutions;
pub mod tcp_services;
pub mod tls;
pub mod udp_services;
pub mod upstream;

pub use error::BadSetting;
pub use incremental::Incremental;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use haproxy::config::{
    Backend, Config, ConfigPath, DefaultBackend, Frontend, Global, MapEntries, MapKind, RouteMaps,
    Timeout, TlsBind, TlsFiles, default_cert_path,
};
use haproxy::{BackendName, FrontendName, MapKey};
use k8s_openapi::api::networking::v1::ServiceBackendPort;

use crate::problem::{Problem, ProblemKind};
use crate::store::{ObjectKey, Snapshot};
use endpoints::ResolveError;
use resolutions::{PortRef, Resolutions};

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
    /// The certificate for clients whose SNI matches no Ingress (loaded or generated when
    /// TLS is first in use).
    pub default_cert: crate::certs::DefaultCert,
    /// `--default-ssl-certificate`: a TLS Secret that replaces the generated default.
    pub default_ssl_certificate: Option<ObjectKey>,
    /// `--trusted-proxies`: networks whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<haproxy::config::Cidr>,
    /// `--configmap`: the global ConfigMap, if any.
    pub configmap: Option<ObjectKey>,
    /// `--use-proxy-protocol`: accept the PROXY protocol on the binds (the ConfigMap's
    /// `use-proxy-protocol`, when set, wins).
    pub use_proxy_protocol: bool,
    /// `--access-log` (and `--access-log-socket`): where the access log goes, `None` when
    /// off (the ConfigMap's `enable-access-log: "false"` turns it off too).
    pub access_log: Option<haproxy::config::LogTarget>,
    /// `--tcp-services-configmap`: the TCP services' ConfigMap, if any.
    pub tcp_services: Option<ObjectKey>,
    /// `--tcp-bind-address`: where TCP services listen (the HTTP bind's address when
    /// `None`).
    pub tcp_bind: Option<std::net::IpAddr>,
    /// `--gateway-controller-name`: the GatewayClass `spec.controllerName` that is ours.
    pub gateway_controller_name: String,
    /// `--gateway-address-pool`: addresses to give Gateways, one each (empty: every Gateway
    /// is served on the agent's binds).
    pub gateway_address_pool: Vec<std::net::IpAddr>,
    /// `--udp-services-configmap`: read only to name its entries (HAProxy 2.6 has no UDP).
    pub udp_services: Option<ObjectKey>,
    /// `--enable-ssl-passthrough`: honour the `ssl-passthrough` annotation.
    pub ssl_passthrough: bool,
    /// The agent's own listening addresses (`--listen`, `--debug-listen`) with their flags:
    /// no TCP service may take their ports.
    pub agent_listen: Vec<(SocketAddr, &'static str)>,
}

impl Settings {
    /// The address TCP services listen on.
    pub fn tcp_bind_ip(&self) -> std::net::IpAddr {
        self.tcp_bind.unwrap_or(self.http_bind.ip())
    }
}

/// The result of a translation.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The desired HAProxy configuration; shared with the [`Incremental`] that made it,
    /// which patches it in place for the next translation once this one is dropped.
    pub config: Arc<Config>,
    /// The route map entries of `config.routes` (as [`haproxy::config::route_maps`] gives
    /// them), kept current like the config: drop it before the next translation too.
    pub maps: Arc<MapEntries>,
    /// Everything that was left out, and why.
    pub problems: Vec<Problem>,
    /// The status of the Gateway API objects we manage (written by the Lease holder, shown
    /// in `/debug/state`).
    pub gateway_status: Arc<crate::translate::gateway::Statuses>,
    /// The certificates in use: pass them to the next [`translate_with`], so that a host
    /// whose Secret turns bad keeps its certificate.
    pub certs: tls::CertMemory,
    /// How `config` differs from the previous translation of the same [`Incremental`].
    pub changed: Changed,
}

/// How a translation differs from the previous one. Never under-reports: a backend that
/// differs in any way is listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// Anything may differ (a first or full translation, or the store's change log did not
    /// reach back far enough): every backend is to be treated as changed, and `routes` and
    /// `tls` are true.
    pub all: bool,
    /// Backends added, removed or modified in any way (servers, weights, options).
    pub backends: BTreeSet<BackendName>,
    /// `config.routes` or the frontend's default backend changed.
    pub routes: bool,
    /// When `routes`: the map keys whose entries changed; `None`: any of them may have.
    pub map_keys: Option<BTreeSet<(MapKind, MapKey)>>,
    /// `config.tls` or the frontend's HTTPS bind changed.
    pub tls: bool,
    /// `config.source_lists` changed.
    pub acls: bool,
    /// `config.gateway` (the Gateway API host and rule maps) changed.
    pub gateway: bool,
}

impl Changed {
    /// Everything changed.
    pub fn everything() -> Self {
        Self {
            all: true,
            backends: BTreeSet::new(),
            routes: true,
            map_keys: None,
            tls: true,
            acls: true,
            gateway: true,
        }
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.all
            && self.backends.is_empty()
            && !self.routes
            && !self.tls
            && !self.acls
            && !self.gateway
    }
}

/// Translates a snapshot, with no certificates remembered; see [`translate_with`].
pub fn translate(snapshot: &Snapshot, settings: &Settings) -> Result<Translation, BadSetting> {
    translate_with(snapshot, settings, &tls::CertMemory::default())
}

/// Translates a snapshot, all of it. `certs` are the certificates of the previous
/// translation (its [`Translation::certs`]). Settings that cannot produce a config (a socket
/// or config path HAProxy cannot take) are an error: they are checked once at start-up.
/// [`Incremental`] gives the same result redoing only what changed.
pub fn translate_with(
    snapshot: &Snapshot,
    settings: &Settings,
    certs: &tls::CertMemory,
) -> Result<Translation, BadSetting> {
    let global = configmap::read(snapshot, settings);
    let mut config = base_config(settings, &global)?;
    let mut problems = global.problems.clone();
    let mut resolutions = Resolutions::default();
    let ours = ingress::ours_oldest_first(snapshot, settings);
    let fragments: Vec<ingress::Fragment> = ours
        .iter()
        .map(|(key, ing)| {
            ingress::fragment(key, ing, snapshot, settings, &mut resolutions, &global)
        })
        .collect();
    let mut read = |s: &ObjectKey| tls::read_secret(snapshot, s);
    let draft = gateway::build(snapshot, settings, &mut resolutions, &mut read);
    let mut tls = tls::collect(
        ours.iter().copied(),
        settings,
        certs,
        &mut read,
        snapshot,
        &mut problems,
    );
    let folded = fold::fold(&fragments, &tls.hosts);
    gateway::add_certs(
        &draft,
        &tls.hosts,
        &settings.config_dir,
        &mut tls.files,
        &mut problems,
    );
    let wanted = tls.wanted || draft.https;
    let (bind, files) = tls_files(wanted, tls.files, settings, &mut read, &mut problems)?;
    config.frontends[0].tls = bind;
    config.tls = files;
    let (default_backend, service_backend) = default_backend(
        folded.default_backend.clone(),
        snapshot,
        settings,
        &mut resolutions,
        &mut problems,
    );
    let sources = (&fragments[..], &folded.owners, service_backend, &draft);
    add_backends(&mut config, sources, snapshot, &mut resolutions);
    add_lists_and_users(&mut config, &fragments);
    problems.extend(fragments.iter().flat_map(|f| f.problems.iter().cloned()));
    problems.extend(folded.problems);
    config.frontends[0].canary_names = haproxy::config::canary_names(&folded.routes);
    config.routes = folded.routes;
    let (gateway_routes, gateway_problems) = draft.finish(&config.routes);
    config.gateway = gateway_routes;
    problems.extend(gateway_problems);
    problems.extend(draft.problems.iter().cloned());
    let maps = Arc::new(folded.maps);
    config.frontends[0].default_backend = default_backend;
    let mut config = Arc::new(config);
    problems.extend(layer4_problems(snapshot, settings, &mut config, &fragments));
    problems.sort();
    problems.dedup();
    Ok(Translation {
        config,
        maps,
        problems,
        gateway_status: Arc::new(draft.statuses),
        certs: tls.memory,
        changed: Changed::everything(),
    })
}

/// Where a full translation's backends come from: the Ingresses' fragments, the Ingress
/// that owns each Ingress backend, `--default-backend-service`'s backend, the Gateway API.
type BackendSources<'a> = (
    &'a [ingress::Fragment],
    &'a BTreeMap<BackendName, ObjectKey>,
    Option<Backend>,
    &'a gateway::Draft,
);

/// The backends a full translation makes: those of the Ingresses (each by the fragment
/// that owns it), `--default-backend-service`'s and the Gateway API routes' (each once).
fn add_backends(
    config: &mut Config,
    (fragments, owners, service, draft): BackendSources<'_>,
    snapshot: &Snapshot,
    resolutions: &mut Resolutions,
) {
    let by_key: BTreeMap<&ObjectKey, &ingress::Fragment> =
        fragments.iter().map(|f| (&f.key, f)).collect();
    for (name, owner) in owners {
        if let Some(b) = by_key
            .get(owner)
            .and_then(|f| f.backend(name, snapshot, resolutions))
        {
            config.insert_backend(b);
        }
    }
    if let Some(b) = service
        && !config.backends.contains_key(&b.name)
    {
        config.insert_backend(b);
    }
    for name in draft.recipes.keys() {
        if !config.backends.contains_key(name)
            && let Some(b) = draft.backend(name, snapshot, resolutions)
        {
            config.insert_backend(b);
        }
    }
}

/// The Ingresses' client address lists, and their basic-authentication user lists (the
/// oldest Ingress's for each id), into `config`.
fn add_lists_and_users(config: &mut Config, fragments: &[ingress::Fragment]) {
    for f in fragments {
        if let Some(lists) = &f.source_lists {
            config
                .source_lists
                .insert(ingress::list_id(&f.key), lists.clone());
        }
    }
    for f in fragments {
        if let Some((id, auth)) = &f.auth {
            config
                .auth
                .entry(id.clone())
                .or_insert_with(|| auth.clone());
        }
    }
}

/// The TCP services patched into `config` (after the Gateway listeners, whose older binds
/// they give way to), and the problems of the TCP and UDP services and of passthrough hosts.
fn layer4_problems(
    snapshot: &Snapshot,
    settings: &Settings,
    config: &mut Arc<Config>,
    fragments: &[ingress::Fragment],
) -> Vec<Problem> {
    let mut tcp = tcp_services::read(snapshot, settings);
    if let Some(key) = &settings.tcp_services {
        gateway::yield_to_gateways(&mut tcp, key, &config.gateway.binds);
    }
    let mut problems = tcp_services::patch(config, tcp, &mut Changed::default());
    problems.extend(udp_services::read(snapshot, settings));
    problems.extend(passthrough::conflicts(
        fragments.iter().map(|f| (&f.key, &f.routes)),
        settings,
    ));
    problems
}

/// The HTTPS bind and the certificate files (the default certificate added) when some
/// Ingress wants TLS; none otherwise.
fn tls_files(
    wanted: bool,
    mut files: TlsFiles,
    settings: &Settings,
    read: &mut tls::ReadSecret<'_>,
    problems: &mut Vec<Problem>,
) -> Result<(Option<TlsBind>, TlsFiles), BadSetting> {
    if !wanted {
        return Ok((None, TlsFiles::default()));
    }
    let default_path =
        default_cert_path(&settings.config_dir).map_err(BadSetting::of("--config-dir"))?;
    let bind = TlsBind::in_dir(&settings.config_dir, vec![settings.https_bind])
        .map_err(BadSetting::of("--config-dir"))?;
    let Some(default) = tls::default_cert(read, settings, problems) else {
        return Ok((None, TlsFiles::default()));
    };
    files.certs.insert(default_path.to_file_path(), default);
    Ok((Some(bind), files))
}

/// Where unmatched requests go: the default backend an Ingress asked for (`built`), else
/// `--default-backend-service` (and its backend, to add unless an Ingress builds one of
/// the same name), else the built-in 404.
fn default_backend(
    built: Option<BackendName>,
    snapshot: &Snapshot,
    settings: &Settings,
    resolutions: &mut Resolutions,
    problems: &mut Vec<Problem>,
) -> (DefaultBackend, Option<Backend>) {
    if let Some(b) = built {
        return (DefaultBackend::Backend(b), None);
    }
    let Some(key) = &settings.default_backend_service else {
        return (DefaultBackend::Builtin404, None);
    };
    match default_service_backend(snapshot, key, resolutions) {
        Ok(backend) => (DefaultBackend::Backend(backend.name.clone()), Some(backend)),
        Err(message) => {
            problems.push(Problem::new(
                ProblemKind::Service,
                key.to_string(),
                format!("--default-backend-service: {message}; using the built-in 404"),
            ));
            (DefaultBackend::Builtin404, None)
        }
    }
}

fn base_config(settings: &Settings, map: &configmap::MapSettings) -> Result<Config, BadSetting> {
    let socket = ConfigPath::from_path(&settings.runtime_socket)
        .map_err(BadSetting::of("--runtime-socket"))?;
    let maps = RouteMaps::in_dir(&settings.config_dir).map_err(BadSetting::of("--config-dir"))?;
    let mut global = Global::new(socket);
    // Where custom error pages' files go (a named problem for their Ingresses when the
    // socket path is too long).
    global.custom_errors = haproxy::config::ErrorFiles::in_dir(&settings.config_dir).ok();
    global.hard_stop_after =
        Timeout::new(settings.hard_stop_after).map_err(BadSetting::of("--hard-stop-after"))?;
    let mut config = Config::new(global);
    config.frontends.push(Frontend {
        canary_names: Default::default(),
        name: FrontendName::new("http").expect("a valid name"),
        binds: vec![settings.http_bind],
        maps,
        default_backend: DefaultBackend::Builtin404,
        tls: None,
        trusted_proxies: settings.trusted_proxies.clone(),
    });
    if settings.ssl_passthrough {
        let p =
            haproxy::config::Passthrough::in_dir(&settings.config_dir, vec![settings.https_bind])
                .map_err(BadSetting::of("--enable-ssl-passthrough"))?;
        config.passthrough = Some(p);
    }
    configmap::apply(&mut config, map, settings);
    Ok(config)
}

/// The backend of `--default-backend-service ns/name`: its first port.
fn default_service_backend(
    snapshot: &Snapshot,
    key: &ObjectKey,
    resolutions: &mut Resolutions,
) -> Result<Backend, ResolveError> {
    let Some(svc) = snapshot.services.get(key) else {
        return Err(ResolveError::NoService(key.clone()));
    };
    let port = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.first())
        .ok_or_else(|| ResolveError::NoPorts(key.clone()))?;
    let port = ServiceBackendPort {
        number: Some(port.port),
        name: None,
    };
    let at = PortRef::new(&key.namespace, &key.name, &port);
    let resolved = resolutions
        .get(snapshot, &at)
        .as_ref()
        .map_err(ResolveError::clone)?;
    Ok(backend::backend_of(
        resolved,
        &annotations::BackendOptions::default(),
    ))
}

/// The problem of a route that lost its host and path (or, for a canary route, the
/// canary of its host and path) to an older Ingress's.
fn conflict_message(key: &haproxy::MapKey, won: &Origin, canary: bool) -> String {
    if canary {
        format!(
            "host and path {key} already have the canary of ingress {} ({}); this canary is ignored",
            won.ingress, won.field
        )
    } else {
        format!(
            "host and path {key} are already routed by ingress {} ({}); this rule is ignored",
            won.ingress, won.field
        )
    }
}

/// The problem of a canary route whose host and path no ordinary Ingress routes.
fn orphan_message(key: &haproxy::MapKey) -> String {
    format!(
        "no Ingress without the canary annotation routes host and path {key}: this canary \
         takes no requests (as in ingress-nginx, a canary joins a main Ingress's route)"
    )
}

/// Where a route came from, for problems about it.
#[derive(Debug, Clone, PartialEq)]
struct Origin {
    ingress: ObjectKey,
    field: String,
    redirect: annotations::Redirect,
}

#[cfg(test)]
mod client_cert_tests;
#[cfg(test)]
mod custom_errors_tests;
