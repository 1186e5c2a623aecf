//! Gateway API routes as HAProxy serves them: a host map and a rule map, both changed at
//! runtime, read per request by one fixed Lua action (see docs/gateway-api.md).
//!
//! The host map says, for a listener (HTTP or HTTPS) and a host pattern, which rule
//! candidates apply in precedence order; the rule map holds each candidate's match and
//! action. The Lua action finds the most specific host entry for a request (exact host,
//! then `*.` suffixes, longest first, then any host), tries its candidates in order and
//! acts on the first that matches. Translation computes precedence, listener isolation and
//! hostname intersection; Lua only compares.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::BackendName;

use super::route_maps::RouteMaps;
use super::value::{ConfigPath, InvalidValue};

mod map;
mod render;
mod valid;

pub use map::{
    GatewayMap, GatewayMaps, INGRESS_MARKER, MAX_VALUE_LEN, decode, encode, gateway_commands,
    render_gateway_map,
};
pub use render::{LUA, REQUEST_RULE, RESPONSE_RULE, TIMEOUT_RULE, global_line, rendered_lines};
pub(super) use render::{is_bind_line, render_binds};
pub use valid::{
    check_header_name, check_header_value, check_hostname, check_method, check_path,
    check_query_name, check_redirect_scheme, check_regex, check_status, check_timeout,
};

/// The public bind a request came in on (HAProxy tells them apart by the bind's `name`,
/// which is [`Listen::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Listen {
    /// The HTTP bind (`--http-bind`), shared with the Ingresses.
    Http,
    /// The HTTPS bind (`--https-bind`), shared with the Ingresses.
    Https,
    /// A bind of Gateway listeners alone: a Gateway's own address, or a listener port the
    /// agent's binds do not have. A request on it that no Gateway route serves gets 404
    /// (never an Ingress route).
    Bind(GatewayBind),
}

/// A bind only Gateway listeners use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GatewayBind {
    /// The address and port HAProxy listens on.
    pub addr: std::net::SocketAddr,
    /// TLS (an HTTPS listener: the HTTPS frontend's certificates and crt-list).
    pub tls: bool,
}

impl Listen {
    /// TLS is terminated on it.
    pub fn tls(self) -> bool {
        match self {
            Listen::Http => false,
            Listen::Https => true,
            Listen::Bind(b) => b.tls,
        }
    }

    /// A bind shared with the Ingresses (an Ingress host may take a request there).
    pub fn shared(self) -> bool {
        !matches!(self, Listen::Bind(_))
    }
}

/// The hosts a host-map entry is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostPattern {
    /// One host name, lowercase.
    Exact(String),
    /// `*.<suffix>`: any host with one or more labels before `suffix` (lowercase, without
    /// the `*.`).
    Wildcard(String),
    /// Any host (listeners and routes without host names).
    Any,
}

/// A host-map key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostKey {
    /// The bind.
    pub listen: Listen,
    /// The hosts.
    pub host: HostPattern,
}

/// A host-map value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEntry {
    /// Gateway API rules serve these hosts.
    Rules {
        /// The listener's port as the Gateway declares it (redirects without a port or
        /// scheme of their own use it).
        listener_port: u16,
        /// Candidates in precedence order: the first that matches a request wins; none
        /// matching answers 404.
        candidates: Vec<CandidateId>,
    },
    /// An Ingress serves this exact host, which a Gateway API wildcard also covers: the
    /// request goes on to the Ingress route maps.
    Ingress,
}

/// A candidate's id in the rule map: `<namespace>/<route>/<rule index>/<match index>`, so
/// it stays the same while the route is edited elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CandidateId(pub String);

impl CandidateId {
    /// The id of match `m` of rule `rule` of route `namespace/route` (Kubernetes names:
    /// lower-case letters, digits, `.` and `-`).
    pub fn new(namespace: &str, route: &str, rule: usize, m: usize) -> Result<Self, InvalidValue> {
        let id = Self(format!("{namespace}/{route}/{rule}/{m}"));
        id.check()?;
        Ok(id)
    }

    /// Checks the id's form: four `/`-separated parts of lower-case letters, digits, `.`
    /// and `-`, at most 512 bytes.
    pub fn check(&self) -> Result<(), InvalidValue> {
        let s = &self.0;
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        };
        if s.len() > 512 || s.split('/').count() != 4 || !s.split('/').all(part_ok) {
            return Err(InvalidValue::new(
                "gateway candidate id",
                s.as_str(),
                "it must be namespace/route/rule/match of lower-case letters, digits, . and -",
            ));
        }
        Ok(())
    }
}

/// One match of one rule of one HTTPRoute, with the rule's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// What the request must look like.
    pub matches: Match,
    /// What happens to it then.
    pub action: Action,
}

/// An `HTTPRouteMatch`: all parts must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The path (the request's path without its query string).
    pub path: PathMatch,
    /// The method, uppercase.
    pub method: Option<String>,
    /// Header matches (names lowercase: compared case-insensitively).
    pub headers: Vec<ValueMatch>,
    /// Query parameter matches (names compared case-sensitively).
    pub query: Vec<ValueMatch>,
}

/// A path match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The whole path.
    Exact(String),
    /// Path elements: `/a` matches `/a`, `/a/` and `/a/b`, not `/ab` (no trailing `/`
    /// kept, except for `/` itself).
    Prefix(String),
    /// A regular expression matched against the whole path (validated: the syntax PCRE2 and
    /// the `regex-syntax` parser read alike).
    Regex(String),
}

/// A header or query parameter match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueMatch {
    /// The name.
    pub name: String,
    /// The value, or the regular expression.
    pub value: String,
    /// `value` is a regular expression (matched anywhere unless anchored).
    pub regex: bool,
}

/// What a matching candidate does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// `RequestHeaderModifier`.
    pub request_headers: HeaderOps,
    /// `ResponseHeaderModifier`.
    pub response_headers: HeaderOps,
    /// Redirect or forward.
    pub kind: ActionKind,
}

/// Redirect or forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    /// `RequestRedirect`.
    Redirect(Redirect),
    /// To the backends.
    Forward(Forward),
}

/// Header modifications, in the spec's order: set (replace), add (append), remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderOps {
    /// Replace (or add) these headers.
    pub set: Vec<(String, String)>,
    /// Append these values.
    pub add: Vec<(String, String)>,
    /// Remove these headers (names lowercase).
    pub remove: Vec<String>,
}

/// Forwarding to weighted backends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forward {
    /// The backends and their weights; an entry without a backend (a reference that is
    /// missing or not permitted) answers 500 for its share; all weights 0 or no entry: 500.
    pub backends: Vec<WeightedBackend>,
    /// `URLRewrite.hostname`.
    pub rewrite_host: Option<String>,
    /// `URLRewrite.path`.
    pub rewrite_path: Option<PathRewrite>,
    /// `timeouts.backendRequest` (or `request`): the server timeout for this request.
    pub timeout: Option<Duration>,
}

/// One weighted backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedBackend {
    /// The HAProxy backend (a Service port's), `None` when the reference does not resolve.
    pub backend: Option<BackendName>,
    /// The relative weight.
    pub weight: u32,
}

/// A path change of a rewrite or redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathRewrite {
    /// `ReplaceFullPath`.
    Full(String),
    /// `ReplacePrefixMatch`: replaces the candidate's matched [`PathMatch::Prefix`].
    Prefix(String),
}

/// A redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// `http` or `https` (the request's when `None`).
    pub scheme: Option<String>,
    /// The host (the request's when `None`).
    pub hostname: Option<String>,
    /// The port (see the spec's rules for `None`).
    pub port: Option<u16>,
    /// The path (the request's when `None`).
    pub path: Option<PathRewrite>,
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
}

/// Every Gateway API route HAProxy serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayRoutes {
    /// The host map.
    pub hosts: BTreeMap<HostKey, HostEntry>,
    /// The rule map.
    pub candidates: BTreeMap<CandidateId, Candidate>,
    /// The binds of Gateway listeners alone (a structural change: new binds reload).
    pub binds: std::collections::BTreeSet<GatewayBind>,
}

impl Candidate {
    /// Every path (prefix `/`), no other match and no filter, to `backends`.
    pub fn forward_all(backends: Vec<WeightedBackend>) -> Self {
        Candidate {
            matches: Match {
                path: PathMatch::Prefix("/".into()),
                method: None,
                headers: vec![],
                query: vec![],
            },
            action: Action {
                request_headers: HeaderOps::default(),
                response_headers: HeaderOps::default(),
                kind: ActionKind::Forward(Forward {
                    backends,
                    ..Forward::default()
                }),
            },
        }
    }
}

impl GatewayRoutes {
    /// Serves `key` with `candidates`, in this order of precedence.
    pub fn insert_host(
        &mut self,
        key: HostKey,
        listener_port: u16,
        candidates: Vec<(CandidateId, Candidate)>,
    ) {
        let ids = candidates.iter().map(|(id, _)| id.clone()).collect();
        self.candidates.extend(candidates);
        let entry = HostEntry::Rules {
            listener_port,
            candidates: ids,
        };
        self.hosts.insert(key, entry);
    }

    /// True when no Gateway API route is served and no Gateway has a bind of its own.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.candidates.is_empty() && self.binds.is_empty()
    }

    /// Every value that cannot be served as it is, with the host key or candidate it is
    /// in. Translation checks each field as it builds the model (with the `check_*`
    /// helpers) and leaves bad rules out, so this is the last line of defence: rendering
    /// leaves out the entries named here.
    pub fn problems(&self) -> Vec<(String, InvalidValue)> {
        let mut out = Vec::new();
        for (key, entry) in &self.hosts {
            let at = key.encode();
            if let Err(e) = valid::check_host_key(key) {
                out.push((at.clone(), e));
            }
            if let HostEntry::Rules { candidates, .. } = entry {
                for id in candidates {
                    if let Err(e) = id.check() {
                        out.push((at.clone(), e));
                    }
                }
            }
            if entry.encode().len() > MAX_VALUE_LEN {
                out.push((at, too_long(entry.encode())));
            }
        }
        for (id, c) in &self.candidates {
            let mut errs = Vec::new();
            if let Err(e) = id.check() {
                errs.push(e);
            }
            valid::check_candidate(c, &mut errs);
            if c.encode().len() > MAX_VALUE_LEN {
                errs.push(too_long(c.encode()));
            }
            out.extend(errs.into_iter().map(|e| (id.0.clone(), e)));
        }
        out
    }

    /// The routes without the entries [`Self::problems`] names (a host entry that names a
    /// left-out candidate keeps its other candidates).
    pub fn servable(&self) -> GatewayRoutes {
        let problems = self.problems();
        if problems.is_empty() {
            return self.clone();
        }
        let bad: std::collections::BTreeSet<&str> =
            problems.iter().map(|(at, _)| at.as_str()).collect();
        let candidates: BTreeMap<CandidateId, Candidate> = self
            .candidates
            .iter()
            .filter(|(id, _)| !bad.contains(id.0.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let hosts = self
            .hosts
            .iter()
            .filter(|(k, _)| !bad.contains(k.encode().as_str()))
            .map(|(k, v)| {
                let v = match v {
                    HostEntry::Rules {
                        listener_port,
                        candidates: ids,
                    } => HostEntry::Rules {
                        listener_port: *listener_port,
                        candidates: ids
                            .iter()
                            .filter(|i| candidates.contains_key(*i))
                            .cloned()
                            .collect(),
                    },
                    HostEntry::Ingress => HostEntry::Ingress,
                };
                (k.clone(), v)
            })
            .collect();
        GatewayRoutes {
            hosts,
            candidates,
            binds: self.binds.clone(),
        }
    }
}

fn too_long(v: String) -> InvalidValue {
    InvalidValue::new(
        "gateway map value",
        v,
        "its encoded form is longer than 4000 bytes",
    )
}

/// The Gateway API files: the Lua action in the config directory, the two maps beside the
/// route maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayFiles {
    /// `<dir>/gateway.lua`.
    pub lua: ConfigPath,
    /// `<dir>/maps/gateway_hosts.map`.
    pub hosts: ConfigPath,
    /// `<dir>/maps/gateway_rules.map`.
    pub rules: ConfigPath,
}

/// The Gateway API files of `config` while it serves some Gateway API route (beside the
/// first frontend's route maps); `None` otherwise, and nothing of this feature is rendered.
pub fn gateway_files(config: &super::Config) -> Option<GatewayFiles> {
    if config.gateway.is_empty() {
        return None;
    }
    config
        .frontends
        .first()
        .map(|f| GatewayFiles::of_maps(&f.maps))
}

/// The Lua file's name, in the config directory.
pub const LUA_FILE: &str = "gateway.lua";
/// The host map's name, in the maps directory.
pub const HOSTS_MAP: &str = "gateway_hosts.map";
/// The rule map's name, in the maps directory.
pub const RULES_MAP: &str = "gateway_rules.map";

impl GatewayFiles {
    /// The files of a config whose route maps are `maps` (`<dir>/maps/exact.map`…).
    pub fn of_maps(maps: &RouteMaps) -> Self {
        let maps_dir = std::path::Path::new(maps.exact.as_str())
            .parent()
            .unwrap_or(std::path::Path::new("/"));
        let dir = maps_dir.parent().unwrap_or(std::path::Path::new("/"));
        let path = |p: std::path::PathBuf| {
            ConfigPath::from_path(&p).expect("a config path's directory joined with a fixed name")
        };
        Self {
            lua: path(dir.join(LUA_FILE)),
            hosts: path(maps_dir.join(HOSTS_MAP)),
            rules: path(maps_dir.join(RULES_MAP)),
        }
    }

    /// The file of map `m`.
    pub fn map(&self, m: GatewayMap) -> &ConfigPath {
        match m {
            GatewayMap::Hosts => &self.hosts,
            GatewayMap::Rules => &self.rules,
        }
    }
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
