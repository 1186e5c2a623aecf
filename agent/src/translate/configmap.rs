//! The global ConfigMap (`--configmap ns/name`, ingress-nginx's keys), pure: each key
//! validated into the setting it shapes; every key not taken is a named problem.

use std::collections::BTreeMap;

use haproxy::config::{
    Ciphers, Config, GlobalSettings, HeaderName, Hsts, Timeout, TlsVersion, TlsVersions,
};

mod keys;

use keys::NGINX_KEYS;

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
    /// HSTS for the HTTPS responses (the routes' map values, and the settings map for the
    /// responses no route takes).
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
        hsts: map.hsts,
    };
}

#[cfg(test)]
mod tests;
