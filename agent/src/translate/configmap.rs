//! The global ConfigMap (`--configmap ns/name`, ingress-nginx's keys), pure: each key
//! validated into the setting it shapes; every key not taken is a named problem.

use std::collections::BTreeMap;

use haproxy::config::{
    Ciphers, Config, GlobalSettings, HeaderName, Hsts, Timeout, TlsVersion, TlsVersions,
};

use super::Settings;
use super::annotations::{self, seconds_or_duration};
use crate::problem::{Problem, ProblemKind, ProblemReason};
use crate::store::{ObjectKey, Snapshot};

/// Keys that are per-Ingress annotations too: the ConfigMap's value is the default of
/// every Ingress that does not set the annotation (validated as the annotation is).
pub const ANNOTATION_DEFAULTS: [&str; 5] = [
    "proxy-body-size",
    "ssl-redirect",
    "force-ssl-redirect",
    "load-balance",
    "whitelist-source-range",
];

/// ingress-nginx's default `hsts-max-age` (six months).
const HSTS_MAX_AGE: u32 = 15_724_800;

/// The highest `max-worker-connections` taken: HAProxy wants about two file descriptors a
/// connection and refuses to start when it cannot raise its limit that far.
const MAX_CONNECTIONS: u32 = 1_000_000;

/// What the ConfigMap says, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapSettings {
    /// Annotation defaults by annotation name (see [`ANNOTATION_DEFAULTS`]).
    pub annotation_defaults: BTreeMap<String, String>,
    /// HSTS for the routes' HTTPS responses.
    pub hsts: Option<Hsts>,
    /// `timeout connect`.
    pub connect: Option<Timeout>,
    /// `timeout server`.
    pub server: Option<Timeout>,
    /// `timeout client`.
    pub client: Option<Timeout>,
    /// `timeout http-request`.
    pub http_request: Option<Timeout>,
    /// `timeout http-keep-alive`.
    pub keep_alive: Option<Timeout>,
    /// `maxconn`.
    pub maxconn: Option<u32>,
    /// `enable-access-log` (or the inverse of `disable-access-log`).
    pub access_log: Option<bool>,
    /// `use-proxy-protocol`.
    pub proxy_protocol: Option<bool>,
    /// `ssl-protocols`.
    pub tls_versions: Option<TlsVersions>,
    /// `ssl-ciphers`.
    pub ciphers: Option<Ciphers>,
    /// `use-forwarded-headers`.
    pub use_forwarded_headers: bool,
    /// `forwarded-for-header`.
    pub forwarded_for_header: Option<HeaderName>,
    /// What was wrong.
    pub problems: Vec<Problem>,
}

/// Reads the ConfigMap `--configmap` names from the snapshot (none named: all defaults).
pub fn read(snapshot: &Snapshot, settings: &Settings) -> MapSettings {
    let Some(key) = &settings.configmap else {
        return MapSettings::default();
    };
    match snapshot.config_maps.get(key) {
        Some(cm) => parse(key, cm.data.as_ref().unwrap_or(&BTreeMap::new())),
        None => MapSettings {
            problems: vec![Problem::new(
                ProblemKind::ConfigMap,
                key.to_string(),
                "--configmap: the ConfigMap does not exist; the defaults are used",
            )],
            ..MapSettings::default()
        },
    }
}

/// Reads a ConfigMap's data.
pub fn parse(key: &ObjectKey, data: &BTreeMap<String, String>) -> MapSettings {
    let mut r = KeyReader {
        key,
        data,
        out: MapSettings::default(),
    };
    r.read_all();
    r.out
}

/// Reads the keys one by one, naming what is wrong.
struct KeyReader<'a> {
    key: &'a ObjectKey,
    data: &'a BTreeMap<String, String>,
    out: MapSettings,
}

impl<'a> KeyReader<'a> {
    fn problem(&mut self, name: &str, reason: ProblemReason, why: String) {
        self.out.problems.push(
            Problem::new(ProblemKind::ConfigMap, self.key.to_string(), why)
                .because(reason)
                .at(format!("data[{name}]")),
        );
    }

    fn invalid(&mut self, name: &str, why: String) {
        self.problem(name, ProblemReason::Invalid, why);
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.data.get(name).map(String::as_str)
    }

    fn flag(&mut self, name: &str) -> Option<bool> {
        let v = self.get(name)?;
        match v.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.invalid(
                    name,
                    format!("{v:?} is not \"true\" or \"false\"; the default is used"),
                );
                None
            }
        }
    }

    fn timeout(&mut self, name: &str) -> Option<Timeout> {
        let v = self.get(name)?;
        seconds_or_duration(v)
            .map_err(|e| {
                self.invalid(
                    name,
                    format!(
                        "{e} (whole seconds, or a duration with ms, s, m or h); the default is used"
                    ),
                )
            })
            .ok()
    }

    fn read_all(&mut self) {
        for name in self.data.keys().map(String::as_str) {
            if let Some(why) = not_taken(name) {
                let reason = if why.starts_with("not a key") {
                    ProblemReason::UnknownKey
                } else {
                    ProblemReason::UnsupportedKey
                };
                self.problem(name, reason, why);
            }
        }
        self.timeouts();
        self.hsts();
        self.tls();
        self.out.maxconn =
            self.get("max-worker-connections")
                .and_then(|v| match v.trim().parse::<u32>() {
                    Ok(n) if (1..=MAX_CONNECTIONS).contains(&n) => Some(n),
                    _ => {
                        self.invalid(
                        "max-worker-connections",
                        format!(
                            "{v:?} is not a number from 1 to {MAX_CONNECTIONS}; the default is used"
                        ),
                    );
                        None
                    }
                });
        let enable = self.flag("enable-access-log");
        let disable = self.flag("disable-access-log").map(|d| !d);
        self.out.access_log = match (enable, disable) {
            (Some(e), Some(d)) if e != d => {
                self.invalid(
                    "disable-access-log",
                    "contradicts enable-access-log, which wins".into(),
                );
                Some(e)
            }
            (e, d) => e.or(d),
        };
        self.out.proxy_protocol = self.flag("use-proxy-protocol");
        self.out.use_forwarded_headers = self.flag("use-forwarded-headers").unwrap_or(false);
        if let Some(v) = self.get("forwarded-for-header") {
            match HeaderName::new(v.trim()) {
                Ok(h) => self.out.forwarded_for_header = Some(h),
                Err(e) => self.invalid(
                    "forwarded-for-header",
                    format!("{e}; X-Forwarded-For is used"),
                ),
            }
        }
        self.annotation_defaults();
    }

    fn timeouts(&mut self) {
        self.out.connect = self.timeout("proxy-connect-timeout");
        let read = self.timeout("proxy-read-timeout");
        let send = self.timeout("proxy-send-timeout");
        if let (Some(r), Some(s)) = (read, send)
            && r != s
        {
            self.problem(
                "proxy-send-timeout",
                ProblemReason::Differs,
                "HAProxy has one inactivity timeout (timeout server) for both directions; the \
                 larger of proxy-read-timeout and proxy-send-timeout is used"
                    .into(),
            );
        }
        self.out.server = read.max(send);
        let header = self.timeout("client-header-timeout");
        let body = self.timeout("client-body-timeout");
        self.out.http_request = header;
        self.out.client = body;
        self.out.keep_alive = self.timeout("keep-alive");
    }

    fn hsts(&mut self) {
        if self.flag("hsts") != Some(true) {
            for name in ["hsts-max-age", "hsts-include-subdomains", "hsts-preload"] {
                if self.data.contains_key(name) {
                    self.problem(
                        name,
                        ProblemReason::Differs,
                        "HSTS is off unless hsts is \"true\" (ingress-nginx turns it on by \
                         default; haproxy-agent does not)"
                            .into(),
                    );
                }
            }
            return;
        }
        let max_age = match self.get("hsts-max-age") {
            None => HSTS_MAX_AGE,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                self.invalid(
                    "hsts-max-age",
                    format!(
                        "{v:?} is not a number of seconds (0 to 4294967295); {HSTS_MAX_AGE} is used"
                    ),
                );
                HSTS_MAX_AGE
            }),
        };
        self.out.hsts = Some(Hsts {
            max_age,
            include_subdomains: self.flag("hsts-include-subdomains").unwrap_or(true),
            preload: self.flag("hsts-preload").unwrap_or(false),
        });
    }

    fn tls(&mut self) {
        if let Some(v) = self.get("ssl-protocols") {
            let mut versions = Vec::new();
            for word in v.split_whitespace() {
                match TlsVersion::parse(word) {
                    Some(t) => versions.push(t),
                    None => {
                        self.invalid(
                            "ssl-protocols",
                            format!("{word:?} is not TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3; TLSv1.2 TLSv1.3 is used"),
                        );
                        versions.clear();
                        break;
                    }
                }
            }
            versions.sort();
            versions.dedup();
            if let (Some(&min), Some(&max)) = (versions.first(), versions.last()) {
                if versions.len() as u8 != max as u8 - min as u8 + 1 {
                    self.problem(
                        "ssl-protocols",
                        ProblemReason::Differs,
                        format!(
                            "HAProxy takes a range of versions: {} to {} are all accepted",
                            min.keyword(),
                            max.keyword()
                        ),
                    );
                }
                self.out.tls_versions = Some(TlsVersions { min, max });
            }
        }
        if let Some(v) = self.get("ssl-ciphers") {
            match Ciphers::new(v.trim()) {
                Ok(c) => self.out.ciphers = Some(c),
                Err(e) => self.invalid("ssl-ciphers", format!("{e}; OpenSSL's default is used")),
            }
        }
    }

    /// Each default is checked as the annotation would be: a value the annotation refuses
    /// is named here, once, and not used.
    fn annotation_defaults(&mut self) {
        for name in ANNOTATION_DEFAULTS {
            let Some(v) = self.get(name) else { continue };
            let key = format!("nginx.ingress.kubernetes.io/{name}");
            let parsed = annotations::parse(Some(&BTreeMap::from([(key, v.to_string())])));
            match parsed.problems().next() {
                Some(p) => {
                    let why = p.status.detail().unwrap_or("invalid").to_string();
                    self.invalid(name, format!("{why}; not used as the Ingresses' default"));
                }
                None => {
                    self.out
                        .annotation_defaults
                        .insert(name.to_string(), v.to_string());
                }
            }
        }
    }
}

/// Why a key is not taken, when it is not.
fn not_taken(name: &str) -> Option<String> {
    const TAKEN: [&str; 18] = [
        "proxy-connect-timeout",
        "proxy-read-timeout",
        "proxy-send-timeout",
        "client-header-timeout",
        "client-body-timeout",
        "keep-alive",
        "hsts",
        "hsts-max-age",
        "hsts-include-subdomains",
        "hsts-preload",
        "use-forwarded-headers",
        "forwarded-for-header",
        "ssl-protocols",
        "ssl-ciphers",
        "max-worker-connections",
        "enable-access-log",
        "disable-access-log",
        "use-proxy-protocol",
    ];
    if ANNOTATION_DEFAULTS.contains(&name) || TAKEN.contains(&name) {
        return None;
    }
    Some(match name {
        "log-format-upstream" | "log-format-escape-json" | "log-format-escape-none" => {
            "haproxy-agent writes its own JSON access log (one object a request: time, client, \
             host, method, uri, status, bytes, timings, backend, server, termination state, \
             request id); the nginx log format is not taken"
                .into()
        }
        n if n.ends_with("-snippet") => {
            "snippets are refused by design: nothing from a ConfigMap is pasted into haproxy.cfg"
                .into()
        }
        n if n.starts_with("limit-") => format!(
            "{n} is not taken from the ConfigMap: request limits are per Ingress (annotations)"
        ),
        n if NGINX_KEYS.contains(&n) => {
            "an ingress-nginx key without an HAProxy equivalent in haproxy-agent; it is ignored"
                .into()
        }
        _ => "not a key of ingress-nginx's ConfigMap nor of haproxy-agent's; it is ignored".into(),
    })
}

/// ingress-nginx's ConfigMap keys that haproxy-agent does not take (from its
/// configmap.md; the `*-snippet`, `limit-*` and `log-format-*` keys are named apart).
const NGINX_KEYS: [&str; 150] = [
    "access-log-params",
    "access-log-path",
    "add-headers",
    "allow-backend-server-header",
    "allow-snippet-annotations",
    "annotation-value-word-blocklist",
    "bind-address",
    "block-cidrs",
    "block-referers",
    "block-user-agents",
    "brotli-level",
    "brotli-min-length",
    "brotli-types",
    "client-body-buffer-size",
    "client-header-buffer-size",
    "compute-full-forwarded-for",
    "custom-http-errors",
    "datadog-collector-host",
    "datadog-collector-port",
    "datadog-environment",
    "datadog-operation-name-override",
    "datadog-priority-sampling",
    "datadog-sample-rate",
    "datadog-service-name",
    "debug-connections",
    "default-type",
    "disable-ipv6",
    "disable-ipv6-dns",
    "enable-access-log-for-default-backend",
    "enable-brotli",
    "enable-modsecurity",
    "enable-multi-accept",
    "enable-ocsp",
    "enable-opentracing",
    "enable-owasp-modsecurity-crs",
    "enable-real-ip",
    "enable-syslog",
    "enable-underscores-in-headers",
    "error-log-level",
    "error-log-path",
    "generate-request-id",
    "global-auth-cache-duration",
    "global-auth-cache-key",
    "global-auth-method",
    "global-auth-request-redirect",
    "global-auth-response-headers",
    "global-auth-signin",
    "global-auth-signin-redirect-param",
    "global-auth-url",
    "global-rate-limit-memcached-connect-timeout",
    "global-rate-limit-memcached-host",
    "global-rate-limit-memcached-max-idle-timeout",
    "global-rate-limit-memcached-pool-size",
    "global-rate-limit-memcached-port",
    "global-rate-limit-status-code",
    "gzip-level",
    "gzip-types",
    "hide-headers",
    "http-access-log-path",
    "http-redirect-code",
    "http2-max-concurrent-streams",
    "http2-max-field-size",
    "http2-max-header-size",
    "http2-max-requests",
    "ignore-invalid-headers",
    "jaeger-baggage-header",
    "jaeger-collector-host",
    "jaeger-collector-port",
    "jaeger-debug-header",
    "jaeger-endpoint",
    "jaeger-propagation-format",
    "jaeger-sampler-host",
    "jaeger-sampler-param",
    "jaeger-sampler-port",
    "jaeger-sampler-type",
    "jaeger-service-name",
    "jaeger-trace-baggage-header-prefix",
    "jaeger-trace-context-header-name",
    "keep-alive-requests",
    "large-client-header-buffers",
    "log-format-stream",
    "lua-shared-dicts",
    "map-hash-bucket-size",
    "max-worker-open-files",
    "modsecurity-snippet",
    "nginx-status-ipv4-whitelist",
    "nginx-status-ipv6-whitelist",
    "no-auth-locations",
    "no-tls-redirect-locations",
    "opentracing-location-operation-name",
    "opentracing-operation-name",
    "plugins",
    "proxy-add-original-uri-header",
    "proxy-buffer-size",
    "proxy-buffering",
    "proxy-buffers-number",
    "proxy-cookie-domain",
    "proxy-cookie-path",
    "proxy-headers-hash-bucket-size",
    "proxy-headers-hash-max-size",
    "proxy-next-upstream",
    "proxy-next-upstream-timeout",
    "proxy-next-upstream-tries",
    "proxy-protocol-header-timeout",
    "proxy-real-ip-cidr",
    "proxy-redirect-from",
    "proxy-request-buffering",
    "proxy-set-headers",
    "proxy-ssl-location-only",
    "proxy-stream-next-upstream",
    "proxy-stream-next-upstream-timeout",
    "proxy-stream-next-upstream-tries",
    "proxy-stream-responses",
    "proxy-stream-timeout",
    "retry-non-idempotent",
    "reuse-port",
    "server-name-hash-bucket-size",
    "server-name-hash-max-size",
    "server-tokens",
    "service-upstream",
    "skip-access-log-urls",
    "ssl-buffer-size",
    "ssl-dh-param",
    "ssl-ecdh-curve",
    "ssl-reject-handshake",
    "ssl-session-cache",
    "ssl-session-cache-size",
    "ssl-session-ticket-key",
    "ssl-session-tickets",
    "ssl-session-timeout",
    "stream-access-log-path",
    "syslog-host",
    "syslog-port",
    "upstream-keepalive-connections",
    "upstream-keepalive-requests",
    "upstream-keepalive-time",
    "upstream-keepalive-timeout",
    "use-geoip",
    "use-geoip2",
    "use-gzip",
    "use-http2",
    "variables-hash-bucket-size",
    "variables-hash-max-size",
    "worker-cpu-affinity",
    "worker-processes",
    "worker-shutdown-timeout",
    "zipkin-collector-host",
    "zipkin-collector-port",
    "zipkin-sample-rate",
    "zipkin-service-name",
];

/// Sets the config's global settings from the ConfigMap, over the command line's.
pub fn apply(config: &mut Config, map: &MapSettings, settings: &Settings) {
    let t = &mut config.defaults.timeouts;
    let pairs = [
        (&mut t.connect, map.connect),
        (&mut t.server, map.server),
        (&mut t.client, map.client),
        (&mut t.http_request, map.http_request),
        (&mut t.http_keep_alive, map.keep_alive),
    ];
    for (slot, value) in pairs {
        if let Some(v) = value {
            *slot = v;
        }
    }
    if let Some(n) = map.maxconn {
        config.global.maxconn = n;
    }
    let access_log = settings.access_log.is_some() && map.access_log != Some(false);
    config.settings = GlobalSettings {
        access_log: settings.access_log.clone().filter(|_| access_log),
        tls_versions: map.tls_versions.unwrap_or_default(),
        ciphers: map.ciphers.clone(),
        forwarded_for_header: map.forwarded_for_header.clone(),
        accept_proxy: map.proxy_protocol.unwrap_or(settings.use_proxy_protocol),
        use_forwarded_headers: map.use_forwarded_headers,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> MapSettings {
        let data = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&ObjectKey::new("ingress", "config"), &data)
    }

    /// The problems' fields and reasons.
    fn named(m: &MapSettings) -> Vec<(String, &'static str)> {
        m.problems
            .iter()
            .map(|p| (p.field.clone().unwrap_or_default(), p.reason.label()))
            .collect()
    }

    #[test]
    fn keys_become_settings() {
        let m = read(&[
            ("proxy-connect-timeout", "3"),
            ("proxy-read-timeout", "120"),
            ("proxy-send-timeout", "90s"),
            ("client-header-timeout", "7"),
            ("client-body-timeout", "8"),
            ("keep-alive", "75"),
            ("hsts", "true"),
            ("hsts-preload", "true"),
            ("ssl-protocols", "TLSv1.3 TLSv1.2"),
            ("ssl-ciphers", "ECDHE-RSA-AES128-GCM-SHA256"),
            ("max-worker-connections", "16384"),
            ("enable-access-log", "false"),
            ("use-proxy-protocol", "true"),
            ("use-forwarded-headers", "true"),
            ("forwarded-for-header", "X-Real-IP"),
            ("proxy-body-size", "8m"),
            ("ssl-redirect", "false"),
        ]);
        let s = |n| Some(Timeout::secs(n).unwrap());
        assert_eq!(m.connect, s(3));
        assert_eq!(m.server, s(120));
        assert_eq!(
            (m.http_request, m.client, m.keep_alive),
            (s(7), s(8), s(75))
        );
        assert_eq!(
            m.hsts,
            Some(Hsts {
                max_age: HSTS_MAX_AGE,
                include_subdomains: true,
                preload: true
            })
        );
        assert_eq!(m.tls_versions, Some(TlsVersions::default()));
        assert_eq!(m.maxconn, Some(16384));
        assert_eq!(m.access_log, Some(false));
        assert_eq!(m.proxy_protocol, Some(true));
        assert!(m.use_forwarded_headers);
        assert_eq!(
            m.forwarded_for_header.as_ref().unwrap().as_str(),
            "X-Real-IP"
        );
        assert_eq!(m.annotation_defaults.len(), 2);
        // read 120 and send 90: one timeout server, the larger, named.
        assert_eq!(
            named(&m),
            [("data[proxy-send-timeout]".to_string(), "differs")]
        );
    }

    #[test]
    fn every_key_not_taken_is_named() {
        let m = read(&[
            ("no-such-key", "1"),
            ("gzip-level", "5"),
            ("server-snippet", "return 200;"),
            ("limit-rps", "5"),
            ("log-format-upstream", "$remote_addr"),
            ("hsts-max-age", "600"),
            ("ssl-protocols", "TLSv1 TLSv1.3"),
            ("proxy-body-size", "lots"),
            ("max-worker-connections", "0"),
            ("hsts-preload", "yes"),
            ("enable-access-log", "true"),
            ("disable-access-log", "true"),
        ]);
        let want = [
            ("data[no-such-key]", "unknown_key"),
            ("data[gzip-level]", "unsupported_key"),
            ("data[server-snippet]", "unsupported_key"),
            ("data[limit-rps]", "unsupported_key"),
            ("data[log-format-upstream]", "unsupported_key"),
            ("data[max-worker-connections]", "invalid"),
            ("data[disable-access-log]", "invalid"),
            ("data[hsts-max-age]", "differs"),
            ("data[hsts-preload]", "differs"),
            ("data[ssl-protocols]", "differs"),
            ("data[proxy-body-size]", "invalid"),
        ];
        let got = named(&m);
        for (field, reason) in want {
            assert!(
                got.contains(&(field.to_string(), reason)),
                "{field} {reason}: {got:?}"
            );
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
        assert_eq!(
            m.tls_versions,
            Some(TlsVersions {
                min: TlsVersion::V1_0,
                max: TlsVersion::V1_3
            })
        );
        assert!(m.annotation_defaults.is_empty());
        assert_eq!(m.access_log, Some(true));
    }

    #[test]
    fn invalid_values_fall_back_to_defaults() {
        let m = read(&[
            ("hsts", "true"),
            ("hsts-max-age", "6\n00"),
            ("hsts-include-subdomains", "no"),
            ("proxy-read-timeout", "60\n    server x 6.6.6.6:80"),
            ("ssl-ciphers", "HIGH:$HOME"),
            ("ssl-protocols", "SSLv3 TLSv1.2"),
            ("forwarded-for-header", "X-Real-IP;del map /x k"),
        ]);
        assert_eq!(m.hsts.map(|h| h.max_age), Some(HSTS_MAX_AGE));
        assert_eq!(m.hsts.map(|h| h.include_subdomains), Some(true));
        assert_eq!(m.server, None);
        assert_eq!(m.ciphers, None);
        assert_eq!(m.tls_versions, None);
        assert_eq!(m.forwarded_for_header, None);
        assert_eq!(m.problems.len(), 6, "{:?}", named(&m));
        assert!(m.problems.iter().all(|p| p.kind == ProblemKind::ConfigMap));
    }
}
