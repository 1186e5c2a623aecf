//! The hostile-input corpus. Malformed and hostile objects — a table of hostile strings ×
//! object fields, special values per field (hosts, paths, ports, addresses, names, very long
//! values), and hand-written manifests under `agent/tests/hostile/` read through the
//! manifests source — are each put in a snapshot beside valid objects (an Ingress with two
//! hosts and three paths to a Service with two endpoints) and translated. For every case:
//!
//! - translation does not panic, and the hostile object gets a problem naming it (and the
//!   field), unless the case records why the value is valid or why the object is not ours;
//! - the valid objects' backends, servers and routes are exactly as when translated alone;
//! - haproxy.cfg holds only the valid-only render's lines, the section headers of the
//!   config's own backends and lines built from validated types; the map files hold only
//!   `key backend` lines; neither holds the hostile value or a control byte;
//! - the reconcile plan from an empty HAProxy is runtime commands free of the hostile value
//!   and control bytes, each a single CLI command as HAProxy 2.6 splits it, each encoding
//!   within `tune.bufsize` (or refused by `encode`);
//! - `haproxy -c` accepts the rendered config, installed with [`ConfigWriter`].
//!
//! Run with `--nocapture` to see the counts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haproxy::config::{
    CanaryName, CheckPath, CookieKey, CookieName, Rendered, render, route_maps, structure,
};
use haproxy::proto::{Command, DEFAULT_BUFSIZE, EncodeError};
use haproxy::{BackendName, ConfigWriter, MapKey, ServerName};
use integration::fixtures::meta;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use haproxy_agent::translate::annotations::{
    CANARY_SERVICE, CANARY_WEIGHT, HEALTH_CHECK_INTERVAL, HEALTH_CHECK_PATH, LOAD_BALANCE,
    STICKY_COOKIE, TIMEOUT_CONNECT, TIMEOUT_SERVER,
};
use haproxy_agent::translate::class::LEGACY_CLASS_ANNOTATION;

const NGINX_LOAD_BALANCE: &str = "nginx.ingress.kubernetes.io/load-balance";
const NGINX_CANARY: &str = "nginx.ingress.kubernetes.io/canary";
const NGINX_WWW: &str = "nginx.ingress.kubernetes.io/from-to-www-redirect";
const NGINX_CANARY_WEIGHT: &str = "nginx.ingress.kubernetes.io/canary-weight";
const NGINX_CANARY_TOTAL: &str = "nginx.ingress.kubernetes.io/canary-weight-total";
const NGINX_CANARY_HEADER: &str = "nginx.ingress.kubernetes.io/canary-by-header";
const NGINX_CANARY_VALUE: &str = "nginx.ingress.kubernetes.io/canary-by-header-value";
const NGINX_CANARY_PATTERN: &str = "nginx.ingress.kubernetes.io/canary-by-header-pattern";
const NGINX_CANARY_COOKIE: &str = "nginx.ingress.kubernetes.io/canary-by-cookie";
const NGINX_CONNECT_TIMEOUT: &str = "nginx.ingress.kubernetes.io/proxy-connect-timeout";
const NGINX_READ_TIMEOUT: &str = "nginx.ingress.kubernetes.io/proxy-read-timeout";
const NGINX_SEND_TIMEOUT: &str = "nginx.ingress.kubernetes.io/proxy-send-timeout";
const NGINX_AFFINITY: &str = "nginx.ingress.kubernetes.io/affinity";
const NGINX_COOKIE_NAME: &str = "nginx.ingress.kubernetes.io/session-cookie-name";
const NGINX_BACKEND_PROTOCOL: &str = "nginx.ingress.kubernetes.io/backend-protocol";
const NGINX_PROXY_SSL_NAME: &str = "nginx.ingress.kubernetes.io/proxy-ssl-name";
const NGINX_PROXY_SSL_SECRET: &str = "nginx.ingress.kubernetes.io/proxy-ssl-secret";
const NGINX_PROXY_SSL_VERIFY: &str = "nginx.ingress.kubernetes.io/proxy-ssl-verify";
const NGINX_PROXY_SSL_SERVER_NAME: &str = "nginx.ingress.kubernetes.io/proxy-ssl-server-name";
const NGINX_AUTH_TLS_SECRET: &str = "nginx.ingress.kubernetes.io/auth-tls-secret";
const NGINX_AUTH_TLS_VERIFY_CLIENT: &str = "nginx.ingress.kubernetes.io/auth-tls-verify-client";
const NGINX_AUTH_TLS_VERIFY_DEPTH: &str = "nginx.ingress.kubernetes.io/auth-tls-verify-depth";
const NGINX_AUTH_TLS_MATCH_CN: &str = "nginx.ingress.kubernetes.io/auth-tls-match-cn";
const NGINX_AUTH_TLS_ERROR_PAGE: &str = "nginx.ingress.kubernetes.io/auth-tls-error-page";
const NGINX_SSL_PASSTHROUGH: &str = "nginx.ingress.kubernetes.io/ssl-passthrough";
const NGINX_AUTH_TLS_PASS_CERT: &str =
    "nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream";
const NGINX_PERMANENT_REDIRECT: &str = "nginx.ingress.kubernetes.io/permanent-redirect";
const NGINX_PERMANENT_REDIRECT_CODE: &str = "nginx.ingress.kubernetes.io/permanent-redirect-code";
const NGINX_TEMPORAL_REDIRECT: &str = "nginx.ingress.kubernetes.io/temporal-redirect";
const NGINX_APP_ROOT: &str = "nginx.ingress.kubernetes.io/app-root";
const NGINX_FORWARDED_PREFIX: &str = "nginx.ingress.kubernetes.io/x-forwarded-prefix";
const NGINX_REWRITE_TARGET: &str = "nginx.ingress.kubernetes.io/rewrite-target";
const NGINX_BODY_SIZE: &str = "nginx.ingress.kubernetes.io/proxy-body-size";
const NGINX_LIMIT_RPS: &str = "nginx.ingress.kubernetes.io/limit-rps";
const NGINX_LIMIT_RPM: &str = "nginx.ingress.kubernetes.io/limit-rpm";
const NGINX_LIMIT_CONNECTIONS: &str = "nginx.ingress.kubernetes.io/limit-connections";
const NGINX_ENABLE_CORS: &str = "nginx.ingress.kubernetes.io/enable-cors";
const NGINX_WHITELIST: &str = "nginx.ingress.kubernetes.io/whitelist-source-range";
const NGINX_ALLOWLIST: &str = "nginx.ingress.kubernetes.io/allowlist-source-range";
const NGINX_DENYLIST: &str = "nginx.ingress.kubernetes.io/denylist-source-range";
const NGINX_CORS_ORIGIN: &str = "nginx.ingress.kubernetes.io/cors-allow-origin";
const NGINX_CORS_METHODS: &str = "nginx.ingress.kubernetes.io/cors-allow-methods";
const NGINX_CORS_HEADERS: &str = "nginx.ingress.kubernetes.io/cors-allow-headers";
const NGINX_CORS_EXPOSE: &str = "nginx.ingress.kubernetes.io/cors-expose-headers";
const NGINX_HASH_BY: &str = "nginx.ingress.kubernetes.io/upstream-hash-by";
const NGINX_COOKIE_PATH: &str = "nginx.ingress.kubernetes.io/session-cookie-path";
const NGINX_COOKIE_DOMAIN: &str = "nginx.ingress.kubernetes.io/session-cookie-domain";
const NGINX_COOKIE_MAX_AGE: &str = "nginx.ingress.kubernetes.io/session-cookie-max-age";
const NGINX_COOKIE_SAMESITE: &str = "nginx.ingress.kubernetes.io/session-cookie-samesite";
const NGINX_SERVER_ALIAS: &str = "nginx.ingress.kubernetes.io/server-alias";
const NGINX_DEFAULT_BACKEND: &str = "nginx.ingress.kubernetes.io/default-backend";
const NGINX_CUSTOM_ERRORS: &str = "nginx.ingress.kubernetes.io/custom-http-errors";
const NGINX_LIMIT_WHITELIST: &str = "nginx.ingress.kubernetes.io/limit-whitelist";
const NGINX_UPSTREAM_VHOST: &str = "nginx.ingress.kubernetes.io/upstream-vhost";
use haproxy_agent::problem::{Problem, ProblemKind};
use haproxy_agent::reconcile::{self, Observed, Plan, PlanSettings};
use haproxy_agent::source::manifests::{ManifestsSource, parse_manifests};
use haproxy_agent::store::{Kind, Object, ObjectKey, Snapshot, Store};
use haproxy_agent::translate::endpoints::SERVICE_NAME_LABEL;
use haproxy_agent::translate::{Settings, Translation, translate};

/// The valid neighbours: two hosts, three paths (Prefix, Exact, ImplementationSpecific),
/// two backends (the Service port by number and by name), two endpoints.
const VALID_YAML: &str = include_str!("hostile/valid.yaml");

/// Services the hand-written manifests may point at (unreferenced, they add nothing).
const SUPPORT_YAML: &str = include_str!("hostile/support.yaml");

/// The valid objects' keys: no problem may name them.
const VALID_OBJECTS: [&str; 2] = ["shop/web", "shop/web-abc"];

/// What a case must produce.
#[derive(Debug, Clone)]
enum Expect {
    /// At least one problem of this kind naming this object (and this field, when given).
    Problem {
        kind: ProblemKind,
        object: String,
        field: Option<String>,
    },
    /// The value is valid: no problem; it reaches HAProxy only through validated types.
    Accepted(&'static str),
    /// The object is not ours to judge (another class, another kind, a field we never read):
    /// no problem, and the config is exactly the valid-only one.
    Ignored(&'static str),
}

impl Expect {
    fn ingress(object: impl Into<String>, field: impl Into<String>) -> Self {
        Expect::Problem {
            kind: ProblemKind::Ingress,
            object: object.into(),
            field: Some(field.into()),
        }
    }
}

/// A port reference of an Ingress backend.
#[derive(Debug, Clone)]
enum PortRef {
    Number(i32),
    Name(String),
}

impl PortRef {
    fn to_k8s(&self) -> ServiceBackendPort {
        match self {
            PortRef::Number(n) => ServiceBackendPort {
                number: Some(*n),
                name: None,
            },
            PortRef::Name(n) => ServiceBackendPort {
                number: None,
                name: Some(n.clone()),
            },
        }
    }
}

/// The hostile Ingress and what it points at; every field valid until a case changes one.
#[derive(Debug, Clone)]
struct World {
    ns: String,
    ingress: String,
    class: Option<String>,
    annotations: BTreeMap<String, String>,
    host: Option<String>,
    path: Option<String>,
    path_type: String,
    svc_ref: String,
    port_ref: PortRef,
    default_backend: Option<(String, PortRef)>,
    svc_name: String,
    svc_port_name: Option<String>,
    svc_port: i32,
    svc_type: Option<String>,
    slice_name: String,
    address_type: String,
    slice_port_name: Option<String>,
    slice_port: Option<i32>,
    addresses: Vec<String>,
    /// The name of the second Service, which a canary annotation may name.
    canary: String,
    /// One `spec.tls` entry: its host and Secret name.
    tls: Option<(String, Option<String>)>,
}

impl Default for World {
    fn default() -> Self {
        Self {
            ns: "shop".into(),
            ingress: "hostile".into(),
            class: Some("haproxy".into()),
            annotations: BTreeMap::new(),
            host: Some("hostile.example.com".into()),
            path: Some("/h".into()),
            path_type: "Prefix".into(),
            svc_ref: "hsvc".into(),
            port_ref: PortRef::Number(80),
            default_backend: None,
            svc_name: "hsvc".into(),
            svc_port_name: Some("http".into()),
            svc_port: 80,
            svc_type: None,
            slice_name: "hsvc-1".into(),
            address_type: "IPv4".into(),
            slice_port_name: Some("http".into()),
            slice_port: Some(8080),
            addresses: vec!["10.0.1.1".into()],
            canary: "hsvc-canary".into(),
            tls: None,
        }
    }
}

fn service(ns: &str, name: &str, port_name: Option<&str>, port: i32) -> Service {
    Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: port_name.map(str::to_string),
                port,
                target_port: Some(IntOrString::Int(8080)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn slice(
    ns: &str,
    name: &str,
    svc: &str,
    address_type: &str,
    port_name: Option<&str>,
    port: Option<i32>,
    addresses: &[String],
) -> EndpointSlice {
    let mut m = meta(ns, name);
    m.labels = Some([(SERVICE_NAME_LABEL.to_string(), svc.to_string())].into());
    EndpointSlice {
        metadata: m,
        address_type: address_type.into(),
        endpoints: addresses
            .iter()
            .map(|a| Endpoint {
                addresses: vec![a.clone()],
                conditions: Some(EndpointConditions {
                    ready: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(vec![EndpointPort {
            name: port_name.map(str::to_string),
            port,
            ..Default::default()
        }]),
    }
}

fn backend(svc: &str, port: &PortRef) -> IngressBackend {
    IngressBackend {
        service: Some(IngressServiceBackend {
            name: svc.into(),
            port: Some(port.to_k8s()),
        }),
        resource: None,
    }
}

impl World {
    fn key(&self) -> String {
        ObjectKey::new(self.ns.clone(), self.ingress.clone()).to_string()
    }

    fn objects(&self) -> Vec<Object> {
        let mut m = meta(&self.ns, &self.ingress);
        m.annotations = (!self.annotations.is_empty()).then(|| self.annotations.clone());
        let ingress = Ingress {
            metadata: m,
            spec: Some(IngressSpec {
                ingress_class_name: self.class.clone(),
                default_backend: self
                    .default_backend
                    .as_ref()
                    .map(|(svc, port)| backend(svc, port)),
                rules: Some(vec![IngressRule {
                    host: self.host.clone(),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: self.path.clone(),
                            path_type: self.path_type.clone(),
                            backend: backend(&self.svc_ref, &self.port_ref),
                        }],
                    }),
                }]),
                tls: self.tls.as_ref().map(|(host, secret)| {
                    vec![IngressTLS {
                        hosts: Some(vec![host.clone()]),
                        secret_name: secret.clone(),
                    }]
                }),
            }),
            ..Default::default()
        };
        let mut svc = service(
            &self.ns,
            &self.svc_name,
            self.svc_port_name.as_deref(),
            self.svc_port,
        );
        if let Some(spec) = svc.spec.as_mut() {
            spec.type_ = self.svc_type.clone();
        }
        // An ingress-nginx canary Ingress joins a main Ingress's route of the same host and
        // path: one is there, so that only the canary's own values can be problems.
        let main =
            (self.annotations.get(NGINX_CANARY).map(String::as_str) == Some("true")).then(|| {
                let mut main = ingress.clone();
                main.metadata = meta(&self.ns, &format!("{}-main", self.ingress));
                Object::Ingress(main)
            });
        main.into_iter()
            .chain([
                Object::Ingress(ingress),
                Object::Service(svc),
                Object::EndpointSlice(slice(
                    &self.ns,
                    &self.slice_name,
                    &self.svc_name,
                    &self.address_type,
                    self.slice_port_name.as_deref(),
                    self.slice_port,
                    &self.addresses,
                )),
                // The canary Service has the primary's port (names included), as a canary must.
                Object::Service(service(
                    &self.ns,
                    &self.canary,
                    self.svc_port_name.as_deref(),
                    80,
                )),
                Object::EndpointSlice(slice(
                    &self.ns,
                    &format!("{}-1", self.canary),
                    &self.canary,
                    "IPv4",
                    self.slice_port_name.as_deref(),
                    Some(8080),
                    &["10.0.2.1".to_string()],
                )),
            ])
            .collect()
    }
}

/// One hostile object (with what supports it) and what it must produce.
struct Case {
    name: String,
    objects: Vec<Object>,
    /// Hostile values looked for in everything rendered (refused values only).
    values: Vec<String>,
    default_backend_service: Option<ObjectKey>,
    expect: Expect,
}

/// Hostile strings: each is put into every field of the table.
struct Token {
    label: &'static str,
    text: &'static str,
    /// Valid inside a route path: map files and the CLI do not interpret it.
    path_ok: bool,
    /// Valid inside a health check path (`http-check send uri`).
    check_path_ok: bool,
}

const fn tok(label: &'static str, text: &'static str) -> Token {
    Token {
        label,
        text,
        path_ok: false,
        check_path_ok: false,
    }
}

const fn path_tok(label: &'static str, text: &'static str) -> Token {
    Token {
        label,
        text,
        path_ok: true,
        check_path_ok: false,
    }
}

const TOKENS: &[Token] = &[
    tok("LF", "\n"),
    tok("CR", "\r"),
    tok("CRLF", "\r\n"),
    tok(
        "LF + config directive",
        "\n    server evil 6.6.6.6:80\nbackend x",
    ),
    tok("LF + map line", "\n/evil ns_evil_80"),
    Token {
        label: "semicolon",
        text: ";",
        path_ok: false,
        check_path_ok: true,
    },
    tok("semicolon + CLI command", ";del map /x k"),
    path_tok("backslash", "\\"),
    tok("backslash + LF", "\\\n"),
    tok("hash", "#"),
    tok("space", " "),
    tok("tab", "\t"),
    tok("NUL", "\0"),
    tok("BEL", "\x07"),
    tok("ESC (ANSI)", "\x1b[31m"),
    tok("DEL", "\x7f"),
    tok("C1 NEL", "\u{85}"),
    path_tok("double quote", "\""),
    path_tok("single quote", "'"),
    path_tok("$VAR", "$HOME"),
    path_tok("${VAR}", "${HOME}"),
    path_tok("sample expression", "%[src]"),
    path_tok("log-format", "%{+Q}o"),
    tok("homoglyph (Cyrillic a)", "\u{430}"),
    tok("RTL override", "\u{202e}"),
    tok("zero-width space", "\u{200b}"),
    tok("line separator", "\u{2028}"),
    tok("BOM", "\u{feff}"),
    tok("fullwidth solidus", "\u{ff0f}"),
    tok("emoji", "\u{1f980}"),
];

/// Puts a value in a field of the world.
type SetField = fn(&mut World, &str);

/// Annotations (key, value) a field needs beside it to be read at all.
type Needs = &'static [(&'static str, &'static str)];

/// How a field of the table takes its value.
#[derive(Clone, Copy)]
enum Set {
    /// Any edit of the world.
    Fn(SetField),
    /// The annotation named by the field's label, with the annotations it needs.
    Annotation(Needs),
}

impl Set {
    /// Puts `v` in field `label` of `w`.
    fn apply(self, w: &mut World, label: &str, v: &str) {
        match self {
            Set::Fn(set) => set(w, v),
            Set::Annotation(needs) => {
                for (key, value) in needs {
                    w.annotations.insert((*key).into(), (*value).into());
                }
                w.annotations.insert(label.into(), v.into());
            }
        }
    }
}

/// A field of the hostile world: how a token goes in, and the problem it must give.
struct Field {
    label: &'static str,
    /// The field's whole value around a token, which stands at `{t}`
    /// (`ho{t}stile.example.com`).
    wrap: &'static str,
    /// Puts a whole value in the field (with the settings the field needs to be read).
    set: Set,
    /// The problem, given the world after `set` and the field's label.
    expect: fn(&World, &str) -> Expect,
    accepts: fn(&Token) -> Option<&'static str>,
    /// A number is expected: long values are made of digits.
    numeric: bool,
}

impl Field {
    /// The field's whole value around `token`.
    fn value(&self, token: &str) -> String {
        self.wrap.replace("{t}", token)
    }
}

const PATH_FIELD: &str = "spec.rules[0].http.paths[0].path";
const PATH_TYPE_FIELD: &str = "spec.rules[0].http.paths[0].pathType";
const BACKEND_FIELD: &str = "spec.rules[0].http.paths[0].backend.service";
const HOST_FIELD: &str = "spec.rules[0].host";
const TLS_HOST_FIELD: &str = "spec.tls[0].hosts[0]";
const TLS_SECRET_FIELD: &str = "spec.tls[0].secretName";
const PORT_NAME: &str = "port name (Ingress, Service and EndpointSlice)";

fn annotation_field(name: &str) -> String {
    format!("metadata.annotations[{name}]")
}

fn refused(_: &Token) -> Option<&'static str> {
    None
}

fn path_accepts(t: &Token) -> Option<&'static str> {
    t.path_ok.then_some(
        "printable ASCII a route path may hold: map files and the runtime API (escaped) take \
         it literally, and HAProxy expands neither `$` nor `%[` there",
    )
}

fn policy_accepts(t: &Token) -> Option<&'static str> {
    (t.path_ok && !t.text.contains('$')).then_some(
        "printable ASCII a route policy may hold: it rides in a map value as data, and HAProxy \
         expands no `%[` in a sample's result",
    )
}

fn canary_value_accepts(t: &Token) -> Option<&'static str> {
    t.path_ok.then_some(
        "printable ASCII a canary header value may hold: it rides in a map value and is \
         compared as data (`strcmp`), never expanded",
    )
}

fn canary_pattern_accepts(t: &Token) -> Option<&'static str> {
    haproxy::config::CanaryPattern::new(&format!("be{}ta", t.text))
        .is_ok()
        .then_some(
            "a regex in the plain syntax PCRE2 and the regex crate read alike: it is one entry \
             of the canary ACL file (spaces as \\x20), never part of haproxy.cfg, and the map \
             value carries only its id",
        )
}

/// An auth-tls annotation `key` read with `verify off`: a refused value is named, an
/// accepted one is named of no effect, so no CA Secret is needed here; the manifest corpus
/// (client-dn-hostile.yaml, client-error-page-hostile.yaml) takes accepted values into the
/// ACL file and a route map value.
/// The annotations a canary option needs: the Ingress is a canary.
const CANARY_ON: Needs = &[(NGINX_CANARY, "true")];
/// A canary by header.
const CANARY_BY_HEADER: Needs = &[(NGINX_CANARY, "true"), (NGINX_CANARY_HEADER, "x-canary")];
/// Cookie affinity, which the session cookie options need.
const COOKIE_AFFINITY: Needs = &[(NGINX_AFFINITY, "cookie")];
/// CORS on, which the CORS options need.
const CORS_ON: Needs = &[(NGINX_ENABLE_CORS, "true")];
/// Client certificates checked against CA Secret `ca`.
const CLIENT_CA: Needs = &[(NGINX_AUTH_TLS_SECRET, "ca")];
/// HTTPS to the backend, which the proxy-ssl options need.
const HTTPS_BACKEND: Needs = &[(NGINX_BACKEND_PROTOCOL, "HTTPS")];

/// Client certificates asked for, then not verified: what the options of a failed
/// verification are read with.
const VERIFY_OFF: Needs = &[
    (NGINX_AUTH_TLS_SECRET, "ca"),
    (NGINX_AUTH_TLS_VERIFY_CLIENT, "off"),
];

fn match_cn_accepts(t: &Token) -> Option<&'static str> {
    haproxy::config::CanaryPattern::new(&format!("CN=cl{}ient", t.text))
        .is_ok()
        .then_some(
            "a subject DN regex in the plain syntax PCRE2 and the regex crate read alike: one \
             entry of the pattern ACL file (spaces as \\x20), never part of haproxy.cfg; the \
             map value carries only its id",
        )
}

fn error_page_accepts(t: &Token) -> Option<&'static str> {
    let path = format!("no{}cert", t.text);
    path.split('/')
        .all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .then_some(
            "/-separated segments of letters, digits, -, _ and ., as ingress-nginx's check \
             allows: a route map value field, a redirect's location sample",
        )
}

/// A rewrite target: a route policy, but `\` is an escape in `map_regm` values (refused)
/// and `$` must be a group (`$1`..`$9`).
fn rewrite_accepts(t: &Token) -> Option<&'static str> {
    (t.path_ok && !t.text.contains('$') && !t.text.contains('\\')).then_some(
        "printable ASCII a rewrite target may hold: `map_regm` substitutes only `\\N` in \
         the value, and HAProxy expands no `%[` in a sample's result",
    )
}

/// A path regex: the tokens that are still a regex PCRE2 and the regex crate read alike.
fn regex_path_accepts(t: &Token) -> Option<&'static str> {
    matches!(
        t.label,
        "double quote" | "single quote" | "$VAR" | "sample expression"
    )
    .then_some(
        "a regex both engines read alike: quotes are literals, `$` an end assertion and \
         `[src]` a class; the key is data to `map_regm`, never expanded",
    )
}

fn check_path_accepts(t: &Token) -> Option<&'static str> {
    t.check_path_ok
        .then_some("`;` is an RFC 3986 path character and is not special in haproxy.cfg")
}

/// The problem of an annotation field: its label is the annotation.
fn annotation(w: &World, label: &str) -> Expect {
    Expect::ingress(w.key(), annotation_field(label))
}

fn ingress_at(field: &'static str) -> fn(&World, &str) -> Expect {
    match field {
        HOST_FIELD => |w, _| Expect::ingress(w.key(), HOST_FIELD),
        PATH_FIELD => |w, _| Expect::ingress(w.key(), PATH_FIELD),
        PATH_TYPE_FIELD => |w, _| Expect::ingress(w.key(), PATH_TYPE_FIELD),
        BACKEND_FIELD => |w, _| Expect::ingress(w.key(), BACKEND_FIELD),
        TLS_HOST_FIELD => |w, _| Expect::ingress(w.key(), TLS_HOST_FIELD),
        TLS_SECRET_FIELD => |w, _| Expect::ingress(w.key(), TLS_SECRET_FIELD),
        other => panic!("no field {other}"),
    }
}

fn slice_at(field: &'static str) -> fn(&World, &str) -> Expect {
    fn at(w: &World, field: &str) -> Expect {
        Expect::Problem {
            kind: ProblemKind::EndpointSlice,
            object: format!("{}/{}", w.ns, w.slice_name),
            field: Some(field.into()),
        }
    }
    match field {
        "addressType" => |w, _| at(w, "addressType"),
        "endpoints[0].addresses[0]" => |w, _| at(w, "endpoints[0].addresses[0]"),
        "ports[0].port" => |w, _| at(w, "ports[0].port"),
        other => panic!("no field {other}"),
    }
}

/// The field of an annotation (its label); `set` also sets the annotations it needs to be
/// read (a canary weight needs a canary Service).
/// An Ingress with `ssl-passthrough: "true"`: its case runs with --enable-ssl-passthrough.
fn asks_passthrough(o: &Object) -> bool {
    let Object::Ingress(ing) = o else {
        return false;
    };
    ing.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(NGINX_SSL_PASSTHROUGH))
        .is_some_and(|v| v == "true")
}

/// The annotation `key` (with the annotations it `needs`), its problem named at the key.
fn annotation_field_of(
    key: &'static str,
    wrap: &'static str,
    needs: Needs,
    accepts: fn(&Token) -> Option<&'static str>,
    numeric: bool,
) -> Field {
    Field {
        label: key,
        wrap,
        set: Set::Annotation(needs),
        expect: annotation,
        accepts,
        numeric,
    }
}

/// The fields a hostile value goes in: a table, one row a field (long as the table is).
fn fields() -> Vec<Field> {
    vec![
        Field {
            label: "rules[].host",
            wrap: "ho{t}stile.example.com",
            set: Set::Fn(|w, v| w.host = Some(v.into())),
            expect: ingress_at(HOST_FIELD),
            accepts: refused,
            numeric: false,
        },
        Field {
            label: "spec.tls[].hosts[]",
            wrap: "ho{t}stile.example.com",
            set: Set::Fn(|w, v| w.tls = Some((v.into(), None))),
            expect: ingress_at(TLS_HOST_FIELD),
            accepts: refused,
            numeric: false,
        },
        Field {
            // A name that is one names a Secret that does not exist: a problem as well.
            label: "spec.tls[].secretName",
            wrap: "s{t}ecret",
            set: Set::Fn(|w, v| w.tls = Some(("hostile.example.com".into(), Some(v.into())))),
            expect: ingress_at(TLS_SECRET_FIELD),
            accepts: refused,
            numeric: false,
        },
        Field {
            label: "paths[].path (Prefix)",
            wrap: "/h{t}x",
            set: Set::Fn(|w, v| w.path = Some(v.into())),
            expect: ingress_at(PATH_FIELD),
            accepts: path_accepts,
            numeric: false,
        },
        Field {
            label: "paths[].path (Exact)",
            wrap: "/e{t}x",
            set: Set::Fn(|w, v| {
                w.path = Some(v.into());
                w.path_type = "Exact".into();
            }),
            expect: ingress_at(PATH_FIELD),
            accepts: path_accepts,
            numeric: false,
        },
        Field {
            label: "paths[].path (ImplementationSpecific)",
            wrap: "/i{t}x",
            set: Set::Fn(|w, v| {
                w.path = Some(v.into());
                w.path_type = "ImplementationSpecific".into();
            }),
            expect: ingress_at(PATH_FIELD),
            accepts: path_accepts,
            numeric: false,
        },
        Field {
            label: "paths[].path (use-regex)",
            wrap: "/r(x){t}(.*)",
            set: Set::Fn(|w, v| {
                w.path = Some(v.into());
                w.annotations.insert(
                    "nginx.ingress.kubernetes.io/use-regex".into(),
                    "true".into(),
                );
            }),
            expect: ingress_at(PATH_FIELD),
            accepts: regex_path_accepts,
            numeric: false,
        },
        Field {
            label: "paths[].path (rewrite-target /$2)",
            wrap: "/w{t}(/|$)(.*)",
            set: Set::Fn(|w, v| {
                w.path = Some(v.into());
                w.annotations
                    .insert(NGINX_REWRITE_TARGET.into(), "/$2".into());
            }),
            expect: ingress_at(PATH_FIELD),
            accepts: regex_path_accepts,
            numeric: false,
        },
        Field {
            label: "paths[].pathType",
            wrap: "Pre{t}fix",
            set: Set::Fn(|w, v| w.path_type = v.into()),
            expect: ingress_at(PATH_TYPE_FIELD),
            accepts: refused,
            numeric: false,
        },
        Field {
            label: "Service name",
            wrap: "hs{t}vc",
            set: Set::Fn(|w, v| {
                w.svc_ref = v.into();
                w.svc_name = v.into();
            }),
            expect: ingress_at(BACKEND_FIELD),
            accepts: refused,
            numeric: false,
        },
        Field {
            label: PORT_NAME,
            wrap: "ht{t}tp",
            set: Set::Fn(|w, v| {
                w.port_ref = PortRef::Name(v.into());
                w.svc_port_name = Some(v.into());
                w.slice_port_name = Some(v.into());
            }),
            expect: ingress_at(BACKEND_FIELD),
            accepts: refused,
            numeric: false,
        },
        Field {
            label: "namespace",
            wrap: "sh{t}op",
            set: Set::Fn(|w, v| w.ns = v.into()),
            expect: |w, _| Expect::ingress(w.key(), "metadata.namespace"),
            accepts: refused,
            numeric: false,
        },
        Field {
            label: "Ingress name",
            wrap: "hos{t}tile",
            set: Set::Fn(|w, v| w.ingress = v.into()),
            expect: |w, _| Expect::ingress(w.key(), "metadata.name"),
            accepts: refused,
            numeric: false,
        },
        Field {
            label: "defaultBackend Service name",
            wrap: "de{t}f",
            set: Set::Fn(|w, v| w.default_backend = Some((v.into(), PortRef::Number(80)))),
            expect: |w, _| Expect::ingress(w.key(), "spec.defaultBackend.service"),
            accepts: refused,
            numeric: false,
        },
        annotation_field_of(LOAD_BALANCE, "round{t}robin", &[], refused, false),
        annotation_field_of(
            CANARY_SERVICE,
            "hsvc-{t}canary",
            &[(CANARY_WEIGHT, "20")],
            refused,
            false,
        ),
        annotation_field_of(
            CANARY_WEIGHT,
            "2{t}0",
            &[(CANARY_SERVICE, "hsvc-canary")],
            refused,
            true,
        ),
        annotation_field_of(TIMEOUT_SERVER, "5{t}s", &[], refused, true),
        annotation_field_of(TIMEOUT_CONNECT, "5{t}s", &[], refused, true),
        annotation_field_of(
            HEALTH_CHECK_PATH,
            "/hea{t}lthz",
            &[],
            check_path_accepts,
            false,
        ),
        annotation_field_of(
            HEALTH_CHECK_INTERVAL,
            "2{t}s",
            &[(HEALTH_CHECK_PATH, "/healthz")],
            refused,
            true,
        ),
        annotation_field_of(STICKY_COOKIE, "S{t}RV", &[], refused, false),
        annotation_field_of(NGINX_LOAD_BALANCE, "round{t}_robin", &[], refused, false),
        annotation_field_of(NGINX_CONNECT_TIMEOUT, "1{t}0", &[], refused, true),
        annotation_field_of(NGINX_READ_TIMEOUT, "6{t}0", &[], refused, true),
        annotation_field_of(NGINX_SEND_TIMEOUT, "6{t}0s", &[], refused, true),
        annotation_field_of(NGINX_AFFINITY, "coo{t}kie", &[], refused, false),
        annotation_field_of(
            NGINX_COOKIE_NAME,
            "ROU{t}TE",
            COOKIE_AFFINITY,
            refused,
            false,
        ),
        // An ingress-nginx canary Ingress's rule (the Ingress is a canary of itself: its
        // route has no main route, which is named at the path, not here).
        annotation_field_of(NGINX_CANARY_WEIGHT, "2{t}0", CANARY_ON, refused, true),
        annotation_field_of(NGINX_CANARY_TOTAL, "10{t}0", CANARY_ON, refused, true),
        annotation_field_of(
            NGINX_CANARY_HEADER,
            "X-Can{t}ary",
            CANARY_ON,
            refused,
            false,
        ),
        annotation_field_of(
            NGINX_CANARY_VALUE,
            "be{t}ta",
            CANARY_BY_HEADER,
            canary_value_accepts,
            false,
        ),
        annotation_field_of(
            NGINX_CANARY_PATTERN,
            "be{t}ta",
            CANARY_BY_HEADER,
            canary_pattern_accepts,
            false,
        ),
        annotation_field_of(NGINX_CANARY_COOKIE, "can{t}ary", CANARY_ON, refused, false),
        annotation_field_of(NGINX_WWW, "tr{t}ue", &[], refused, false),
        annotation_field_of(NGINX_BACKEND_PROTOCOL, "HT{t}TP", &[], refused, false),
        annotation_field_of(
            NGINX_PROXY_SSL_NAME,
            "back{t}end.internal",
            &[
                (NGINX_BACKEND_PROTOCOL, "HTTPS"),
                (NGINX_PROXY_SSL_SERVER_NAME, "on"),
            ],
            refused,
            false,
        ),
        annotation_field_of(
            NGINX_PROXY_SSL_SECRET,
            "shop/ca{t}",
            &[(NGINX_BACKEND_PROTOCOL, "GRPCS")],
            refused,
            false,
        ),
        annotation_field_of(
            NGINX_PROXY_SSL_VERIFY,
            "o{t}n",
            HTTPS_BACKEND,
            refused,
            false,
        ),
        annotation_field_of(NGINX_PROXY_SSL_SERVER_NAME, "o{t}n", &[], refused, false),
        annotation_field_of(NGINX_AUTH_TLS_SECRET, "shop/ca{t}", &[], refused, false),
        annotation_field_of(
            NGINX_AUTH_TLS_VERIFY_CLIENT,
            "opt{t}ional",
            CLIENT_CA,
            refused,
            false,
        ),
        Field {
            // The value that lets failed certificates through: nothing close to it is taken.
            label: "nginx.ingress.kubernetes.io/auth-tls-verify-client (optional_no_ca)",
            wrap: "optional_no{t}_ca",
            set: Set::Fn(|w, v| {
                w.annotations
                    .insert(NGINX_AUTH_TLS_SECRET.into(), "ca".into());
                w.annotations
                    .insert(NGINX_AUTH_TLS_VERIFY_CLIENT.into(), v.into());
            }),
            expect: |w, _| annotation(w, NGINX_AUTH_TLS_VERIFY_CLIENT),
            accepts: refused,
            numeric: false,
        },
        annotation_field_of(NGINX_AUTH_TLS_VERIFY_DEPTH, "1{t}2", &[], refused, true),
        annotation_field_of(
            NGINX_AUTH_TLS_MATCH_CN,
            "CN=cl{t}ient",
            VERIFY_OFF,
            match_cn_accepts,
            false,
        ),
        annotation_field_of(
            NGINX_AUTH_TLS_ERROR_PAGE,
            "https://e.test/no{t}cert",
            VERIFY_OFF,
            error_page_accepts,
            false,
        ),
        annotation_field_of(NGINX_SSL_PASSTHROUGH, "tr{t}ue", &[], refused, false),
        Field {
            // With --enable-ssl-passthrough (turned on for Ingresses asking for it): the
            // host is the SNI map's key.
            label: "rules[].host (ssl-passthrough)",
            wrap: "ho{t}stile.example.com",
            set: Set::Fn(|w, v| {
                w.host = Some(v.into());
                w.annotations
                    .insert(NGINX_SSL_PASSTHROUGH.into(), "true".into());
            }),
            expect: ingress_at(HOST_FIELD),
            accepts: refused,
            numeric: false,
        },
        annotation_field_of(
            NGINX_AUTH_TLS_PASS_CERT,
            "tr{t}ue",
            CLIENT_CA,
            refused,
            false,
        ),
        annotation_field_of(
            NGINX_PERMANENT_REDIRECT,
            "https://ex{t}ample.com/",
            &[],
            policy_accepts,
            false,
        ),
        annotation_field_of(
            NGINX_TEMPORAL_REDIRECT,
            "/else{t}where",
            &[],
            policy_accepts,
            false,
        ),
        annotation_field_of(NGINX_APP_ROOT, "/a{t}pp", &[], policy_accepts, false),
        annotation_field_of(
            NGINX_FORWARDED_PREFIX,
            "/p{t}re",
            &[],
            policy_accepts,
            false,
        ),
        annotation_field_of(
            NGINX_REWRITE_TARGET,
            "/in{t}ner",
            &[],
            rewrite_accepts,
            false,
        ),
        annotation_field_of(
            NGINX_UPSTREAM_VHOST,
            "inter{t}nal.example",
            &[],
            refused,
            false,
        ),
        annotation_field_of(
            NGINX_PERMANENT_REDIRECT_CODE,
            "30{t}1",
            &[(NGINX_PERMANENT_REDIRECT, "/moved")],
            refused,
            true,
        ),
        annotation_field_of(NGINX_BODY_SIZE, "8{t}m", &[], refused, true),
        annotation_field_of(NGINX_LIMIT_RPS, "1{t}0", &[], refused, true),
        annotation_field_of(NGINX_LIMIT_RPM, "6{t}0", &[], refused, true),
        annotation_field_of(NGINX_LIMIT_CONNECTIONS, "4{t}0", &[], refused, true),
        annotation_field_of(
            NGINX_CORS_ORIGIN,
            "https://ap{t}p.example",
            CORS_ON,
            refused,
            false,
        ),
        annotation_field_of(NGINX_CORS_METHODS, "GE{t}T, POST", CORS_ON, refused, false),
        annotation_field_of(NGINX_CORS_HEADERS, "X-Cu{t}stom", CORS_ON, refused, false),
        annotation_field_of(NGINX_CORS_EXPOSE, "X-To{t}tal", CORS_ON, refused, false),
        annotation_field_of(NGINX_HASH_BY, "$http_x_{t}user", &[], refused, false),
        annotation_field_of(
            NGINX_COOKIE_PATH,
            "/a{t}pp",
            COOKIE_AFFINITY,
            refused,
            false,
        ),
        annotation_field_of(
            NGINX_COOKIE_DOMAIN,
            "ex{t}ample.com",
            COOKIE_AFFINITY,
            refused,
            false,
        ),
        annotation_field_of(
            NGINX_COOKIE_MAX_AGE,
            "36{t}00",
            COOKIE_AFFINITY,
            refused,
            true,
        ),
        annotation_field_of(
            NGINX_COOKIE_SAMESITE,
            "La{t}x",
            COOKIE_AFFINITY,
            refused,
            false,
        ),
        annotation_field_of(
            NGINX_SERVER_ALIAS,
            "www.ali{t}as.example",
            &[],
            refused,
            false,
        ),
        annotation_field_of(NGINX_DEFAULT_BACKEND, "err{t}ors", &[], refused, false),
        // The error pages' Service is the world's own (it resolves).
        annotation_field_of(
            NGINX_CUSTOM_ERRORS,
            "404,5{t}03",
            &[(NGINX_DEFAULT_BACKEND, "hsvc")],
            refused,
            true,
        ),
        annotation_field_of(
            NGINX_WHITELIST,
            "10.0.0.0/8,19{t}2.168.0.0/16",
            &[],
            refused,
            true,
        ),
        annotation_field_of(NGINX_ALLOWLIST, "2001:db8::/3{t}2", &[], refused, true),
        annotation_field_of(NGINX_DENYLIST, "10.{t}0.0.1", &[], refused, true),
        annotation_field_of(
            NGINX_LIMIT_WHITELIST,
            "10.0.{t}0.0/16",
            &[(NGINX_LIMIT_RPS, "10")],
            refused,
            true,
        ),
        Field {
            label: "EndpointSlice address",
            wrap: "10.0.{t}1.1",
            set: Set::Fn(|w, v| w.addresses = vec![v.into(), "10.9.9.9".into()]),
            expect: slice_at("endpoints[0].addresses[0]"),
            accepts: refused,
            numeric: true,
        },
        Field {
            label: "EndpointSlice addressType",
            wrap: "IP{t}v4",
            set: Set::Fn(|w, v| w.address_type = v.into()),
            expect: slice_at("addressType"),
            accepts: refused,
            numeric: false,
        },
    ]
}

fn field(label: &str) -> Field {
    fields()
        .into_iter()
        .find(|f| f.label == label)
        .unwrap_or_else(|| panic!("no field {label}"))
}

/// Fields whose hostile values make the object not ours: nothing of it is read.
fn not_ours_fields() -> Vec<(&'static str, SetField)> {
    vec![
        ("spec.ingressClassName", |w, t| {
            w.class = Some(format!("hap{t}roxy"))
        }),
        (LEGACY_CLASS_ANNOTATION, |w, t| {
            w.class = None;
            w.annotations
                .insert(LEGACY_CLASS_ANNOTATION.into(), format!("hap{t}roxy"));
        }),
    ]
}

/// A case from a world changed by `edit`; `values` are looked for in everything rendered.
fn world_case(
    name: impl Into<String>,
    edit: impl FnOnce(&mut World),
    values: Vec<String>,
    expect: impl FnOnce(&World) -> Expect,
) -> Case {
    let mut w = World::default();
    edit(&mut w);
    Case {
        name: name.into(),
        objects: w.objects(),
        values,
        default_backend_service: None,
        expect: expect(&w),
    }
}

/// A case putting a whole value in a field of the table, refused as the field says.
fn field_case(name: String, f: &Field, value: String) -> Case {
    let expect = f.expect;
    world_case(
        name,
        |w| f.set.apply(w, f.label, &value),
        vec![value.clone()],
        |w| expect(w, f.label),
    )
}

fn token_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for f in fields() {
        for t in TOKENS {
            let value = f.value(t.text);
            let name = format!("{} × {}", f.label, t.label);
            match (f.accepts)(t) {
                None => {
                    let mut case = field_case(name, &f, value);
                    case.values.push(t.text.to_string());
                    out.push(case);
                }
                Some(why) => out.push(world_case(
                    name,
                    |w| f.set.apply(w, f.label, &value),
                    Vec::new(),
                    |_| Expect::Accepted(why),
                )),
            }
        }
    }
    for (label, set) in not_ours_fields() {
        for t in TOKENS {
            out.push(world_case(
                format!("{label} × {}", t.label),
                |w| set(w, t.text),
                vec![t.text.to_string()],
                |_| {
                    Expect::Ignored(
                        "another class: the Ingress is not ours, as with any other controller's",
                    )
                },
            ));
        }
    }
    out
}

/// Very long values in every field: 10 kB and 1 MB of letters (digits where a number is
/// expected) in the field's valid context.
fn long_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (label, len) in [("10 kB", 10 * 1024), ("1 MB", 1024 * 1024)] {
        for f in fields() {
            let long = if f.numeric { "1" } else { "a" }.repeat(len);
            let value = f.value(&long);
            out.push(field_case(format!("{} × {label}", f.label), &f, value));
        }
    }
    out
}

/// Special values, field by field.
fn special_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let key = World::default().key();
    let ing = |field: &str| Expect::ingress(key.clone(), field);

    // Hosts.
    let long_label = format!("{}.example.com", "a".repeat(64));
    let labels = vec!["a".repeat(63); 3].join(".");
    let host_254 = format!("{labels}.{}.example.com", "b".repeat(50));
    let host_253 = format!("{labels}.{}.example.com", "b".repeat(49));
    assert_eq!((host_254.len(), host_253.len()), (254, 253));
    let mut hosts: Vec<(String, Option<&'static str>)> = [
        "*.*.example.com",
        "*example.com",
        "*x.example.com",
        "x*.example.com",
        "a..b.example.com",
        "*",
        "*.",
        "*.*",
        ".example.com",
        "example.com.",
        "[::1]",
        "::1",
        "fe80::1%eth0",
        "example.com:80",
        "-a.example.com",
        "a-.example.com",
        "a_b.example.com",
        "\u{e9}.example.com",
        "exa mple.com",
        "example.com/path",
        "user@example.com",
        "*.example.com\n",
    ]
    .into_iter()
    .map(|h| (h.to_string(), None))
    .collect();
    hosts.push((long_label, None));
    hosts.push((host_254, None));
    hosts.push((
        host_253,
        Some("253 bytes, the longest DNS name: valid (boundary)"),
    ));
    hosts.push((
        "xn--e1afmkfd.example.com".into(),
        Some("punycode is the ASCII form of an IDN host: valid"),
    ));
    hosts.push((
        "HOSTILE.Example.COM".into(),
        Some("host names are case-insensitive: lower-cased, as the frontend lower-cases Host"),
    ));
    hosts.push((
        "*.hostile.example.com".into(),
        Some("a wildcard of one label: valid"),
    ));
    hosts.push((
        "1.2.3.4".into(),
        Some(
            "an IPv4 literal is DNS-shaped (digits and dots) and matches the Host header \
             literally; the API server refuses it, manifests mode does not, and no byte is \
             hostile",
        ),
    ));
    hosts.push((
        "999.1.1.1".into(),
        Some("not an IP address but a valid DNS name (the API server accepts it too)"),
    ));
    for (h, accepted) in hosts {
        let values = accepted.is_none().then(|| h.clone()).into_iter().collect();
        out.push(world_case(
            format!("host {h:?}"),
            |w| w.host = Some(h.clone()),
            values,
            |_| accepted.map_or_else(|| ing(HOST_FIELD), Expect::Accepted),
        ));
    }

    // Paths.
    let paths: Vec<(&str, String, Option<&'static str>)> = vec![
        ("Prefix", "h".into(), None),
        ("Exact", "h/x".into(), None),
        ("ImplementationSpecific", "h".into(), None),
        ("Prefix", String::new(), None),
        ("Prefix", "/a?b=c".into(), None),
        ("Exact", "/?".into(), None),
        ("Prefix", "/a#b".into(), None),
        ("Prefix", "/a b".into(), None),
        ("Prefix", "/\u{e9}".into(), None),
        ("Prefix", "/a;b".into(), None),
        ("Prefix", format!("/{}", "a".repeat(2048)), None),
        (
            "Prefix",
            format!("/{}", "a".repeat(2047)),
            Some("2048 bytes, the longest route path: valid (boundary)"),
        ),
        (
            "Prefix",
            "/a//b".into(),
            Some(
                "HAProxy matches the raw path: the route matches only requests with this \
                 exact path; the bytes are plain map-key characters (the API server refuses \
                 `//` for Prefix and Exact, manifests mode does not)",
            ),
        ),
        (
            "Exact",
            "/../etc/passwd".into(),
            Some(
                "no file is read: HAProxy does not normalize the path, so the route matches \
                 only this literal request path (the API server refuses `/../` for Exact)",
            ),
        ),
        (
            "ImplementationSpecific",
            "/a/..".into(),
            Some("valid for ImplementationSpecific (the API server accepts it too)"),
        ),
        (
            "Prefix",
            "/%2e%2e/%2F".into(),
            Some("percent-encoded text is printable ASCII, matched literally"),
        ),
        (
            "Prefix",
            "/a%20b".into(),
            Some("percent-encoded space: valid"),
        ),
        (
            "Exact",
            "/%00".into(),
            Some("percent-encoded NUL is three printable bytes, matched literally"),
        ),
        ("Prefix", "/~user/(x)".into(), Some("RFC 3986 characters")),
    ];
    for (kind, p, accepted) in paths {
        let values = accepted.is_none().then(|| p.clone()).into_iter().collect();
        out.push(world_case(
            format!("path {kind} {:?}", truncate(&p)),
            |w| {
                w.path = Some(p.clone());
                w.path_type = kind.into();
            },
            values,
            |_| accepted.map_or_else(|| ing(PATH_FIELD), Expect::Accepted),
        ));
    }
    out.push(world_case(
        "path missing (Prefix)",
        |w| w.path = None,
        Vec::new(),
        |_| ing(PATH_FIELD),
    ));
    out.push(world_case(
        "path missing (ImplementationSpecific)",
        |w| {
            w.path = None;
            w.path_type = "ImplementationSpecific".into();
        },
        Vec::new(),
        |_| Expect::Accepted("ImplementationSpecific without a path means `/`"),
    ));
    for pt in ["prefix", "Regex", "", "EXACT"] {
        out.push(world_case(
            format!("pathType {pt:?}"),
            |w| w.path_type = pt.into(),
            Vec::new(),
            |_| ing(PATH_TYPE_FIELD),
        ));
    }

    // Ingress backend ports.
    for n in [0, -1, 65536, 70000, i32::MAX, i32::MIN, 81] {
        out.push(world_case(
            format!("Ingress backend port number {n}"),
            |w| w.port_ref = PortRef::Number(n),
            Vec::new(),
            |_| ing(BACKEND_FIELD),
        ));
    }
    out.push(world_case(
        "Ingress backend port name that does not exist",
        |w| w.port_ref = PortRef::Name("nope".into()),
        Vec::new(),
        |_| ing(BACKEND_FIELD),
    ));
    out.push(world_case(
        "Ingress backend port: neither number nor name",
        |w| w.port_ref = PortRef::Name(String::new()),
        Vec::new(),
        |_| ing(BACKEND_FIELD),
    ));
    // Service port numbers, referenced by name (by number the Ingress's own check fires).
    for n in [0, -1, 65536, 70000, i32::MAX] {
        out.push(world_case(
            format!("Service port number {n}, referenced by name"),
            |w| {
                w.svc_port = n;
                w.port_ref = PortRef::Name("http".into());
            },
            Vec::new(),
            |_| ing(BACKEND_FIELD),
        ));
    }
    // EndpointSlice ports.
    for p in [
        Some(0),
        Some(-1),
        Some(65536),
        Some(70000),
        Some(i32::MAX),
        None,
    ] {
        out.push(world_case(
            format!("EndpointSlice port {p:?}"),
            |w| w.slice_port = p,
            Vec::new(),
            |w| Expect::Problem {
                kind: ProblemKind::EndpointSlice,
                object: format!("{}/{}", w.ns, w.slice_name),
                field: Some("ports[0].port".into()),
            },
        ));
    }

    // EndpointSlice addresses.
    let bad_addresses = [
        "999.1.1.1",
        "256.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "::",
        "ff02::1",
        "fe80::1%eth0",
        "fe80::1%2",
        "::ffff:0.0.0.0",
        "::ffff:255.255.255.255",
        "::ffff:224.0.0.1",
        "pod.example.com",
        "localhost",
        "10.0.1.1:8080",
        "[fd00::1]",
        "010.0.1.1",
        "10.0.1",
        "0x0a.0.1.1",
        "10.0.1.1/32",
        "",
        " 10.0.1.1",
        "10.0.1.1 ",
        "1.2.3.4.5",
    ];
    for a in bad_addresses {
        out.push(world_case(
            format!("EndpointSlice address {a:?}"),
            |w| w.addresses = vec![a.to_string(), "10.9.9.9".into()],
            vec![a.to_string()],
            |w| Expect::Problem {
                kind: ProblemKind::EndpointSlice,
                object: format!("{}/{}", w.ns, w.slice_name),
                field: Some("endpoints[0].addresses[0]".into()),
            },
        ));
    }
    for (a, why) in [
        (
            "127.0.0.1",
            "loopback is a unicast address HAProxy can reach (tests run backends there)",
        ),
        ("169.254.1.1", "link-local IPv4 is unicast"),
        (
            "::ffff:10.0.1.9",
            "an IPv4-mapped IPv6 address of a unicast IPv4 address",
        ),
    ] {
        out.push(world_case(
            format!("EndpointSlice address {a:?}"),
            |w| w.addresses = vec![a.to_string(), "10.9.9.9".into()],
            Vec::new(),
            |_| Expect::Accepted(why),
        ));
    }
    out.push(world_case(
        "EndpointSlice addressType FQDN",
        |w| {
            w.address_type = "FQDN".into();
            w.addresses = vec!["pod.example.com".into()];
        },
        vec!["pod.example.com".into()],
        |w| Expect::Problem {
            kind: ProblemKind::EndpointSlice,
            object: format!("{}/{}", w.ns, w.slice_name),
            field: Some("addressType".into()),
        },
    ));

    // Names.
    let names: &[(&str, &str)] = &[
        ("Service name", "Hsvc"),
        ("Service name", "hs_vc"),
        ("Service name", "hs.vc"),
        ("Service name", "hs:vc"),
        ("Service name", "-hsvc"),
        ("Service name", "hsvc-"),
        ("Service name", "shop/web"),
        ("Service name", "../web"),
        ("port name (Ingress, Service and EndpointSlice)", "HTTP"),
        ("port name (Ingress, Service and EndpointSlice)", "ht_tp"),
        ("port name (Ingress, Service and EndpointSlice)", "80"),
        ("port name (Ingress, Service and EndpointSlice)", "h--t"),
        ("port name (Ingress, Service and EndpointSlice)", "-http"),
        ("port name (Ingress, Service and EndpointSlice)", "http.x"),
        ("namespace", "Shop"),
        ("namespace", "sh_op"),
        ("namespace", "sh.op"),
        ("namespace", "-shop"),
        ("Ingress name", "Hostile"),
        ("Ingress name", "host_ile"),
        ("Ingress name", ".hostile"),
        ("Ingress name", "hostile."),
        ("Ingress name", ""),
        ("defaultBackend Service name", "Def"),
    ];
    for (label, v) in names {
        let mut case = field_case(format!("{label} {v:?}"), &field(label), v.to_string());
        if v.len() < 3 {
            // Too short to tell apart from the valid render's own text.
            case.values.clear();
        }
        out.push(case);
    }
    for (label, len) in [
        ("Service name", 64),
        ("namespace", 64),
        (PORT_NAME, 16),
        ("Ingress name", 254),
    ] {
        out.push(field_case(
            format!("{label} of {len} bytes"),
            &field(label),
            "a".repeat(len),
        ));
    }
    // A canary whose backend name (`<primary>_canary_<canary>`) would pass the 255-byte
    // name limit although both Services' own backend names are within it: refused (the
    // port name is not an IANA service name) rather than a panic.
    out.push(world_case(
        "canary with a 194-byte port name",
        |w| {
            let p = "p".repeat(194);
            w.port_ref = PortRef::Name(p.clone());
            w.svc_port_name = Some(p.clone());
            w.slice_port_name = Some(p);
            w.svc_ref = "s".repeat(50);
            w.svc_name = w.svc_ref.clone();
            w.canary = "c".repeat(50);
            w.annotations
                .insert(CANARY_SERVICE.into(), w.canary.clone());
            w.annotations.insert(CANARY_WEIGHT.into(), "20".into());
        },
        Vec::new(),
        |w| Expect::ingress(w.key(), BACKEND_FIELD),
    ));
    out.push(world_case(
        "canary with the longest valid names",
        |w| {
            w.ns = format!("n{}", "s".repeat(62));
            w.svc_ref = format!("s{}", "v".repeat(62));
            w.svc_name = w.svc_ref.clone();
            let p = format!("p{}", "o".repeat(14));
            w.port_ref = PortRef::Name(p.clone());
            w.svc_port_name = Some(p.clone());
            w.slice_port_name = Some(p);
            w.annotations
                .insert(CANARY_SERVICE.into(), "hsvc-canary".into());
            w.annotations.insert(CANARY_WEIGHT.into(), "20".into());
        },
        Vec::new(),
        |_| {
            Expect::Accepted(
                "63-byte namespace and Service, 15-byte port name: the Kubernetes limits, \
                 the canary backend name stays below 255 bytes",
            )
        },
    ));

    // References to missing Services and other namespaces.
    out.push(world_case(
        "canary to a missing Service",
        |w| {
            w.annotations
                .insert(CANARY_SERVICE.into(), "hsvc-gone".into());
            w.annotations.insert(CANARY_WEIGHT.into(), "20".into());
        },
        Vec::new(),
        |w| Expect::ingress(w.key(), BACKEND_FIELD),
    ));
    out.push(world_case(
        "defaultBackend to a missing Service",
        |w| w.default_backend = Some(("gone".into(), PortRef::Number(80))),
        Vec::new(),
        |w| Expect::ingress(w.key(), "spec.defaultBackend.service"),
    ));
    out.push(world_case(
        "defaultBackend to a Service in another namespace",
        |w| w.default_backend = Some(("other/web".into(), PortRef::Number(80))),
        vec!["other/web".into()],
        |w| Expect::ingress(w.key(), "spec.defaultBackend.service"),
    ));
    out.push(world_case(
        "backend Service of type ExternalName",
        |w| w.svc_type = Some("ExternalName".into()),
        Vec::new(),
        |w| Expect::ingress(w.key(), BACKEND_FIELD),
    ));
    for (key, expect) in [
        (
            ObjectKey::new("shop", "missing"),
            Expect::Problem {
                kind: ProblemKind::Service,
                object: "shop/missing".into(),
                field: None,
            },
        ),
        (
            ObjectKey::new("other", "web"),
            Expect::Problem {
                kind: ProblemKind::Service,
                object: "other/web".into(),
                field: None,
            },
        ),
        (
            ObjectKey::new("sh\nop", "web"),
            Expect::Problem {
                kind: ProblemKind::Service,
                object: "sh\nop/web".into(),
                field: None,
            },
        ),
        (
            ObjectKey::new("shop", "we_b"),
            Expect::Problem {
                kind: ProblemKind::Service,
                object: "shop/we_b".into(),
                field: None,
            },
        ),
    ] {
        let mut case = world_case(
            format!("--default-backend-service {key:?}"),
            |_| {},
            Vec::new(),
            |_| expect,
        );
        case.default_backend_service = Some(key);
        out.push(case);
    }
    out
}

mod configmap;
mod gateway;
mod tcp_services;

fn truncate(s: &str) -> String {
    if s.len() > 40 {
        format!("{}…({} bytes)", &s[..20], s.len())
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// Running a case.

struct Env {
    _tmp: tempfile::TempDir,
    settings: Settings,
    writer: ConfigWriter,
    rt: tokio::runtime::Runtime,
    valid: Vec<Object>,
    support: Vec<Object>,
    baseline: Translation,
    baseline_render: Rendered,
    /// Renders `haproxy -c` accepted (haproxy.cfg, then each map): the same bytes get the
    /// same verdict, so each distinct render is checked once.
    checked: BTreeSet<(String, Vec<String>)>,
    haproxy_checks: usize,
    haproxy_time: Duration,
    cases: usize,
}

fn haproxy_bin() -> PathBuf {
    let bin = std::env::var_os("HAPROXY_BIN")
        .map_or_else(|| PathBuf::from("/usr/sbin/haproxy"), PathBuf::from);
    assert!(
        bin.exists(),
        "{} is missing: install the haproxy package (scripts/test does)",
        bin.display()
    );
    bin
}

fn snapshot(objects: Vec<Object>) -> Arc<Snapshot> {
    let store = Store::new();
    store.replace_all(objects);
    store.snapshot()
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cfg");
        let settings = Settings {
            ingress_class: "haproxy".into(),
            default_backend_service: None,
            watch_namespace: None,
            http_bind: "127.0.0.1:18080".parse().unwrap(),
            config_dir: dir.clone(),
            runtime_socket: tmp.path().join("admin.sock"),
            hard_stop_after: Duration::from_secs(30),
            https_bind: "127.0.0.1:18443".parse().unwrap(),
            default_cert: haproxy_agent::certs::self_signed("default").unwrap().into(),
            default_ssl_certificate: None,
            trusted_proxies: Vec::new(),
            configmap: Some(configmap::key()),
            use_proxy_protocol: false,
            access_log: Some(haproxy::config::LogTarget::Stdout),
            tcp_services: None,
            tcp_bind: None,
            gateway_controller_name: haproxy_agent::translate::gateway::DEFAULT_CONTROLLER
                .to_string(),
            gateway_address_pool: Vec::new(),
            udp_services: None,
            ssl_passthrough: false,
            agent_listen: Vec::new(),
        };
        let valid = parse_manifests(Path::new("valid.yaml"), VALID_YAML).unwrap();
        let support = parse_manifests(Path::new("support.yaml"), SUPPORT_YAML).unwrap();
        let empty_map = || std::iter::once(configmap::object(Default::default()));
        let baseline = translate(
            &snapshot(valid.iter().cloned().chain(empty_map()).collect()),
            &settings,
        )
        .unwrap();
        assert_eq!(baseline.problems, vec![], "the valid objects are valid");
        assert_eq!(baseline.config.backends.len(), 2);
        assert_eq!(baseline.config.routes.len(), 3);
        assert!(
            baseline
                .config
                .backends
                .values()
                .all(|b| b.servers.len() == 2)
        );
        let with_support = translate(
            &snapshot(
                valid
                    .iter()
                    .chain(&support)
                    .cloned()
                    .chain(empty_map())
                    .collect(),
            ),
            &settings,
        )
        .unwrap();
        assert_eq!(with_support.problems, vec![]);
        assert_eq!(with_support.config, baseline.config);
        let baseline_render = render(&baseline.config);
        Self {
            writer: ConfigWriter::new(dir, haproxy_bin()),
            _tmp: tmp,
            settings,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            valid,
            support,
            baseline,
            baseline_render,
            checked: BTreeSet::new(),
            haproxy_checks: 0,
            haproxy_time: Duration::ZERO,
            cases: 0,
        }
    }

    /// Translates the valid (and support) objects plus `objects`, checks everything,
    /// returns the problems (`source_problems` first).
    fn check(
        &mut self,
        name: &str,
        objects: Vec<Object>,
        values: &[String],
        default_backend_service: Option<ObjectKey>,
        source_problems: Vec<Problem>,
        expects: &[Expect],
    ) -> Vec<Problem> {
        let mut all = self.valid.clone();
        all.extend(self.support.iter().cloned());
        if !objects.iter().any(|o| o.key() == configmap::key()) {
            all.push(configmap::object(Default::default()));
        }
        let mut settings = self.settings.clone();
        if objects.iter().any(|o| o.key() == tcp_services::key()) {
            settings.tcp_services = Some(tcp_services::key());
        }
        if objects.iter().any(|o| o.key() == tcp_services::udp_key()) {
            settings.udp_services = Some(tcp_services::udp_key());
        }
        settings.ssl_passthrough = objects.iter().any(asks_passthrough);
        all.extend(objects);
        let default_changes = default_backend_service.is_some();
        settings.default_backend_service = default_backend_service;
        let snap = snapshot(all);
        let t =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| translate(&snap, &settings)))
                .unwrap_or_else(|_| panic!("{name}: translation panicked"))
                .unwrap();
        let mut problems = source_problems;
        problems.extend(t.problems.iter().cloned());
        for expect in expects {
            self.check_problems(name, &problems, expect);
            self.check_neighbours(name, &t, expect, default_changes);
        }
        gateway::check_strings(name, &t.config.gateway);
        let rendered = render(&t.config);
        let values: Vec<&str> = values
            .iter()
            .filter(|v| meaningful(v, &self.baseline_render))
            .map(String::as_str)
            .collect();
        check_rendered(name, &t, &rendered, &self.baseline_render, &values);
        check_plan(name, &t, &values);
        self.haproxy_check(name, &rendered);
        problems
    }

    fn check_problems(&self, name: &str, problems: &[Problem], expect: &Expect) {
        for p in problems {
            let named = matches!(expect, Expect::Problem { object, .. } if *object == p.object);
            assert!(
                named || !VALID_OBJECTS.contains(&p.object.as_str()),
                "{name}: a problem names a valid object: {p}"
            );
        }
        match expect {
            Expect::Problem {
                kind,
                object,
                field,
            } => {
                let found = problems.iter().any(|p| {
                    p.kind == *kind && p.object == *object && (field.is_none() || p.field == *field)
                });
                assert!(
                    found,
                    "{name}: want a {kind:?} problem on {object:?} field {field:?}, got {}",
                    show(problems)
                );
            }
            Expect::Accepted(_) | Expect::Ignored(_) => {
                assert!(problems.is_empty(), "{name}: {}", show(problems));
            }
        }
    }

    fn check_neighbours(
        &self,
        name: &str,
        t: &Translation,
        expect: &Expect,
        default_changes: bool,
    ) {
        let base = &self.baseline.config;
        for (bname, b) in &base.backends {
            assert_eq!(
                t.config.backends.get(bname),
                Some(b),
                "{name}: valid backend {bname} changed"
            );
        }
        for r in &base.routes {
            assert!(
                t.config.routes.contains(r),
                "{name}: valid route {r:?} lost"
            );
        }
        let (want, got) = (route_maps(&base.routes), route_maps(&t.config.routes));
        for (k, v) in want.exact.iter() {
            assert_eq!(got.exact.get(k), Some(v), "{name}: exact map key {k}");
        }
        for (k, v) in want.prefix.iter() {
            assert_eq!(got.prefix.get(k), Some(v), "{name}: prefix map key {k}");
        }
        if !default_changes && !matches!(expect, Expect::Accepted(_)) {
            assert_eq!(
                t.config.frontends[0].default_backend, base.frontends[0].default_backend,
                "{name}: default backend"
            );
        }
        if let Expect::Ignored(_) = expect {
            assert_eq!(
                t.config, *base,
                "{name}: an ignored object changed the config"
            );
        }
        assert_eq!(t.config.problems(), vec![], "{name}: inconsistent config");
    }

    fn haproxy_check(&mut self, name: &str, rendered: &Rendered) {
        self.cases += 1;
        let key = (
            rendered.haproxy_cfg.clone(),
            rendered.maps.values().cloned().collect(),
        );
        if self.checked.contains(&key) {
            return;
        }
        let started = Instant::now();
        if let Err(e) = self.rt.block_on(self.writer.install(rendered)) {
            panic!("{name}: haproxy -c refused the config: {e}");
        }
        self.haproxy_time += started.elapsed();
        self.haproxy_checks += 1;
        self.checked.insert(key);
    }
}

fn show(problems: &[Problem]) -> String {
    let all: Vec<String> = problems
        .iter()
        .map(|p| truncate_problem(&p.to_string()))
        .collect();
    format!("{all:#?}")
}

fn truncate_problem(s: &str) -> String {
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

/// True for text HAProxy files may hold: printable ASCII, spaces and line feeds.
fn clean_text(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\n')
}

/// A timeout as rendered: digits and a unit.
fn is_timeout(s: &str) -> bool {
    let unit = s.trim_start_matches(|c: char| c.is_ascii_digit());
    unit.len() < s.len() && matches!(unit, "ms" | "s" | "m" | "h")
}

/// A haproxy.cfg line that is not in the valid-only render: one of the backend lines, each
/// word a validated value.
fn validated_line(line: &str, backends: &BTreeSet<&str>) -> bool {
    if line.is_empty() {
        return true;
    }
    if let Some(name) = line.strip_prefix("backend ") {
        return backends.contains(name);
    }
    if let Some(id) = line.strip_prefix("userlist ") {
        return haproxy::config::AuthId::new(id).is_ok();
    }
    if let Some(rest) = line.strip_prefix("    http-request auth realm \"") {
        // `<realm, $ escaped>" if { var(txn.route),field(23,|) -m str <id> } !{ http_auth(<id>) }`
        let Some((realm, tail)) = rest.split_once("\" if { var(txn.route),field(23,|) -m str ")
        else {
            return false;
        };
        let Some((id, again)) = tail.split_once(" } !{ http_auth(") else {
            return false;
        };
        return haproxy::config::Realm::new(&realm.replace("\\$", "$")).is_ok()
            && haproxy::config::AuthId::new(id).is_ok()
            && again == format!("{id}) }}");
    }
    let Some(body) = line.strip_prefix("    ") else {
        return false;
    };
    let w: Vec<&str> = body.split(' ').collect();
    match w.as_slice() {
        ["balance", algo] => matches!(*algo, "leastconn" | "roundrobin" | "random" | "first"),
        ["timeout", "connect" | "server", t] => is_timeout(t),
        ["option", "httpchk"] => true,
        ["http-check", "send", "meth", "GET", "uri", p] => CheckPath::new(*p).is_ok(),
        ["cookie", c, "insert", "indirect", "nocache", "dynamic"] => CookieName::new(*c).is_ok(),
        ["dynamic-cookie-key", k] => CookieKey::new(*k).is_ok(),
        // The rule reading a canary's header or cookie: the name twice, validated.
        [
            "http-request",
            set,
            read,
            "if",
            "{",
            "var(txn.canary_be)",
            "-m",
            "found",
            "}",
            "{",
            _field,
            "-m",
            "str",
            name,
            "}",
        ] => {
            let header = (*set == "set-var(txn.canary_hdr)")
                .then(|| read.strip_prefix("req.hdr(")?.strip_suffix(')'))
                .flatten();
            let cookie = (*set == "set-var(txn.canary_cookie)")
                .then(|| read.strip_prefix("req.cook(")?.strip_suffix(')'))
                .flatten();
            match (header, cookie) {
                (Some(h), None) => {
                    h == *name && CanaryName::header(h).is_ok_and(|n| n.as_str() == h)
                }
                (None, Some(c)) => c == *name && CanaryName::cookie(c).is_ok(),
                _ => false,
            }
        }
        ["default_backend", b] => backends.contains(b) || *b == haproxy::config::BUILTIN_404,
        ["user", u, "password", h] => {
            haproxy::config::UserName::new(u).is_ok()
                && haproxy::config::PasswordHash::new(h).is_ok()
        }
        ["default-server", rest @ ..] => protocol_keywords(rest),
        ["server", name, addr, "weight", weight, rest @ ..] => {
            let rest_ok = match rest {
                [] | ["disabled"] | ["backup"] | ["backup", "disabled"] => true,
                ["check", "inter", t, "rise", "2", "fall", "3", tail @ ..] => {
                    is_timeout(t)
                        && matches!(
                            tail,
                            [] | ["disabled"] | ["backup"] | ["backup", "disabled"]
                        )
                }
                _ => false,
            };
            ServerName::new(*name).is_ok()
                && addr.parse::<SocketAddr>().is_ok()
                && weight.parse::<u16>().is_ok_and(|w| w <= 256)
                && rest_ok
        }
        _ => false,
    }
}

/// The keywords of a backend's `default-server` line, each from a validated type.
fn protocol_keywords(words: &[&str]) -> bool {
    let path = |p: &str| haproxy::FilePath::new(p).is_ok_and(|_| p.starts_with('/'));
    let name = |n: &str| haproxy::proto::TlsName::new(n).is_ok_and(|t| t.as_str() == n);
    let mut w = words;
    match w {
        ["proto", "h2"] | ["proto", "h2", "check-proto", "h2"] => return true,
        ["ssl", rest @ ..] => w = rest,
        _ => return false,
    }
    w = match w {
        ["verify", "none", rest @ ..] => rest,
        ["verify", "required", "ca-file", p, rest @ ..] if path(p) => rest,
        _ => return false,
    };
    if let ["verifyhost", n, rest @ ..] = w {
        if !name(n) {
            return false;
        }
        w = rest;
    }
    if let ["sni", expr, rest @ ..] = w {
        let inner = expr.strip_prefix("str(").and_then(|e| e.strip_suffix(')'));
        if !inner.is_some_and(name) {
            return false;
        }
        w = rest;
    }
    if let ["crt", p, rest @ ..] = w {
        if !path(p) {
            return false;
        }
        w = rest;
    }
    matches!(w, ["alpn", "h2" | "http/1.1"])
}

/// The lines TCP services may render: each from a port, an address and a flag.
fn tcp_lines(config: &haproxy::config::Config) -> Vec<String> {
    let mut out = Vec::new();
    for (port, s) in &config.tcp_services {
        let proxy = if s.accept_proxy { " accept-proxy" } else { "" };
        out.extend([
            format!("frontend tcp_{port}"),
            "    mode tcp".to_string(),
            format!("    log-format \"{}\"", haproxy::config::TCP_LOG_FORMAT),
            format!("    bind {}{proxy}", s.bind),
            format!("    default_backend tcp_{port}"),
        ]);
    }
    out
}

fn check_rendered(
    name: &str,
    t: &Translation,
    rendered: &Rendered,
    baseline: &Rendered,
    values: &[&str],
) {
    let cfg = &rendered.haproxy_cfg;
    assert!(
        clean_text(cfg),
        "{name}: a control or non-ASCII byte in haproxy.cfg"
    );
    let backends: BTreeSet<&str> = t.config.backends.keys().map(BackendName::as_str).collect();
    let mut known: BTreeSet<&str> = baseline.haproxy_cfg.lines().collect();
    // Custom error pages: fixed lines, made from the settings alone (the config dir).
    let errors = t
        .config
        .uses_custom_errors()
        .map(|files| haproxy::config::rendered_lines(files, haproxy::config::CUSTOM_ERRORS_FIELD));
    known.extend(errors.iter().flatten().map(String::as_str));
    // Gateway API: fixed lines (the Lua file from the config dir), and the first Ingress
    // lookup guarded by the Lua action's choice.
    let gateway: Vec<String> = haproxy::config::gateway::gateway_files(&t.config)
        .map(|f| haproxy::config::gateway::rendered_lines(&f))
        .into_iter()
        .flatten()
        .chain(
            baseline
                .haproxy_cfg
                .lines()
                .filter(|l| l.contains("var(txn.host_path),map_regm(") && !l.contains(" unless "))
                .map(|l| format!("{l} unless {{ var(txn.route) -m found }}")),
        )
        // The binds, named (typed addresses and the names made from them).
        .chain(
            haproxy::config::gateway::gateway_files(&t.config)
                .map(|_| haproxy::config::frontend_bind_lines(&t.config))
                .into_iter()
                .flatten(),
        )
        .collect();
    known.extend(gateway.iter().map(String::as_str));
    // The HTTPS bind, made from the settings alone (addresses and paths), when TLS is on.
    let tls_bind = t.config.frontends[0].tls.as_ref().map(|b| {
        format!(
            "    bind {} ssl crt {} crt-list {} alpn h2,http/1.1{}",
            b.binds[0],
            b.default_cert,
            b.crt_list,
            haproxy::config::IGNORE_VERIFY_ERRORS
        )
    });
    // TCP services: lines made from validated ports and addresses alone.
    let tcp = tcp_lines(&t.config);
    known.extend(tcp.iter().map(String::as_str));
    // TLS passthrough: its frontend and socket bind, from the settings alone.
    let passthrough = haproxy::config::passthrough_lines(&t.config);
    known.extend(passthrough.iter().map(String::as_str));
    for line in cfg.lines() {
        assert!(
            known.contains(line)
                || validated_line(line, &backends)
                || tls_bind.as_deref() == Some(line),
            "{name}: unexpected haproxy.cfg line {line:?}"
        );
    }
    // Sections: exactly global, defaults, the frontend, the limit tables, the 404 backend
    // when used, and one per backend of the model. No injected section.
    let sections: Vec<&str> = cfg
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' ') && !l.starts_with('#'))
        .collect();
    let mut want = vec![
        "global".to_string(),
        "defaults".into(),
        "frontend http".into(),
    ];
    if errors.is_some() {
        want.push("frontend _errors".into());
    }
    if t.config.passthrough.is_some() {
        want.push("frontend _passthrough".into());
        want.push("backend _https".into());
    }
    want.extend(
        t.config
            .tcp_services
            .keys()
            .map(|port| format!("frontend tcp_{port}")),
    );
    want.extend(t.config.auth.keys().map(|id| format!("userlist {id}")));
    want.extend(
        haproxy::config::LIMIT_TABLES
            .iter()
            .map(|(name, _)| format!("backend {name}")),
    );
    if t.config.uses_builtin_404() {
        want.push(format!("backend {}", haproxy::config::BUILTIN_404));
    }
    want.extend(backends.iter().map(|b| format!("backend {b}")));
    assert_eq!(sections, want, "{name}: sections");
    let mut servers: usize = t.config.backends.values().map(|b| b.servers.len()).sum();
    // The passthrough frontend's way to the HTTPS bind.
    servers += usize::from(t.config.passthrough.is_some() && t.config.frontends[0].tls.is_some());
    assert_eq!(
        cfg.lines().filter(|l| l.starts_with("    server ")).count(),
        servers,
        "{name}: server lines"
    );
    let set = route_maps(&t.config.routes);
    let acls = haproxy::config::AclEntries::of_lists(&t.config.source_lists);
    for (file, text) in &rendered.maps {
        assert!(clean_text(text), "{name}: a control byte in {file}");
        if file.as_str().ends_with(".acl") {
            let maps = &t.config.frontends[0].maps;
            let kind = haproxy::config::AclKind::of_file(maps, file).expect("an ACL file");
            let lines: Vec<&str> = text.lines().collect();
            let want: Vec<&str> = acls.get(kind).iter().map(|p| p.as_str()).collect();
            assert_eq!(lines, want, "{name}: {file} lines");
            continue;
        }
        // Gateway API: the fixed Lua file, and map lines of one key and one value, every
        // user string percent-encoded (printable ASCII, no space inside).
        if let Some(g) = haproxy::config::gateway::gateway_files(&t.config) {
            if *file == g.lua.to_file_path() {
                assert_eq!(text, haproxy::config::gateway::LUA, "{name}: the Lua file");
                continue;
            }
            if *file == g.hosts.to_file_path() || *file == g.rules.to_file_path() {
                for line in text.lines() {
                    assert!(
                        line.matches(' ').count() == 1
                            && line.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                        "{name}: gateway map line {line:?}"
                    );
                }
                continue;
            }
        }
        // The settings map: exactly the entries the validated settings give.
        if *file == t.config.frontends[0].maps.settings.to_file_path() {
            let want = haproxy::config::settings_entries(&t.config.settings, &t.config.tls);
            assert_eq!(
                *text,
                haproxy::config::render_settings_map(&want),
                "{name}: the settings map"
            );
            continue;
        }
        let entries = if file.as_str().ends_with("exact.map") {
            &set.exact
        } else if file.as_str().ends_with("regex.map") {
            &set.regex
        } else if file.as_str().ends_with("sni.map") {
            &set.passthrough
        } else {
            &set.prefix
        };
        assert_eq!(text.lines().count(), entries.len(), "{name}: {file} lines");
        for line in text.lines() {
            let (k, v) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("{name}: map line {line:?}"));
            let target = haproxy::config::RouteTarget::parse(v);
            assert!(
                MapKey::new(k).is_ok()
                    && target.is_some_and(|t| backends.contains(t.backend.as_str())),
                "{name}: map line {line:?}"
            );
        }
    }
    // The crt-list: one line per certificate the model holds, each a path and SNI names.
    for (file, text) in rendered
        .tls
        .iter()
        .filter(|(f, _)| f.as_str().ends_with(".txt"))
    {
        assert!(clean_text(text), "{name}: a control byte in {file}");
        let want: Vec<String> = t.config.tls.crt_list.iter().map(|e| e.line()).collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), want, "{name}: {file}");
    }
    for v in values {
        assert!(
            !cfg.contains(v),
            "{name}: the hostile value is in haproxy.cfg"
        );
        // The Gateway API Lua file is fixed text (checked whole above).
        let lua = haproxy::config::gateway::gateway_files(&t.config).map(|g| g.lua.to_file_path());
        for (file, text) in rendered.maps.iter().chain(&rendered.tls) {
            if Some(file) == lua.as_ref() {
                continue;
            }
            assert!(!text.contains(v), "{name}: the hostile value is in {file}");
        }
    }
}

/// True when finding `v` in a render would mean something: the valid render does not
/// hold it already.
fn meaningful(v: &str, baseline: &Rendered) -> bool {
    !v.is_empty()
        && !baseline.haproxy_cfg.contains(v)
        && !baseline.maps.values().any(|m| m.contains(v))
}

/// Splits a CLI line as HAProxy 2.6 does: commands on an unescaped `;`, words on unescaped
/// spaces and tabs, `\x` gives `x`.
fn cli_split(line: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    word.get_or_insert_with(String::new).push(n);
                }
            }
            ';' => {
                words.extend(word.take());
                commands.push(std::mem::take(&mut words));
            }
            ' ' | '\t' => words.extend(word.take()),
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word.take());
    commands.push(words);
    commands
}

/// A buffer for [`Command::encode`]: agent does not depend on `bytes` directly, so it is
/// made from the `Bytes` axum re-exports (an owned, unique buffer converts to `BytesMut`).
fn encode(c: &Command) -> Result<usize, EncodeError> {
    let mut buf = axum::body::Bytes::from(vec![0u8])
        .try_into_mut()
        .expect("an owned buffer is unique");
    buf.clear();
    c.encode(DEFAULT_BUFSIZE, &mut buf).map(|()| buf.len())
}

/// The runtime plan for `t` against `observed`, which runs `t`'s structure.
fn runtime_plan(name: &str, t: &Translation, observed: &Observed) -> reconcile::RuntimePlan {
    let plan = reconcile::plan(
        &t.config,
        structure(&t.config).as_str(),
        observed,
        &BTreeMap::new(),
        Instant::now(),
        PlanSettings {
            drain_timeout: Duration::from_secs(30),
        },
    );
    match plan {
        Plan::Runtime(plan) => plan,
        Plan::Reload(_) => panic!("{name}: a reload planned: {plan:?}"),
    }
}

/// Checks the runtime commands that bring HAProxy to `t`, from an empty HAProxy and from a
/// populated one that differs everywhere (see [`populated`]).
fn check_plan(name: &str, t: &Translation, values: &[&str]) {
    let desired = structure(&t.config);
    let observed = Observed {
        loaded_structure: Some(desired.as_str().to_string()),
        backends: t.config.backends.keys().cloned().collect(),
        ..Default::default()
    };
    let plan = runtime_plan(name, t, &observed);
    let servers: usize = t.config.backends.values().map(|b| b.servers.len()).sum();
    let set = route_maps(&t.config.routes);
    let adds = plan
        .commands
        .iter()
        .filter(|c| matches!(c, Command::AddServer(_)))
        .count();
    let maps = plan
        .commands
        .iter()
        .filter(|c| matches!(c, Command::AddMap(..)))
        .count();
    assert_eq!(adds, servers, "{name}: add server commands");
    // Regex entries are appended when each host's are in order, else swapped whole.
    let regex_adds = match haproxy::config::appends_in_order(&set.regex, set.regex.keys()) {
        true => set.regex.len(),
        false => 0,
    };
    // Gateway API entries, while the config serves any, are added too.
    let gateway = haproxy::config::gateway::gateway_files(&t.config).map_or(0, |_| {
        let g = haproxy::config::gateway::GatewayMaps::of_routes(&t.config.gateway.servable());
        g.hosts.len() + g.rules.len()
    });
    // The settings map's entries (HSTS) too.
    let settings = haproxy::config::settings_entries(&t.config.settings, &t.config.tls).len();
    assert_eq!(
        maps,
        set.exact.len() + set.prefix.len() + regex_adds + gateway + settings,
        "{name}: add map commands"
    );
    check_commands(name, &plan.commands, values);
    let from_populated = runtime_plan(name, t, &populated(t, observed));
    let kinds: BTreeSet<&str> = from_populated.commands.iter().map(Command::name).collect();
    if servers > 0 {
        for want in ["set server addr", "set server weight"] {
            assert!(kinds.contains(want), "{name}: no {want} in {kinds:?}");
        }
    }
    if !set.exact.is_empty() {
        for want in ["set map", "del map"] {
            assert!(kinds.contains(want), "{name}: no {want} in {kinds:?}");
        }
    }
    assert!(kinds.contains("del acl"), "{name}: no del acl in {kinds:?}");
    check_commands(name, &from_populated.commands, values);
}

/// `empty` (which runs `t`'s structure) populated so that everything differs from `t`:
/// every server at another address and weight, every map entry with another value plus a
/// stale key in each map, the regex map to swap whole, a stale pattern in each ACL file.
fn populated(t: &Translation, empty: Observed) -> Observed {
    let mut o = empty;
    let elsewhere: SocketAddr = "192.0.2.1:1".parse().expect("an address");
    for (be, b) in &t.config.backends {
        let servers = b.servers.keys().map(|s| {
            let live = reconcile::LiveServer {
                addr: Some(elsewhere),
                weight: 3,
                admin: haproxy::proto::parse::ServerAdmin(0),
                sessions: None,
            };
            (s.clone(), live)
        });
        o.servers.insert(be.clone(), servers.collect());
    }
    let stale = haproxy::config::RouteTarget::parse("stale_backend_1").expect("a target");
    let set = route_maps(&t.config.routes);
    for kind in haproxy::config::MapKind::ALL {
        let entries = o.maps.entries.entries_mut(kind);
        for k in set
            .entries(kind)
            .keys()
            .chain([&MapKey::new("stale.test/").unwrap()])
        {
            entries.insert(k.clone(), stale.clone());
        }
    }
    o.maps.dirty.insert(haproxy::config::MapKind::Regex);
    for kind in haproxy::config::AclKind::ALL {
        let p = haproxy::AclPattern::new("stale|4|0A").expect("a pattern");
        o.acls.entries.get_mut(kind).insert(p);
    }
    o
}

/// Each command encodes as one CLI command of printable ASCII, holds none of `values`, and
/// passes the encoder.
fn check_commands(name: &str, commands: &[Command], values: &[&str]) {
    for c in commands {
        let text = c
            .to_text()
            .unwrap_or_else(|e| panic!("{name}: {c:?} does not encode: {e}"));
        // A payload command is its command line, then payload lines (PEM re-encoded by
        // OpenSSL, or a crt-list line of validated words), each held to the same rule.
        let (head, payload) = match c.has_payload() {
            true => text.split_once('\n').unwrap_or((text.as_str(), "")),
            false => (text.as_str(), ""),
        };
        for line in std::iter::once(head).chain(payload.lines()) {
            assert!(
                line.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                "{name}: a control or non-ASCII byte in {line:?} of {c:?}"
            );
        }
        // In the arguments: the command's own words (`del map`) are ours.
        let args = text.strip_prefix(c.name()).unwrap_or(&text);
        for v in values {
            assert!(
                !args.contains(v),
                "{name}: the hostile value is in {text:?}"
            );
        }
        let split = cli_split(head);
        assert_eq!(split.len(), 1, "{name}: {text:?} is several CLI commands");
        if let Command::AddMap(_, k, v) = c {
            let words = &split[0];
            assert_eq!(words.len(), 5, "{name}: {text:?}");
            assert_eq!(
                (words[3].as_str(), words[4].as_str()),
                (k.as_str(), v.as_str())
            );
        }
        match encode(c) {
            Ok(len) => assert_eq!(len, text.len() + 1),
            Err(EncodeError::TooLong { .. }) => {}
            Err(e) => panic!("{name}: {text:?} refused by encode: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The tests.

/// Counts for the report.
#[derive(Default)]
struct Counts {
    objects: usize,
    problems: usize,
    accepted: BTreeMap<&'static str, usize>,
    ignored: BTreeMap<&'static str, usize>,
}

impl Counts {
    fn add(&mut self, expect: &Expect, problems: usize) {
        self.objects += 1;
        self.problems += problems;
        match expect {
            Expect::Accepted(why) => *self.accepted.entry(why).or_default() += 1,
            Expect::Ignored(why) => *self.ignored.entry(why).or_default() += 1,
            Expect::Problem { .. } => {}
        }
    }

    fn report(&self, what: &str, env: &Env) {
        println!(
            "{what}: {} hostile objects, {} problems, {} accepted as valid, {} ignored; \
             haproxy -c accepted all {} renders ({} distinct, checked in {:?})",
            self.objects,
            self.problems,
            self.accepted.values().sum::<usize>(),
            self.ignored.values().sum::<usize>(),
            env.cases,
            env.haproxy_checks,
            env.haproxy_time,
        );
        for (why, n) in &self.accepted {
            println!("  accepted ×{n}: {why}");
        }
        for (why, n) in &self.ignored {
            println!("  ignored ×{n}: {why}");
        }
    }
}

#[test]
fn hostile_table_corpus() {
    let mut env = Env::new();
    // The world unchanged is valid: every problem below comes from the hostile value.
    let clean = world_case(
        "clean",
        |_| {},
        Vec::new(),
        |_| Expect::Accepted("the template"),
    );
    let t = translate(
        &snapshot(
            env.valid
                .iter()
                .cloned()
                .chain(clean.objects)
                .chain([configmap::object(Default::default())])
                .collect(),
        ),
        &env.settings,
    )
    .unwrap();
    assert_eq!(t.problems, vec![]);
    assert_eq!(t.config.backends.len(), 3);

    let mut counts = Counts::default();
    let cases: Vec<Case> = token_cases()
        .into_iter()
        .chain(long_cases())
        .chain(special_cases())
        .chain(configmap::cases())
        .chain(tcp_services::cases())
        .chain(gateway::cases())
        .collect();
    assert_eq!(
        cases.len(),
        TABLE_CASES,
        "the table corpus changed size: update TABLE_CASES on purpose"
    );
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    for case in cases {
        assert!(
            names.insert(case.name.clone()),
            "duplicate case {}",
            case.name
        );
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            env.check(
                &case.name,
                case.objects,
                &case.values,
                case.default_backend_service,
                Vec::new(),
                std::slice::from_ref(&case.expect),
            )
        }));
        match run {
            Ok(problems) => counts.add(&case.expect, problems.len()),
            Err(e) => failures.push(panic_message(&case.name, e)),
        }
    }
    counts.report("table corpus", &env);
    assert!(
        failures.is_empty(),
        "{} failed cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(counts.objects, TABLE_CASES, "every case ran to its end");
}

/// The table corpus's cases, exactly: a case lost (a field or token list shortened by
/// accident) fails the test as surely as one that goes wrong.
const TABLE_CASES: usize = 4078;

/// The files of `agent/tests/hostile/`, exactly.
const MANIFEST_FILES: usize = 66;

/// The message of a caught panic.
fn panic_message(name: &str, e: Box<dyn std::any::Any + Send>) -> String {
    let msg = e
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    format!("{name}: {}", truncate_problem(&msg))
}

/// A hand-written case: its expectations are `# expect:` lines at the top of the file.
fn yaml_expectations(path: &Path, text: &str) -> Vec<Expect> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# expect: ") else {
            continue;
        };
        let (what, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
        out.push(match what {
            "accepted" => Expect::Accepted(leak(rest)),
            "ignored" => Expect::Ignored(leak(rest)),
            "problem" => {
                let mut words = rest.split(' ');
                let kind = match words.next() {
                    Some("manifest_file") => ProblemKind::ManifestFile,
                    Some("ingress") => ProblemKind::Ingress,
                    Some("service") => ProblemKind::Service,
                    Some("endpointslice") => ProblemKind::EndpointSlice,
                    Some("configmap") => ProblemKind::ConfigMap,
                    Some("gateway") => ProblemKind::Gateway,
                    Some("httproute") => ProblemKind::HttpRoute,
                    other => panic!("{}: unknown kind {other:?}", path.display()),
                };
                let object = words.next().expect("an object").to_string();
                Expect::Problem {
                    kind,
                    object,
                    field: words.next().map(str::to_string),
                }
            }
            other => panic!("{}: unknown expectation {other}", path.display()),
        });
    }
    assert!(!out.is_empty(), "{}: no `# expect:` line", path.display());
    out
}

/// Runs a manifest case through the manifests source (`valid.yaml`, `support.yaml` and the
/// case as `case.yaml` in one directory), then translation and every check.
fn run_manifest_case(
    env: &mut Env,
    counts: &mut Counts,
    name: &str,
    bytes: &[u8],
    expects: &[Expect],
    values: &[String],
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("valid.yaml"), VALID_YAML).unwrap();
    std::fs::write(dir.path().join("support.yaml"), SUPPORT_YAML).unwrap();
    if !bytes.windows(15).any(|w| w == b"kind: ConfigMap") {
        std::fs::write(dir.path().join("configmap.yaml"), configmap::EMPTY_YAML).unwrap();
    }
    let case_path = dir.path().join("case.yaml");
    std::fs::write(&case_path, bytes).unwrap();
    let store = Store::new();
    let mut source = ManifestsSource::new(dir.path().to_path_buf(), store.clone());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| source.scan()))
        .unwrap_or_else(|_| panic!("{name}: the manifests scan panicked"));
    let file = case_path.display().to_string();
    let snap = store.snapshot();
    // The objects the scan put in force, without the valid and support ones.
    let valid_keys: BTreeSet<(Kind, ObjectKey)> = env
        .valid
        .iter()
        .chain(&env.support)
        .map(|o| (o.kind(), o.key()))
        .collect();
    let objects = snap.objects();
    let hostile: Vec<Object> = objects
        .into_iter()
        .filter(|o| !valid_keys.contains(&(o.kind(), o.key())) || is_redefined(o, env))
        .collect();
    let expects: Vec<Expect> = expects
        .iter()
        .map(|e| match e {
            Expect::Problem {
                kind,
                object,
                field,
            } => Expect::Problem {
                kind: *kind,
                object: object.replace("{file}", &file),
                field: field.clone(),
            },
            other => other.clone(),
        })
        .collect();
    let problems = env.check(name, hostile, values, None, outcome.problems, &expects);
    counts.add(&expects[0], problems.len());
}

/// True when the store holds another version of a valid or support object than ours (a
/// case redefining it): then it is part of the case.
fn is_redefined(o: &Object, env: &Env) -> bool {
    !env.valid.iter().chain(&env.support).any(|v| v == o)
}

#[test]
fn hostile_manifest_corpus() {
    let mut env = Env::new();
    let mut counts = Counts::default();
    let mut failures = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        MANIFEST_FILES,
        "the manifest corpus changed size: update MANIFEST_FILES on purpose"
    );
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        // Every file names the bytes that must never reach HAProxy, or says why it has none.
        assert!(
            text.lines()
                .any(|l| l.starts_with("# value: ") || l.starts_with("# no value: ")),
            "{}: no `# value:` line and no `# no value:` reason",
            path.display()
        );
        let expects = yaml_expectations(path, &text);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let values: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# value: "))
            .map(unescape)
            .collect();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_manifest_case(
                &mut env,
                &mut counts,
                &name,
                text.as_bytes(),
                &expects,
                &values,
            )
        }));
        failures.extend(run.err().map(|e| panic_message(&name, e)));
    }

    // Cases whose bytes do not belong in a text file.
    let ingress = |host: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: gen\n  \
             namespace: shop\nspec:\n  ingressClassName: haproxy\n  rules:\n  - host: {host}\n    \
             http:\n      paths:\n      - path: /g\n        pathType: Prefix\n        backend:\n          \
             service:\n            name: hsvc\n            port:\n              number: 80\n"
        )
    };
    let file_problem = |line: usize| Expect::Problem {
        kind: ProblemKind::ManifestFile,
        object: format!("{{file}}:{line}"),
        field: None,
    };
    let mut generated: Vec<(&str, Vec<u8>, Expect, Vec<String>)> = vec![
        (
            "raw NUL byte in a plain scalar",
            ingress("ge\0n.example.com").into_bytes(),
            // The YAML reader reports control characters by byte position only.
            file_problem(1),
            vec!["ge\0n".into()],
        ),
        (
            "raw ESC byte in a plain scalar",
            ingress("ge\x1bn.example.com").into_bytes(),
            file_problem(1),
            vec!["ge\x1bn".into()],
        ),
        (
            "invalid UTF-8 in a host",
            {
                let mut b = ingress("geXn.example.com").into_bytes();
                let at = b.iter().position(|&c| c == b'X').unwrap();
                b[at] = 0xff;
                b
            },
            file_problem(9),
            Vec::new(),
        ),
        (
            "a raw CR in a host",
            ingress("\"ge\rn.example.com\"").into_bytes(),
            Expect::ingress("shop/gen", HOST_FIELD),
            vec!["ge\rn".into()],
        ),
        (
            "CRLF line breaks everywhere",
            ingress("gen.example.com")
                .replace('\n', "\r\n")
                .into_bytes(),
            Expect::Accepted("CRLF line breaks are YAML line breaks, not part of any value"),
            Vec::new(),
        ),
        (
            "a 1 MB host",
            ingress(&format!("{}.example.com", "a".repeat(1 << 20))).into_bytes(),
            Expect::ingress("shop/gen", HOST_FIELD),
            Vec::new(),
        ),
        (
            "a 1 MB line of flow-sequence openers",
            format!("{}\n", "[".repeat(1 << 20)).into_bytes(),
            file_problem(1),
            Vec::new(),
        ),
    ];
    let bomb = {
        let mut s = String::from(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
        );
        for i in 1..10 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        s
    };
    generated.push((
        "billion laughs (aliases)",
        bomb.into_bytes(),
        file_problem(1),
        Vec::new(),
    ));
    let cases = files.len() + generated.len();
    for (name, bytes, expect, values) in generated {
        let started = Instant::now();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_manifest_case(
                &mut env,
                &mut counts,
                name,
                &bytes,
                std::slice::from_ref(&expect),
                &values,
            )
        }));
        failures.extend(run.err().map(|e| panic_message(name, e)));
        // A guard against a parser that blows up (quadratic or worse: minutes to hours on
        // these inputs), not a speed test: it must hold on a loaded 2-core machine too (31 s
        // measured there under a load average of 17).
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{name}: took {:?}",
            started.elapsed()
        );
    }
    counts.report("manifest corpus", &env);
    assert!(
        failures.is_empty(),
        "{} failed cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        counts.objects, cases,
        "every file and generated case ran to its end"
    );
}

/// `# value:` lines are written with Rust-like escapes (`\n`, `\t`, `\0`, `\u{…}`).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            other => panic!("bad escape \\{other:?} in {s:?}"),
        }
    }
    out
}

/// Removed API versions are refused by `parse_manifests` with the file and line, and a
/// pointer to the migration notes; kinds of other groups are skipped.
#[test]
fn hostile_api_versions() {
    let ingress_body =
        "metadata:\n  name: old\n  namespace: shop\nspec:\n  rules:\n  - host: old.example.com\n";
    for (api, kind, refused) in [
        ("extensions/v1beta1", "Ingress", true),
        ("networking.k8s.io/v1beta1", "Ingress", true),
        ("networking.k8s.io/v2", "Ingress", true),
        ("discovery.k8s.io/v1beta1", "EndpointSlice", true),
        ("networking.k8s.io/v1beta1", "IngressClass", true),
        ("v2", "Service", true),
        ("serving.knative.dev/v1", "Service", false),
        ("example.com/v1", "Ingress", false),
        ("networking.k8s.io/v1", "Ingres", false),
        ("networking.k8s.io/v1", "ingress", false),
        ("v1", "Pod", false),
    ] {
        let text = format!("# a comment\napiVersion: {api}\nkind: {kind}\n{ingress_body}");
        let got = parse_manifests(Path::new("m.yaml"), &text);
        match (refused, got) {
            (true, Err(p)) => {
                assert_eq!(p.kind, ProblemKind::ManifestFile, "{api} {kind}");
                assert_eq!(p.object, "m.yaml:2", "{api} {kind}: {p}");
                assert!(p.message.contains("docs/migrating.md"), "{api} {kind}: {p}");
            }
            (false, Ok(objects)) => assert!(objects.is_empty(), "{api} {kind}"),
            (refused, got) => panic!("{api} {kind}: refused={refused}, got {got:?}"),
        }
    }
}

/// The checks catch what they are for: a rendered config or map with an injected line,
/// section, directive or byte fails them, and `;` splits a CLI line unless escaped.
#[test]
fn hostile_checks_catch_injections() {
    let env = Env::new();
    let (t, good) = (&env.baseline, &env.baseline_render);
    check_rendered("baseline", t, good, good, &[]);
    type Tamper = fn(&mut Rendered);
    let tampered: &[(&str, Tamper)] = &[
        ("server line", |r| {
            r.haproxy_cfg
                .push_str("    server evil 6.6.6.6:80 weight 1\n")
        }),
        ("section", |r| r.haproxy_cfg.push_str("\nbackend evil\n")),
        ("directive", |r| {
            r.haproxy_cfg
                .push_str("    http-request set-header X %[src]\n")
        }),
        ("carriage return", |r| {
            r.haproxy_cfg = r
                .haproxy_cfg
                .replacen("balance leastconn", "balance leastconn\r", 1)
        }),
        ("non-ASCII", |r| {
            r.haproxy_cfg = r
                .haproxy_cfg
                .replacen("backend shop_web_80", "backend shop_wеb_80", 1)
        }),
        ("map entry to an unknown backend", |r| {
            let m = map_text(r, ".map");
            m.push_str("/evil ns_evil_80\n");
        }),
        ("map line of three words", |r| {
            let m = map_text(r, ".map");
            *m = m.replacen('\n', " extra\n", 1);
        }),
        ("acl pattern of no list", |r| {
            let m = map_text(r, "allow.acl");
            m.push_str("evil/any|4|\n");
        }),
    ];
    for (what, tamper) in tampered {
        let mut bad = good.clone();
        tamper(&mut bad);
        assert_ne!(&bad, good, "{what}: the tamper changed nothing");
        let caught = std::panic::catch_unwind(|| check_rendered(what, t, &bad, good, &[]));
        assert!(caught.is_err(), "{what}: not caught");
    }
    let mut bad = good.clone();
    let exact = bad
        .maps
        .iter_mut()
        .find(|(f, _)| f.as_str().ends_with("exact.map"))
        .map(|(_, m)| m)
        .expect("an exact map");
    *exact = exact.replacen("/api ", "/api%[src] ", 1);
    let caught = std::panic::catch_unwind(|| check_rendered("value", t, &bad, good, &["%[src]"]));
    assert!(caught.is_err(), "a hostile value in a map: not caught");

    assert_eq!(cli_split("set map /m k\\;del\\ map v").len(), 1);
    assert_eq!(cli_split("set map /m k;del map /m v").len(), 2);
    assert_eq!(
        cli_split("add map /m a\\\\b\\ c v"),
        vec![vec!["add", "map", "/m", "a\\b c", "v"]]
    );
}

/// The text of the first rendered map or ACL file whose path ends with `suffix`.
fn map_text<'a>(r: &'a mut Rendered, suffix: &str) -> &'a mut String {
    r.maps
        .iter_mut()
        .find(|(f, _)| f.as_str().ends_with(suffix))
        .map(|(_, t)| t)
        .unwrap()
}
