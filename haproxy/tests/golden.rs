//! Golden haproxy.cfg and map files for representative configs, each also accepted by the
//! real `haproxy -c`, and an end-to-end check that a running HAProxy routes as the maps say,
//! before and after runtime map updates. `UPDATE_GOLDEN=1 cargo test -p haproxy --test golden`
//! rewrites the golden files.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use haproxy::config::{
    Backend, Balance, CanaryName, CanaryRule, CertFingerprint, CheckPath, Ciphers, Config,
    ConfigPath, ConfigWriter, CookieAttrs, CookieKey, CookieName, CookiePath, DefaultBackend,
    Frontend, Global, GlobalSettings, HeaderName, Hsts, HttpCheck, LogTarget, PathKind, PolicyText,
    Route, RouteHost, RouteMaps, RoutePath, SameSite, SendProxy, Server, ServerAddr, ServerMode,
    SocketMode, Sticky, TcpService, Threads, Timeout, TlsBind, TlsCert, TlsVersion, TlsVersions,
    map_commands, map_swap_commands, render, route_maps, secret_cert_path,
};
use haproxy::names::{BackendName, FilePath, FrontendName, ServerName, SniFilter};
use haproxy::proto::command::CrtListEntry;
use haproxy::proto::{
    Command, DEFAULT_BUFSIZE, PemPayload, ServerProtocol, ServerTls, TlsName, Weight,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

fn haproxy_bin() -> PathBuf {
    let bin = std::env::var_os("HAPROXY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy"));
    assert!(
        bin.exists(),
        "HAProxy is missing at {} (set HAPROXY_BIN or install the haproxy package; \
         scripts/test does): these tests need the real binary",
        bin.display()
    );
    bin
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Where a fixture's files live: the real layout for golden files, a temp dir for checks.
struct Paths {
    config_dir: PathBuf,
    run_dir: PathBuf,
    /// The PEM of every certificate file: a placeholder for golden files (certificate
    /// contents are not in haproxy.cfg), a real one for `haproxy -c`.
    pem: PemPayload,
}

impl Paths {
    fn real() -> Self {
        Self {
            config_dir: PathBuf::from("/etc/haproxy"),
            run_dir: PathBuf::from("/var/run/haproxy"),
            pem: PemPayload::new(
                "-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----",
            )
            .unwrap(),
        }
    }

    /// A temp dir layout with a real self-signed certificate and key (the `openssl` tool,
    /// which scripts/test installs).
    fn temp(dir: &Path) -> Self {
        let pem_path = dir.join("test.pem");
        let out = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=golden.test",
                "-keyout",
            ])
            .arg(&pem_path)
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .expect("the openssl tool (scripts/test installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = std::fs::read_to_string(&pem_path).unwrap();
        let cert = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
        Self {
            config_dir: dir.join("etc"),
            run_dir: dir.join("run"),
            pem: PemPayload::new(format!("{cert}{key}")).unwrap(),
        }
    }

    fn global(&self) -> Global {
        Global::new(ConfigPath::from_path(&self.run_dir.join("admin.sock")).unwrap())
    }

    fn maps(&self) -> RouteMaps {
        RouteMaps::in_dir(&self.config_dir).unwrap()
    }
}

fn be(name: &str) -> BackendName {
    BackendName::new(name).unwrap()
}

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

fn route(host: &str, path: &str, kind: PathKind, backend: &str) -> Route {
    Route {
        canary: None,
        host: RouteHost::parse(host).unwrap(),
        path: RoutePath::new(path).unwrap(),
        kind,
        backend: be(backend),
        https_redirect: false,
        policy: Default::default(),
    }
}

fn frontend(name: &str, binds: &[&str], maps: RouteMaps, default: DefaultBackend) -> Frontend {
    Frontend {
        canary_names: Default::default(),
        name: FrontendName::new(name).unwrap(),
        binds: binds.iter().map(|b| b.parse().unwrap()).collect(),
        maps,
        default_backend: default,
        tls: None,
        trusted_proxies: Vec::new(),
    }
}

fn canary_rule() -> CanaryRule {
    let mut rule = CanaryRule::new(10, 1000).unwrap();
    rule.header = Some(CanaryName::header("X-Canary").unwrap());
    rule.header_value = Some(PolicyText::new("value", "beta").unwrap());
    rule.cookie = Some(CanaryName::cookie("canary").unwrap());
    rule
}

/// Nothing routed: every request gets the built-in 404.
fn minimal(p: &Paths) -> Config {
    let mut cfg = Config::new(p.global());
    cfg.frontends.push(frontend(
        "http",
        &["0.0.0.0:80"],
        p.maps(),
        DefaultBackend::Builtin404,
    ));
    cfg
}

/// The classic seed example: a default backend Service, and `/api` to heapster.
fn seed(p: &Paths) -> Config {
    let mut cfg = Config::new(p.global());
    let default = be("kube-system_default-http-backend_80");
    cfg.insert_backend(Backend::new(default.clone()).with_server(server(
        "10.244.0.5-8080",
        "10.244.0.5:8080",
        1,
    )));
    cfg.insert_backend(
        Backend::new(be("kube-system_heapster_80"))
            .with_server(server("10.244.1.10-8082", "10.244.1.10:8082", 1))
            .with_server(server("10.244.2.11-8082", "10.244.2.11:8082", 1)),
    );
    cfg.routes.push(route(
        "",
        "/api",
        PathKind::Prefix,
        "kube-system_heapster_80",
    ));
    cfg.frontends.push(frontend(
        "http",
        &["0.0.0.0:80"],
        p.maps(),
        DefaultBackend::Backend(default),
    ));
    cfg
}

/// Wildcard hosts, every path type, a conflict, sticky and health-checked backends, a
/// draining server, an IPv6 server, two frontends and non-default global settings.
fn full(p: &Paths) -> Config {
    let mut global = p.global();
    global.admin_socket_mode = SocketMode::Group;
    global.nbthread = Some(Threads::new(2).unwrap());
    global.maxconn = 8000;
    global.hard_stop_after = Timeout::secs(300).unwrap();
    global.server_state = Some(ConfigPath::from_path(&p.run_dir.join("server-state")).unwrap());
    global.custom_errors = Some(haproxy::config::ErrorFiles::in_dir(&p.config_dir).unwrap());
    let mut cfg = Config::new(global);
    cfg.defaults.forwardfor = false;
    cfg.defaults.retries = 2;

    let mut shop = Backend::new(be("shop_cart_http"))
        .with_server(server("10.1.0.1-8080", "10.1.0.1:8080", 10))
        .with_server(Server {
            state: ServerMode::Drain,
            ..server("10.1.0.2-8080", "10.1.0.2:8080", 10)
        });
    shop.balance = Balance::Roundrobin;
    shop.sticky = Some(Sticky {
        cookie: CookieName::new("SERVERID").unwrap(),
        dynamic_key: CookieKey::new("c2VjcmV0LWtleQ==").unwrap(),
        attrs: CookieAttrs {
            path: Some(CookiePath::new("/shop").unwrap()),
            domain: Some(CookiePath::new(".example.com").unwrap()),
            max_age: Some(3600),
            same_site: Some(SameSite::Lax),
            secure: true,
        },
    });
    let mut api = Backend::new(be("shop_api_8080"))
        .with_server(server("fd00-1--10-8080", "[fd00:1::10]:8080", 1))
        .with_server(server("10.1.1.1-8080", "10.1.1.1:8080", 256));
    api.health_check = Some(HttpCheck {
        path: CheckPath::new("/healthz?ready=1").unwrap(),
        inter: Timeout::new(Duration::from_millis(2500)).unwrap(),
    });
    api.timeout_server = Some(Timeout::secs(120).unwrap());
    api.timeout_connect = Some(Timeout::new(Duration::from_millis(500)).unwrap());
    let mut assets =
        Backend::new(be("shop_assets_80")).with_server(server("10.1.2.1-80", "10.1.2.1:80", 1));
    assets.balance = Balance::Random;
    let mut tenants =
        Backend::new(be("tenants_web_80")).with_server(server("10.2.0.1-80", "10.2.0.1:80", 1));
    tenants.balance = Balance::First;
    // HTTP/2 in clear text (with its health check speaking h2), and h2 over verified TLS
    // with SNI and a client certificate.
    api.protocol = ServerProtocol {
        h2: true,
        tls: None,
    };
    let certs = p.config_dir.join("certs");
    let file = |n: &str| FilePath::from_path(&certs.join(n)).unwrap();
    let mut secure = Backend::new(be("shop_secure_443")).with_server(server(
        "10.1.3.1-8443",
        "10.1.3.1:8443",
        1,
    ));
    secure.protocol = ServerProtocol {
        h2: true,
        tls: Some(ServerTls {
            ca_file: Some(file("shop_ca.0123456789abcdef.ca.pem")),
            verify_host: Some(TlsName::new("secure.internal").unwrap()),
            sni: Some(TlsName::new("secure.internal").unwrap()),
            client_cert: Some(file("shop_ca.0123456789abcdef.client.pem")),
        }),
    };
    for f in [
        &secure.protocol.tls.as_ref().unwrap().ca_file,
        &secure.protocol.tls.as_ref().unwrap().client_cert,
    ] {
        secure.files.insert(f.clone().unwrap(), p.pem.clone());
    }
    for b in [shop, api, assets, tenants, secure] {
        cfg.insert_backend(b);
    }

    use PathKind::{Exact, ImplementationSpecific as Impl, Prefix};
    cfg.routes = vec![
        route("shop.example.com", "/", Prefix, "shop_cart_http"),
        route("shop.example.com", "/api/", Prefix, "shop_api_8080"),
        route("shop.example.com", "/api/v1/status", Exact, "shop_api_8080"),
        // Custom error pages: 404 and 503 from the assets are replaced by tenants' pages.
        Route {
            policy: haproxy::config::RoutePolicy {
                custom_errors: haproxy::config::CustomErrors::parse(
                    "404,503/tenants_web_80/shop/assets/assets/80",
                ),
                ..Default::default()
            }
            .shared(),
            ..route("shop.example.com", "/static", Impl, "shop_assets_80")
        },
        route("*.tenants.example.com", "/", Prefix, "tenants_web_80"),
        route("*.tenants.example.com", "/api", Prefix, "shop_api_8080"),
        route("", "/healthz", Exact, "shop_api_8080"),
        // Same keys as the earlier Prefix /api/ (a trailing slash is ignored): loses both.
        route("shop.example.com", "/api", Prefix, "shop_assets_80"),
        // A canary of the first route: 10 in 1000, or by header or cookie.
        Route {
            canary: Some(std::sync::Arc::new(canary_rule())),
            ..route("shop.example.com", "/", Prefix, "tenants_web_80")
        },
    ];
    let maps = p.maps();
    cfg.frontends.push(frontend(
        "http",
        &["0.0.0.0:80", "[::]:80"],
        maps.clone(),
        DefaultBackend::Builtin404,
    ));
    let mut alt = frontend(
        "http-alt",
        &["0.0.0.0:8080"],
        maps,
        DefaultBackend::Backend(be("shop_cart_http")),
    );
    let rule = canary_rule();
    alt.canary_names.headers.extend(rule.header);
    alt.canary_names.cookies.extend(rule.cookie);
    alt.trusted_proxies = vec![
        haproxy::config::Cidr::parse("10.0.0.0/8").unwrap(),
        haproxy::config::Cidr::parse("fd00::/8").unwrap(),
    ];
    cfg.frontends.push(alt);
    // Basic authentication: a realm with characters HAProxy would otherwise expand or cut.
    let mut auth = haproxy::config::BasicAuth {
        realm: Some(haproxy::config::Realm::new("Shop $HOME #admin 'staff'").unwrap()),
        ..Default::default()
    };
    for (user, hash) in [
        ("foo", "$1$zmAjmYhY$y4jXlpxTe3sd11NhZXS/Z."),
        (
            "jane.doe@example.com",
            "$2y$05$a77aX9P9sLHMnXO4eU7II.YvY6FtHcpJsns83aDUeOU1yG.zMF0ky",
        ),
    ] {
        auth.users.insert(
            haproxy::config::UserName::new(user).unwrap(),
            haproxy::config::PasswordHash::new(hash).unwrap(),
        );
    }
    cfg.auth.insert(
        haproxy::config::AuthId::new("auth:shop:basic-auth:file:0").unwrap(),
        auth,
    );
    cfg
}

/// TLS: an HTTPS bind with the default certificate and a crt-list of one Secret's
/// certificate for two names; one host redirects plain HTTP to HTTPS.
fn tls(p: &Paths) -> Config {
    let mut cfg = seed(p);
    let bind = TlsBind::in_dir(&p.config_dir, vec!["0.0.0.0:443".parse().unwrap()]).unwrap();
    let cert = |n: char| TlsCert {
        pem: p.pem.clone(),
        fingerprint: CertFingerprint::new(&n.to_string().repeat(40)).unwrap(),
    };
    let shop = secret_cert_path(&p.config_dir, "shop", "shop-tls")
        .unwrap()
        .to_file_path();
    cfg.tls
        .certs
        .insert(bind.default_cert.to_file_path(), cert('A'));
    cfg.tls.certs.insert(shop.clone(), cert('B'));
    let sni = ["shop.example.com", "*.shop.example.com"].map(|s| SniFilter::new(s).unwrap());
    cfg.tls.crt_list = vec![CrtListEntry::new(shop, sni).unwrap()];
    cfg.frontends[0].tls = Some(bind);
    cfg.insert_backend(Backend::new(be("shop_web_80")).with_server(server(
        "10.3.0.1-80",
        "10.3.0.1:80",
        1,
    )));
    cfg.routes.push(Route {
        https_redirect: true,
        policy: Default::default(),
        ..route("shop.example.com", "/", PathKind::Prefix, "shop_web_80")
    });
    cfg
}

/// The TLS fixture with every global setting of the ConfigMap and the flags on, PROXY
/// protocol both ways, HSTS (the routes' and the settings map's) and two TCP services (one with PROXY both ways).
fn settings(p: &Paths) -> Config {
    let mut cfg = tls(p);
    cfg.settings = GlobalSettings {
        access_log: Some(LogTarget::Stdout),
        tls_versions: TlsVersions {
            min: TlsVersion::V1_2,
            max: TlsVersion::V1_3,
        },
        ciphers: Some(
            Ciphers::new("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256").unwrap(),
        ),
        forwarded_for_header: Some(HeaderName::new("X-Real-IP").unwrap()),
        accept_proxy: true,
        use_forwarded_headers: true,
        hsts: Some(Hsts {
            max_age: 31536000,
            include_subdomains: true,
            preload: false,
        }),
    };
    cfg.backends.get_mut(&be("shop_web_80")).unwrap().send_proxy = Some(SendProxy::V2);
    // TCP services: a plain one, and one taking and sending the PROXY protocol.
    for (port, proxy) in [(5432u16, false), (6379, true)] {
        let svc = TcpService::new(SocketAddr::from(([0, 0, 0, 0], port)), proxy);
        let mut b = Backend::new(svc.backend.clone()).with_server(server(
            "10.0.9.1:5432",
            "10.0.9.1:5432",
            1,
        ));
        b.tcp = true;
        b.send_proxy = proxy.then_some(SendProxy::V1);
        cfg.insert_backend(b);
        cfg.tcp_services.insert(port, svc);
    }
    for r in &mut cfg.routes {
        let mut policy = (*r.policy).clone();
        policy.hsts = Some(Hsts {
            max_age: 31536000,
            include_subdomains: true,
            preload: false,
        });
        r.policy = policy.shared();
    }
    cfg
}

type Fixture = fn(&Paths) -> Config;

const FIXTURES: &[(&str, Fixture)] = &[
    ("minimal", minimal),
    ("seed", seed),
    ("full", full),
    ("tls", tls),
    ("settings", settings),
    ("gateway", gateway),
];

/// The seed example with Gateway API routes beside it: an exact host with a header match,
/// weights and an unresolved share, a rewrite, a redirect and response header changes, a
/// wildcard host and an Ingress host inside it.
fn gateway(p: &Paths) -> Config {
    use haproxy::config::gateway::{
        Action, ActionKind, Candidate, CandidateId, Forward, HeaderOps, HostEntry, HostKey,
        HostPattern, Listen, Match, PathMatch, PathRewrite, Redirect, ValueMatch, WeightedBackend,
    };
    let mut cfg = seed(p);
    let web = be("kube-system_heapster_80");
    let forward = |backends: Vec<WeightedBackend>| Forward {
        backends,
        rewrite_host: None,
        rewrite_path: Some(PathRewrite::Prefix("/".into())),
        timeout: Some(Duration::from_secs(5)),
    };
    let weighted = |backend: Option<BackendName>, weight| WeightedBackend { backend, weight };
    let api = Candidate {
        matches: Match {
            path: PathMatch::Prefix("/api".into()),
            method: Some("GET".into()),
            headers: vec![ValueMatch {
                name: "x-env".into(),
                value: "a b|c".into(),
                regex: false,
            }],
            query: vec![],
        },
        action: Action {
            request_headers: HeaderOps {
                set: vec![("X-Gw".into(), "1".into())],
                ..Default::default()
            },
            response_headers: HeaderOps {
                remove: vec!["server".into()],
                ..Default::default()
            },
            kind: ActionKind::Forward(forward(vec![
                weighted(Some(web.clone()), 90),
                weighted(None, 10),
            ])),
        },
    };
    let mut moved = api.clone();
    moved.matches = Match {
        path: PathMatch::Exact("/old".into()),
        method: None,
        headers: vec![],
        query: vec![],
    };
    moved.action = Action {
        request_headers: HeaderOps::default(),
        response_headers: HeaderOps::default(),
        kind: ActionKind::Redirect(Redirect {
            scheme: Some("https".into()),
            hostname: None,
            port: None,
            path: Some(PathRewrite::Full("/new".into())),
            status: 301,
        }),
    };
    let ids: Vec<CandidateId> = (0..2)
        .map(|i| CandidateId::new("apps", "web", i, 0).unwrap())
        .collect();
    cfg.gateway.candidates.insert(ids[0].clone(), api);
    cfg.gateway.candidates.insert(ids[1].clone(), moved);
    let key = |host| HostKey {
        listen: Listen::Http,
        host,
    };
    cfg.gateway.hosts.insert(
        key(HostPattern::Exact("web.example.com".into())),
        HostEntry::Rules {
            listener_port: 80,
            candidates: ids.clone(),
        },
    );
    cfg.gateway.hosts.insert(
        key(HostPattern::Wildcard("example.com".into())),
        HostEntry::Rules {
            listener_port: 80,
            candidates: vec![ids[1].clone()],
        },
    );
    cfg.gateway.hosts.insert(
        key(HostPattern::Exact("legacy.example.com".into())),
        HostEntry::Ingress,
    );
    // A Gateway with an address of its own: its bind, and its route keyed by the bind.
    let own = haproxy::config::gateway::GatewayBind {
        addr: "10.0.0.5:8080".parse().unwrap(),
        tls: false,
    };
    cfg.gateway.binds.insert(own);
    cfg.gateway.hosts.insert(
        HostKey {
            listen: Listen::Bind(own),
            host: HostPattern::Any,
        },
        HostEntry::Rules {
            listener_port: 80,
            candidates: vec![ids[1].clone()],
        },
    );
    cfg
}

fn check_golden(path: &Path, got: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        want == got,
        "{} differs from the rendering (UPDATE_GOLDEN=1 rewrites it)\n--- golden\n{want}\n--- \
         rendered\n{got}",
        path.display()
    );
}

#[test]
fn golden_files() {
    for (name, fixture) in FIXTURES {
        let cfg = fixture(&Paths::real());
        assert_eq!(cfg.problems(), vec![], "{name}");
        let rendered = render(&cfg);
        check_golden(
            &golden_dir().join(format!("{name}.cfg")),
            &rendered.haproxy_cfg,
        );
        for (file, text) in &rendered.maps {
            let base = Path::new(file.as_str())
                .file_name()
                .unwrap()
                .to_string_lossy();
            check_golden(&golden_dir().join(format!("{name}.{base}")), text);
        }
        // The crt-list (certificates themselves are PEM, not golden).
        for (file, text) in rendered
            .tls
            .iter()
            .filter(|(f, _)| f.as_str().ends_with(".txt"))
        {
            let base = Path::new(file.as_str())
                .file_name()
                .unwrap()
                .to_string_lossy();
            check_golden(&golden_dir().join(format!("{name}.{base}")), text);
        }
    }
    let conflicts = route_maps(&full(&Paths::real()).routes).conflicts;
    let lost: Vec<(usize, usize, &str)> = conflicts
        .iter()
        .map(|c| (c.kept, c.dropped, c.key.as_str()))
        .collect();
    assert_eq!(
        lost,
        [
            (1, 7, "shop.example.com/api"),
            (1, 7, "shop.example.com/api/")
        ]
    );
}

#[tokio::test]
async fn golden_configs_pass_haproxy_check() {
    let bin = haproxy_bin();
    for (name, fixture) in FIXTURES {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::temp(tmp.path());
        let rendered = render(&fixture(&paths));
        let writer = ConfigWriter::new(&paths.config_dir, &bin);
        if let Err(e) = writer.install(&rendered).await {
            panic!("{name}: haproxy -c refused the golden config: {e}");
        }
    }
}

// ---- end to end: a running HAProxy routes as the maps say ----

/// An HTTP server on loopback that answers every request with `name`.
async fn responder(name: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let name = name.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

/// `GET path` with `Host: host`; returns the status and body.
async fn get(port: u16, host: &str, path: &str) -> (u16, String) {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    sock.read_to_end(&mut resp).await.unwrap();
    let resp = String::from_utf8_lossy(&resp);
    let status = resp[9..12].parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// One command on the admin socket (non-interactive: HAProxy closes after its reply).
async fn cli(sock: &Path, cmd: &Command) -> String {
    let mut s = UnixStream::connect(sock).await.unwrap();
    let mut text = cmd.to_text().unwrap();
    text.push('\n');
    s.write_all(text.as_bytes()).await.unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).await.unwrap();
    reply
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn routing_routes() -> Vec<Route> {
    use PathKind::{Exact, ImplementationSpecific as Impl, Prefix};
    vec![
        route("a.test", "/foo", Exact, "ns_exact_80"),
        route("a.test", "/foo/", Prefix, "ns_foo_80"),
        route("a.test", "/foo/bar", Prefix, "ns_foobar_80"),
        route("a.test", "/img", Impl, "ns_img_80"),
        route("*.w.test", "/", Prefix, "ns_wild_80"),
        route("x.w.test", "/special", Prefix, "ns_special_80"),
        route("", "/any", Prefix, "ns_any_80"),
        route("", "/healthz", Exact, "ns_hz_80"),
    ]
}

async fn expect_routes(port: u16, table: &[(&str, &str, &str)]) {
    for (host, path, want) in table {
        let (status, body) = get(port, host, path).await;
        let got = if status == 404 {
            "404".to_string()
        } else {
            assert_eq!(status, 200, "{host}{path}: {body}");
            body
        };
        assert_eq!(got, *want, "Host: {host}, path {path}");
    }
}

#[tokio::test]
async fn haproxy_routes_as_the_maps_say() {
    let bin = haproxy_bin();
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_dir: tmp.path().to_path_buf(),
        run_dir: tmp.path().to_path_buf(),
        ..Paths::real()
    };
    let port = free_port();
    let mut cfg = Config::new(paths.global());
    // One backend per route (each its own), answering with its name.
    let routes = routing_routes();
    for route in &routes {
        let name = route.backend.as_str();
        let addr = responder(name.to_string()).await.to_string();
        cfg.insert_backend(Backend::new(be(name)).with_server(server("s1", &addr, 1)));
    }
    cfg.routes = routes;
    let bind = format!("127.0.0.1:{port}");
    let maps = paths.maps();
    cfg.frontends.push(frontend(
        "http",
        &[&bind],
        maps.clone(),
        DefaultBackend::Builtin404,
    ));
    assert_eq!(cfg.problems(), vec![]);

    let writer = ConfigWriter::new(tmp.path(), &bin);
    writer.install(&render(&cfg)).await.unwrap();
    let mut child = tokio::process::Command::new(&bin)
        .arg("-db")
        .arg("-f")
        .arg(writer.config_path())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("haproxy exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "haproxy did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    expect_routes(
        port,
        &[
            ("a.test", "/foo", "ns_exact_80"),
            ("a.test", "/foo/", "ns_foo_80"),
            ("a.test", "/foo/x", "ns_foo_80"),
            ("a.test", "/foobar", "404"),
            ("a.test:8080", "/foo/bar/baz", "ns_foobar_80"),
            ("A.TEST", "/foo/bar", "ns_foobar_80"),
            ("a.test", "/foo/barbaz", "ns_foo_80"),
            ("a.test", "/imgs/x", "ns_img_80"),
            ("b.w.test", "/x", "ns_wild_80"),
            ("x.w.test", "/special/1", "ns_special_80"),
            ("x.w.test", "/other", "ns_wild_80"),
            ("a.b.w.test", "/x", "404"),
            ("w.test", "/x", "404"),
            ("other.test", "/any/thing", "ns_any_80"),
            ("a.test", "/healthz", "ns_hz_80"),
            ("[::1]:80", "/any", "ns_any_80"),
            ("[::1]", "/healthz", "ns_hz_80"),
        ],
    )
    .await;
    let (status, body) = get(port, "nowhere.test", "/").await;
    assert_eq!((status, body.as_str()), (404, "default backend - 404"));

    // Runtime update: routes move, appear and disappear without a reload.
    let sock = tmp.path().join("admin.sock");
    let old = route_maps(&cfg.routes);
    let mut routes = routing_routes();
    routes.remove(0); // a.test Exact /foo: now the prefix route's exact entry
    routes[3].backend = be("ns_any_80"); // *.w.test /
    routes.push(route("b.test", "/", PathKind::Prefix, "ns_hz_80"));
    let new = route_maps(&routes);
    for cmd in map_commands(&maps, &old, &new) {
        let reply = cli(&sock, &cmd).await;
        assert_eq!(reply.trim(), "", "{cmd:?}");
    }
    let after_update = [
        ("a.test", "/foo", "ns_foo_80"),
        ("b.w.test", "/x", "ns_any_80"),
        ("b.test", "/whatever", "ns_hz_80"),
        ("x.w.test", "/special/1", "ns_special_80"),
    ];
    expect_routes(port, &after_update).await;

    // Atomic swap back to the original routes: prepare, bulk add at the version, commit.
    for (file, entries) in [(&maps.exact, &old.exact), (&maps.prefix, &old.prefix)] {
        let file = file.to_file_path();
        let reply = cli(&sock, &Command::PrepareMap(file.clone())).await;
        let version: u32 = reply
            .trim()
            .strip_prefix("New version created: ")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("unexpected prepare map reply {reply:?}"));
        let entries: BTreeMap<_, _> = entries.clone();
        for cmd in map_swap_commands(&file, version, &entries, DEFAULT_BUFSIZE) {
            let reply = cli(&sock, &cmd).await;
            assert_eq!(reply.trim(), "", "{cmd:?}");
        }
    }
    expect_routes(
        port,
        &[
            ("a.test", "/foo", "ns_exact_80"),
            ("b.w.test", "/x", "ns_wild_80"),
            ("b.test", "/whatever", "404"),
            ("a.test", "/foo/bar/x", "ns_foobar_80"),
        ],
    )
    .await;

    child.kill().await.unwrap();
}
