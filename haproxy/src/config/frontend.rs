//! The `frontend` section: its binds, the client rules, the route lookup in the map files,
//! the rules acting on the route found, and the backend chosen.

use std::fmt::Write as _;

use super::model::{BUILTIN_404, Config, DefaultBackend, Frontend};
use super::routes::HTTPS_FLAG;
use super::settings::GlobalSettings;

/// The request's host: the Host header, lower case, without a `:port` (`[::1]:80` keeps its
/// brackets). The `$` is safe unquoted: HAProxy only expands `$` followed by a name.
const HOST_SAMPLE: &str = "req.fhdr(host),lower,regsub(:[0-9]+$,)";

/// The bind lines of frontend `fe`: its HTTP binds, its TLS binds, and with Gateway API
/// routes the binds of Gateway listeners alone.
fn render_frontend_binds(out: &mut String, fe: &Frontend, config: &Config) {
    let mut binds = fe.binds.clone();
    binds.sort();
    binds.dedup();
    let proxy = if config.settings.accept_proxy {
        " accept-proxy"
    } else {
        ""
    };
    let gateway = super::gateway::gateway_files(config).is_some();
    // With Gateway API routes every bind is named: the Lua action reads the name
    // (`so_name`) to tell the shared binds from each Gateway's own.
    let (http_name, https_name) = if gateway {
        (" name http", " name https")
    } else {
        ("", "")
    };
    for b in &binds {
        line!(out, "bind {b}{http_name}{proxy}");
    }
    if let Some(tls) = &fe.tls {
        let mut binds = tls.binds.clone();
        binds.sort();
        binds.dedup();
        let addrs: Vec<(String, &str)> = match &config.passthrough {
            // The passthrough frontend owns the public port and sends the rest here.
            Some(p) => vec![(p.tls_bind(), " accept-proxy")],
            None => binds.iter().map(|b| (b.to_string(), proxy)).collect(),
        };
        for (b, proxy) in &addrs {
            line!(
                out,
                "bind {b}{https_name} ssl crt {} crt-list {} alpn h2,http/1.1{}{}{proxy}",
                tls.default_cert,
                tls.crt_list,
                super::client_cert::IGNORE_VERIFY_ERRORS,
                no_tickets(config)
            );
        }
    }
    if gateway {
        super::gateway::render_binds(out, &config.gateway.binds, fe.tls.as_ref(), proxy);
    }
}

/// The shared HTTPS bind's option turning TLS session tickets off while client
/// certificates are held to two or more CAs (see [`super::TlsFiles::resumption_off`]).
fn no_tickets(config: &Config) -> &'static str {
    if config.tls.resumption_off() {
        " no-tls-tickets"
    } else {
        ""
    }
}

/// Every bind line of `config`'s first frontend as rendered (named while Gateway API routes
/// are served), for checks that a rendering holds nothing else.
pub fn frontend_bind_lines(config: &Config) -> Vec<String> {
    let mut out = String::new();
    if let Some(fe) = config.frontends.first() {
        render_frontend_binds(&mut out, fe, config);
    }
    out.lines().map(str::to_string).collect()
}

/// Every haproxy.cfg line passthrough adds to `config` (none when it is off): its frontend,
/// the termination backend, and the HTTPS bind on the socket; for checks that a rendering
/// holds nothing else. They are made from the settings alone.
pub fn passthrough_lines(config: &Config) -> Vec<String> {
    let (Some(p), Some(fe)) = (&config.passthrough, config.frontends.first()) else {
        return Vec::new();
    };
    let mut out = String::new();
    super::passthrough::render_passthrough(
        &mut out,
        p,
        &fe.maps,
        &config.settings,
        fe.tls.is_some(),
    );
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    if let Some(tls) = &fe.tls {
        lines.push(format!(
            "    bind {} ssl crt {} crt-list {} alpn h2,http/1.1{}{} accept-proxy",
            p.tls_bind(),
            tls.default_cert,
            tls.crt_list,
            super::client_cert::IGNORE_VERIFY_ERRORS,
            no_tickets(config)
        ));
    }
    lines
}

/// Frontend `fe`: its binds, the client rules, the route lookup, the rules acting on the
/// route found, and the choice of backend.
pub(super) fn render_frontend(out: &mut String, fe: &Frontend, config: &Config) {
    let _ = write!(out, "\nfrontend {}\n", fe.name);
    render_frontend_binds(out, fe, config);
    let gateway = super::gateway::gateway_files(config).is_some();
    client_rules(out, fe, &config.settings);
    if gateway {
        line!(out, "{}", super::gateway::REQUEST_RULE);
        line!(out, "{}", super::gateway::RESPONSE_RULE);
    }
    route_lookup(out, fe, gateway);
    route_rules(out, fe, config);
    backend_choice(out, fe);
}

/// The lookup setting `txn.route` to the value of the first map entry the request hits.
fn route_lookup(out: &mut String, fe: &Frontend, gateway: bool) {
    let exact = &fe.maps.exact;
    let prefix = &fe.maps.prefix;
    let regex = &fe.maps.regex;
    out.push_str(
        "    # Route lookup, first hit wins: host+path, then *.<host minus its first label>+path,\n\
         \x20   # then path alone; each in the regex map (first match, longest path first; it\n\
         \x20   # holds the hosts with a regex route, \\N in a value is the Nth group), then the\n\
         \x20   # exact map, then the prefix map (longest prefix).\n\
         \x20   # A map value is backend|flags|redirect|app-root|x-forwarded-prefix|rewrite|vhost\n\
         \x20   # (trailing empty fields left out); flags is https when plain HTTP goes to HTTPS.\n",
    );
    line!(out, "http-request set-var(txn.host) {HOST_SAMPLE}");
    line!(out, "http-request set-var(txn.path) path");
    line!(
        out,
        "http-request set-var(txn.host_path) var(txn.host),concat(,txn.path,)"
    );
    line!(
        out,
        "http-request set-var(txn.wild_path) var(txn.host),regsub(^[^.]+,*),concat(,txn.path,)"
    );
    // With Gateway API routes, a request the Lua action routed skips every lookup.
    let mut first = !gateway;
    for var in ["txn.host_path", "txn.wild_path", "txn.path"] {
        for (conv, file) in [("map_regm", regex), ("map_str", exact), ("map_beg", prefix)] {
            let guard = if first {
                ""
            } else {
                " unless { var(txn.route) -m found }"
            };
            first = false;
            line!(
                out,
                "http-request set-var(txn.route) var({var}),{conv}({file}){guard}"
            );
        }
    }
}

/// The rules acting on the route found, in order: client certificate verification, the
/// HTTPS redirect, custom errors, source lists, policies, HSTS, basic auth, certificate
/// names.
fn route_rules(out: &mut String, fe: &Frontend, config: &Config) {
    // Before anything else reads the request: a client certificate that failed
    // verification is refused here unless its name is optional_no_ca.
    for rule in super::client_cert::verify_rules(&fe.maps.settings) {
        line!(out, "{rule}");
    }
    let plain = if config.settings.use_forwarded_headers {
        "!{ ssl_fc } !{ req.hdr(x-forwarded-proto) -m str https }"
    } else {
        "!{ ssl_fc }"
    };
    line!(
        out,
        "http-request redirect scheme https code 308 if {plain} {{ var(txn.route),field(2,|) -m str {HTTPS_FLAG} }}"
    );
    let errors = config.uses_custom_errors().is_some();
    if errors {
        // Before the rewrites: the error backend is told the URI the client sent.
        for rule in super::custom_errors::request_rules(super::policy::CUSTOM_ERRORS_FIELD) {
            line!(out, "{rule}");
        }
    }
    for rule in super::source_list::frontend_rules(&fe.maps) {
        line!(out, "{rule}");
    }
    if errors {
        line!(out, "{}", super::custom_errors::RESPONSE_RULE);
    }
    for rule in super::policy::frontend_rules() {
        line!(out, "{rule}");
    }
    for rule in super::settings::hsts_rules(super::policy::HSTS_FIELD, &fe.maps.settings) {
        line!(out, "{rule}");
    }
    for rule in super::userlist::frontend_rules(super::policy::AUTH_FIELD, &config.auth) {
        line!(out, "{rule}");
    }
    for rule in super::client_cert::frontend_rules(&fe.maps.canary) {
        line!(out, "{rule}");
    }
}

/// The backend the route names (or its canary), else the default backend.
fn backend_choice(out: &mut String, fe: &Frontend) {
    line!(
        out,
        "http-request set-var(txn.be) var(txn.route),field(1,|) if {{ var(txn.route) -m found }}"
    );
    let canary_field = 3 + super::policy::POLICY_FIELDS;
    for rule in super::canary::frontend_rules(canary_field, &fe.canary_names, &fe.maps.canary) {
        line!(out, "{rule}");
    }
    line!(
        out,
        "use_backend %[var(txn.be)] if {{ var(txn.be) -m found }}"
    );
    match &fe.default_backend {
        DefaultBackend::Backend(be) => line!(out, "default_backend {be}"),
        DefaultBackend::Builtin404 => line!(out, "default_backend {BUILTIN_404}"),
    }
}

/// Who the client is (the PROXY protocol's address is already `src`; trusted proxies and
/// `use-forwarded-headers` replace it with the forwarded-for header's last address), the
/// request id the access log names, and the scheme the backends learn.
fn client_rules(out: &mut String, fe: &Frontend, settings: &GlobalSettings) {
    let header = settings
        .forwarded_for_header
        .as_ref()
        .map_or("x-forwarded-for".to_string(), |h| {
            h.as_str().to_ascii_lowercase()
        });
    if settings.use_forwarded_headers {
        line!(
            out,
            "http-request set-src hdr_ip({header},-1) if {{ req.hdr_cnt({header}) gt 0 }}"
        );
    } else if !fe.trusted_proxies.is_empty() {
        // Behind trusted proxies: the client is the last forwarded-for address they added.
        let nets: Vec<String> = fe.trusted_proxies.iter().map(|c| c.to_string()).collect();
        line!(
            out,
            "http-request set-src hdr_ip({header},-1) if {{ src {} }} {{ req.hdr_cnt({header}) gt 0 }}",
            nets.join(" ")
        );
    }
    if settings.access_log.is_some() {
        line!(
            out,
            "http-request set-var(txn.request_id) req.hdr(x-request-id) if {{ req.hdr(x-request-id) -m found }}"
        );
    }
    // Backends learn the scheme the client used; a client's own header is replaced
    // unless forwarded headers are believed.
    let keep = if settings.use_forwarded_headers {
        " !{ req.hdr(x-forwarded-proto) -m found }"
    } else {
        ""
    };
    line!(
        out,
        "http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}{keep}"
    );
    if keep.is_empty() {
        line!(
            out,
            "http-request set-header X-Forwarded-Proto http unless {{ ssl_fc }}"
        );
    } else {
        line!(
            out,
            "http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}{keep}"
        );
    }
}
