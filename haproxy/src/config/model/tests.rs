//! The model's values, and the consistency check across a config.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::proto::command::Weight;

#[test]
fn words_accept_and_refuse() {
    // (input, valid as ConfigPath, valid as CheckPath)
    let table: &[(&str, bool, bool)] = &[
        ("/etc/haproxy/maps/exact.map", true, true),
        ("/healthz?full=1", false, true),
        ("relative/path", false, false),
        ("/a/../b", false, true),
        ("/a$HOME", false, false),
        ("/a#b", false, false),
        ("/a'b", false, false),
        ("/a\"b", false, false),
        ("/a\\b", false, false),
        ("/a b", false, false),
        ("/a,b", false, true),
        ("", false, false),
    ];
    for (input, path, check) in table {
        assert_eq!(ConfigPath::new(*input).is_ok(), *path, "{input:?}");
        assert_eq!(CheckPath::new(*input).is_ok(), *check, "{input:?}");
    }
    assert!(CookieName::new("SRV_ID-1").is_ok());
    assert!(CookieName::new("a=b").is_err());
    assert!(CookieName::new("x".repeat(65)).is_err());
    assert!(CookieKey::new("c2VjcmV0+/=.-_").is_ok());
    assert!(CookieKey::new("a$b").is_err());
    assert!(CookieKey::new("a b").is_err());
}

#[test]
fn timeouts_render_in_the_largest_exact_unit() {
    let table: &[(u64, &str)] = &[
        (1, "1ms"),
        (1500, "1500ms"),
        (2000, "2s"),
        (90_000, "90s"),
        (120_000, "2m"),
        (3_600_000, "1h"),
        (5_400_000, "90m"),
    ];
    for (ms, want) in table {
        let t = Timeout::new(Duration::from_millis(*ms)).unwrap();
        assert_eq!(t.to_string(), *want);
        assert_eq!(t.get(), Duration::from_millis(*ms));
    }
    assert!(Timeout::new(Duration::from_micros(999)).is_err());
    assert!(Timeout::new(Duration::from_millis(1 << 31)).is_err());
    assert!(Timeout::new(Duration::from_millis((1 << 31) - 1)).is_ok());
}

#[test]
fn server_addresses_are_unicast_with_a_port() {
    let table: &[(&str, bool)] = &[
        ("10.0.0.1:8080", true),
        ("[fd00::1]:80", true),
        ("127.0.0.1:1", true),
        ("10.0.0.1:0", false),
        ("0.0.0.0:80", false),
        ("[::]:80", false),
        ("255.255.255.255:80", false),
        ("224.0.0.1:80", false),
        ("[ff02::1]:80", false),
        ("[fe80::1%2]:80", false),
        ("[::ffff:0.0.0.0]:80", false),
        ("[::ffff:224.0.0.1]:80", false),
        ("[::ffff:255.255.255.255]:80", false),
        ("[::ffff:10.0.0.1]:80", true),
    ];
    for (input, ok) in table {
        let addr: SocketAddr = input.parse().unwrap();
        assert_eq!(ServerAddr::new(addr).is_ok(), *ok, "{input}");
    }
    let v6 = ServerAddr::new("[fd00::1]:80".parse().unwrap()).unwrap();
    assert_eq!(v6.to_string(), "[fd00::1]:80");
}

#[test]
fn threads_are_bounded() {
    assert!(Threads::new(0).is_err());
    assert!(Threads::new(65).is_err());
    assert_eq!(Threads::new(4).unwrap().get(), 4);
}

#[test]
fn add_server_matches_the_rendered_server() {
    let mut be = Backend::new(BackendName::new("ns_svc_80").unwrap());
    be.health_check = Some(HttpCheck {
        path: CheckPath::new("/healthz").unwrap(),
        inter: Timeout::secs(2).unwrap(),
    });
    let srv = Server {
        name: ServerName::new("s1").unwrap(),
        addr: ServerAddr::new("10.0.0.1:80".parse().unwrap()).unwrap(),
        weight: Weight::new(7).unwrap(),
        state: ServerMode::Ready,
        backup: false,
    };
    let text = crate::proto::Command::AddServer(be.add_server(&srv))
        .to_text()
        .unwrap();
    assert_eq!(
        text,
        "add server ns_svc_80/s1 10.0.0.1:80 weight 7 check inter 2000ms rise 2 fall 3"
    );
    // The protocol keywords of the default-server line, which add server ignores.
    be.protocol = crate::proto::ServerProtocol {
        h2: true,
        tls: Some(crate::proto::ServerTls {
            sni: Some(crate::proto::TlsName::new("b.internal").unwrap()),
            ..Default::default()
        }),
    };
    let text = crate::proto::Command::AddServer(be.add_server(&srv))
        .to_text()
        .unwrap();
    assert_eq!(
        text,
        "add server ns_svc_80/s1 10.0.0.1:80 weight 7 check inter 2000ms rise 2 fall 3 ssl \
         verify none sni str(b.internal) alpn h2"
    );
    let mut cfg = String::new();
    super::super::render::render_backend(&mut cfg, &be, false, false);
    assert!(cfg.contains("\n    default-server ssl verify none sni str(b.internal) alpn h2\n"));
}

fn problem_config() -> Config {
    let mut cfg = Config::new(Global::new(ConfigPath::new("/run/admin.sock").unwrap()));
    let maps = RouteMaps::in_dir(std::path::Path::new("/etc/haproxy")).unwrap();
    let be = BackendName::new("ns_a_80").unwrap();
    cfg.insert_backend(Backend::new(be.clone()));
    cfg.frontends.push(Frontend {
        canary_names: Default::default(),
        name: FrontendName::new("http").unwrap(),
        binds: vec!["0.0.0.0:80".parse().unwrap()],
        maps,
        default_backend: DefaultBackend::Backend(be),
        tls: None,
        trusted_proxies: Vec::new(),
    });
    cfg
}

#[test]
fn problems_are_found() {
    let ok = problem_config();
    assert_eq!(ok.problems(), vec![]);

    let mut cfg = problem_config();
    let mut twin = cfg.frontends[0].clone();
    twin.maps.exact = twin.maps.prefix.clone();
    twin.default_backend = DefaultBackend::Backend(BackendName::new("ns_missing_80").unwrap());
    cfg.frontends.push(twin);
    let wrong = BackendName::new("wrong").unwrap();
    cfg.backends.insert(
        wrong.clone(),
        Backend::new(BackendName::new(BUILTIN_404).unwrap()),
    );
    cfg.routes.push(Route {
        canary: None,
        host: super::super::RouteHost::Any,
        path: super::super::RoutePath::new("/").unwrap(),
        kind: super::super::PathKind::Prefix,
        backend: BackendName::new("ns_gone_80").unwrap(),
        https_redirect: false,
        policy: Default::default(),
    });
    let problems = cfg.problems();
    let want = [
        "backend _default_404 is stored under the key wrong",
        "backend name _default_404 is reserved for the built-in 404 backend",
        "two frontends are named http",
        "bind address 0.0.0.0:80 has port 0 or is used twice",
        "frontend http defaults to the unknown backend ns_missing_80",
        "map file /etc/haproxy/maps/prefix.map is used as two kinds of map (exact, prefix, regex)",
        "route 0 points at the unknown backend ns_gone_80",
    ];
    let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(got, want);
}
