//! The config model: global, defaults, frontends, backends, servers and routes, every field a
//! validated type, and the consistency check across them.
//!
//! Words that reach haproxy.cfg come from strict character sets ([`ConfigPath`], [`CheckPath`],
//! [`CookieName`], [`CookieKey`], HAProxy identifiers), never escaped free text: HAProxy 2.6
//! expands `$NAME` even inside single quotes, so there is no reliable quoting to fall back on.

//!
//! Scalar values in [`values`], backends and their servers in [`backend`].

mod backend;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use thiserror::Error;

use crate::names::{BackendName, FilePath, FrontendName, ServerName};

use super::policy::PolicyText;
use super::routes::Route;
use super::source_list::SourceLists;
use super::tls::{TlsBind, TlsFiles};

/// Name of the built-in backend that answers 404. It starts with `_`, which a
/// `<namespace>_<service>_<port>` name never does, so it cannot collide with a Service.
pub const BUILTIN_404: &str = "_default_404";

pub use super::route_maps::RouteMaps;
pub use super::value::{ConfigPath, InvalidValue};
pub use backend::{
    Backend, Balance, CookieAttrs, CookiePath, HashOn, HttpCheck, SameSite, Server, ServerMode,
    Sticky, Token,
};
use values::secs;
pub use values::{CheckPath, CookieKey, CookieName, ServerAddr, Threads, Timeout};

/// Permissions of the admin socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SocketMode {
    /// `mode 600`: the owner only.
    #[default]
    Owner,
    /// `mode 660`: owner and group (an agent in another container sharing a group).
    Group,
}

/// The `global` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// The runtime API socket: `stats socket <path> mode … level admin expose-fd listeners`.
    pub admin_socket: ConfigPath,
    /// Its permissions.
    pub admin_socket_mode: SocketMode,
    /// Idle timeout of CLI connections (`stats timeout`).
    pub stats_timeout: Timeout,
    /// Bound on how long an old worker may live after a reload (`hard-stop-after`).
    pub hard_stop_after: Timeout,
    /// Process-wide connection limit. HAProxy needs about twice as many file descriptors and
    /// refuses to start when it cannot raise its limit that far.
    pub maxconn: u32,
    /// Thread count; HAProxy picks one per CPU when absent.
    pub nbthread: Option<Threads>,
    /// `server-state-file`, loaded by every backend (`load-server-state-from-file global`).
    pub server_state: Option<ConfigPath>,
    /// Where the custom error pages' Lua file and socket go, rendered while some route has
    /// custom errors (none: those routes' codes pass untouched).
    pub custom_errors: Option<super::custom_errors::ErrorFiles>,
}

impl Global {
    /// Defaults around an admin socket: mode 600, `stats timeout 30s`, `hard-stop-after 1m`,
    /// `maxconn 4096`.
    pub fn new(admin_socket: ConfigPath) -> Self {
        Self {
            admin_socket,
            admin_socket_mode: SocketMode::Owner,
            stats_timeout: secs(30),
            hard_stop_after: secs(60),
            maxconn: 4096,
            nbthread: None,
            server_state: None,
            custom_errors: None,
        }
    }
}

/// Timeouts of the `defaults` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `timeout connect`.
    pub connect: Timeout,
    /// `timeout client`.
    pub client: Timeout,
    /// `timeout server`.
    pub server: Timeout,
    /// `timeout http-request`.
    pub http_request: Timeout,
    /// `timeout http-keep-alive`.
    pub http_keep_alive: Timeout,
    /// `timeout queue`.
    pub queue: Timeout,
    /// `timeout tunnel` (WebSocket and CONNECT).
    pub tunnel: Timeout,
}

impl Default for Timeouts {
    /// connect 5s, client 50s, server 50s, http-request 10s, http-keep-alive 10s, queue 5s,
    /// tunnel 1h.
    fn default() -> Self {
        Self {
            connect: secs(5),
            client: secs(50),
            server: secs(50),
            http_request: secs(10),
            http_keep_alive: secs(10),
            queue: secs(5),
            tunnel: secs(3600),
        }
    }
}

/// The `defaults` section (always `mode http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// Timeouts.
    pub timeouts: Timeouts,
    /// `option forwardfor`: add `X-Forwarded-For`.
    pub forwardfor: bool,
    /// `option redispatch`: retry on another server when one fails.
    pub redispatch: bool,
    /// `retries`.
    pub retries: u8,
}

impl Default for Defaults {
    /// Default timeouts, `option forwardfor`, `option redispatch`, `retries 3`.
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            forwardfor: true,
            redispatch: true,
            retries: 3,
        }
    }
}

/// Where a frontend sends requests that no route matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DefaultBackend {
    /// A backend of the config (the Ingress `defaultBackend` or `--default-backend-service`).
    Backend(BackendName),
    /// The built-in backend that answers `404` with `default backend - 404`.
    Builtin404,
}

/// An HTTP frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    /// Its name.
    pub name: FrontendName,
    /// Listening addresses (rendered sorted, without duplicates).
    pub binds: Vec<SocketAddr>,
    /// Its route maps.
    pub maps: RouteMaps,
    /// Where unmatched requests go.
    pub default_backend: DefaultBackend,
    /// HTTPS binds, routed by the same maps; `None` for plain HTTP only.
    pub tls: Option<TlsBind>,
    /// Proxies in front whose `X-Forwarded-For` is believed: a connection from one of these
    /// networks takes the header's last address as its client address (`set-src`), which
    /// the address lists and request limits then see.
    pub trusted_proxies: Vec<super::source_list::Cidr>,
    /// The header and cookie names canary routes read (one frontend rule each).
    pub canary_names: super::canary::CanaryNames,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The `global` section.
    pub global: Global,
    /// The `defaults` section.
    pub defaults: Defaults,
    /// Frontends (rendered sorted by name).
    pub frontends: Vec<Frontend>,
    /// Backends by name (each entry's key is the backend's own name).
    pub backends: BTreeMap<BackendName, Backend>,
    /// Routes, in precedence order for conflicts (see [`super::route_maps`]).
    pub routes: Vec<Route>,
    /// Certificates and crt-list lines (used by frontends with [`Frontend::tls`]).
    pub tls: TlsFiles,
    /// Client address lists by id (the Ingress), named by routes' policies; their entries
    /// change at runtime.
    pub source_lists: BTreeMap<PolicyText, SourceLists>,
    /// Basic-authentication user lists by id, named by routes' policies (`auth`); a new
    /// list, user, password or realm is a reload.
    pub auth: BTreeMap<super::userlist::AuthId, super::userlist::BasicAuth>,
    /// The settings of the command line and the ConfigMap that are neither a route's nor
    /// a backend's.
    pub settings: super::settings::GlobalSettings,
    /// TCP services by port: a `mode tcp` frontend each, sending to its backend.
    pub tcp_services: BTreeMap<u16, super::tcp::TcpService>,
    /// Gateway API routes (runtime maps read by a fixed Lua action).
    pub gateway: super::gateway::GatewayRoutes,
    /// TLS passthrough (`--enable-ssl-passthrough`): the public HTTPS port is a `mode tcp`
    /// frontend routing by SNI, and the first frontend's HTTPS bind moves to its socket.
    pub passthrough: Option<super::passthrough::Passthrough>,
}

/// An inconsistency between parts of a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A backend is stored under another name than its own.
    #[error("backend {name} is stored under the key {key}")]
    BackendKey {
        /// The map key.
        key: BackendName,
        /// The backend's name.
        name: BackendName,
    },
    /// A server is stored under another name than its own.
    #[error("server {name} of backend {backend} is stored under the key {key}")]
    ServerKey {
        /// The backend.
        backend: BackendName,
        /// The map key.
        key: ServerName,
        /// The server's name.
        name: ServerName,
    },
    /// A backend uses the built-in 404 backend's name.
    #[error("backend name {0} is reserved for the built-in 404 backend")]
    ReservedName(BackendName),
    /// Two frontends share a name.
    #[error("two frontends are named {0}")]
    DuplicateFrontend(FrontendName),
    /// A frontend has no bind address.
    #[error("frontend {0} has no bind address")]
    NoBind(FrontendName),
    /// A bind address with port 0 or used twice.
    #[error("bind address {0} has port 0 or is used twice")]
    BadBind(SocketAddr),
    /// One map file is used as two kinds of map (exact, prefix, regex).
    #[error("map file {0} is used as two kinds of map (exact, prefix, regex)")]
    MapReuse(ConfigPath),
    /// A frontend's default backend does not exist.
    #[error("frontend {frontend} defaults to the unknown backend {backend}")]
    UnknownDefaultBackend {
        /// The frontend.
        frontend: FrontendName,
        /// The missing backend.
        backend: BackendName,
    },
    /// A route points at a backend that does not exist.
    #[error("route {index} points at the unknown backend {backend}")]
    UnknownRouteBackend {
        /// The route's index in [`Config::routes`].
        index: usize,
        /// The missing backend.
        backend: BackendName,
    },
    /// A certificate file is named (by a bind or a crt-list line) but not in the config.
    #[error("certificate {0} is used but has no contents in the config")]
    MissingCert(FilePath),
    /// Two crt-list lines name one certificate with the same client-certificate options
    /// (a certificate has one line per client-certificate setting of its names).
    #[error("certificate {0} has more than one crt-list line with the same options")]
    DuplicateCrtListLine(FilePath),
    /// Certificates or crt-list lines without a frontend that serves TLS.
    #[error("certificates are configured but no frontend has TLS binds")]
    TlsWithoutBind,
}

impl Config {
    /// A config with the given global section, default `defaults`, and nothing else.
    pub fn new(global: Global) -> Self {
        Self {
            global,
            defaults: Defaults::default(),
            frontends: Vec::new(),
            backends: BTreeMap::new(),
            routes: Vec::new(),
            tls: TlsFiles::default(),
            source_lists: BTreeMap::new(),
            auth: BTreeMap::new(),
            settings: Default::default(),
            tcp_services: BTreeMap::new(),
            gateway: Default::default(),
            passthrough: None,
        }
    }

    /// Adds (or replaces) a backend under its own name.
    pub fn insert_backend(&mut self, backend: Backend) {
        self.backends.insert(backend.name.clone(), backend);
    }

    /// Where the custom error pages' files go, when some route has custom errors and the
    /// global section says where (see [`Global::custom_errors`]).
    pub fn uses_custom_errors(&self) -> Option<&super::custom_errors::ErrorFiles> {
        self.global
            .custom_errors
            .as_ref()
            .filter(|_| self.routes.iter().any(|r| r.policy.custom_errors.is_some()))
    }

    /// True when some frontend uses the built-in 404 backend.
    pub fn uses_builtin_404(&self) -> bool {
        self.frontends
            .iter()
            .any(|f| f.default_backend == DefaultBackend::Builtin404)
    }

    /// Everything that would make the rendered config wrong although each part is valid on
    /// its own. Rendering does not check; callers refuse a config with problems.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut out = Vec::new();
        self.backend_problems(&mut out);
        let mut binds = BTreeSet::new();
        self.frontend_problems(&mut binds, &mut out);
        for b in self.passthrough.iter().flat_map(|p| &p.binds) {
            if b.port() == 0 || !binds.insert(*b) {
                out.push(ConfigError::BadBind(*b));
            }
        }
        for tcp in self.tcp_services.values() {
            if tcp.bind.port() == 0 || !binds.insert(tcp.bind) {
                out.push(ConfigError::BadBind(tcp.bind));
            }
            if !self.backends.contains_key(&tcp.backend) {
                out.push(ConfigError::UnknownDefaultBackend {
                    frontend: tcp.frontend_name(),
                    backend: tcp.backend.clone(),
                });
            }
        }
        self.map_reuse(&mut out);
        self.tls_problems(&mut out);
        for (index, route) in self.routes.iter().enumerate() {
            if !self.backends.contains_key(&route.backend) {
                out.push(ConfigError::UnknownRouteBackend {
                    index,
                    backend: route.backend.clone(),
                });
            }
        }
        out
    }

    /// Backends and servers whose key is not their name; reserved backend names.
    fn backend_problems(&self, out: &mut Vec<ConfigError>) {
        for (key, be) in &self.backends {
            if *key != be.name {
                out.push(ConfigError::BackendKey {
                    key: key.clone(),
                    name: be.name.clone(),
                });
            }
            if be.name.as_str() == BUILTIN_404 || be.name.as_str().starts_with('_') {
                out.push(ConfigError::ReservedName(be.name.clone()));
            }
            for (skey, srv) in &be.servers {
                if *skey != srv.name {
                    out.push(ConfigError::ServerKey {
                        backend: be.name.clone(),
                        key: skey.clone(),
                        name: srv.name.clone(),
                    });
                }
            }
        }
    }

    /// Duplicate frontends, missing or taken binds (into `binds`), a missing default
    /// certificate, an unknown default backend.
    fn frontend_problems(&self, binds: &mut BTreeSet<SocketAddr>, out: &mut Vec<ConfigError>) {
        let mut names = BTreeSet::new();
        for fe in &self.frontends {
            if !names.insert(&fe.name) {
                out.push(ConfigError::DuplicateFrontend(fe.name.clone()));
            }
            if fe.binds.is_empty() {
                out.push(ConfigError::NoBind(fe.name.clone()));
            }
            // With passthrough the HTTPS bind is its socket; its addresses are passthrough's.
            let tls_binds = fe
                .tls
                .iter()
                .filter(|_| self.passthrough.is_none())
                .flat_map(|t| &t.binds);
            for b in fe.binds.iter().chain(tls_binds) {
                if b.port() == 0 || !binds.insert(*b) {
                    out.push(ConfigError::BadBind(*b));
                }
            }
            if let Some(tls) = &fe.tls {
                if tls.binds.is_empty() {
                    out.push(ConfigError::NoBind(fe.name.clone()));
                }
                let default = tls.default_cert.to_file_path();
                if !self.tls.certs.contains_key(&default) {
                    out.push(ConfigError::MissingCert(default));
                }
            }
            if let DefaultBackend::Backend(be) = &fe.default_backend
                && !self.backends.contains_key(be)
            {
                out.push(ConfigError::UnknownDefaultBackend {
                    frontend: fe.name.clone(),
                    backend: be.clone(),
                });
            }
        }
    }

    /// A map file used as two kinds of map (exact, prefix, regex, passthrough).
    fn map_reuse(&self, out: &mut Vec<ConfigError>) {
        let mut map_uses: BTreeSet<(&ConfigPath, u8)> = BTreeSet::new();
        for fe in &self.frontends {
            map_uses.insert((&fe.maps.exact, 0));
            map_uses.insert((&fe.maps.prefix, 1));
            map_uses.insert((&fe.maps.regex, 2));
            map_uses.insert((&fe.maps.passthrough, 3));
        }
        let mut kinds: BTreeMap<&ConfigPath, usize> = BTreeMap::new();
        for (file, _) in &map_uses {
            *kinds.entry(file).or_default() += 1;
        }
        for (shared, _) in kinds.into_iter().filter(|(_, n)| *n > 1) {
            out.push(ConfigError::MapReuse(shared.clone()));
        }
    }

    /// crt-list lines naming a missing certificate or repeated; certificates without an
    /// HTTPS bind.
    fn tls_problems(&self, out: &mut Vec<ConfigError>) {
        let mut lines = BTreeSet::new();
        for e in &self.tls.crt_list {
            if !self.tls.certs.contains_key(&e.cert) {
                out.push(ConfigError::MissingCert(e.cert.clone()));
            }
            if !lines.insert((&e.cert, &e.auth)) {
                out.push(ConfigError::DuplicateCrtListLine(e.cert.clone()));
            }
        }
        if !self.tls.is_empty() && !self.frontends.iter().any(|f| f.tls.is_some()) {
            out.push(ConfigError::TlsWithoutBind);
        }
    }
}

#[cfg(test)]
mod tests;
