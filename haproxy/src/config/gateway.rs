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

/// The public bind a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Listen {
    /// The HTTP bind (`--http-bind`).
    Http,
    /// The HTTPS bind (`--https-bind`).
    Https,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl GatewayRoutes {
    /// True when no Gateway API route is served.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.candidates.is_empty()
    }
}
