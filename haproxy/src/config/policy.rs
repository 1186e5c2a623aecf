//! Per-route policies that ride in the route map value after the backend: redirects, the
//! application root, a path rewrite and request headers. The frontend applies them with
//! fixed rules reading the value's fields, so changing one is a map update, not a reload.
//!
//! Value layout (fields split by `|`, trailing empty fields left out):
//! `backend|flags|redirect|app-root|x-forwarded-prefix|rewrite|upstream-vhost|max-body|
//! limit-key|limit-1s|limit-10s|limit-1m|limit-connections`, where `flags` is `https` when
//! plain HTTP is redirected to HTTPS and `redirect` is the 3-digit code followed by the
//! location, then `cors-origin|cors-methods|cors-headers|cors-expose|cors-credentials|
//! cors-max-age`, then `allow-list|deny-list|exempt-list` (the ids of the Ingress's client
//! address lists, whose entries are in ACL files: see [`super::source_list`]), then `auth`
//! (a basic-authentication user list: see [`super::userlist`]), then `www-redirect`, then
//! `custom-errors` (see [`super::custom_errors`]), then `hsts` (see
//! [`super::settings::Hsts`]), then `client-cert`, `client-dn` and `client-error-page` (see
//! [`super::client_cert`]). The limits count requests
//! per client address and limit key in fixed stick
//! tables ([`LIMIT_TABLES`]); the numbers are compared with arithmetic on the value's fields,
//! so a new limit is a map update too.

use std::fmt;

use super::custom_errors::CustomErrors;
use super::value::InvalidValue;

mod rules;

pub(super) use rules::{frontend_rules, limit_tables};

/// Longest policy text; a map value holds the backend and every field below HAProxy's limit.
pub const MAX_POLICY_LEN: usize = 1024;

/// Text carried in a route map value: printable ASCII without whitespace, `|` (the field
/// separator), `#` or `;`, at most [`MAX_POLICY_LEN`] bytes. It is data to HAProxy (a sample), never
/// parsed as configuration or a log-format.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyText(String);

impl PolicyText {
    /// Validates any text.
    pub fn new(what: &'static str, s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() {
            return Err(InvalidValue::new(what, s, "it is empty"));
        }
        if s.len() > MAX_POLICY_LEN {
            return Err(InvalidValue::new(what, s, "it is longer than 1024 bytes"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'|' | b'#' | b';'))
        {
            return Err(InvalidValue::new(
                what,
                s,
                "only printable ASCII without whitespace, |, # or ; is allowed",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// Validates an absolute path (`/…`).
    pub fn path(what: &'static str, s: &str) -> Result<Self, InvalidValue> {
        if !s.starts_with('/') {
            return Err(InvalidValue::new(what, s, "it must start with /"));
        }
        if s.contains('?') {
            return Err(InvalidValue::new(what, s, "a path holds no ?"));
        }
        Self::new(what, s)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A redirect status HAProxy's `redirect` supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RedirectCode(u16);

impl RedirectCode {
    /// The codes, in the order the frontend tests them.
    pub const ALL: [u16; 5] = [301, 302, 303, 307, 308];

    /// Validates a code.
    pub fn new(code: u16) -> Result<Self, InvalidValue> {
        if Self::ALL.contains(&code) {
            Ok(Self(code))
        } else {
            Err(InvalidValue::new(
                "redirect code",
                code.to_string(),
                "HAProxy redirects with 301, 302, 303, 307 or 308",
            ))
        }
    }

    /// The code.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// Answer every request of the route with a redirect.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyRedirect {
    /// The status.
    pub code: RedirectCode,
    /// The `Location`.
    pub location: PolicyText,
}

/// Request limits per client address (and [`RateLimit::key`]), answered with `503` as
/// ingress-nginx does by default. Each is "more than N" in its window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RateLimit {
    /// What the counters are kept per, besides the client address (the Ingress).
    pub key: PolicyText,
    /// Requests in the last second.
    pub per_second: Option<u32>,
    /// Requests in the last 10 seconds.
    pub per_10s: Option<u32>,
    /// Requests in the last minute.
    pub per_minute: Option<u32>,
    /// Requests in progress at once.
    pub concurrent: Option<u32>,
}

/// The value field (`field(n,|)`, counted from 1 with the backend) holding the route's
/// basic-authentication list.
pub const AUTH_FIELD: u8 = 23;

/// The stick tables the limits count in: `(name, what they store)`, tracked as sc0, sc1 and
/// sc2 (HAProxy 2.6 has three tracking counters).
pub const LIMIT_TABLES: [(&str, &str); 3] = [
    ("_limit_1s", "http_req_rate(1s),conn_cur"),
    ("_limit_10s", "http_req_rate(10s)"),
    ("_limit_1m", "http_req_rate(1m)"),
];

/// Cross-origin resource sharing: preflight requests are answered by HAProxy (`204`), and
/// other responses to an allowed origin carry the `Access-Control-*` headers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cors {
    /// `*`, or the one origin allowed (`https://app.example:8443`).
    pub origin: PolicyText,
    /// `Access-Control-Allow-Methods` (comma-separated, no spaces).
    pub methods: PolicyText,
    /// `Access-Control-Allow-Headers`.
    pub headers: PolicyText,
    /// `Access-Control-Expose-Headers`, when any.
    pub expose: Option<PolicyText>,
    /// Send `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// `Access-Control-Max-Age`, seconds.
    pub max_age: u32,
}

/// How many value fields a policy takes (after `backend|flags`); a canary's follow them.
pub(super) const POLICY_FIELDS: usize = 27;

/// The value field (`field(n,|)`, counted from 1 with the backend) holding the route's
/// custom error pages.
pub const CUSTOM_ERRORS_FIELD: usize = 3 + 22;

/// The value field (counted from 1 with the backend) holding the route's HSTS.
pub(super) const HSTS_FIELD: usize = 3 + 23;

/// The policies of one route (each optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoutePolicy {
    /// Redirect every request (permanent-redirect, temporal-redirect).
    pub redirect: Option<PolicyRedirect>,
    /// Redirect a request for `/` here with 302 (app-root).
    pub app_root: Option<PolicyText>,
    /// Send `X-Forwarded-Prefix` with this value (x-forwarded-prefix).
    pub forwarded_prefix: Option<PolicyText>,
    /// Replace the request path with this one, keeping the query (rewrite-target).
    pub rewrite: Option<PolicyText>,
    /// Send this `Host` to the servers (upstream-vhost).
    pub vhost: Option<PolicyText>,
    /// Refuse requests whose `Content-Length` is above this many bytes with `413`
    /// (proxy-body-size).
    pub max_body: Option<u64>,
    /// Request limits (limit-rps, limit-rpm, limit-connections).
    pub limit: Option<RateLimit>,
    /// CORS (enable-cors and the cors-* annotations).
    pub cors: Option<Cors>,
    /// The allow list clients must be in (its id in [`super::Config::source_lists`]).
    pub allow_list: Option<PolicyText>,
    /// The deny list that refuses clients (its id).
    pub deny_list: Option<PolicyText>,
    /// The list of clients the request limits do not count (its id in the allow file).
    pub exempt_list: Option<PolicyText>,
    /// Basic authentication: the id of a user list in [`super::Config::auth`], or
    /// [`super::AUTH_DENIED`] (auth-type, auth-secret).
    pub auth: Option<PolicyText>,
    /// Redirect every request with `308` to this host, keeping the scheme, path and query
    /// (from-to-www-redirect: set on the routes made for the host's `www.` twin).
    pub www_redirect: Option<PolicyText>,
    /// Replace the upstream's answers with these codes by the error backend's page
    /// (custom-http-errors).
    pub custom_errors: Option<CustomErrors>,
    /// `Strict-Transport-Security` on the route's HTTPS responses (the ConfigMap's `hsts`
    /// keys; see [`super::settings::Hsts`]).
    pub hsts: Option<super::settings::Hsts>,
    /// The client-certificate headers to send upstream (auth-tls-secret,
    /// auth-tls-pass-certificate-to-upstream).
    pub client_cert: Option<super::client_cert::ClientCertPolicy>,
    /// The subject DN pattern a client certificate must match, by id: the regex is in the
    /// pattern ACL file (auth-tls-match-cn; see [`super::client_cert`]).
    pub client_dn: Option<super::value::CanaryPatternId>,
    /// Where a request without a required client certificate is redirected (`302`)
    /// instead of refused (auth-tls-error-page).
    pub client_error_page: Option<PolicyText>,
}

impl RoutePolicy {
    /// This policy behind an `Arc`; the empty one is one shared allocation.
    pub fn shared(self) -> std::sync::Arc<Self> {
        static NONE: std::sync::LazyLock<std::sync::Arc<RoutePolicy>> =
            std::sync::LazyLock::new(|| std::sync::Arc::new(RoutePolicy::default()));
        if self.is_empty() {
            NONE.clone()
        } else {
            std::sync::Arc::new(self)
        }
    }

    /// Whether no policy is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The value fields after `backend|flags`, trailing empty ones left out.
    pub(super) fn fields(&self) -> Vec<String> {
        let mut out = vec![
            self.redirect
                .as_ref()
                .map(|r| format!("{}{}", r.code.get(), r.location))
                .unwrap_or_default(),
            text(&self.app_root),
            text(&self.forwarded_prefix),
            text(&self.rewrite),
            text(&self.vhost),
            number(self.max_body),
        ];
        match &self.limit {
            Some(l) => out.extend([
                l.key.0.clone(),
                number(l.per_second),
                number(l.per_10s),
                number(l.per_minute),
                number(l.concurrent),
            ]),
            None => out.extend(std::iter::repeat_n(String::new(), 5)),
        }
        match &self.cors {
            Some(c) => out.extend([
                c.origin.0.clone(),
                c.methods.0.clone(),
                c.headers.0.clone(),
                text(&c.expose),
                c.credentials.to_string(),
                c.max_age.to_string(),
            ]),
            None => out.extend(std::iter::repeat_n(String::new(), 6)),
        }
        out.extend([
            text(&self.allow_list),
            text(&self.deny_list),
            text(&self.exempt_list),
            text(&self.auth),
            text(&self.www_redirect),
            self.custom_errors
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            self.hsts.map(|h| h.field()).unwrap_or_default(),
            self.client_cert.map(|c| c.to_string()).unwrap_or_default(),
            self.client_dn
                .as_ref()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            text(&self.client_error_page),
        ]);
        while out.last().is_some_and(String::is_empty) {
            out.pop();
        }
        out
    }

    /// Reads the fields after `backend|flags` back; `None` when they are not ones
    /// [`RoutePolicy::fields`] writes. It stays long: one line per field, by position, as
    /// `fields` writes them.
    pub(super) fn parse(fields: &[&str]) -> Option<Self> {
        if fields.len() > POLICY_FIELDS {
            return None;
        }
        let get = |i: usize| fields.get(i).copied().filter(|s| !s.is_empty());
        let redirect = match get(0) {
            None => None,
            Some(s) => {
                let (code, location) = (s.get(..3)?, s.get(3..)?);
                Some(PolicyRedirect {
                    code: RedirectCode::new(code.parse().ok()?).ok()?,
                    location: PolicyText::new("location", location).ok()?,
                })
            }
        };
        let text = |i: usize| -> Option<Option<PolicyText>> {
            match get(i) {
                None => Some(None),
                Some(s) => PolicyText::new("policy", s).ok().map(Some),
            }
        };
        fn num<T: std::str::FromStr>(s: Option<&str>) -> Option<Option<T>> {
            match s {
                None => Some(None),
                Some(s) => s.parse().ok().map(Some),
            }
        }
        let limit = match get(6) {
            None if (7..=10).any(|i| get(i).is_some()) => return None,
            None => None,
            Some(key) => Some(RateLimit {
                key: PolicyText::new("limit key", key).ok()?,
                per_second: num(get(7))?,
                per_10s: num(get(8))?,
                per_minute: num(get(9))?,
                concurrent: num(get(10))?,
            }),
        };
        let cors = match get(11) {
            None if (12..=16).any(|i| get(i).is_some()) => return None,
            None => None,
            Some(origin) => Some(Cors {
                origin: PolicyText::new("origin", origin).ok()?,
                methods: PolicyText::new("methods", get(12)?).ok()?,
                headers: PolicyText::new("headers", get(13)?).ok()?,
                expose: text(14)?,
                credentials: get(15)?.parse().ok()?,
                max_age: get(16)?.parse().ok()?,
            }),
        };
        Some(Self {
            redirect,
            cors,
            app_root: text(1)?,
            forwarded_prefix: text(2)?,
            rewrite: text(3)?,
            vhost: text(4)?,
            max_body: num(get(5))?,
            limit,
            allow_list: text(17)?,
            deny_list: text(18)?,
            exempt_list: text(19)?,
            auth: text(20)?,
            www_redirect: text(21)?,
            custom_errors: match get(22) {
                None => None,
                Some(s) => Some(CustomErrors::parse(s)?),
            },
            hsts: match get(23) {
                None => None,
                Some(s) => Some(super::settings::Hsts::parse(s)?),
            },
            client_cert: match get(24) {
                None => None,
                Some(s) => Some(super::client_cert::ClientCertPolicy::parse(s)?),
            },
            client_dn: match get(25) {
                None => None,
                Some(s) => Some(super::value::CanaryPatternId::parse(s)?),
            },
            client_error_page: text(26)?,
        })
    }
}

fn text(t: &Option<PolicyText>) -> String {
    t.as_ref().map(|t| t.0.clone()).unwrap_or_default()
}

fn number<T: ToString>(n: Option<T>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> PolicyText {
        PolicyText::new("t", s).unwrap()
    }

    #[test]
    fn fields_round_trip() {
        let table = [
            (RoutePolicy::default(), Vec::<&str>::new()),
            (
                RoutePolicy {
                    rewrite: Some(t("/")),
                    ..Default::default()
                },
                vec!["", "", "", "/"],
            ),
            (
                RoutePolicy {
                    redirect: Some(PolicyRedirect {
                        code: RedirectCode::new(308).unwrap(),
                        location: t("https://example.com/a?b=c"),
                    }),
                    vhost: Some(t("internal.example:8080")),
                    ..Default::default()
                },
                vec![
                    "308https://example.com/a?b=c",
                    "",
                    "",
                    "",
                    "internal.example:8080",
                ],
            ),
            (
                RoutePolicy {
                    deny_list: Some(t("ns/web")),
                    ..Default::default()
                },
                [vec![""; 18], vec!["ns/web"]].concat(),
            ),
            (
                RoutePolicy {
                    www_redirect: Some(t("www.example.com")),
                    ..Default::default()
                },
                [vec![""; 21], vec!["www.example.com"]].concat(),
            ),
            (
                RoutePolicy {
                    hsts: Some(super::super::settings::Hsts {
                        max_age: 600,
                        include_subdomains: true,
                        preload: false,
                    }),
                    ..Default::default()
                },
                [vec![""; 23], vec!["600.s"]].concat(),
            ),
            (
                RoutePolicy {
                    allow_list: Some(t("ns/web")),
                    ..Default::default()
                },
                [vec![""; 17], vec!["ns/web"]].concat(),
            ),
            (
                RoutePolicy {
                    auth: Some(t("auth:ns:basic:file:0")),
                    ..Default::default()
                },
                [vec![""; 20], vec!["auth:ns:basic:file:0"]].concat(),
            ),
            (
                RoutePolicy {
                    custom_errors: CustomErrors::parse("404,503/ns_err_80/ns/web/web/80"),
                    ..Default::default()
                },
                [vec![""; 22], vec!["404,503/ns_err_80/ns/web/web/80"]].concat(),
            ),
        ];
        for (policy, want) in table {
            let fields = policy.fields();
            assert_eq!(fields, want);
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            assert_eq!(RoutePolicy::parse(&refs), Some(policy));
        }
    }

    #[test]
    fn hostile_text_is_refused() {
        for s in [
            "",
            "a b",
            "a|b",
            "a#b",
            "a;b",
            "a\nb",
            "é",
            &"x".repeat(MAX_POLICY_LEN + 1),
        ] {
            assert!(PolicyText::new("t", s).is_err(), "{s:?}");
        }
        for s in ["x", "/a?b"] {
            assert!(PolicyText::path("p", s).is_err(), "{s:?}");
        }
        for code in [0, 200, 300, 304, 399] {
            assert!(RedirectCode::new(code).is_err(), "{code}");
        }
        assert_eq!(RoutePolicy::parse(&["999x"]), None);
        assert_eq!(RoutePolicy::parse(&["", "", "", "", "", "extra"]), None);
        assert_eq!(RoutePolicy::parse(&[""; 28]), None);
        let mut bad = vec![""; 23];
        bad[22] = "404/be";
        assert_eq!(RoutePolicy::parse(&bad), None);
        let mut bad = vec![""; 25];
        bad[24] = "x";
        assert_eq!(
            RoutePolicy::parse(&bad),
            None,
            "not a client-certificate field"
        );
        bad[24] = "C";
        let p = RoutePolicy::parse(&bad).unwrap();
        let want = super::super::ClientCertPolicy {
            required: true,
            certificate: true,
        };
        assert_eq!(p.client_cert, Some(want));
        assert_eq!(p.fields().len(), 25, "written back in its place");
        let mut dn = vec![""; 26];
        dn[25] = "x";
        assert_eq!(RoutePolicy::parse(&dn), None, "not a pattern id");
        dn[25] = "p0123456789abcdef";
        let p = RoutePolicy::parse(&dn).unwrap();
        assert_eq!(p.client_dn.as_ref().map(|i| i.as_str()), Some(dn[25]));
        assert_eq!(p.fields().len(), 26, "written back in its place");
        let mut page = vec![""; 27];
        page[26] = "https://e.test/no-cert";
        let p = RoutePolicy::parse(&page).unwrap();
        assert_eq!(p.fields().len(), 27, "written back in its place");
        assert_eq!(p.fields()[26], page[26]);
    }
}
