//! Ingress annotations: ours under `haproxy-agent.io/`, each validated before it can reach
//! HAProxy. See docs/annotations.md for each one's effect and whether changing it reloads.

use std::collections::BTreeMap;

use haproxy::config::{Balance, CheckPath, CookieKey, CookieName, HttpCheck, Sticky, Timeout};

use crate::cli::parse_duration;

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
}

impl BackendOptions {
    /// The sticky-session settings for a backend: the key is derived from the backend name,
    /// so every replica of the agent renders the same one.
    pub fn sticky_for(&self, backend: &haproxy::BackendName) -> Option<Sticky> {
        self.sticky.as_ref().map(|cookie| Sticky {
            cookie: cookie.clone(),
            dynamic_key: CookieKey::new(format!("haproxy-agent.{}", backend.as_str()))
                .expect("backend names are valid cookie key characters"),
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

/// What the annotations of one Ingress say, and what was wrong with them
/// (`(annotation, message)`).
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Backend options.
    pub options: BackendOptions,
    /// Canary split.
    pub canary: Option<Canary>,
    /// How this Ingress's routes redirect plain HTTP.
    pub redirect: Redirect,
    /// Problems: the annotation and why it was ignored.
    pub problems: Vec<(String, String)>,
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

/// Parses our annotations; anything invalid is reported and left at its default.
pub fn parse(annotations: Option<&BTreeMap<String, String>>) -> Parsed {
    let mut out = Parsed::default();
    let Some(a) = annotations else { return out };
    let mut bad = |name: &str, msg: String| out.problems.push((name.to_string(), msg));
    let mut flag = |name: &str, default: bool| -> bool {
        match a.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => default,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(_) => {
                bad(
                    name,
                    format!("{:?} is not true or false; using {default}", a[name]),
                );
                default
            }
        }
    };
    out.redirect = Redirect {
        ssl_redirect: flag(SSL_REDIRECT, true),
        force: flag(FORCE_SSL_REDIRECT, false),
    };
    if let Some(v) = a.get(LOAD_BALANCE) {
        match v.as_str() {
            "leastconn" => out.options.balance = Balance::Leastconn,
            "roundrobin" => out.options.balance = Balance::Roundrobin,
            "random" => out.options.balance = Balance::Random,
            "first" => out.options.balance = Balance::First,
            other => bad(
                LOAD_BALANCE,
                format!("{other:?} is not one of leastconn, roundrobin, random, first"),
            ),
        }
    }
    let mut timeout = |name: &str| -> Option<Timeout> {
        let v = a.get(name)?;
        match parse_duration(v)
            .map_err(|e| e.to_string())
            .and_then(|d| Timeout::new(d).map_err(|e| e.to_string()))
        {
            Ok(t) => Some(t),
            Err(e) => {
                bad(name, e);
                None
            }
        }
    };
    out.options.timeout_server = timeout(TIMEOUT_SERVER);
    out.options.timeout_connect = timeout(TIMEOUT_CONNECT);
    let interval = timeout(HEALTH_CHECK_INTERVAL);
    if let Some(p) = a.get(HEALTH_CHECK_PATH) {
        match CheckPath::new(p.clone()) {
            Ok(path) => {
                out.options.health_check = Some(HttpCheck {
                    path,
                    inter: interval
                        .unwrap_or_else(|| Timeout::secs(2).expect("2s is a valid timeout")),
                })
            }
            Err(e) => bad(HEALTH_CHECK_PATH, e.to_string()),
        }
    }
    if let Some(c) = a.get(STICKY_COOKIE) {
        match CookieName::new(c.clone()) {
            Ok(name) => out.options.sticky = Some(name),
            Err(e) => bad(STICKY_COOKIE, e.to_string()),
        }
    }
    match (a.get(CANARY_SERVICE), a.get(CANARY_WEIGHT)) {
        (Some(svc), weight) => {
            let percent = match weight.map(|w| w.trim().parse::<u8>()) {
                None => Err(format!("{CANARY_WEIGHT} is missing")),
                Some(Ok(p)) if p <= 100 => Ok(p),
                Some(_) => Err(format!(
                    "{:?} is not a whole percentage from 0 to 100",
                    weight.map(String::as_str).unwrap_or_default()
                )),
            };
            match (is_dns_label(svc), percent) {
                (false, _) => bad(CANARY_SERVICE, format!("{svc:?} is not a Service name")),
                (true, Err(e)) => bad(CANARY_WEIGHT, e),
                (true, Ok(percent)) => {
                    out.canary = Some(Canary {
                        service: svc.clone(),
                        percent,
                    })
                }
            }
        }
        (None, Some(_)) => bad(
            CANARY_WEIGHT,
            format!("set without {CANARY_SERVICE}; ignored"),
        ),
        (None, None) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn valid_annotations() {
        let p = parse(Some(&ann(&[
            (LOAD_BALANCE, "roundrobin"),
            (TIMEOUT_SERVER, "90s"),
            (HEALTH_CHECK_PATH, "/healthz"),
            (STICKY_COOKIE, "SRV"),
            (CANARY_SERVICE, "web-canary"),
            (CANARY_WEIGHT, "20"),
            ("other.io/x", "ignored"),
        ])));
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.options.balance, Balance::Roundrobin);
        assert_eq!(
            p.options.timeout_server.unwrap().get(),
            std::time::Duration::from_secs(90)
        );
        assert!(p.options.health_check.is_some());
        assert_eq!(
            p.canary,
            Some(Canary {
                service: "web-canary".into(),
                percent: 20
            })
        );
    }

    #[test]
    fn redirect_flags() {
        // (ssl-redirect, force-ssl-redirect, host has TLS) -> redirects
        let table: &[(Option<&str>, Option<&str>, bool, bool)] = &[
            (None, None, true, true),
            (None, None, false, false),
            (Some("false"), None, true, false),
            (Some("FALSE"), None, true, false),
            (None, Some("true"), false, true),
            (Some("false"), Some("true"), false, true),
            (Some("true"), Some("false"), true, true),
        ];
        for (ssl, force, tls, want) in table {
            let mut pairs = Vec::new();
            if let Some(v) = ssl {
                pairs.push((SSL_REDIRECT, *v));
            }
            if let Some(v) = force {
                pairs.push((FORCE_SSL_REDIRECT, *v));
            }
            let p = parse(Some(&ann(&pairs)));
            assert!(p.problems.is_empty(), "{pairs:?}: {:?}", p.problems);
            assert_eq!(p.redirect.applies(*tls), *want, "{pairs:?} tls={tls}");
        }
    }

    #[test]
    fn hostile_or_wrong_values_are_problems() {
        let table: &[(&str, &str)] = &[
            (LOAD_BALANCE, "source"),
            (LOAD_BALANCE, "leastconn\nbalance static-rr"),
            (TIMEOUT_SERVER, "forever"),
            (TIMEOUT_CONNECT, "5s;"),
            (HEALTH_CHECK_PATH, "/x y"),
            (HEALTH_CHECK_PATH, "no-slash"),
            (STICKY_COOKIE, "a;b"),
            (CANARY_WEIGHT, "20"),
        ];
        for (k, v) in table {
            let p = parse(Some(&ann(&[(k, v)])));
            assert_eq!(p.problems.len(), 1, "{k}={v:?}: {:?}", p.problems);
            assert_eq!(p.options, BackendOptions::default(), "{k}={v:?}");
        }
        for (k, v) in [(SSL_REDIRECT, "yes"), (FORCE_SSL_REDIRECT, "1\nx")] {
            let p = parse(Some(&ann(&[(k, v)])));
            assert_eq!(p.problems.len(), 1, "{k}={v:?}: {:?}", p.problems);
            assert_eq!(p.redirect, Redirect::default(), "{k}={v:?}");
        }
        for (svc, w) in [("Bad_Name", "10"), ("ok", "101"), ("ok", "-1"), ("ok", "x")] {
            let p = parse(Some(&ann(&[(CANARY_SERVICE, svc), (CANARY_WEIGHT, w)])));
            assert_eq!(p.problems.len(), 1, "{svc} {w}");
            assert!(p.canary.is_none());
        }
    }
}
