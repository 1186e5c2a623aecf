//! Ingress annotations (ours and ingress-nginx's), each validated before it can reach
//! HAProxy. See docs/annotations.md for each one's effect and whether changing it reloads.

use std::collections::BTreeMap;

use haproxy::config::{
    Balance, CheckPath, CookieAttrs, CookieKey, CookieName, ErrorCodes, HttpCheck, PolicyText,
    RouteHost, RoutePolicy, Sticky, Timeout,
};

pub mod auth;
mod backend_options;
pub mod catalog;
pub mod client_cert;
mod nginx_canary;
mod reader;
pub mod regex_paths;
mod route_policy;
pub mod source_ranges;
pub mod upstream;
mod value_error;

pub(crate) use backend_options::seconds_or_duration;
use backend_options::{affinity, balance, canary, duration, timeouts};
use reader::Reader;
pub use reader::{Status, Verdict};
pub use source_ranges::SourceRanges;
pub use value_error::ValueError;

/// Prefix of our annotations.
pub const PREFIX: &str = "haproxy-agent.io/";
/// Load-balancing algorithm of the Ingress's backends.
pub const LOAD_BALANCE: &str = "haproxy-agent.io/load-balance";
/// A second Service taking a share of the traffic.
pub const CANARY_SERVICE: &str = "haproxy-agent.io/canary-service";
/// The canary's share, in percent.
pub const CANARY_WEIGHT: &str = "haproxy-agent.io/canary-weight";
/// `timeout server` of the Ingress's backends.
pub const TIMEOUT_SERVER: &str = "haproxy-agent.io/timeout-server";
/// `timeout connect` of the Ingress's backends.
pub const TIMEOUT_CONNECT: &str = "haproxy-agent.io/timeout-connect";
/// HTTP health check path.
pub const HEALTH_CHECK_PATH: &str = "haproxy-agent.io/health-check-path";
/// HTTP health check interval.
pub const HEALTH_CHECK_INTERVAL: &str = "haproxy-agent.io/health-check-interval";
/// Sticky sessions: the cookie name.
pub const STICKY_COOKIE: &str = "haproxy-agent.io/sticky-cookie";

/// Options that apply to every backend an Ingress routes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendOptions {
    /// Load-balancing algorithm.
    pub balance: Balance,
    /// `timeout server`.
    pub timeout_server: Option<Timeout>,
    /// `timeout connect`.
    pub timeout_connect: Option<Timeout>,
    /// Health check.
    pub health_check: Option<HttpCheck>,
    /// Sticky sessions.
    pub sticky: Option<CookieName>,
    /// Attributes of the sticky cookie.
    pub cookie_attrs: CookieAttrs,
    /// PROXY protocol to the servers (backend-proxy-protocol).
    pub send_proxy: Option<haproxy::config::SendProxy>,
    /// How the servers are spoken to (backend-protocol, proxy-ssl-*), its Secret read.
    pub upstream: crate::translate::upstream::Upstream,
}

impl BackendOptions {
    /// The sticky-session settings for a backend: the key is derived from the backend name,
    /// so every replica of the agent renders the same one.
    pub fn sticky_for(&self, backend: &haproxy::BackendName) -> Option<Sticky> {
        self.sticky.as_ref().map(|cookie| Sticky {
            cookie: cookie.clone(),
            dynamic_key: CookieKey::new(format!("haproxy-agent.{}", backend.as_str()))
                .expect("backend names are valid cookie key characters"),
            attrs: self.cookie_attrs.clone(),
        })
    }
}

/// A canary split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    /// The canary Service (same namespace, same port as the primary).
    pub service: String,
    /// Its share of the traffic, 0 to 100.
    pub percent: u8,
}

/// The classic controller's: redirect plain HTTP to HTTPS for hosts with TLS (default true).
pub const SSL_REDIRECT: &str = "ingress.kubernetes.io/ssl-redirect";
/// The classic controller's: redirect plain HTTP to HTTPS even without TLS on the host
/// (TLS terminated in front of HAProxy); default false.
pub const FORCE_SSL_REDIRECT: &str = "ingress.kubernetes.io/force-ssl-redirect";

/// What the annotations of one Ingress say, and how each recognised annotation was taken.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Backend options.
    pub options: BackendOptions,
    /// Whether the balance algorithm was set by an annotation (not the default).
    pub explicit_balance: bool,
    /// Canary split.
    pub canary: Option<Canary>,
    /// How this Ingress's routes redirect plain HTTP.
    pub redirect: Redirect,
    /// Redirects, rewrites and headers of every route of the Ingress (runtime: they ride in
    /// the route map value).
    pub policy: RoutePolicy,
    /// default-backend: a Service in the same namespace whose pods serve, as backup servers,
    /// while the route's own Service has none up; with the field to blame.
    pub fallback: Option<(String, String)>,
    /// server-alias: more hosts for every rule with a host, with the field to blame.
    pub aliases: Vec<(String, RouteHost)>,
    /// custom-http-errors: the upstream codes the error backend's page replaces, with the
    /// field to blame.
    pub custom_errors: Option<(String, ErrorCodes)>,
    /// from-to-www-redirect: each rule's host twin (`www.` added or removed) answers `308`
    /// to the host; the field to blame.
    pub www_redirect: Option<String>,
    /// Client address lists (allowlist-source-range, denylist-source-range); the routes
    /// name them by the Ingress (see [`Parsed::policy_for`]).
    pub source: SourceRanges,
    /// The Ingress's paths are regexes (use-regex, or a rewrite-target): case-insensitive,
    /// anchored at the start, matched as a prefix; with the highest capture group the
    /// rewrite target names (`$N`).
    pub regex: Option<u32>,
    /// Basic authentication (auth-type, auth-secret, auth-secret-type, auth-realm); the
    /// Secret is read with the snapshot, in the Ingress's fragment.
    pub auth: auth::AuthRequest,
    /// An ingress-nginx canary Ingress (`canary: "true"`): its routes join the main
    /// Ingress's routes of the same hosts and paths, taking [`Parsed::nginx_rule`]'s share.
    pub nginx_canary: bool,
    /// The canary rule of a canary Ingress; `None` when a value is invalid (named), and
    /// the canary then takes no requests.
    pub nginx_rule: Option<haproxy::config::CanaryRule>,
    /// The header pattern [`Parsed::nginx_rule`] names (canary-by-header-pattern), for the
    /// Ingress's source lists (the canary ACL file).
    pub nginx_pattern: Option<haproxy::config::CanaryPattern>,
    /// backend-protocol and the proxy-ssl annotations (the Secret is read with the
    /// snapshot, in the Ingress's fragment).
    pub upstream: upstream::UpstreamRequest,
    /// The auth-tls annotations (client certificates; the Secret is read with the snapshot,
    /// in the Ingress's fragment for its routes and in the TLS fold for its hosts).
    pub client_cert: client_cert::ClientCertRequest,
    /// ssl-passthrough: the field to blame, when `true` (the translator honours it only
    /// with `--enable-ssl-passthrough`).
    pub ssl_passthrough: Option<String>,
    /// Every annotation under a recognised prefix, by key, with how it was taken.
    pub verdicts: Vec<Verdict>,
}

impl Parsed {
    /// The route policy of Ingress `owner` (`namespace/name`): its limits are counted per
    /// client address and Ingress, and its address lists are named by it.
    pub fn policy_for(&self, owner: &str) -> RoutePolicy {
        let mut policy = self.policy.clone();
        let id = || {
            PolicyText::new("ingress", owner)
                .expect("namespace/name is printable ASCII without | # ; or space")
        };
        if let Some(l) = policy.limit.as_mut() {
            l.key = id();
        }
        policy.allow_list = self.source.allow.as_ref().map(|_| id());
        policy.deny_list = self.source.deny.as_ref().map(|_| id());
        if let Some(c) = policy
            .cors
            .as_mut()
            .filter(|c| c.origin.as_str() == "@list")
        {
            c.origin = PolicyText::new(
                "origin list",
                &format!("@{}", haproxy::config::cors_id(&id())),
            )
            .expect("@ and an id");
        }
        policy.exempt_list = self
            .source
            .exempt
            .as_ref()
            .filter(|_| policy.limit.is_some())
            .map(|_| haproxy::config::exempt_id(&id()));
        policy
    }

    /// The verdicts that are problems.
    pub fn problems(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| v.status.reason().is_some())
    }
}

/// The HTTP-to-HTTPS redirect annotations of one Ingress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    /// `ssl-redirect`: redirect when the route's host has TLS.
    pub ssl_redirect: bool,
    /// `force-ssl-redirect`: redirect always.
    pub force: bool,
}

impl Default for Redirect {
    fn default() -> Self {
        Self {
            ssl_redirect: true,
            force: false,
        }
    }
}

impl Redirect {
    /// Whether a route redirects, given whether its host has TLS.
    pub fn applies(self, host_has_tls: bool) -> bool {
        self.force || (self.ssl_redirect && host_has_tls)
    }
}

/// A DNS label (RFC 1123) as Kubernetes names namespaces and Services: 1 to 63 lower-case
/// letters, digits and `-`, no `-` at either end.
pub(super) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether an Ingress asks for ssl-passthrough (`true`, not on a canary Ingress), read
/// without naming problems: what the TLS fold reads (honoured only with
/// `--enable-ssl-passthrough`).
pub fn passes_through(annotations: Option<&BTreeMap<String, String>>) -> bool {
    let Some(a) = annotations else { return false };
    let mut r = Reader::new(a);
    r.flag("ssl-passthrough", false) && !r.flag("canary", false)
}

/// Parses an Ingress's annotations; anything invalid is named and left at its default.
pub fn parse(annotations: Option<&BTreeMap<String, String>>) -> Parsed {
    let mut out = Parsed::default();
    let Some(a) = annotations else { return out };
    let mut r = Reader::new(a);
    out.redirect = Redirect {
        ssl_redirect: r.flag("ssl-redirect", true),
        force: r.flag("force-ssl-redirect", false),
    };
    out.nginx_canary = r.flag("canary", false);
    if r.flag("ssl-passthrough", false)
        && let Some((key, _)) = r.get("ssl-passthrough")
    {
        out.ssl_passthrough = Some(format!("metadata.annotations[{key}]"));
    }
    balance(&mut r, &mut out);
    timeouts(&mut r, &mut out);
    health_check(&mut r, &mut out);
    affinity(&mut r, &mut out);
    upstream::read(&mut r, &mut out);
    if let Some((key, v)) = r.get("backend-proxy-protocol") {
        match v.trim().to_ascii_lowercase().as_str() {
            "v1" => out.options.send_proxy = Some(haproxy::config::SendProxy::V1),
            "v2" => out.options.send_proxy = Some(haproxy::config::SendProxy::V2),
            _ => r.invalid(key, format!("{v:?} is not v1 or v2")),
        }
    }
    client_cert::read(&mut r, &mut out);
    if out.nginx_canary {
        out.nginx_rule = nginx_canary::rule(&mut r, &mut out.nginx_pattern);
    } else {
        nginx_canary::without_canary(&mut r);
        canary(&mut r, &mut out);
    }
    let mut origins = None;
    out.policy = route_policy::policy(&mut r, &mut origins);
    // ingress-nginx: a rewrite-target makes the paths regexes too.
    let use_regex = r.flag("use-regex", false);
    out.regex = match &out.policy.rewrite {
        Some(t) => Some(regex_paths::groups_named(t)),
        None => use_regex.then_some(0),
    };
    out.aliases = aliases(&mut r);
    if r.flag("from-to-www-redirect", false)
        && let Some((key, _)) = r.get("from-to-www-redirect")
    {
        out.www_redirect = Some(format!("metadata.annotations[{key}]"));
    }
    default_backend(&mut r, &mut out);
    out.custom_errors = custom_errors(&mut r);
    out.source = source_ranges::read(&mut r);
    out.source.origins = origins;
    out.auth = auth::read(&mut r);
    if out.nginx_canary {
        nginx_canary::mark_ignored(&mut r);
    }
    out.verdicts = r.finish();
    out
}

/// `health-check-path`, every `health-check-interval` (2 s when not set).
fn health_check(r: &mut Reader<'_>, out: &mut Parsed) {
    let interval = r
        .get("health-check-interval")
        .and_then(|(key, v)| duration(v).map_err(|e| r.invalid(key, e)).ok());
    if let Some((key, p)) = r.get("health-check-path") {
        match CheckPath::new(p.to_string()) {
            Ok(path) => {
                out.options.health_check = Some(HttpCheck {
                    path,
                    inter: interval
                        .unwrap_or_else(|| Timeout::secs(2).expect("2s is a valid timeout")),
                })
            }
            Err(e) => r.invalid(key, e.to_string()),
        }
    }
}

/// `default-backend`: a Service of the Ingress's namespace, not with a canary.
fn default_backend(r: &mut Reader<'_>, out: &mut Parsed) {
    if let Some((key, v)) = r.get("default-backend") {
        let v = v.trim();
        if !is_dns_label(v) {
            r.invalid(key, format!("{v:?} is not a Service name (same namespace)"));
        } else if out.canary.is_some() {
            r.invalid(key, "not combined with canary-service here; ignored");
        } else {
            out.fallback = Some((format!("metadata.annotations[{key}]"), v.to_string()));
        }
    }
}

/// Parses an Ingress's annotations over `defaults` (annotation name -> value, the global
/// ConfigMap's): a default counts as the `nginx.ingress.kubernetes.io/` annotation when
/// the Ingress sets the name under no prefix. Verdicts are the Ingress's own annotations'.
pub fn parse_with_defaults(
    annotations: Option<&BTreeMap<String, String>>,
    defaults: &BTreeMap<String, String>,
) -> Parsed {
    if defaults.is_empty() {
        return parse(annotations);
    }
    let mut merged = annotations.cloned().unwrap_or_default();
    let mut injected = Vec::new();
    for (name, value) in defaults {
        let set = catalog::PREFIXES
            .iter()
            .any(|p| merged.contains_key(&format!("{p}{name}")));
        if !set {
            let key = format!("{}{name}", catalog::PREFIXES[1]);
            merged.insert(key.clone(), value.clone());
            injected.push(key);
        }
    }
    let mut out = parse(Some(&merged));
    out.verdicts.retain(|v| !injected.contains(&v.key));
    out
}

/// What custom-http-errors does differently from ingress-nginx, always.
pub const CUSTOM_ERRORS_DIFFER: &str = "HAProxy's own answers (503 when no server is up, \
    504 on a timeout) are not replaced: a Lua response action sees upstream answers only; the \
    error backend is asked with GET / without the request's body or other headers, and a page \
    above 12 KiB leaves the upstream's answer in place";

/// `custom-http-errors`: comma-separated codes from 400 to 599.
fn custom_errors(r: &mut Reader<'_>) -> Option<(String, ErrorCodes)> {
    let (key, v) = r.get("custom-http-errors")?;
    let mut codes = Vec::new();
    for part in v.split(',').map(str::trim) {
        let code = (part.len() == 3 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u16>().ok())
            .flatten()
            .filter(|c| (400..=599).contains(c));
        match code {
            Some(c) => codes.push(c),
            None => {
                r.invalid(
                    key,
                    format!(
                        "{part:?} is not an HTTP error code from 400 to 599; no custom error pages"
                    ),
                );
                return None;
            }
        }
    }
    let codes = ErrorCodes::new(codes).expect("at least one code, each from 400 to 599");
    r.differs(key, CUSTOM_ERRORS_DIFFER);
    Some((format!("metadata.annotations[{key}]"), codes))
}

/// `server-alias`: comma-separated host names (a `*.` wildcard allowed).
fn aliases(r: &mut Reader<'_>) -> Vec<(String, RouteHost)> {
    let Some((key, v)) = r.get("server-alias") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match RouteHost::parse(name) {
            Ok(RouteHost::Any) | Err(_) => {
                r.invalid(key, format!("{name:?} is not a host name"));
                return Vec::new();
            }
            Ok(h) => out.push((format!("metadata.annotations[{key}]"), h)),
        }
    }
    out
}

#[cfg(test)]
mod tests;
