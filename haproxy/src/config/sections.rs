//! Structure by section: fingerprints of the head (global, defaults, frontends, the built-in
//! 404) and of each backend without its servers, so that "does this change need a reload?"
//! is answered for the parts a change touched, without rendering the whole config.
//!
//! A fingerprint is computed over the section's structural lines (blank lines and `server`
//! lines left out), so the sections of a config and of the haproxy.cfg rendered from it
//! (read back from disk) have equal fingerprints.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::names::BackendName;

use super::model::{BUILTIN_404, Backend, Config};
use super::render::{render_backend, render_head};

/// A 128-bit fingerprint of a section's structural lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SectionPrint(u64, u64);

/// Fingerprints the structural lines of `text`, in order.
#[derive(Debug)]
struct Printer {
    a: DefaultHasher,
    b: DefaultHasher,
}

impl Printer {
    fn new() -> Self {
        let (mut a, mut b) = (DefaultHasher::new(), DefaultHasher::new());
        // Two independent 64-bit hashes of the same lines.
        0u8.hash(&mut a);
        1u8.hash(&mut b);
        Self { a, b }
    }

    /// Adds one line (without its LF) unless it is blank, a server line or the Gateway API
    /// server timeout rule (present in every HTTP backend exactly while the head's Gateway
    /// API part is: the head tells that change).
    fn line(&mut self, line: &str) {
        if line.is_empty() || line.starts_with("    server ") || is_gateway_timeout(line) {
            return;
        }
        line.hash(&mut self.a);
        line.hash(&mut self.b);
    }

    fn finish(&self) -> SectionPrint {
        SectionPrint(self.a.finish(), self.b.finish())
    }
}

/// The fingerprint of a config's head: everything but the backends (the built-in 404
/// included). Renders only the head, a few dozen lines whatever the number of backends
/// (and the users of the basic-authentication lists).
pub fn head_print(config: &Config) -> SectionPrint {
    head_prints(config).head
}

/// The head's fingerprints, from one rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadPrints {
    /// All of the head.
    pub head: SectionPrint,
    /// Its basic-authentication part alone (user lists and the rules naming them).
    pub auth: SectionPrint,
    /// Its global-settings part alone: `global`, `defaults` and the frontend lines the
    /// settings shape (see [`is_settings_line`]).
    pub settings: SectionPrint,
    /// Its custom error pages' part (whether the Lua file is loaded).
    pub errors: SectionPrint,
    /// Its TCP services' frontends.
    pub tcp: SectionPrint,
    /// Its Gateway API part (whether the Lua action is loaded and run).
    pub gateway: SectionPrint,
    /// The binds of Gateway listeners alone (each Gateway's own address or port).
    pub gateway_binds: SectionPrint,
}

/// Reads the head's lines into its printers.
#[derive(Debug)]
struct HeadPrinter {
    head: Printer,
    auth: Printer,
    settings: Printer,
    errors: Printer,
    tcp: Printer,
    gateway: Printer,
    gateway_binds: Printer,
    in_userlist: bool,
    in_tcp: bool,
    section: String,
}

impl HeadPrinter {
    fn new() -> Self {
        Self {
            head: Printer::new(),
            auth: Printer::new(),
            settings: Printer::new(),
            errors: Printer::new(),
            tcp: Printer::new(),
            gateway: Printer::new(),
            gateway_binds: Printer::new(),
            in_userlist: false,
            in_tcp: false,
            section: String::new(),
        }
    }

    /// A head line; `head` false for a line of a backend section (only the section and
    /// userlist tracking look at it).
    fn line(&mut self, line: &str, head: bool) {
        self.in_userlist = userlist_state(self.in_userlist, line);
        if !line.is_empty() && !line.starts_with(' ') {
            self.section = line.split(' ').next().unwrap_or_default().to_string();
            self.in_tcp = line.starts_with(super::tcp::FRONTEND_PREFIX);
        }
        if !head {
            return;
        }
        self.head.line(line);
        if self.in_tcp {
            self.tcp.line(line);
            return;
        }
        if self.in_userlist || is_auth_line(line) {
            self.auth.line(line);
        }
        if is_settings_line(&self.section, line) {
            self.settings.line(line);
        }
        if is_errors_line(line) {
            self.errors.line(line);
        }
        if is_gateway_line(line) {
            self.gateway.line(line);
        }
        if super::gateway::is_bind_line(line) {
            self.gateway_binds.line(line);
        }
    }

    fn finish(&self) -> HeadPrints {
        HeadPrints {
            head: self.head.finish(),
            auth: self.auth.finish(),
            settings: self.settings.finish(),
            errors: self.errors.finish(),
            tcp: self.tcp.finish(),
            gateway: self.gateway.finish(),
            gateway_binds: self.gateway_binds.finish(),
        }
    }
}

/// The head's fingerprints; see [`HeadPrints`].
pub fn head_prints(config: &Config) -> HeadPrints {
    let mut text = String::with_capacity(4096);
    render_head(&mut text, config);
    let mut p = HeadPrinter::new();
    for line in text.lines() {
        p.line(line, true);
    }
    p.finish()
}

/// The line that loads the custom error pages' Lua file: present exactly while some route
/// has custom errors (with their rules and internal frontend).
fn is_errors_line(line: &str) -> bool {
    line.starts_with("    lua-load ")
}

/// A line of the Gateway API part: the Lua file's loading and the frontend's actions and
/// the guard they put on the first Ingress lookup (present exactly while some Gateway API
/// route is served).
fn is_gateway_line(line: &str) -> bool {
    line.starts_with("    lua-load-per-thread ")
        || line.starts_with("    http-request lua.agent_gateway")
        || line.starts_with("    http-response lua.agent_gateway")
        || (line.starts_with("    http-request set-var(txn.route) var(txn.host_path),map_regm(")
            && line.ends_with(" unless { var(txn.route) -m found }"))
}

fn is_gateway_timeout(line: &str) -> bool {
    line.strip_prefix("    ") == Some(super::gateway::TIMEOUT_RULE)
}

/// Whether `line` is in a `userlist` section, given whether the line before was.
fn userlist_state(was: bool, line: &str) -> bool {
    if line.starts_with("userlist ") {
        true
    } else if line.is_empty() || line.starts_with(' ') {
        was
    } else {
        false
    }
}

/// A frontend rule that asks for credentials: its realm and list are part of what a change
/// of basic authentication reloads.
fn is_auth_line(line: &str) -> bool {
    line.starts_with("    http-request auth ")
}

/// A line the global settings shape: all of `global` and `defaults`, and the frontend's
/// PROXY-protocol binds and client-address, request-id and forwarded-proto rules.
fn is_settings_line(section: &str, line: &str) -> bool {
    (matches!(section, "global" | "defaults") && !is_errors_line(line) && !is_gateway_line(line))
        || (line.starts_with("    bind ") && line.ends_with(" accept-proxy"))
        || [
            "    http-request set-src ",
            "    http-request set-var(txn.request_id) ",
            "    http-request set-header X-Forwarded-Proto ",
        ]
        .iter()
        .any(|p| line.starts_with(p))
}

/// A backend's fingerprints: all its structural lines, and its protocol line alone (the
/// `default-server` line: HTTP/2 and TLS to the servers), which names its own reload reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackendPrint {
    /// Every structural line.
    pub all: SectionPrint,
    /// The `default-server` line.
    pub protocol: SectionPrint,
}

/// Fingerprints of both kinds, fed line by line.
#[derive(Debug)]
struct BackendPrinter {
    all: Printer,
    protocol: Printer,
}

impl BackendPrinter {
    fn new() -> Self {
        Self {
            all: Printer::new(),
            protocol: Printer::new(),
        }
    }

    fn line(&mut self, line: &str) {
        self.all.line(line);
        if line.starts_with("    default-server ") {
            self.protocol.line(line);
        }
    }

    fn finish(&self) -> BackendPrint {
        BackendPrint {
            all: self.all.finish(),
            protocol: self.protocol.finish(),
        }
    }
}

/// The fingerprints of a backend without its servers.
pub fn backend_print(backend: &Backend) -> BackendPrint {
    let mut text = String::with_capacity(256);
    render_backend(&mut text, backend, false, false);
    let mut p = BackendPrinter::new();
    for line in text.lines() {
        p.line(line);
    }
    p.finish()
}

/// The structure of a config as section fingerprints. A reload is needed when the head
/// differs, or a backend that must exist is missing or has another fingerprint; a backend
/// that exists but is no longer wanted needs none (it costs nothing until the next reload).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sections {
    /// The head's fingerprint.
    pub head: Option<SectionPrint>,
    /// The fingerprint of the head's basic-authentication part (user lists and the rules
    /// naming them): when the head differs, whether this differs too names the reason.
    pub auth: Option<SectionPrint>,
    /// The fingerprint of the head's global-settings part, likewise.
    pub settings: Option<SectionPrint>,
    /// The fingerprint of the head's custom error pages' part: when the head differs,
    /// whether this differs too names the reason.
    pub errors: Option<SectionPrint>,
    /// The fingerprint of the TCP services' frontends: when the head differs, whether
    /// this differs too names the reason.
    pub tcp: Option<SectionPrint>,
    /// The fingerprint of the head's Gateway API part: when the head differs, whether
    /// this differs too names the reason.
    pub gateway: Option<SectionPrint>,
    /// The fingerprint of the binds of Gateway listeners alone, likewise.
    pub gateway_binds: Option<SectionPrint>,
    /// Each backend's fingerprint.
    pub backends: HashMap<BackendName, BackendPrint>,
}

impl Sections {
    /// The sections of `config`.
    pub fn of_config(config: &Config) -> Self {
        let mut sections = Self {
            backends: config
                .backends
                .values()
                .map(|b| (b.name.clone(), backend_print(b)))
                .collect(),
            ..Self::default()
        };
        sections.set_head(head_prints(config));
        sections
    }

    /// Takes every head fingerprint of `prints` (destructured whole: a new part of the head
    /// does not compile until it is kept here, so no caller can leave one stale).
    pub fn set_head(&mut self, prints: HeadPrints) {
        let HeadPrints {
            head,
            auth,
            settings,
            errors,
            tcp,
            gateway,
            gateway_binds,
        } = prints;
        self.head = Some(head);
        self.auth = Some(auth);
        self.settings = Some(settings);
        self.errors = Some(errors);
        self.tcp = Some(tcp);
        self.gateway = Some(gateway);
        self.gateway_binds = Some(gateway_binds);
    }

    /// The sections of a haproxy.cfg this crate rendered (read back from disk): equal to
    /// [`Sections::of_config`] of the config it was rendered from. Section names that are
    /// not valid backend names (none this crate writes) make the head differ, so a file
    /// edited by hand leads to a reload rather than to a wrong guess.
    pub fn of_rendered(haproxy_cfg: &str) -> Self {
        let mut head = HeadPrinter::new();
        let mut backends = HashMap::new();
        let mut current: Option<(BackendName, BackendPrinter)> = None;
        for line in haproxy_cfg.lines() {
            if let Some(name) = line.strip_prefix("backend ") {
                if let Some((n, p)) = current.take() {
                    backends.insert(n, p.finish());
                }
                match BackendName::new(name) {
                    Ok(n) if name != BUILTIN_404 && !name.starts_with('_') => {
                        let mut p = BackendPrinter::new();
                        p.line(line);
                        current = Some((n, p));
                        head.line(line, false);
                        continue;
                    }
                    _ => {}
                }
            } else if let Some((_, p)) = current.as_mut() {
                p.line(line);
                head.line(line, false);
                continue;
            }
            head.line(line, true);
        }
        if let Some((n, p)) = current.take() {
            backends.insert(n, p.finish());
        }
        let p = head.finish();
        Self {
            head: Some(p.head),
            auth: Some(p.auth),
            settings: Some(p.settings),
            errors: Some(p.errors),
            tcp: Some(p.tcp),
            gateway: Some(p.gateway),
            gateway_binds: Some(p.gateway_binds),
            backends,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{
        Balance, ConfigPath, DefaultBackend, Frontend, Global, RouteMaps, Server, ServerAddr,
        ServerMode,
    };
    use crate::config::render::render;
    use crate::names::{FrontendName, ServerName};
    use crate::proto::Weight;

    fn config(backends: &[(&str, Balance, usize)]) -> Config {
        let mut c = Config::new(Global::new(ConfigPath::new("/run/admin.sock").unwrap()));
        c.frontends.push(Frontend {
            canary_names: Default::default(),
            name: FrontendName::new("http").unwrap(),
            binds: vec!["127.0.0.1:80".parse().unwrap()],
            maps: RouteMaps::in_dir(std::path::Path::new("/etc/haproxy")).unwrap(),
            default_backend: DefaultBackend::Builtin404,
            tls: None,
            trusted_proxies: Vec::new(),
        });
        for (name, balance, servers) in backends {
            let mut b = Backend::new(BackendName::new(*name).unwrap());
            b.balance = balance.clone();
            for i in 0..*servers {
                let addr = format!("10.0.0.{}:80", i + 1).parse().unwrap();
                b = b.with_server(Server {
                    name: ServerName::new(format!("s{i}")).unwrap(),
                    addr: ServerAddr::new(addr).unwrap(),
                    weight: Weight::new(1).unwrap(),
                    state: ServerMode::Ready,
                    backup: false,
                });
            }
            c.insert_backend(b);
        }
        c
    }

    #[test]
    fn rendered_text_reads_back_as_the_config_sections() {
        let c = config(&[
            ("a_web_80", Balance::Leastconn, 3),
            ("b_api_8080", Balance::Roundrobin, 0),
        ]);
        let text = render(&c).haproxy_cfg;
        assert_eq!(Sections::of_rendered(&text), Sections::of_config(&c));
    }

    #[test]
    fn servers_are_not_structure_but_options_and_the_head_are() {
        let base = Sections::of_config(&config(&[("a_web_80", Balance::Leastconn, 1)]));
        let more = Sections::of_config(&config(&[("a_web_80", Balance::Leastconn, 5)]));
        assert_eq!(base, more);
        let other = Sections::of_config(&config(&[("a_web_80", Balance::Roundrobin, 1)]));
        assert_eq!(base.head, other.head);
        assert_ne!(base.backends, other.backends);
        let mut c = config(&[("a_web_80", Balance::Leastconn, 1)]);
        c.frontends[0].binds.push("127.0.0.1:81".parse().unwrap());
        let moved = Sections::of_config(&c);
        assert_ne!(base.head, moved.head);
        assert_eq!(base.backends, moved.backends);
        // The protocol line has its own print.
        let mut c = config(&[("a_web_80", Balance::Leastconn, 1)]);
        let name = BackendName::new("a_web_80").unwrap();
        c.backends.get_mut(&name).unwrap().protocol.h2 = true;
        let h2 = Sections::of_config(&c);
        let (b, h) = (base.backends[&name], h2.backends[&name]);
        assert_ne!(b.protocol, h.protocol);
        assert_ne!(b.all, h.all);
        assert_eq!(Sections::of_rendered(&render(&c).haproxy_cfg), h2);
    }

    #[test]
    fn a_hand_edited_file_differs() {
        let c = config(&[("a_web_80", Balance::Leastconn, 1)]);
        let text = render(&c).haproxy_cfg;
        let edited = text.replace("balance leastconn", "balance first");
        assert_ne!(Sections::of_rendered(&edited), Sections::of_config(&c));
        let extra = format!("{text}\nbackend x y\n    balance first\n");
        assert_ne!(
            Sections::of_rendered(&extra).head,
            Sections::of_config(&c).head
        );
    }

    #[test]
    fn global_settings_have_their_own_print_and_read_back() {
        use crate::config::{Ciphers, LogTarget, Timeout};
        let base = config(&[("a_web_80", Balance::Leastconn, 1)]);
        let b = Sections::of_config(&base);
        type Edit = fn(&mut Config);
        let edits: [(&str, Edit); 5] = [
            ("access log", |c| {
                c.settings.access_log = Some(LogTarget::Stdout)
            }),
            ("ciphers", |c| {
                c.settings.ciphers = Some(Ciphers::new("HIGH:!aNULL").unwrap())
            }),
            ("PROXY protocol", |c| c.settings.accept_proxy = true),
            ("forwarded headers", |c| {
                c.settings.use_forwarded_headers = true
            }),
            ("a timeout", |c| {
                c.defaults.timeouts.server = Timeout::secs(7).unwrap()
            }),
        ];
        for (name, edit) in edits {
            let mut changed = base.clone();
            edit(&mut changed);
            let s = Sections::of_config(&changed);
            assert_ne!(s.head, b.head, "{name}");
            assert_ne!(s.settings, b.settings, "{name}: the settings print differs");
            assert_eq!(s.auth, b.auth, "{name}");
            let text = render(&changed).haproxy_cfg;
            assert_eq!(Sections::of_rendered(&text), s, "{name}: reads back");
        }
        // A frontend change that is not a setting leaves the settings print alone.
        let mut moved = base.clone();
        moved.frontends[0]
            .binds
            .push("127.0.0.1:81".parse().unwrap());
        let m = Sections::of_config(&moved);
        assert_ne!(m.head, b.head);
        assert_eq!(m.settings, b.settings);
    }

    #[test]
    fn tcp_services_have_their_own_print_and_read_back() {
        use crate::config::TcpService;
        let base = config(&[("a_web_80", Balance::Leastconn, 1)]);
        let b = Sections::of_config(&base);
        for proxy in [false, true] {
            let mut with = base.clone();
            let svc = TcpService::new("127.0.0.1:5432".parse().unwrap(), proxy);
            let mut be = Backend::new(svc.backend.clone());
            be.tcp = true;
            with.insert_backend(be);
            with.tcp_services.insert(5432, svc);
            let s = Sections::of_config(&with);
            assert_ne!(s.head, b.head);
            assert_ne!(s.tcp, b.tcp, "a new port changes the TCP print");
            assert_eq!(
                s.settings, b.settings,
                "accept-proxy here is no global setting"
            );
            assert_eq!(Sections::of_rendered(&render(&with).haproxy_cfg), s);
        }
    }

    #[test]
    fn basic_auth_has_its_own_print_and_reads_back() {
        use crate::config::{AuthId, BasicAuth, PasswordHash, Realm, UserName};
        let base = config(&[("a_web_80", Balance::Leastconn, 1)]);
        let mut with = base.clone();
        let mut auth = BasicAuth::default();
        auth.users.insert(
            UserName::new("foo").unwrap(),
            PasswordHash::new("$1$zmAjmYhY$y4jXlpxTe3sd11NhZXS/Z.").unwrap(),
        );
        with.auth
            .insert(AuthId::new("auth:ns:basic").unwrap(), auth);
        let (a, b) = (Sections::of_config(&base), Sections::of_config(&with));
        assert_ne!(a.head, b.head);
        assert_ne!(a.auth, b.auth);
        let text = render(&with).haproxy_cfg;
        assert_eq!(Sections::of_rendered(&text), b);
        let mut realm = with.clone();
        realm.auth.values_mut().next().unwrap().realm = Some(Realm::new("x").unwrap());
        assert_ne!(Sections::of_config(&realm).auth, b.auth);
        // Another head change leaves the auth print alone.
        let mut moved = with.clone();
        moved.frontends[0]
            .binds
            .push("127.0.0.1:81".parse().unwrap());
        let m = Sections::of_config(&moved);
        assert_ne!(m.head, b.head);
        assert_eq!(m.auth, b.auth);
    }

    #[test]
    fn custom_errors_have_their_own_print_and_read_back() {
        use crate::config::routes::{PathKind, Route, RouteHost, RoutePath};
        use crate::config::{CustomErrors, ErrorFiles, RoutePolicy};
        let mut base = config(&[("a_web_80", Balance::Leastconn, 1)]);
        base.global.custom_errors =
            Some(ErrorFiles::in_dir(std::path::Path::new("/etc/haproxy")).unwrap());
        let route = |codes: &str| Route {
            canary: None,
            host: RouteHost::Any,
            path: RoutePath::new("/").unwrap(),
            kind: PathKind::Prefix,
            backend: BackendName::new("a_web_80").unwrap(),
            https_redirect: false,
            policy: RoutePolicy {
                custom_errors: CustomErrors::parse(codes),
                ..Default::default()
            }
            .shared(),
        };
        base.routes.push(route(""));
        let mut with = base.clone();
        with.routes.push(route("404/a_web_80/a/web/web/80"));
        let (a, b) = (Sections::of_config(&base), Sections::of_config(&with));
        assert_ne!(a.head, b.head);
        assert_ne!(a.errors, b.errors);
        assert_eq!(a.auth, b.auth);
        let rendered = render(&with);
        assert_eq!(Sections::of_rendered(&rendered.haproxy_cfg), b);
        assert!(
            rendered.maps.contains_key(
                &crate::names::FilePath::new("/etc/haproxy/custom_errors.lua").unwrap()
            )
        );
        assert!(!render(&base).haproxy_cfg.contains("lua"));
        // Other codes or another error backend: the same structure (a map update).
        let mut other = base.clone();
        other.routes.push(route("404,500/a_web_80/a/web/web/8080"));
        assert_eq!(Sections::of_config(&other), b);
    }
}
