//! Deterministic rendering: a [`Config`] becomes haproxy.cfg text and map files, byte for
//! byte the same for an equal model, and a [`Structure`] fingerprint that tells whether a
//! change needs a reload.
//!
//! Every word written comes from a validated type whose character set needs no quoting
//! (see [`super::model`]); the only quoted string is the built-in 404 body, a constant.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use crate::names::FilePath;

use super::frontend::render_frontend;
use super::model::{
    BUILTIN_404, Backend, Config, Defaults, Frontend, Global, ServerMode, SocketMode,
};
use super::routes::{render_map, route_maps};
use super::settings::{ACCESS_LOG_FORMAT, GlobalSettings};
use super::source_list::{AclEntries, AclKind, render_acl};
use super::tls::render_crt_list;

/// The rendered files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// haproxy.cfg, servers included (a cold start is already right).
    pub haproxy_cfg: String,
    /// Map files by path, as the config names them: `key value` lines sorted by key; and
    /// the ACL files, one pattern a line.
    pub maps: BTreeMap<FilePath, String>,
    /// Certificate files (PEM: chain and key) and crt-lists by path; written readable by
    /// the owner only.
    pub tls: BTreeMap<FilePath, String>,
}

/// The rendered config without servers, weights and route entries: everything a runtime
/// command cannot change. A reload is needed exactly when `structure(old) != structure(new)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Structure(String);

impl Structure {
    /// The structure of a haproxy.cfg this crate rendered (read back from disk): the text
    /// without its `server` lines. Equal to [`structure`] of the config it was rendered from.
    pub fn of_rendered(haproxy_cfg: &str) -> Self {
        let mut out = String::with_capacity(haproxy_cfg.len());
        for line in haproxy_cfg.split_inclusive('\n') {
            if !line.starts_with("    server ") {
                out.push_str(line);
            }
        }
        Self(out)
    }

    /// The structural config text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Renders haproxy.cfg and the map files of every frontend (frontends sharing map files
/// share them). Route conflicts are resolved as [`super::route_maps`] says; call it to
/// report them. Rendering trusts the config: check [`Config::problems`] first.
pub fn render(config: &Config) -> Rendered {
    let set = route_maps(&config.routes);
    let exact = render_map(&set.exact);
    let prefix = render_map(&set.prefix);
    let regex = super::regex_routes::render_regex_map(&set.regex);
    let passthrough = render_map(&set.passthrough);
    let settings = super::settings_map::render_settings_map(
        &super::settings_map::settings_entries(&config.settings, &config.tls),
    );
    let mut maps = BTreeMap::new();
    let mut tls = BTreeMap::new();
    let acls = AclEntries::of_lists(&config.source_lists);
    for fe in &config.frontends {
        maps.insert(fe.maps.exact.to_file_path(), exact.clone());
        maps.insert(fe.maps.prefix.to_file_path(), prefix.clone());
        maps.insert(fe.maps.regex.to_file_path(), regex.clone());
        if config.passthrough.is_some() {
            maps.insert(fe.maps.passthrough.to_file_path(), passthrough.clone());
        }
        maps.insert(fe.maps.settings.to_file_path(), settings.clone());
        for kind in AclKind::ALL {
            maps.insert(kind.file(&fe.maps), render_acl(acls.get(kind)));
        }
        if let Some(bind) = &fe.tls {
            tls.insert(
                bind.crt_list.to_file_path(),
                render_crt_list(&config.tls.crt_list),
            );
        }
    }
    if let Some(files) = config.uses_custom_errors() {
        // Fixed text, written with the maps before `haproxy -c` reads `lua-load`.
        maps.insert(files.lua.to_file_path(), super::custom_errors::lua_text());
    }
    if let Some(files) = super::gateway::gateway_files(config) {
        // The map entries are in place before the reload that first loads the Lua file.
        let gw = super::gateway::GatewayMaps::of_routes(&config.gateway.servable());
        for m in super::gateway::GatewayMap::ALL {
            let text = super::gateway::render_gateway_map(gw.entries(m));
            maps.insert(files.map(m).to_file_path(), text);
        }
        maps.insert(files.lua.to_file_path(), super::gateway::LUA.to_string());
    }
    let backend_files = config.backends.values().flat_map(|b| &b.files);
    let certs = config.tls.certs.iter().map(|(f, c)| (f, &c.pem));
    let client_cas = config.tls.ca_files.iter().map(|(f, (_, pem))| (f, pem));
    for (file, pem) in certs.chain(client_cas).chain(backend_files) {
        let mut text = pem.as_str().to_string();
        text.push('\n');
        tls.insert(file.clone(), text);
    }
    Rendered {
        haproxy_cfg: render_cfg(config, true),
        maps,
        tls,
    }
}

/// The structural part of the config; see [`Structure`].
pub fn structure(config: &Config) -> Structure {
    Structure(render_cfg(config, false))
}

const HEADER: &str = "\
# haproxy.cfg rendered by haproxy-agent: edits are overwritten.
# Servers and map entries change at runtime over the admin socket; the rest needs a reload.
";

fn render_cfg(config: &Config, servers: bool) -> String {
    let mut out = String::with_capacity(4096);
    render_head(&mut out, config);
    let gateway = super::gateway::gateway_files(config).is_some();
    for be in config.backends.values() {
        render_backend(&mut out, be, servers, gateway);
    }
    out
}

/// Everything before the backends: the header, global, defaults, the frontends, the limit
/// tables and the built-in 404 backend.
pub(super) fn render_head(out: &mut String, config: &Config) {
    out.push_str(HEADER);
    render_global(out, &config.global, &config.settings);
    if config.tls.resumption_off() {
        // See TlsFiles::resumption_off: with `no-tls-tickets` on the bind, no resumption.
        out.push_str("    tune.ssl.cachesize 0\n");
    }
    if let Some(files) = config.uses_custom_errors() {
        let _ = writeln!(out, "    {}", super::custom_errors::global_line(files));
    }
    if let Some(files) = super::gateway::gateway_files(config) {
        let _ = writeln!(out, "    {}", super::gateway::global_line(&files));
    }
    render_defaults(
        out,
        &config.defaults,
        &config.settings,
        config.global.server_state.is_some(),
    );
    let mut frontends: Vec<&Frontend> = config.frontends.iter().collect();
    frontends.sort_by(|a, b| a.name.cmp(&b.name));
    for fe in frontends {
        render_frontend(out, fe, config);
    }
    if let Some(files) = config.uses_custom_errors() {
        out.push_str(&super::custom_errors::internal_frontend(files));
    }
    if let (Some(p), Some(fe)) = (&config.passthrough, config.frontends.first()) {
        let terminates = fe.tls.is_some();
        super::passthrough::render_passthrough(out, p, &fe.maps, &config.settings, terminates);
    }
    super::tcp::render_tcp_frontends(out, config.tcp_services.values(), &config.settings);
    super::userlist::render_userlists(out, &config.auth);
    out.push_str(&super::policy::limit_tables());
    if config.uses_builtin_404() {
        out.push_str("\nbackend ");
        out.push_str(BUILTIN_404);
        out.push_str(
            "\n    http-request return status 404 content-type text/plain \
             string \"default backend - 404\"\n",
        );
    }
}

fn render_global(out: &mut String, g: &Global, settings: &GlobalSettings) {
    out.push_str("\nglobal\n");
    // The agent reloads through the master CLI: HAProxy must run as master and workers
    // (the master socket itself comes from `-S` on the command line).
    line!(out, "master-worker");
    line!(out, "maxconn {}", g.maxconn);
    if let Some(n) = g.nbthread {
        line!(out, "nbthread {}", n.get());
    }
    let mode = match g.admin_socket_mode {
        SocketMode::Owner => "600",
        SocketMode::Group => "660",
    };
    line!(
        out,
        "stats socket {} mode {mode} level admin expose-fd listeners",
        g.admin_socket
    );
    line!(out, "stats timeout {}", g.stats_timeout);
    line!(out, "hard-stop-after {}", g.hard_stop_after);
    if let Some(path) = &g.server_state {
        line!(out, "server-state-file {path}");
    }
    let v = settings.tls_versions;
    line!(
        out,
        "ssl-default-bind-options ssl-min-ver {} ssl-max-ver {}",
        v.min.keyword(),
        v.max.keyword()
    );
    if let Some(c) = &settings.ciphers {
        line!(out, "ssl-default-bind-ciphers {c}");
    }
    if let Some(target) = &settings.access_log {
        line!(out, "log {target} format raw local0");
    }
}

fn render_defaults(out: &mut String, d: &Defaults, settings: &GlobalSettings, server_state: bool) {
    out.push_str("\ndefaults\n");
    line!(out, "mode http");
    if settings.access_log.is_some() {
        line!(out, "log global");
        line!(out, "log-format \"{ACCESS_LOG_FORMAT}\"");
    }
    if d.forwardfor {
        line!(out, "option forwardfor");
    }
    if d.redispatch {
        line!(out, "option redispatch");
    }
    line!(out, "retries {}", d.retries);
    let t = &d.timeouts;
    line!(out, "timeout connect {}", t.connect);
    line!(out, "timeout client {}", t.client);
    line!(out, "timeout server {}", t.server);
    line!(out, "timeout http-request {}", t.http_request);
    line!(out, "timeout http-keep-alive {}", t.http_keep_alive);
    line!(out, "timeout queue {}", t.queue);
    line!(out, "timeout tunnel {}", t.tunnel);
    if server_state {
        line!(out, "load-server-state-from-file global");
    }
}

/// One backend; `gateway`: Gateway API routes are served, so an HTTP backend takes the
/// server timeout a rule chose.
pub(super) fn render_backend(out: &mut String, be: &Backend, servers: bool, gateway: bool) {
    let _ = write!(out, "\nbackend {}\n", be.name);
    if be.tcp {
        line!(out, "mode tcp");
    }
    line!(out, "balance {}", be.balance.keyword());
    if matches!(be.balance, super::model::Balance::Hash(_)) {
        // Consistent hashing: the only hashing that lets servers be added at runtime.
        line!(out, "hash-type consistent");
    }
    if let Some(sticky) = &be.sticky {
        line!(
            out,
            "cookie {} insert indirect nocache dynamic{}",
            sticky.cookie,
            sticky.attrs.options()
        );
        line!(out, "dynamic-cookie-key {}", sticky.dynamic_key);
    }
    if let Some(check) = &be.health_check {
        line!(out, "option httpchk");
        line!(out, "http-check send meth GET uri {}", check.path);
    }
    if let Some(t) = be.timeout_connect {
        line!(out, "timeout connect {t}");
    }
    if let Some(p) = be.send_proxy {
        // Structural (a change reloads); `add server` ignores default-server, so servers
        // added at runtime carry the keyword themselves.
        line!(out, "default-server {}", p.keyword());
    }
    if let Some(t) = be.timeout_server {
        line!(out, "timeout server {t}");
    }
    if !be.protocol.is_default() {
        // The servers of the config inherit it; `add server` ignores it and carries the
        // same keywords itself (its `ca-file` and `crt` need the files this line loads).
        let keywords = be.protocol.keywords(be.health_check.is_some());
        line!(out, "default-server{keywords}");
    }
    if gateway && !be.tcp {
        line!(out, "{}", super::gateway::TIMEOUT_RULE);
    }
    if !servers {
        return;
    }
    for srv in be.servers.values() {
        let _ = write!(
            out,
            "    server {} {} weight {}",
            srv.name,
            srv.addr,
            srv.weight.get()
        );
        if let Some(check) = &be.health_check {
            let hc = check.server_check();
            let _ = write!(
                out,
                " check inter {} rise {} fall {}",
                check.inter, hc.rise, hc.fall
            );
        }
        if srv.backup {
            out.push_str(" backup");
        }
        if srv.state == ServerMode::Drain {
            out.push_str(" disabled");
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::Path;

    use super::*;
    use crate::config::model::{
        Balance, ConfigPath, DefaultBackend, HttpCheck, RouteMaps, Server, ServerAddr, Sticky,
        Timeout,
    };
    use crate::config::routes::{PathKind, Route, RouteHost, RoutePath};
    use crate::config::{CheckPath, CookieKey, CookieName};
    use crate::names::{BackendName, FrontendName, ServerName};
    use crate::proto::Weight;

    fn server(name: &str, addr: &str, weight: u32) -> Server {
        let addr: SocketAddr = addr.parse().unwrap();
        Server {
            name: ServerName::new(name).unwrap(),
            addr: ServerAddr::new(addr).unwrap(),
            weight: Weight::new(weight).unwrap(),
            state: ServerMode::Ready,
            backup: false,
        }
    }

    fn backend(name: &str) -> Backend {
        Backend::new(BackendName::new(name).unwrap())
    }

    fn config(backends: Vec<Backend>) -> Config {
        let mut cfg = Config::new(Global::new(ConfigPath::new("/run/admin.sock").unwrap()));
        cfg.frontends.push(Frontend {
            canary_names: Default::default(),
            name: FrontendName::new("http").unwrap(),
            binds: vec!["0.0.0.0:80".parse().unwrap()],
            maps: RouteMaps::in_dir(Path::new("/etc/haproxy")).unwrap(),
            default_backend: DefaultBackend::Builtin404,
            tls: None,
            trusted_proxies: Vec::new(),
        });
        for be in backends {
            cfg.routes.push(Route {
                canary: None,
                host: RouteHost::Any,
                path: RoutePath::new(&format!("/{}", be.name)).unwrap(),
                kind: PathKind::Prefix,
                backend: be.name.clone(),
                https_redirect: false,
                policy: Default::default(),
            });
            cfg.insert_backend(be);
        }
        cfg
    }

    fn sample() -> Config {
        let mut a = backend("ns_a_80")
            .with_server(server("s1", "10.0.0.1:80", 1))
            .with_server(server("s2", "10.0.0.2:80", 2));
        a.sticky = Some(Sticky {
            attrs: Default::default(),
            cookie: CookieName::new("SRV").unwrap(),
            dynamic_key: CookieKey::new("k").unwrap(),
        });
        let b = backend("ns_b_http").with_server(server("s1", "[fd00::1]:8080", 1));
        config(vec![a, b])
    }

    #[test]
    fn rendering_is_deterministic() {
        let cfg = sample();
        assert_eq!(render(&cfg), render(&cfg.clone()));

        let mut reordered = config(vec![]);
        let mut backends: Vec<Backend> = cfg.backends.values().cloned().collect();
        backends.reverse();
        for be in backends {
            // Servers inserted in reverse order too.
            let mut fresh = Backend {
                servers: crate::SortedMap::new(),
                ..be.clone()
            };
            for srv in be.servers.values().rev() {
                fresh = fresh.with_server(srv.clone());
            }
            reordered.insert_backend(fresh);
        }
        reordered.routes = cfg.routes.clone();
        reordered.frontends[0].binds =
            vec!["0.0.0.0:80".parse().unwrap(), "0.0.0.0:80".parse().unwrap()];
        assert_eq!(render(&cfg), render(&reordered));
    }

    #[test]
    fn frontends_render_sorted_by_name() {
        let mut cfg = sample();
        let mut b = cfg.frontends[0].clone();
        b.name = FrontendName::new("a_first").unwrap();
        b.binds = vec!["127.0.0.1:81".parse().unwrap()];
        cfg.frontends.push(b);
        let text = render(&cfg).haproxy_cfg;
        let a = text.find("frontend a_first").unwrap();
        let h = text.find("frontend http").unwrap();
        assert!(a < h);
        cfg.frontends.reverse();
        assert_eq!(render(&cfg).haproxy_cfg, text);
    }

    #[test]
    fn structure_reads_back_from_the_rendered_file() {
        let cfg = sample();
        assert_eq!(
            Structure::of_rendered(&render(&cfg).haproxy_cfg),
            structure(&cfg)
        );
    }

    #[test]
    fn structure_ignores_runtime_changes() {
        let base = sample();
        let be_a = BackendName::new("ns_a_80").unwrap();
        type Edit = fn(&mut Config, &BackendName);
        let runtime: &[(&str, Edit)] = &[
            ("server added", |c, be| {
                let b = c.backends.get_mut(be).unwrap();
                let s = server("s9", "10.0.0.9:80", 1);
                b.servers.insert(s.name.clone(), s);
            }),
            ("server removed", |c, be| {
                c.backends.get_mut(be).unwrap().servers.clear();
            }),
            ("weight changed", |c, be| {
                for s in c.backends.get_mut(be).unwrap().servers.values_mut() {
                    s.weight = Weight::new(100).unwrap();
                }
            }),
            ("server drained", |c, be| {
                for s in c.backends.get_mut(be).unwrap().servers.values_mut() {
                    s.state = ServerMode::Drain;
                }
            }),
            ("route added", |c, be| {
                c.routes.push(Route {
                    canary: None,
                    host: RouteHost::parse("x.test").unwrap(),
                    path: RoutePath::new("/x").unwrap(),
                    kind: PathKind::Exact,
                    backend: be.clone(),
                    https_redirect: false,
                    policy: Default::default(),
                });
            }),
            ("routes removed", |c, _| c.routes.clear()),
        ];
        for (name, edit) in runtime {
            let mut changed = base.clone();
            edit(&mut changed, &be_a);
            assert_ne!(
                render(&base),
                render(&changed),
                "{name}: the full render changes"
            );
            assert_eq!(structure(&base), structure(&changed), "{name}");
        }

        let structural: &[(&str, Edit)] = &[
            ("backend added", |c, _| c.insert_backend(backend("ns_c_80"))),
            ("balance changed", |c, be| {
                c.backends.get_mut(be).unwrap().balance = Balance::Roundrobin;
            }),
            ("health check added", |c, be| {
                c.backends.get_mut(be).unwrap().health_check = Some(HttpCheck {
                    path: CheckPath::new("/healthz").unwrap(),
                    inter: Timeout::secs(2).unwrap(),
                });
            }),
            ("timeout changed", |c, be| {
                c.backends.get_mut(be).unwrap().timeout_server = Some(Timeout::secs(9).unwrap());
            }),
            ("bind added", |c, _| {
                c.frontends[0].binds.push("0.0.0.0:8080".parse().unwrap());
            }),
            ("default backend changed", |c, be| {
                c.frontends[0].default_backend = DefaultBackend::Backend(be.clone());
            }),
            ("global changed", |c, _| c.global.maxconn = 10),
        ];
        for (name, edit) in structural {
            let mut changed = base.clone();
            edit(&mut changed, &be_a);
            assert_ne!(structure(&base), structure(&changed), "{name}");
        }
    }

    #[test]
    fn servers_render_with_checks_and_drain() {
        let mut be = backend("ns_a_80")
            .with_server(server("s1", "10.0.0.1:80", 5))
            .with_server(Server {
                state: ServerMode::Drain,
                ..server("s2", "[fd00::2]:81", 0)
            });
        be.health_check = Some(HttpCheck {
            path: CheckPath::new("/healthz").unwrap(),
            inter: Timeout::new(std::time::Duration::from_millis(1500)).unwrap(),
        });
        let text = render(&config(vec![be])).haproxy_cfg;
        let want = "\
backend ns_a_80
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz
    server s1 10.0.0.1:80 weight 5 check inter 1500ms rise 2 fall 3
    server s2 [fd00::2]:81 weight 0 check inter 1500ms rise 2 fall 3 disabled
";
        assert!(text.ends_with(want), "{text}");
    }

    #[test]
    fn maps_are_rendered_per_file() {
        let mut cfg = sample();
        let id = crate::config::PolicyText::new("id", "ns/a").unwrap();
        let cidrs = |v: &[&str]| {
            v.iter()
                .map(|c| crate::config::Cidr::parse(c).unwrap())
                .collect()
        };
        let lists = crate::config::SourceLists {
            allow: cidrs(&["127.0.0.1"]),
            deny: cidrs(&["10.0.0.0/8", "::1"]),
            ..Default::default()
        };
        cfg.source_lists.insert(id, lists);
        let r = render(&cfg);
        let files: Vec<&str> = r.maps.keys().map(FilePath::as_str).collect();
        assert_eq!(
            files,
            [
                "/etc/haproxy/maps/allow.acl",
                "/etc/haproxy/maps/canary.acl",
                "/etc/haproxy/maps/deny.acl",
                "/etc/haproxy/maps/exact.map",
                "/etc/haproxy/maps/prefix.map",
                "/etc/haproxy/maps/regex.map",
                "/etc/haproxy/maps/settings.map"
            ]
        );
        assert_eq!(
            r.maps.values().map(String::as_str).collect::<Vec<_>>(),
            [
                "ns/a|4|7F000001\n",
                "",
                "ns/a|4|0A\nns/a|6|00000000000000000000000000000001\n",
                "/ns_a_80 ns_a_80\n/ns_b_http ns_b_http\n",
                "/ns_a_80/ ns_a_80\n/ns_b_http/ ns_b_http\n",
                "",
                ""
            ]
        );
    }
}
