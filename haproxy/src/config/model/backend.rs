//! Backends and their servers: balancing, stickiness, health checks, server modes.

use std::collections::BTreeMap;

use crate::names::{BackendName, FilePath, ServerName, ServerRef};
use crate::proto::command::{AddServer, HealthCheck, PemPayload, Weight};
use crate::proto::server_proto::ServerProtocol;
use crate::sorted_map::SortedMap;

use super::super::value::{InvalidValue, check_set};
use super::values::{CheckPath, CookieKey, CookieName, ServerAddr, Timeout};

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
        check_set(
            "cookie attribute",
            s,
            |c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '~' | '-'),
            "only letters, digits and / . _ ~ - are allowed",
        )?;
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
    pub send_proxy: Option<crate::config::settings::SendProxy>,
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
