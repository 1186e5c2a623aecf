//! The config model: global, defaults, frontends, backends, servers and routes, every field a
//! validated type, and the consistency check across them.
//!
//! Words that reach haproxy.cfg come from strict character sets ([`ConfigPath`], [`CheckPath`],
//! [`CookieName`], [`CookieKey`], HAProxy identifiers), never escaped free text: HAProxy 2.6
//! expands `$NAME` even inside single quotes, so there is no reliable quoting to fall back on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use thiserror::Error;

use crate::names::{BackendName, FilePath, FrontendName, ServerName, ServerRef};
use crate::proto::command::{AddServer, HealthCheck, PemPayload, Weight};
use crate::proto::server_proto::ServerProtocol;
use crate::sorted_map::SortedMap;

use super::policy::PolicyText;
use super::routes::Route;
use super::source_list::SourceLists;
use super::tls::{TlsBind, TlsFiles};

/// Name of the built-in backend that answers 404. It starts with `_`, which a
/// `<namespace>_<service>_<port>` name never does, so it cannot collide with a Service.
pub const BUILTIN_404: &str = "_default_404";

use super::value::check_chars;
pub use super::value::{ConfigPath, InvalidValue};

word!(
    /// The path of an HTTP health check request (`http-check send uri`): starts with `/`,
    /// at most 1024 bytes of RFC 3986 path and query characters, minus `$ ' " \ #`, which
    /// haproxy.cfg would interpret.
    CheckPath
);

impl CheckPath {
    /// Validates a health check path.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        check_chars(
            "health check path",
            &s,
            1024,
            |c| c.is_ascii_alphanumeric() || "/-._~%!&*+,;=:@?()".contains(c),
            "only letters, digits and / - . _ ~ % ! & * + , ; = : @ ? ( ) are allowed",
        )?;
        if !s.starts_with('/') {
            return Err(InvalidValue::new(
                "health check path",
                s,
                "it must start with /",
            ));
        }
        Ok(Self(s))
    }
}

word!(
    /// A sticky-session cookie name: `[A-Za-z0-9_-]`, 1 to 64 bytes.
    CookieName
);

impl CookieName {
    /// Validates a cookie name.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        check_chars(
            "cookie name",
            &s,
            64,
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'),
            "only letters, digits, _ and - are allowed",
        )?;
        Ok(Self(s))
    }
}

word!(
    /// The secret for `dynamic-cookie-key`: base64-like `[A-Za-z0-9_+/=.-]`, 1 to 256 bytes.
    CookieKey
);

impl CookieKey {
    /// Validates a dynamic cookie key.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        check_chars(
            "dynamic cookie key",
            &s,
            256,
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '/' | '=' | '.' | '-'),
            "only letters, digits and _ + / = . - are allowed",
        )?;
        Ok(Self(s))
    }
}

/// A duration HAProxy accepts as a timeout or interval: whole milliseconds, from 1 ms to
/// 2^31-1 ms (about 24.8 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout(u32);

impl Timeout {
    /// Validates a duration, truncated to milliseconds.
    pub fn new(d: Duration) -> Result<Self, InvalidValue> {
        let ms = d.as_millis();
        if ms == 0 || ms > i32::MAX as u128 {
            return Err(InvalidValue::new(
                "timeout",
                format!("{d:?}"),
                "it must be between 1ms and 2147483647ms",
            ));
        }
        Ok(Self(ms as u32))
    }

    /// Whole seconds, for constants.
    pub fn secs(s: u32) -> Result<Self, InvalidValue> {
        Self::new(Duration::from_secs(u64::from(s)))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        Duration::from_millis(u64::from(self.0))
    }
}

/// HAProxy's notation: the largest unit (`h`, `m`, `s`, `ms`) that divides it exactly.
impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        match ms {
            _ if ms.is_multiple_of(3_600_000) => write!(f, "{}h", ms / 3_600_000),
            _ if ms.is_multiple_of(60_000) => write!(f, "{}m", ms / 60_000),
            _ if ms.is_multiple_of(1000) => write!(f, "{}s", ms / 1000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

/// `secs` for values known to be in range.
fn secs(s: u32) -> Timeout {
    Timeout(s * 1000)
}

/// A server address: a unicast IP literal (no scope id) and a port other than 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerAddr(SocketAddr);

impl ServerAddr {
    /// Validates an address. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is judged as
    /// the IPv4 address it stands for: `::ffff:0.0.0.0` reaches the local host.
    pub fn new(addr: SocketAddr) -> Result<Self, InvalidValue> {
        let bad = |reason| {
            Err(InvalidValue::new(
                "server address",
                addr.to_string(),
                reason,
            ))
        };
        if addr.port() == 0 {
            return bad("port 0");
        }
        let ip = addr.ip().to_canonical();
        if ip.is_unspecified() || ip.is_multicast() {
            return bad("not a unicast address");
        }
        if let IpAddr::V4(v4) = ip
            && v4.is_broadcast()
        {
            return bad("not a unicast address");
        }
        if let SocketAddr::V6(v6) = addr
            && (v6.scope_id() != 0 || v6.flowinfo() != 0)
        {
            return bad("IPv6 scope id or flow info is not supported");
        }
        Ok(Self(addr))
    }

    /// The address.
    pub fn get(self) -> SocketAddr {
        self.0
    }
}

/// `ip:port`, IPv6 as `[ip]:port`.
impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A thread count for `nbthread`: 1 to 64 (one thread group on HAProxy 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Threads(u16);

impl Threads {
    /// Validates a thread count.
    pub fn new(n: u16) -> Result<Self, InvalidValue> {
        if !(1..=64).contains(&n) {
            return Err(InvalidValue::new(
                "nbthread",
                n.to_string(),
                "it must be 1 to 64",
            ));
        }
        Ok(Self(n))
    }

    /// The count.
    pub fn get(self) -> u16 {
        self.0
    }
}

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

/// The map and ACL files a frontend looks routes up in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteMaps {
    /// Exact `host/path` keys, read with `map_str`.
    pub exact: ConfigPath,
    /// Prefix keys, read with `map_beg` (longest match).
    pub prefix: ConfigPath,
    /// Regex keys, read with `map_regm` (first match, in file order).
    pub regex: ConfigPath,
    /// The allow lists' ACL file (see [`super::source_list`]).
    pub allow: ConfigPath,
    /// The deny lists' ACL file.
    pub deny: ConfigPath,
    /// The canary header patterns' ACL file (see [`super::CanaryPattern`]).
    pub canary: ConfigPath,
    /// The TLS passthrough hosts (SNI, lower case) and their `mode tcp` backends, read with
    /// `map_str` by the passthrough frontend (see [`super::passthrough`]).
    pub passthrough: ConfigPath,
    /// The settings map: global values read with a fixed key (see
    /// [`super::settings_map`]).
    pub settings: ConfigPath,
}

impl RouteMaps {
    /// `<dir>/maps/exact.map`, `<dir>/maps/prefix.map`, `<dir>/maps/regex.map`,
    /// `<dir>/maps/allow.acl`, `<dir>/maps/deny.acl`, `<dir>/maps/canary.acl`,
    /// `<dir>/maps/sni.map` and `<dir>/maps/settings.map`.
    pub fn in_dir(dir: &std::path::Path) -> Result<Self, InvalidValue> {
        let file = |name: &str| ConfigPath::from_path(&dir.join("maps").join(name));
        Ok(Self {
            exact: file("exact.map")?,
            prefix: file("prefix.map")?,
            regex: file("regex.map")?,
            allow: file("allow.acl")?,
            deny: file("deny.acl")?,
            canary: file("canary.acl")?,
            passthrough: file("sni.map")?,
            settings: file("settings.map")?,
        })
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

/// A load-balancing algorithm. Only dynamic ones, which `add server` requires (hashes with
/// `hash-type consistent`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Balance {
    /// `leastconn` (as the classic nginx controller balances).
    #[default]
    Leastconn,
    /// `roundrobin`.
    Roundrobin,
    /// `random` (power of two choices).
    Random,
    /// `first`.
    First,
    /// A consistent hash of part of the request.
    Hash(HashOn),
}

/// What a consistent-hash balance hashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashOn {
    /// The path (`balance uri`).
    Path,
    /// The path and query (`balance uri whole`).
    PathAndQuery,
    /// The client address (`balance source`).
    Source,
    /// A request header (`balance hdr(<name>)`).
    Header(Token),
    /// A cookie's value (`balance hash req.cook(<name>)`).
    Cookie(Token),
    /// A query parameter (`balance url_param <name>`).
    QueryParam(Token),
}

/// A header, cookie or parameter name: 1 to 64 of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(String);

impl Token {
    /// Validates a name.
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() || s.len() > 64 {
            return Err(InvalidValue::new("name", s, "it must be 1 to 64 bytes"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(InvalidValue::new(
                "name",
                s,
                "only letters, digits, _ and - are allowed",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Balance {
    /// The `balance` line's argument (`leastconn`, `uri whole`, `hash req.cook(sid)`).
    pub fn keyword(&self) -> String {
        match self {
            Balance::Leastconn => "leastconn".into(),
            Balance::Roundrobin => "roundrobin".into(),
            Balance::Random => "random".into(),
            Balance::First => "first".into(),
            Balance::Hash(HashOn::Path) => "uri".into(),
            Balance::Hash(HashOn::PathAndQuery) => "uri whole".into(),
            Balance::Hash(HashOn::Source) => "source".into(),
            Balance::Hash(HashOn::Header(h)) => format!("hdr({})", h.0),
            Balance::Hash(HashOn::Cookie(c)) => format!("hash req.cook({})", c.0),
            Balance::Hash(HashOn::QueryParam(p)) => format!("url_param {}", p.0),
        }
    }
}

/// Sticky sessions with a dynamic cookie: `cookie <name> insert indirect nocache dynamic` and
/// `dynamic-cookie-key <key>`. The cookie value is derived from the server's address and the
/// key, so dynamic servers get one without a per-server `cookie` (which 2.6.12 refuses).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sticky {
    /// The cookie name.
    pub cookie: CookieName,
    /// The secret the cookie values are derived from.
    pub dynamic_key: CookieKey,
    /// Attributes of the inserted cookie.
    pub attrs: CookieAttrs,
}

/// Attributes of an inserted cookie (HAProxy sets `path=/` itself; a `Path` attribute after
/// it wins in browsers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CookieAttrs {
    /// `Path=` (an absolute path of `[A-Za-z0-9/._~-]`).
    pub path: Option<CookiePath>,
    /// `domain` (a DNS name, with an optional leading dot).
    pub domain: Option<CookiePath>,
    /// `Max-Age=` in seconds.
    pub max_age: Option<u32>,
    /// `SameSite=`.
    pub same_site: Option<SameSite>,
    /// `Secure`.
    pub secure: bool,
}

/// A cookie path or domain: 1 to 255 of `[A-Za-z0-9/._~-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CookiePath(String);

impl CookiePath {
    /// Validates a path (starting with `/`) or a domain (not).
    pub fn new(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() || s.len() > 255 {
            return Err(InvalidValue::new(
                "cookie attribute",
                s,
                "it must be 1 to 255 bytes",
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'~' | b'-'))
        {
            return Err(InvalidValue::new(
                "cookie attribute",
                s,
                "only letters, digits and / . _ ~ - are allowed",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `None`.
    None,
    /// `Lax`.
    Lax,
    /// `Strict`.
    Strict,
}

impl CookieAttrs {
    /// The `cookie` line's options after `dynamic`.
    pub fn options(&self) -> String {
        let mut out = String::new();
        if let Some(d) = &self.domain {
            out.push_str(&format!(" domain {}", d.0));
        }
        if self.secure {
            out.push_str(" secure");
        }
        if let Some(p) = &self.path {
            out.push_str(&format!(" attr \"Path={}\"", p.0));
        }
        if let Some(n) = self.max_age {
            out.push_str(&format!(" attr \"Max-Age={n}\""));
        }
        if let Some(s) = self.same_site {
            let v = match s {
                SameSite::None => "None",
                SameSite::Lax => "Lax",
                SameSite::Strict => "Strict",
            };
            out.push_str(&format!(" attr \"SameSite={v}\""));
        }
        out
    }
}

/// An HTTP health check: `option httpchk` + `http-check send meth GET uri <path>`, and
/// `check inter <inter> rise 2 fall 3` on every server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpCheck {
    /// The request path.
    pub path: CheckPath,
    /// Interval between checks.
    pub inter: Timeout,
}

impl HttpCheck {
    /// Consecutive successes to go up (HAProxy's default).
    pub const RISE: u8 = 2;
    /// Consecutive failures to go down (HAProxy's default).
    pub const FALL: u8 = 3;

    /// The same check for a server added at runtime.
    pub fn server_check(&self) -> HealthCheck {
        HealthCheck {
            inter: self.inter.get(),
            rise: Self::RISE,
            fall: Self::FALL,
        }
    }
}

/// The state a server is configured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ServerMode {
    /// Takes traffic.
    #[default]
    Ready,
    /// Terminating: rendered `disabled` (maintenance), since a config file cannot say
    /// drain. After a reload the reconciler observes the server in maintenance and sets
    /// `state drain` at runtime, so persistent clients keep reaching it until it goes.
    Drain,
}

/// A server of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Server {
    /// Its name, a stable function of the endpoint.
    pub name: ServerName,
    /// Its address.
    pub addr: ServerAddr,
    /// Its weight.
    pub weight: Weight,
    /// Ready or draining.
    pub state: ServerMode,
    /// A backup server: used only while no other server of the backend is up.
    pub backup: bool,
}

/// A backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its name, `<namespace>_<service>_<port>`.
    pub name: BackendName,
    /// Load-balancing algorithm.
    pub balance: Balance,
    /// Sticky sessions.
    pub sticky: Option<Sticky>,
    /// HTTP health check.
    pub health_check: Option<HttpCheck>,
    /// `timeout server` override.
    pub timeout_server: Option<Timeout>,
    /// `timeout connect` override.
    pub timeout_connect: Option<Timeout>,
    /// PROXY protocol to the servers (`send-proxy`, `send-proxy-v2`); servers added at
    /// runtime carry it too.
    pub send_proxy: Option<super::settings::SendProxy>,
    /// Servers by name (each entry's key is the server's own name), in one sorted vector:
    /// a backend holds a few servers, where a B-tree node holds room for eleven.
    pub servers: SortedMap<ServerName, Server>,
    /// HTTP/2 and TLS to the servers (a `default-server` line, and the same keywords on
    /// every `add server`).
    pub protocol: ServerProtocol,
    /// The files its TLS settings name (CA bundle, client certificate and key), by path:
    /// re-encoded PEM, written with the frontend certificates, readable by the owner only.
    /// Their paths hold a digest of the contents, so new contents are a new path (a
    /// reload: HAProxy 2.6 servers keep the CA they were created with).
    pub files: BTreeMap<FilePath, PemPayload>,
    /// `mode tcp`: a TCP service's backend (no HTTP options apply).
    pub tcp: bool,
}

impl Backend {
    /// A leastconn backend without servers or options.
    pub fn new(name: BackendName) -> Self {
        Self {
            name,
            balance: Balance::default(),
            sticky: None,
            health_check: None,
            timeout_server: None,
            timeout_connect: None,
            send_proxy: None,
            servers: SortedMap::new(),
            protocol: ServerProtocol::default(),
            files: BTreeMap::new(),
            tcp: false,
        }
    }

    /// Adds (or replaces) a server under its own name.
    pub fn with_server(mut self, server: Server) -> Self {
        self.servers.insert(server.name.clone(), server);
        self
    }

    /// The `add server` command that gives this backend `server` at runtime with the same
    /// settings the rendered config would: weight and health check. It starts in
    /// maintenance; the caller then sets the state (and `enable health` for a check).
    pub fn add_server(&self, server: &Server) -> AddServer {
        let mut add = AddServer::new(
            ServerRef::new(self.name.clone(), server.name.clone()),
            server.addr.get(),
        );
        add.weight = Some(server.weight);
        add.check = self.health_check.as_ref().map(HttpCheck::server_check);
        add.backup = server.backup;
        add.send_proxy = self.send_proxy;
        add.protocol = self.protocol.clone();
        add
    }
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
        let mut names = BTreeSet::new();
        let mut binds = BTreeSet::new();
        // Each map file is used as one kind of map only: (file, kind).
        let mut map_uses: BTreeSet<(&ConfigPath, u8)> = BTreeSet::new();
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
            map_uses.insert((&fe.maps.exact, 0));
            map_uses.insert((&fe.maps.prefix, 1));
            map_uses.insert((&fe.maps.regex, 2));
            map_uses.insert((&fe.maps.passthrough, 3));
            if let DefaultBackend::Backend(be) = &fe.default_backend
                && !self.backends.contains_key(be)
            {
                out.push(ConfigError::UnknownDefaultBackend {
                    frontend: fe.name.clone(),
                    backend: be.clone(),
                });
            }
        }
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
        let mut kinds: BTreeMap<&ConfigPath, usize> = BTreeMap::new();
        for (file, _) in &map_uses {
            *kinds.entry(file).or_default() += 1;
        }
        for (shared, _) in kinds.into_iter().filter(|(_, n)| *n > 1) {
            out.push(ConfigError::MapReuse(shared.clone()));
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_accept_and_refuse() {
        // (input, valid as ConfigPath, valid as CheckPath)
        let table: &[(&str, bool, bool)] = &[
            ("/etc/haproxy/maps/exact.map", true, true),
            ("/healthz?full=1", false, true),
            ("relative/path", false, false),
            ("/a/../b", false, true),
            ("/a$HOME", false, false),
            ("/a#b", false, false),
            ("/a'b", false, false),
            ("/a\"b", false, false),
            ("/a\\b", false, false),
            ("/a b", false, false),
            ("/a,b", false, true),
            ("", false, false),
        ];
        for (input, path, check) in table {
            assert_eq!(ConfigPath::new(*input).is_ok(), *path, "{input:?}");
            assert_eq!(CheckPath::new(*input).is_ok(), *check, "{input:?}");
        }
        assert!(CookieName::new("SRV_ID-1").is_ok());
        assert!(CookieName::new("a=b").is_err());
        assert!(CookieName::new("x".repeat(65)).is_err());
        assert!(CookieKey::new("c2VjcmV0+/=.-_").is_ok());
        assert!(CookieKey::new("a$b").is_err());
        assert!(CookieKey::new("a b").is_err());
    }

    #[test]
    fn timeouts_render_in_the_largest_exact_unit() {
        let table: &[(u64, &str)] = &[
            (1, "1ms"),
            (1500, "1500ms"),
            (2000, "2s"),
            (90_000, "90s"),
            (120_000, "2m"),
            (3_600_000, "1h"),
            (5_400_000, "90m"),
        ];
        for (ms, want) in table {
            let t = Timeout::new(Duration::from_millis(*ms)).unwrap();
            assert_eq!(t.to_string(), *want);
            assert_eq!(t.get(), Duration::from_millis(*ms));
        }
        assert!(Timeout::new(Duration::from_micros(999)).is_err());
        assert!(Timeout::new(Duration::from_millis(1 << 31)).is_err());
        assert!(Timeout::new(Duration::from_millis((1 << 31) - 1)).is_ok());
    }

    #[test]
    fn server_addresses_are_unicast_with_a_port() {
        let table: &[(&str, bool)] = &[
            ("10.0.0.1:8080", true),
            ("[fd00::1]:80", true),
            ("127.0.0.1:1", true),
            ("10.0.0.1:0", false),
            ("0.0.0.0:80", false),
            ("[::]:80", false),
            ("255.255.255.255:80", false),
            ("224.0.0.1:80", false),
            ("[ff02::1]:80", false),
            ("[fe80::1%2]:80", false),
            ("[::ffff:0.0.0.0]:80", false),
            ("[::ffff:224.0.0.1]:80", false),
            ("[::ffff:255.255.255.255]:80", false),
            ("[::ffff:10.0.0.1]:80", true),
        ];
        for (input, ok) in table {
            let addr: SocketAddr = input.parse().unwrap();
            assert_eq!(ServerAddr::new(addr).is_ok(), *ok, "{input}");
        }
        let v6 = ServerAddr::new("[fd00::1]:80".parse().unwrap()).unwrap();
        assert_eq!(v6.to_string(), "[fd00::1]:80");
    }

    #[test]
    fn threads_are_bounded() {
        assert!(Threads::new(0).is_err());
        assert!(Threads::new(65).is_err());
        assert_eq!(Threads::new(4).unwrap().get(), 4);
    }

    #[test]
    fn add_server_matches_the_rendered_server() {
        let mut be = Backend::new(BackendName::new("ns_svc_80").unwrap());
        be.health_check = Some(HttpCheck {
            path: CheckPath::new("/healthz").unwrap(),
            inter: Timeout::secs(2).unwrap(),
        });
        let srv = Server {
            name: ServerName::new("s1").unwrap(),
            addr: ServerAddr::new("10.0.0.1:80".parse().unwrap()).unwrap(),
            weight: Weight::new(7).unwrap(),
            state: ServerMode::Ready,
            backup: false,
        };
        let text = crate::proto::Command::AddServer(be.add_server(&srv))
            .to_text()
            .unwrap();
        assert_eq!(
            text,
            "add server ns_svc_80/s1 10.0.0.1:80 weight 7 check inter 2000ms rise 2 fall 3"
        );
        // The protocol keywords of the default-server line, which add server ignores.
        be.protocol = crate::proto::ServerProtocol {
            h2: true,
            tls: Some(crate::proto::ServerTls {
                sni: Some(crate::proto::TlsName::new("b.internal").unwrap()),
                ..Default::default()
            }),
        };
        let text = crate::proto::Command::AddServer(be.add_server(&srv))
            .to_text()
            .unwrap();
        assert_eq!(
            text,
            "add server ns_svc_80/s1 10.0.0.1:80 weight 7 check inter 2000ms rise 2 fall 3 ssl \
             verify none sni str(b.internal) alpn h2"
        );
        let mut cfg = String::new();
        super::super::render::render_backend(&mut cfg, &be, false, false);
        assert!(cfg.contains("\n    default-server ssl verify none sni str(b.internal) alpn h2\n"));
    }

    fn problem_config() -> Config {
        let mut cfg = Config::new(Global::new(ConfigPath::new("/run/admin.sock").unwrap()));
        let maps = RouteMaps::in_dir(std::path::Path::new("/etc/haproxy")).unwrap();
        let be = BackendName::new("ns_a_80").unwrap();
        cfg.insert_backend(Backend::new(be.clone()));
        cfg.frontends.push(Frontend {
            canary_names: Default::default(),
            name: FrontendName::new("http").unwrap(),
            binds: vec!["0.0.0.0:80".parse().unwrap()],
            maps,
            default_backend: DefaultBackend::Backend(be),
            tls: None,
            trusted_proxies: Vec::new(),
        });
        cfg
    }

    #[test]
    fn problems_are_found() {
        let ok = problem_config();
        assert_eq!(ok.problems(), vec![]);

        let mut cfg = problem_config();
        let mut twin = cfg.frontends[0].clone();
        twin.maps.exact = twin.maps.prefix.clone();
        twin.default_backend = DefaultBackend::Backend(BackendName::new("ns_missing_80").unwrap());
        cfg.frontends.push(twin);
        let wrong = BackendName::new("wrong").unwrap();
        cfg.backends.insert(
            wrong.clone(),
            Backend::new(BackendName::new(BUILTIN_404).unwrap()),
        );
        cfg.routes.push(Route {
            canary: None,
            host: super::super::RouteHost::Any,
            path: super::super::RoutePath::new("/").unwrap(),
            kind: super::super::PathKind::Prefix,
            backend: BackendName::new("ns_gone_80").unwrap(),
            https_redirect: false,
            policy: Default::default(),
        });
        let problems = cfg.problems();
        let want = [
            "backend _default_404 is stored under the key wrong",
            "backend name _default_404 is reserved for the built-in 404 backend",
            "two frontends are named http",
            "bind address 0.0.0.0:80 has port 0 or is used twice",
            "frontend http defaults to the unknown backend ns_missing_80",
            "map file /etc/haproxy/maps/prefix.map is used as two kinds of map (exact, prefix, regex)",
            "route 0 points at the unknown backend ns_gone_80",
        ];
        let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(got, want);
    }
}
