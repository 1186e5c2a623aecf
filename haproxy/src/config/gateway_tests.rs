//! Tests of the Gateway API maps' encodings and checks.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::names::{MapKey, MapValue};

fn any_text() -> impl Strategy<Value = String> {
    // Any Unicode, with the separators and the bytes that end lines or commands often.
    prop_oneof![any::<String>(), "[ %|#&=:,;\\\\\r\n\t/a-zA-Z0-9é☃]{0,24}",]
}

fn arb_value_match() -> impl Strategy<Value = ValueMatch> {
    (any_text(), any_text(), any::<bool>()).prop_map(|(name, value, regex)| ValueMatch {
        name,
        value,
        regex,
    })
}

fn arb_ops() -> impl Strategy<Value = HeaderOps> {
    let pairs = || proptest::collection::vec((any_text(), any_text()), 0..3);
    (
        pairs(),
        pairs(),
        proptest::collection::vec(any_text(), 0..3),
    )
        .prop_map(|(set, add, remove)| HeaderOps { set, add, remove })
}

fn arb_rewrite() -> impl Strategy<Value = Option<PathRewrite>> {
    proptest::option::of(prop_oneof![
        any_text().prop_map(PathRewrite::Full),
        any_text().prop_map(PathRewrite::Prefix),
    ])
}

fn arb_kind() -> impl Strategy<Value = ActionKind> {
    let backend = proptest::option::of("[a-z0-9_]{1,12}")
        .prop_map(|b| b.map(|b| BackendName::new(b).unwrap()));
    let backends = proptest::collection::vec(
        (backend, 0u32..1000).prop_map(|(backend, weight)| WeightedBackend { backend, weight }),
        0..4,
    );
    let forward = (
        backends,
        proptest::option::of(any_text()),
        arb_rewrite(),
        proptest::option::of(1u64..100_000),
    )
        .prop_map(|(backends, rewrite_host, rewrite_path, t)| {
            ActionKind::Forward(Forward {
                backends,
                rewrite_host,
                rewrite_path,
                timeout: t.map(Duration::from_millis),
            })
        });
    let redirect = (
        proptest::option::of(any_text()),
        proptest::option::of(any_text()),
        proptest::option::of(any::<u16>()),
        arb_rewrite(),
        any::<u16>(),
    )
        .prop_map(|(scheme, hostname, port, path, status)| {
            ActionKind::Redirect(Redirect {
                scheme,
                hostname,
                port,
                path,
                status,
            })
        });
    prop_oneof![forward, redirect]
}

prop_compose! {
    fn arb_candidate()(
        path in any_text(),
        kind in 0u8..3,
        method in proptest::option::of(any_text()),
        headers in proptest::collection::vec(arb_value_match(), 0..3),
        query in proptest::collection::vec(arb_value_match(), 0..3),
        request_headers in arb_ops(),
        response_headers in arb_ops(),
        action in arb_kind(),
    ) -> Candidate {
        let path = match kind {
            0 => PathMatch::Exact(path),
            1 => PathMatch::Prefix(path),
            _ => PathMatch::Regex(path),
        };
        Candidate {
            matches: Match { path, method, headers, query },
            action: Action { request_headers, response_headers, kind: action },
        }
    }
}

/// Bytes an encoded value may hold: nothing that ends a line or a word, starts a comment
/// or escapes in a runtime command.
fn inert(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/%&=:|,*".contains(&b))
}

proptest! {
    #[test]
    fn strings_round_trip(s in any_text()) {
        let e = encode(&s);
        prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)));
        prop_assert_eq!(decode(&e), Some(s));
    }

    #[test]
    fn candidates_round_trip_and_are_inert(c in arb_candidate()) {
        let text = c.encode();
        prop_assert!(inert(&text), "{}", text);
        prop_assert!(MapValue::new(text.clone()).is_ok());
        prop_assert_eq!(Candidate::decode(&text), Some(c));
    }

    #[test]
    fn host_entries_round_trip(
        port in any::<u16>(),
        ids in proptest::collection::vec("[a-z0-9.-]{1,8}/[a-z0-9.-]{1,8}/[0-9]{1,2}/[0-9]{1,2}", 0..5),
        ingress in any::<bool>(),
    ) {
        let e = if ingress {
            HostEntry::Ingress
        } else {
            HostEntry::Rules {
                listener_port: port,
                candidates: ids.into_iter().map(CandidateId).collect(),
            }
        };
        let text = e.encode();
        prop_assert!(inert(&text));
        prop_assert_eq!(HostEntry::decode(&text), Some(e));
    }

    #[test]
    fn host_keys_round_trip(host in "[a-z0-9-]{1,8}(\\.[a-z0-9-]{1,8}){0,3}", kind in 0u8..3, https in any::<bool>()) {
        let key = HostKey {
            listen: if https { Listen::Https } else { Listen::Http },
            host: match kind {
                0 => HostPattern::Exact(host),
                1 => HostPattern::Wildcard(host),
                _ => HostPattern::Any,
            },
        };
        let text = key.encode();
        prop_assert!(MapKey::new(text.clone()).is_ok());
        prop_assert_eq!(HostKey::decode(&text), Some(key));
    }
}

fn forward(backends: &[(&str, u32)]) -> Candidate {
    let backends = backends
        .iter()
        .map(|(b, weight)| WeightedBackend {
            backend: (!b.is_empty()).then(|| BackendName::new(*b).unwrap()),
            weight: *weight,
        })
        .collect();
    let mut c = Candidate::forward_all(backends);
    c.matches.path = PathMatch::Prefix("/a".into());
    c
}

#[test]
fn the_encodings_read_as_documented() {
    let mut c = forward(&[("ns_web_80", 70), ("", 30)]);
    c.matches.headers.push(ValueMatch {
        name: "x-v".into(),
        value: "a b|c".into(),
        regex: false,
    });
    c.action.response_headers.remove.push("server".into());
    assert_eq!(
        c.encode(),
        "p=P:/a&h=E:x-v:a%20b%7Cc&rsd=server&b=70:ns_web_80&b=30:"
    );
    let key = HostKey {
        listen: Listen::Https,
        host: HostPattern::Wildcard("example.com".into()),
    };
    assert_eq!(key.encode(), "https|*.example.com");
    let entry = HostEntry::Rules {
        listener_port: 443,
        candidates: vec![
            CandidateId("ns/r/0/0".into()),
            CandidateId("ns/r/1/0".into()),
        ],
    };
    assert_eq!(entry.encode(), "443|ns/r/0/0,ns/r/1/0");
    assert_eq!(HostEntry::Ingress.encode(), INGRESS_MARKER);
    assert_eq!(Candidate::decode("p=P:/a&zz=1"), None);
    assert_eq!(Candidate::decode("p=P:/a&rd=301&b=1:x"), None);
}

#[test]
fn hostile_values_are_named_and_left_out() {
    let id = CandidateId::new("ns", "r", 0, 0).unwrap();
    let mut routes = GatewayRoutes::default();
    let mut bad = forward(&[("be", 1)]);
    bad.action
        .request_headers
        .set
        .push(("x-a".into(), "v\r\nx-injected: 1".into()));
    bad.matches.headers.push(ValueMatch {
        name: "bad name".into(),
        value: "v".into(),
        regex: false,
    });
    routes.candidates.insert(id.clone(), bad);
    let good = CandidateId::new("ns", "r", 1, 0).unwrap();
    routes
        .candidates
        .insert(good.clone(), forward(&[("be", 1)]));
    let key = HostKey {
        listen: Listen::Http,
        host: HostPattern::Exact("a.test".into()),
    };
    routes.hosts.insert(
        key.clone(),
        HostEntry::Rules {
            listener_port: 80,
            candidates: vec![id.clone(), good.clone()],
        },
    );
    let problems = routes.problems();
    let what: Vec<(&str, &str)> = problems
        .iter()
        .map(|(at, e)| (at.as_str(), e.what))
        .collect();
    assert_eq!(
        what,
        [("ns/r/0/0", "header name"), ("ns/r/0/0", "header value")]
    );
    let served = routes.servable();
    assert_eq!(served.candidates.keys().collect::<Vec<_>>(), [&good]);
    assert_eq!(
        served.hosts[&key],
        HostEntry::Rules {
            listener_port: 80,
            candidates: vec![good]
        }
    );
}

#[test]
fn checks_refuse_what_they_name() {
    for h in ["", "a b", "a:b", "é", "a\r"] {
        assert!(check_header_name(h).is_err(), "{h:?}");
    }
    for v in ["a\rb", "a\nb", "a\0b"] {
        assert!(check_header_value(v).is_err(), "{v:?}");
    }
    assert!(check_header_value("spaces, % | # é ok").is_ok());
    for h in ["A.test", "*", "*.", "a..b", "-a.b", "a_b.c", "*.*.a"] {
        assert!(check_hostname(h, true).is_err(), "{h:?}");
    }
    assert!(check_hostname("*.a.test", true).is_ok());
    assert!(check_hostname("*.a.test", false).is_err());
    for p in ["", "a", "/a b", "/a\tb", "/\u{7f}"] {
        assert!(check_path(p).is_err(), "{p:?}");
    }
    assert!(check_regex("/a(?=b)", true).is_err());
    assert!(check_regex("/a[0-9]+", true).is_ok());
    assert!(check_regex("^v[0-9]$", false).is_ok());
    assert!(check_regex("(a", false).is_err());
    assert!(check_redirect_scheme("ftp").is_err());
    assert!(check_status(300).is_err() && check_status(308).is_ok());
    assert!(check_method("get").is_err() && check_method("GET").is_ok());
    assert!(check_timeout(Duration::ZERO).is_err());
    assert!(check_query_name("a=b").is_err() && check_query_name("A").is_ok());
    assert!(CandidateId::new("NS", "r", 0, 0).is_err());
    assert!(CandidateId::new("ns", "r/x", 0, 0).is_err());
}

#[test]
fn files_sit_beside_the_route_maps() {
    let maps = RouteMaps::in_dir(std::path::Path::new("/etc/haproxy")).unwrap();
    let f = GatewayFiles::of_maps(&maps);
    assert_eq!(f.lua.as_str(), "/etc/haproxy/gateway.lua");
    assert_eq!(f.hosts.as_str(), "/etc/haproxy/maps/gateway_hosts.map");
    assert_eq!(f.rules.as_str(), "/etc/haproxy/maps/gateway_rules.map");
}

fn config_with(routes: GatewayRoutes) -> crate::config::Config {
    use crate::config::{Backend, ConfigPath, DefaultBackend, Frontend, Global};
    let mut c =
        crate::config::Config::new(Global::new(ConfigPath::new("/run/admin.sock").unwrap()));
    c.frontends.push(Frontend {
        canary_names: Default::default(),
        name: crate::names::FrontendName::new("http").unwrap(),
        binds: vec!["127.0.0.1:80".parse().unwrap()],
        maps: RouteMaps::in_dir(std::path::Path::new("/etc/haproxy")).unwrap(),
        default_backend: DefaultBackend::Builtin404,
        tls: None,
        trusted_proxies: Vec::new(),
    });
    c.insert_backend(Backend::new(BackendName::new("be").unwrap()));
    c.gateway = routes;
    c
}

fn one_host(backends: &[(&str, u32)]) -> GatewayRoutes {
    let id = CandidateId::new("ns", "r", 0, 0).unwrap();
    let mut routes = GatewayRoutes::default();
    routes.candidates.insert(id.clone(), forward(backends));
    routes.hosts.insert(
        HostKey {
            listen: Listen::Http,
            host: HostPattern::Exact("a.test".into()),
        },
        HostEntry::Rules {
            listener_port: 80,
            candidates: vec![id],
        },
    );
    routes
}

#[test]
fn nothing_is_rendered_without_gateway_routes() {
    let r = crate::config::render(&config_with(GatewayRoutes::default()));
    for line in rendered_lines(&GatewayFiles::of_maps(
        &RouteMaps::in_dir(std::path::Path::new("/etc/haproxy")).unwrap(),
    )) {
        assert!(!r.haproxy_cfg.contains(line.trim()), "{line}");
    }
    assert!(!r.maps.keys().any(|f| f.as_str().contains("gateway")));
}

#[test]
fn gateway_lines_and_files_are_rendered_with_routes() {
    let c = config_with(one_host(&[("be", 1)]));
    let r = crate::config::render(&c);
    let files = gateway_files(&c).unwrap();
    for line in rendered_lines(&files) {
        assert!(
            r.haproxy_cfg.contains(&format!("{line}\n")),
            "{line}\n{}",
            r.haproxy_cfg
        );
    }
    let lua = r.haproxy_cfg.find(REQUEST_RULE).unwrap();
    let lookup = r
        .haproxy_cfg
        .find("map_regm(/etc/haproxy/maps/regex.map) unless")
        .unwrap();
    assert!(
        lua < lookup,
        "the Lua action runs before the first (guarded) lookup"
    );
    assert_eq!(
        r.maps[&files.hosts.to_file_path()],
        "http|a.test 80|ns/r/0/0\n"
    );
    assert_eq!(
        r.maps[&files.rules.to_file_path()],
        "ns/r/0/0 p=P:/a&b=1:be\n"
    );
    assert_eq!(r.maps[&files.lua.to_file_path()], LUA);
}

#[test]
fn only_gateway_routes_appearing_or_going_change_the_structure() {
    use crate::config::{Sections, render};
    let empty = Sections::of_config(&config_with(GatewayRoutes::default()));
    let some = config_with(one_host(&[("be", 1)]));
    let with = Sections::of_config(&some);
    let other = Sections::of_config(&config_with(one_host(&[("be", 5), ("", 1)])));
    assert_eq!(with, other, "entries changing is no structure change");
    assert_ne!(empty.head, with.head);
    assert_ne!(
        empty.gateway, with.gateway,
        "the gateway part names the reason"
    );
    assert_eq!(empty.auth, with.auth);
    assert_eq!(empty.settings, with.settings);
    assert_eq!(empty.errors, with.errors);
    assert_eq!(
        empty.backends, with.backends,
        "the timeout rule follows the head"
    );
    assert_eq!(Sections::of_rendered(&render(&some).haproxy_cfg), with);
}
