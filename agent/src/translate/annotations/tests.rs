use std::collections::BTreeMap;
use std::time::Duration;

use haproxy::config::Balance;

use super::*;
use crate::problem::ProblemReason;

const NGINX: &str = "nginx.ingress.kubernetes.io/";
const OURS: &str = "haproxy-agent.io/";

/// The annotations, each under `nginx.ingress.kubernetes.io/`, as [`parse`] reads them.
pub(super) fn parsed(pairs: &[(&str, &str)]) -> Parsed {
    let a: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (format!("nginx.ingress.kubernetes.io/{k}"), v.to_string()))
        .collect();
    parse(Some(&a))
}

fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn status<'a>(p: &'a Parsed, key: &str) -> &'a Status {
    &p.verdicts
        .iter()
        .find(|v| v.key == key)
        .unwrap_or_else(|| panic!("no verdict for {key}: {:?}", p.verdicts))
        .status
}

fn secs(p: Option<Timeout>) -> Option<u64> {
    p.map(|t| t.get().as_secs())
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
    assert_eq!(p.problems().count(), 0, "{:?}", p.verdicts);
    assert_eq!(p.verdicts.len(), 6, "other.io/x is not ours to judge");
    assert_eq!(p.options.balance, Balance::Roundrobin);
    assert!(p.explicit_balance);
    assert_eq!(
        p.options.timeout_server.unwrap().get(),
        Duration::from_secs(90)
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
fn redirect_flags_under_every_prefix() {
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
    for prefix in catalog::PREFIXES {
        for (ssl, force, tls, want) in table {
            let (k1, k2) = (
                format!("{prefix}ssl-redirect"),
                format!("{prefix}force-ssl-redirect"),
            );
            let mut pairs = Vec::new();
            if let Some(v) = ssl {
                pairs.push((k1.as_str(), *v));
            }
            if let Some(v) = force {
                pairs.push((k2.as_str(), *v));
            }
            let p = parse(Some(&ann(&pairs)));
            assert_eq!(p.problems().count(), 0, "{pairs:?}: {:?}", p.verdicts);
            assert_eq!(p.redirect.applies(*tls), *want, "{pairs:?} tls={tls}");
        }
    }
}

#[test]
fn ingress_nginx_values() {
    // load-balance: (value, balance, differs)
    for (v, want, differs) in [
        ("round_robin", Balance::Roundrobin, false),
        ("ewma", Balance::Leastconn, true),
        ("leastconn", Balance::Leastconn, false),
    ] {
        let key = format!("{NGINX}load-balance");
        let p = parse(Some(&ann(&[(&key, v)])));
        assert_eq!(p.options.balance, want, "{v}");
        assert_eq!(
            matches!(status(&p, &key), Status::Differs(_)),
            differs,
            "{v}"
        );
        assert_eq!(p.problems().count(), 0);
    }
    // Timeouts: whole seconds; read and send become one timeout server, the larger.
    let p = parse(Some(&ann(&[
        (&format!("{NGINX}proxy-connect-timeout"), "3"),
        (&format!("{NGINX}proxy-read-timeout"), "120"),
        (&format!("{NGINX}proxy-send-timeout"), "60s"),
    ])));
    assert_eq!(secs(p.options.timeout_connect), Some(3));
    assert_eq!(secs(p.options.timeout_server), Some(120));
    assert!(matches!(
        status(&p, &format!("{NGINX}proxy-read-timeout")),
        Status::Differs(_)
    ));
    assert_eq!(p.problems().count(), 0);
    // Ours wins over ingress-nginx's when both are set; the other is shadowed.
    let p = parse(Some(&ann(&[
        (TIMEOUT_SERVER, "10s"),
        (&format!("{NGINX}proxy-read-timeout"), "120"),
    ])));
    assert_eq!(secs(p.options.timeout_server), Some(10));
    assert!(matches!(
        status(&p, &format!("{NGINX}proxy-read-timeout")),
        Status::Shadowed(_)
    ));
    // The same name under two prefixes: the stronger one wins; the same value is no problem.
    let p = parse(Some(&ann(&[
        (&format!("{OURS}load-balance"), "first"),
        (&format!("{NGINX}load-balance"), "round_robin"),
    ])));
    assert_eq!(p.options.balance, Balance::First);
    assert_eq!(p.problems().count(), 1);
    let p = parse(Some(&ann(&[
        (&format!("{OURS}ssl-redirect"), "false"),
        (&format!("{NGINX}ssl-redirect"), "false"),
    ])));
    assert_eq!(p.problems().count(), 0);
}

#[test]
fn cookie_affinity() {
    let p = parse(Some(&ann(&[(&format!("{NGINX}affinity"), "cookie")])));
    assert_eq!(p.options.sticky.as_ref().unwrap().as_str(), "INGRESSCOOKIE");
    let p = parse(Some(&ann(&[
        (&format!("{NGINX}affinity"), "cookie"),
        (&format!("{NGINX}session-cookie-name"), "route"),
        (&format!("{NGINX}affinity-mode"), "balanced"),
    ])));
    assert_eq!(p.options.sticky.as_ref().unwrap().as_str(), "route");
    assert!(matches!(
        status(&p, &format!("{NGINX}affinity-mode")),
        Status::Differs(_)
    ));
    assert_eq!(p.problems().count(), 0);
    // Without affinity the name has no effect, as in ingress-nginx.
    let p = parse(Some(&ann(&[(&format!("{NGINX}session-cookie-name"), "x")])));
    assert!(p.options.sticky.is_none());
    assert_eq!(p.problems().count(), 0);
}

#[test]
fn unsupported_refused_and_unknown_are_named() {
    let table: &[(&str, &str, ProblemReason)] = &[
        (
            "configuration-snippet",
            "more_set_headers x;",
            ProblemReason::RefusedAnnotation,
        ),
        ("server-snippet", "x", ProblemReason::RefusedAnnotation),
        ("auth-snippet", "x", ProblemReason::RefusedAnnotation),
        ("stream-snippet", "x", ProblemReason::RefusedAnnotation),
        (
            "auth-url",
            "http://auth",
            ProblemReason::UnsupportedAnnotation,
        ),
        (
            "no-such-annotation",
            "x",
            ProblemReason::UnsupportedAnnotation,
        ),
        (
            "backend-protocol",
            "FCGI",
            ProblemReason::UnsupportedAnnotation,
        ),
        ("backend-protocol", "SPDY", ProblemReason::InvalidAnnotation),
        // Ours only: under ingress-nginx's prefix, not read.
        ("sticky-cookie", "x", ProblemReason::UnsupportedAnnotation),
    ];
    for prefix in [NGINX, "ingress.kubernetes.io/"] {
        for (name, v, reason) in table {
            let key = format!("{prefix}{name}");
            let p = parse(Some(&ann(&[(&key, v)])));
            let problems: Vec<_> = p.problems().collect();
            assert_eq!(problems.len(), 1, "{key}: {:?}", p.verdicts);
            assert_eq!(problems[0].key, key);
            assert_eq!(problems[0].status.reason(), Some(*reason), "{key}");
            assert!(problems[0].status.detail().is_some_and(|d| !d.is_empty()));
            assert_eq!(p.options, BackendOptions::default(), "{key}");
        }
    }
    let p = parse(Some(&ann(&[(&format!("{NGINX}backend-protocol"), "http")])));
    assert_eq!(p.problems().count(), 0);
}

#[test]
fn an_ingress_nginx_canary_reads_its_rule() {
    use haproxy::config::CanaryName;
    let n = |k: &str| format!("{NGINX}{k}");
    // (annotations besides canary: "true", weight, total, header, value, cookie or None when
    // the rule is invalid, problems)
    type Row<'a> = (
        &'a [(&'a str, &'a str)],
        Option<(u32, u32, Option<&'a str>, Option<&'a str>, Option<&'a str>)>,
        usize,
    );
    let table: &[Row] = &[
        (&[], Some((0, 100, None, None, None)), 0),
        (
            &[("canary-weight", "10")],
            Some((10, 100, None, None, None)),
            0,
        ),
        (
            &[("canary-weight", "25"), ("canary-weight-total", "1000")],
            Some((25, 1000, None, None, None)),
            0,
        ),
        (
            &[
                ("canary-by-header", "X-Canary"),
                ("canary-by-header-value", "beta"),
                ("canary-by-cookie", "canary"),
            ],
            Some((0, 100, Some("x-canary"), Some("beta"), Some("canary"))),
            0,
        ),
        (&[("canary-weight", "101")], None, 1),
        (&[("canary-weight", "-1")], None, 1),
        (&[("canary-weight-total", "0")], None, 1),
        (&[("canary-by-header", "x canary")], None, 1),
        (&[("canary-by-cookie", "a;b")], None, 1),
        (
            &[("canary-by-header-value", "x|y"), ("canary-by-header", "h")],
            None,
            1,
        ),
        // A value without its header is named and ignored; the rule stands.
        (
            &[("canary-by-header-value", "beta")],
            Some((0, 100, None, None, None)),
            1,
        ),
        // A regex is not taken from a map value: named, the rule stands.
        (
            &[("canary-by-header-pattern", "^b")],
            Some((0, 100, None, None, None)),
            1,
        ),
    ];
    for (extra, want, problems) in table {
        let mut all = vec![(n("canary"), "true".to_string())];
        all.extend(extra.iter().map(|(k, v)| (n(k), v.to_string())));
        let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let p = parse(Some(&ann(&refs)));
        assert!(p.nginx_canary);
        assert!(p.canary.is_none());
        assert_eq!(
            p.problems().count(),
            *problems,
            "{extra:?}: {:?}",
            p.verdicts
        );
        let got = p.nginx_rule.as_ref().map(|r| {
            (
                r.weight,
                r.total,
                r.header.as_ref().map(CanaryName::as_str),
                r.header_value.as_ref().map(|v| v.as_str()),
                r.cookie.as_ref().map(CanaryName::as_str),
            )
        });
        assert_eq!(got, *want, "{extra:?}");
    }
    let p = parse(Some(&ann(&[
        (&n("canary"), "false"),
        (&n("canary-weight"), "5"),
    ])));
    assert!(!p.nginx_canary);
    assert!(p.nginx_rule.is_none());
    assert_eq!(
        p.problems().count(),
        1,
        "weight without canary: {:?}",
        p.verdicts
    );
}

#[test]
fn a_canary_ingress_applies_only_its_backend_annotations() {
    let n = |k: &str| format!("{NGINX}{k}");
    let p = parse(Some(&ann(&[
        (&n("canary"), "true"),
        (&n("rewrite-target"), "/"),
        (&n("load-balance"), "round_robin"),
    ])));
    let status = |k: &str| {
        let key = n(k);
        p.verdicts
            .iter()
            .find(|v| v.key == key)
            .unwrap()
            .status
            .clone()
    };
    assert!(matches!(status("rewrite-target"), Status::Differs(d) if d.contains("canary")));
    assert_eq!(status("load-balance"), Status::Honoured);
    assert_eq!(p.problems().count(), 0);
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
        ("nginx.ingress.kubernetes.io/proxy-read-timeout", "-1"),
        (
            "nginx.ingress.kubernetes.io/proxy-connect-timeout",
            "5\ntimeout client 0",
        ),
        ("nginx.ingress.kubernetes.io/load-balance", "round robin"),
        ("nginx.ingress.kubernetes.io/affinity", "ip"),
        ("nginx.ingress.kubernetes.io/affinity-mode", "sticky"),
    ];
    for (k, v) in table {
        let mut pairs = vec![(*k, *v)];
        if k.ends_with("affinity-mode") {
            pairs.push(("nginx.ingress.kubernetes.io/affinity", "cookie"));
        }
        let p = parse(Some(&ann(&pairs)));
        assert_eq!(p.problems().count(), 1, "{k}={v:?}: {:?}", p.verdicts);
        if !k.ends_with("affinity-mode") {
            assert_eq!(p.options, BackendOptions::default(), "{k}={v:?}");
        }
    }
    for (k, v) in [(SSL_REDIRECT, "yes"), (FORCE_SSL_REDIRECT, "1\nx")] {
        let p = parse(Some(&ann(&[(k, v)])));
        assert_eq!(p.problems().count(), 1, "{k}={v:?}: {:?}", p.verdicts);
        assert_eq!(p.redirect, Redirect::default(), "{k}={v:?}");
    }
    for (svc, w) in [("Bad_Name", "10"), ("ok", "101"), ("ok", "-1"), ("ok", "x")] {
        let p = parse(Some(&ann(&[(CANARY_SERVICE, svc), (CANARY_WEIGHT, w)])));
        assert_eq!(p.problems().count(), 1, "{svc} {w}");
        assert!(p.canary.is_none());
    }
}

#[test]
fn route_policies() {
    let k = |name: &str| format!("{NGINX}{name}");
    let p = parse(Some(&ann(&[
        (&k("permanent-redirect"), "https://new.example/"),
        (&k("permanent-redirect-code"), "308"),
        (&k("app-root"), "/app"),
        (&k("x-forwarded-prefix"), "/api"),
        (&k("rewrite-target"), "/"),
        (&k("upstream-vhost"), "svc.internal:8080"),
    ])));
    assert_eq!(p.problems().count(), 0, "{:?}", p.verdicts);
    let r = p.policy.redirect.as_ref().unwrap();
    assert_eq!(
        (r.code.get(), r.location.as_str()),
        (308, "https://new.example/")
    );
    assert_eq!(p.policy.app_root.as_ref().unwrap().as_str(), "/app");
    assert_eq!(p.policy.forwarded_prefix.as_ref().unwrap().as_str(), "/api");
    assert_eq!(p.policy.rewrite.as_ref().unwrap().as_str(), "/");
    assert_eq!(
        p.policy.vhost.as_ref().unwrap().as_str(),
        "svc.internal:8080"
    );

    // ingress-nginx reads temporal-redirect first.
    let p = parse(Some(&ann(&[
        (&k("permanent-redirect"), "/a"),
        (&k("temporal-redirect"), "/b"),
    ])));
    let r = p.policy.redirect.as_ref().unwrap();
    assert_eq!((r.code.get(), r.location.as_str()), (302, "/b"));
    assert!(matches!(
        status(&p, &k("permanent-redirect")),
        Status::Shadowed(_)
    ));

    // (annotation, value): each a named problem, the policy left unset.
    let bad = [
        ("rewrite-target", "/$host"),
        ("rewrite-target", "/$0"),
        ("rewrite-target", "/a\\1"),
        ("rewrite-target", "relative"),
        ("permanent-redirect", "ftp://x"),
        ("permanent-redirect", "https://x/$request_uri"),
        ("temporal-redirect", "/a b"),
        ("app-root", "/a?b"),
        ("upstream-vhost", "a b"),
        ("upstream-vhost", "host:99999"),
        ("x-forwarded-prefix", "/a|b"),
    ];
    for (name, v) in bad {
        let p = parse(Some(&ann(&[(&k(name), v)])));
        assert_eq!(p.problems().count(), 1, "{name}={v:?}: {:?}", p.verdicts);
        assert!(p.policy.is_empty(), "{name}={v:?}");
    }
    // Capture groups: `$N` becomes `\N` for map_regm, and the paths become regexes.
    let p = parse(Some(&ann(&[(&k("rewrite-target"), "/$2")])));
    assert_eq!(p.problems().count(), 0, "{:?}", p.verdicts);
    assert_eq!(p.policy.rewrite.as_ref().unwrap().as_str(), "/\\2");
    assert_eq!(p.regex, Some(2));
    let p = parse(Some(&ann(&[(&k("use-regex"), "true")])));
    assert_eq!((p.problems().count(), p.regex), (0, Some(0)));
    let p = parse(Some(&ann(&[(&k("use-regex"), "false")])));
    assert_eq!((p.problems().count(), p.regex), (0, None));
    for code in ["300", "304", "200", "x"] {
        let p = parse(Some(&ann(&[
            (&k("permanent-redirect"), "/a"),
            (&k("permanent-redirect-code"), code),
        ])));
        assert_eq!(p.problems().count(), 1, "{code}");
        assert_eq!(p.policy.redirect.unwrap().code.get(), 301, "{code}");
    }
}

#[test]
fn body_size_and_limits() {
    let k = |name: &str| format!("{NGINX}{name}");
    for (v, want) in [
        ("8m", Some(8 << 20)),
        ("512k", Some(512 << 10)),
        ("1G", Some(1 << 30)),
        ("100", Some(100)),
        ("0", None),
    ] {
        let p = parse(Some(&ann(&[(&k("proxy-body-size"), v)])));
        assert_eq!(p.policy.max_body, want, "{v}");
        assert_eq!(p.problems().count(), 0, "{v}");
    }
    for v in ["8mb", "-1", "1t", "", "99999999999g", "1 m"] {
        let p = parse(Some(&ann(&[(&k("proxy-body-size"), v)])));
        assert_eq!(p.policy.max_body, None, "{v}");
        assert_eq!(p.problems().count(), 1, "{v}");
    }
    let p = parse(Some(&ann(&[
        (&k("limit-rps"), "10"),
        (&k("limit-rpm"), "300"),
        (&k("limit-connections"), "4"),
    ])));
    let policy = p.policy_for("shop/web");
    let l = policy.limit.unwrap();
    assert_eq!(l.key.as_str(), "shop/web");
    assert_eq!(
        (l.per_second, l.per_10s, l.per_minute, l.concurrent),
        (Some(50), Some(100), Some(300), Some(4)),
        "a burst of rps x 5, rps x 10 over ten seconds"
    );
    let p = parse(Some(&ann(&[
        (&k("limit-rps"), "10"),
        (&k("limit-burst-multiplier"), "20"),
    ])));
    let l = p.policy.limit.unwrap();
    assert_eq!((l.per_second, l.per_10s), (Some(200), Some(200)));
    let p = parse(Some(&ann(&[(&k("limit-rps"), "0")])));
    assert!(p.policy.limit.is_none());
    for v in ["-1", "1.5", "ten", "2000000"] {
        let p = parse(Some(&ann(&[(&k("limit-rps"), v)])));
        assert!(p.policy.limit.is_none(), "{v}");
        assert_eq!(p.problems().count(), 1, "{v}");
    }
}

#[test]
fn cors() {
    let k = |name: &str| format!("{NGINX}{name}");
    let p = parse(Some(&ann(&[(&k("enable-cors"), "true")])));
    let c = p.policy.cors.unwrap();
    assert_eq!(
        (
            c.origin.as_str(),
            c.methods.as_str(),
            c.credentials,
            c.max_age
        ),
        ("*", "GET,PUT,POST,DELETE,PATCH,OPTIONS", true, 1_728_000)
    );
    let p = parse(Some(&ann(&[
        (&k("enable-cors"), "true"),
        (&k("cors-allow-origin"), "https://app.example:8443"),
        (&k("cors-allow-methods"), "GET, POST"),
        (&k("cors-allow-headers"), "X-Custom, Content-Type"),
        (&k("cors-expose-headers"), "*, X-Total"),
        (&k("cors-allow-credentials"), "false"),
        (&k("cors-max-age"), "600"),
    ])));
    assert_eq!(p.problems().count(), 0, "{:?}", p.verdicts);
    let c = p.policy.cors.unwrap();
    assert_eq!(c.origin.as_str(), "https://app.example:8443");
    assert_eq!(c.methods.as_str(), "GET,POST");
    assert_eq!(c.headers.as_str(), "X-Custom,Content-Type");
    assert_eq!(c.expose.unwrap().as_str(), "*,X-Total");
    assert_eq!((c.credentials, c.max_age), (false, 600));
    // Without enable-cors the others do nothing (as in ingress-nginx).
    let p = parse(Some(&ann(&[(
        &k("cors-allow-origin"),
        "https://a.example",
    )])));
    assert!(p.policy.cors.is_none());
    assert_eq!(p.problems().count(), 0);
    // Several origins: the route names the list, whose entries go to the allow ACL file.
    let p = parse(Some(&ann(&[
        (&k("enable-cors"), "true"),
        (
            &k("cors-allow-origin"),
            "https://a.example, https://b.example:8443",
        ),
    ])));
    assert_eq!(p.problems().count(), 0, "{:?}", p.verdicts);
    let policy = p.policy_for("shop/web");
    assert_eq!(policy.cors.unwrap().origin.as_str(), "@shop/web+cors");
    let origins: Vec<&str> = p
        .source
        .origins
        .as_ref()
        .unwrap()
        .iter()
        .map(|o| o.as_str())
        .collect();
    assert_eq!(origins, ["https://a.example", "https://b.example:8443"]);
    // A wildcard origin, alone or in a list, is kept in the list (matched with one label).
    for (v, want) in [
        ("https://*.a.example", &["https://*.a.example"][..]),
        (
            "https://x.example, http://*.b.example:8080",
            &["http://*.b.example:8080", "https://x.example"][..],
        ),
    ] {
        let p = parse(Some(&ann(&[
            (&k("enable-cors"), "true"),
            (&k("cors-allow-origin"), v),
        ])));
        assert_eq!(p.problems().count(), 0, "{v}: {:?}", p.verdicts);
        assert_eq!(p.policy.cors.as_ref().unwrap().origin.as_str(), "@list");
        let got: Vec<&str> = p
            .source
            .origins
            .iter()
            .flatten()
            .map(|o| o.as_str())
            .collect();
        assert_eq!(got, want, "{v}");
    }
    // An origin that cannot be matched here enables nothing, and is named.
    for origin in [
        "https://a.example, *",
        "https://*",
        "https://a.*.example",
        "https://*.*.example",
        "a.example",
        "https://a.example, b",
    ] {
        let p = parse(Some(&ann(&[
            (&k("enable-cors"), "true"),
            (&k("cors-allow-origin"), origin),
        ])));
        assert!(p.policy.cors.is_none(), "{origin}");
        assert_eq!(p.problems().count(), 1, "{origin}");
    }
    for (name, v) in [
        ("cors-allow-methods", "GET;POST"),
        ("cors-allow-headers", "X Y"),
        ("cors-max-age", "-1"),
        ("cors-allow-credentials", "yes"),
    ] {
        let p = parse(Some(&ann(&[(&k("enable-cors"), "true"), (&k(name), v)])));
        assert_eq!(p.problems().count(), 1, "{name}={v:?}");
        assert!(p.policy.cors.is_some(), "{name}: the default is used");
    }
}

#[test]
fn upstream_hash_by() {
    use haproxy::config::{HashOn, Token};
    let k = |name: &str| format!("{NGINX}{name}");
    let t = |s: &str| Token::new(s).unwrap();
    let table = [
        ("$request_uri", HashOn::PathAndQuery),
        ("$uri", HashOn::Path),
        ("$remote_addr", HashOn::Source),
        ("${host}", HashOn::Header(t("host"))),
        ("$http_x_user_id", HashOn::Header(t("x-user-id"))),
        ("$cookie_session", HashOn::Cookie(t("session"))),
        ("$arg_tenant", HashOn::QueryParam(t("tenant"))),
    ];
    for (v, want) in table {
        let p = parse(Some(&ann(&[
            (&k("upstream-hash-by"), v),
            (&k("load-balance"), "ewma"),
        ])));
        assert_eq!(p.options.balance, Balance::Hash(want), "{v}");
        assert!(
            matches!(status(&p, &k("load-balance")), Status::Shadowed(_)),
            "{v}: upstream-hash-by wins"
        );
    }
    for v in [
        "$request_uri$host",
        "request_uri",
        "$request_uri-text",
        "$http_",
        "$http_a b",
    ] {
        let p = parse(Some(&ann(&[(&k("upstream-hash-by"), v)])));
        assert_eq!(p.options.balance, Balance::Leastconn, "{v}");
        assert_eq!(p.problems().count(), 1, "{v}");
    }
}

#[test]
fn cookie_attributes() {
    use haproxy::config::SameSite;
    let k = |name: &str| format!("{NGINX}{name}");
    let p = parse(Some(&ann(&[
        (&k("affinity"), "cookie"),
        (&k("session-cookie-path"), "/app"),
        (&k("session-cookie-domain"), ".example.com"),
        (&k("session-cookie-expires"), "172800"),
        (&k("session-cookie-samesite"), "Strict"),
        (&k("session-cookie-secure"), "true"),
    ])));
    let a = &p.options.cookie_attrs;
    assert_eq!(a.path.as_ref().unwrap().as_str(), "/app");
    assert_eq!(a.domain.as_ref().unwrap().as_str(), ".example.com");
    assert_eq!(
        (a.max_age, a.same_site, a.secure),
        (Some(172800), Some(SameSite::Strict), true)
    );
    assert!(matches!(
        status(&p, &k("session-cookie-expires")),
        Status::Differs(_)
    ));
    assert_eq!(p.problems().count(), 0, "{:?}", p.verdicts);
    assert_eq!(
        a.options(),
        " domain .example.com secure attr \"Path=/app\" attr \"Max-Age=172800\" attr \"SameSite=Strict\""
    );
    // max-age wins over expires.
    let p = parse(Some(&ann(&[
        (&k("affinity"), "cookie"),
        (&k("session-cookie-max-age"), "60"),
        (&k("session-cookie-expires"), "120"),
    ])));
    assert_eq!(p.options.cookie_attrs.max_age, Some(60));
    for (name, v) in [
        ("session-cookie-path", "app"),
        ("session-cookie-path", "/a\"b"),
        ("session-cookie-domain", "a/b"),
        ("session-cookie-max-age", "-5"),
        ("session-cookie-samesite", "sometimes"),
        ("session-cookie-secure", "yes"),
    ] {
        let p = parse(Some(&ann(&[(&k("affinity"), "cookie"), (&k(name), v)])));
        assert_eq!(p.problems().count(), 1, "{name}={v:?}");
        assert_eq!(p.options.cookie_attrs, Default::default(), "{name}={v:?}");
    }
}

#[test]
fn server_alias() {
    let k = format!("{NGINX}server-alias");
    let p = parse(Some(&ann(&[(&k, "www.a.example, *.b.example")])));
    let hosts: Vec<String> = p.aliases.iter().map(|(_, h)| format!("{h:?}")).collect();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert!(
        p.aliases
            .iter()
            .all(|(f, _)| *f == format!("metadata.annotations[{k}]"))
    );
    for v in ["a b.example", "a_b.example", "*", "x.example,bad/host"] {
        let p = parse(Some(&ann(&[(&k, v)])));
        assert!(p.aliases.is_empty(), "{v}");
        assert_eq!(p.problems().count(), 1, "{v}");
    }
}

#[test]
fn default_backend() {
    let k = format!("{NGINX}default-backend");
    let p = parse(Some(&ann(&[(&k, "errors")])));
    assert_eq!(
        p.fallback,
        Some((format!("metadata.annotations[{k}]"), "errors".to_string()))
    );
    for v in ["Errors", "ns/errors", "a b", ""] {
        let p = parse(Some(&ann(&[(&k, v)])));
        assert!(p.fallback.is_none(), "{v:?}");
        assert_eq!(p.problems().count(), 1, "{v:?}");
    }
    let p = parse(Some(&ann(&[
        (&k, "errors"),
        (CANARY_SERVICE, "web-canary"),
        (CANARY_WEIGHT, "10"),
    ])));
    assert!(p.fallback.is_none());
    assert_eq!(p.problems().count(), 1, "not with a canary");
}

#[test]
fn source_ranges() {
    let cidrs = |v: &[&str]| -> Option<std::collections::BTreeSet<haproxy::config::Cidr>> {
        Some(
            v.iter()
                .map(|c| haproxy::config::Cidr::parse(c).unwrap())
                .collect(),
        )
    };
    let allow = format!("{NGINX}allowlist-source-range");
    let white = format!("{NGINX}whitelist-source-range");
    let deny = format!("{OURS}denylist-source-range");
    // (annotations, allow, deny, verdicts that are not honoured)
    type Case<'a> = (
        Vec<(&'a str, &'a str)>,
        Option<std::collections::BTreeSet<haproxy::config::Cidr>>,
        Option<std::collections::BTreeSet<haproxy::config::Cidr>>,
        Vec<(&'a str, &'static str)>,
    );
    let table: Vec<Case<'_>> = vec![
        (vec![], None, None, vec![]),
        (
            vec![(&white, "10.0.0.0/8, 127.0.0.1")],
            cidrs(&["10.0.0.0/8", "127.0.0.1/32"]),
            None,
            vec![],
        ),
        (
            vec![(&allow, "10.0.0.0/8"), (&white, "192.168.0.0/16")],
            cidrs(&["10.0.0.0/8"]),
            None,
            vec![(&white, "shadowed")],
        ),
        (
            vec![(&allow, "10.0.0.0/8"), (&white, "10.0.0.0/8")],
            cidrs(&["10.0.0.0/8"]),
            None,
            vec![],
        ),
        (
            vec![(&deny, "10.1.2.3/16,::1")],
            None,
            cidrs(&["10.1.0.0/16", "::1"]),
            vec![],
        ),
        // A list that cannot be read fails closed: an empty allow list.
        (
            vec![(&deny, "10.0.0.0/8;"), (&allow, "10.0.0.0/8")],
            cidrs(&[]),
            None,
            vec![(&deny, "invalid")],
        ),
        (
            vec![(&allow, "10.0.0.0/33")],
            cidrs(&[]),
            None,
            vec![(&allow, "invalid")],
        ),
    ];
    for (pairs, want_allow, want_deny, not_honoured) in table {
        let p = parse(Some(&ann(&pairs)));
        assert_eq!(p.source.allow, want_allow, "{pairs:?}");
        assert_eq!(p.source.deny, want_deny, "{pairs:?}");
        let problems: Vec<(String, &str)> = p
            .problems()
            .map(|v| (v.key.clone(), v.status.label()))
            .collect();
        let want: Vec<(String, &str)> = not_honoured
            .iter()
            .map(|(k, s)| (k.to_string(), *s))
            .collect();
        assert_eq!(problems, want, "{pairs:?}");
        let policy = p.policy_for("ns/web");
        assert_eq!(
            policy.allow_list.as_ref().map(|t| t.as_str()),
            want_allow.as_ref().map(|_| "ns/web")
        );
        assert_eq!(
            policy.deny_list.as_ref().map(|t| t.as_str()),
            want_deny.as_ref().map(|_| "ns/web")
        );
    }
}

#[test]
fn limit_whitelist() {
    let k = |name: &str| format!("{NGINX}{name}");
    let p = parse(Some(&ann(&[
        (&k("limit-rps"), "5"),
        (&k("limit-whitelist"), "10.0.0.0/8, 192.168.1.1"),
    ])));
    assert_eq!(p.problems().count(), 0, "{:?}", p.verdicts);
    assert_eq!(p.source.exempt.as_ref().map(|s| s.len()), Some(2));
    let policy = p.policy_for("shop/web");
    assert_eq!(
        policy.exempt_list.as_ref().map(|t| t.as_str()),
        Some("shop/web+limits")
    );
    let lists = p.source.lists().unwrap();
    assert!(
        lists.allow.is_empty() && lists.deny.is_empty(),
        "no 403 lists from it"
    );
    // Without a limit it changes nothing on the routes; a bad list exempts nobody.
    let p = parse(Some(&ann(&[(&k("limit-whitelist"), "10.0.0.0/8")])));
    assert!(p.policy_for("shop/web").exempt_list.is_none());
    let p = parse(Some(&ann(&[
        (&k("limit-rps"), "5"),
        (&k("limit-whitelist"), "10.0.0.0/33"),
    ])));
    assert_eq!(p.problems().count(), 1);
    assert!(p.source.exempt.is_none());
    assert!(p.policy_for("shop/web").limit.is_some(), "the limit stays");
}

#[test]
fn values_that_are_what_happens_anyway() {
    let k = |name: &str| format!("{NGINX}{name}");
    // (annotation, value, honoured)
    let table = [
        ("proxy-http-version", "1.1", true),
        ("proxy-http-version", "1.0", false),
        ("service-upstream", "false", true),
        ("service-upstream", "true", false),
        ("proxy-buffering", "off", true),
        ("proxy-buffering", "on", false),
        ("enable-opentelemetry", "false", true),
        ("enable-modsecurity", "true", false),
    ];
    for (name, v, honoured) in table {
        let p = parse(Some(&ann(&[(&k(name), v)])));
        let s = status(&p, &k(name));
        assert_eq!(*s == Status::Honoured, honoured, "{name}={v}: {s:?}");
        if !honoured {
            assert_eq!(s.reason(), Some(ProblemReason::UnsupportedAnnotation));
        }
    }
}

#[test]
fn custom_http_errors() {
    let k = format!("{NGINX}custom-http-errors");
    let field = format!("metadata.annotations[{k}]");
    let table: [(&str, &[u16]); 4] = [
        ("404,503", &[404, 503]),
        ("503, 404 ,404", &[404, 503]),
        ("599", &[599]),
        ("400,415", &[400, 415]),
    ];
    for (v, want) in table {
        let p = parse(Some(&ann(&[(&k, v)])));
        let (at, codes) = p.custom_errors.clone().unwrap_or_else(|| panic!("{v:?}"));
        assert_eq!(
            (at.as_str(), codes.codes()),
            (field.as_str(), want),
            "{v:?}"
        );
        assert_eq!(p.problems().count(), 0, "{v:?}");
        assert!(
            matches!(status(&p, &k), Status::Differs(d) if d == CUSTOM_ERRORS_DIFFER),
            "{v:?}"
        );
    }
    for v in [
        "", "404,", "200", "399", "600", "4040", "+404", "404;503", "404 503", "abc", "0x194",
        "404,5O3",
    ] {
        let p = parse(Some(&ann(&[(&k, v)])));
        assert!(p.custom_errors.is_none(), "{v:?}");
        assert!(matches!(status(&p, &k), Status::Invalid(_)), "{v:?}");
    }
    // Ours reads the same.
    let p = parse(Some(&ann(&[(&format!("{OURS}custom-http-errors"), "404")])));
    assert!(p.custom_errors.is_some());
}

#[test]
fn ssl_passthrough_is_read_as_a_flag() {
    let k = format!("{NGINX}ssl-passthrough");
    let p = parse(Some(&ann(&[(&k, "true")])));
    assert_eq!(
        p.ssl_passthrough.as_deref(),
        Some(format!("metadata.annotations[{k}]").as_str())
    );
    assert_eq!(*status(&p, &k), Status::Honoured);
    let p = parse(Some(&ann(&[(&k, "false")])));
    assert_eq!(p.ssl_passthrough, None);
    let p = parse(Some(&ann(&[(&k, "yes")])));
    assert_eq!(p.ssl_passthrough, None);
    assert_eq!(
        status(&p, &k).reason(),
        Some(ProblemReason::InvalidAnnotation)
    );
}
