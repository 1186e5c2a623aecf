//! Client certificates in the translation: lines per certificate and setting, the older
//! Ingress's settings for a host, failing closed on a bad CA, hostile CA and CRL data, the
//! subject DN pattern (auth-tls-match-cn).

use haproxy::config::{AUTH_DENIED, ClientCertPolicy};

use super::Translation;
use super::tls::CertMemory;
use super::tls::tests::{ingress, pair, problems, quote, run, secret, sni};

/// A real CRL made by `openssl ca -gencrl` (no revoked certificates).
const CRL: &str = include_str!("test_ca.crl");

/// An Opaque Secret `name` in `shop` with the given data keys.
fn opaque(name: &str, data: &[(&str, &str)]) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{namespace: shop, name: {name}}}\n\
         type: Opaque\nstringData:\n"
    );
    for (k, v) in data {
        out.push_str(&format!("  {k}: {}\n", quote(v)));
    }
    out
}

fn site() -> String {
    let (crt, key, _) = pair("site");
    secret("site", "kubernetes.io/tls", &crt, &key)
}

/// The crt-list lines with the digests in the store names blanked.
fn lines(t: &Translation) -> Vec<String> {
    sni(t)
        .into_iter()
        .map(|l| {
            l.split(' ')
                .map(|w| match w.split_once('.') {
                    Some((base, rest)) if rest.contains(".client-") => {
                        format!("{base}.#{}", &rest[rest.find(".client-").unwrap()..])
                    }
                    _ => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn policy_of(t: &Translation, host: &str) -> std::sync::Arc<haproxy::config::RoutePolicy> {
    t.config
        .routes
        .iter()
        .find(|r| matches!(&r.host, haproxy::config::RouteHost::Exact(h) if h.to_string() == host))
        .map(|r| r.policy.clone())
        .unwrap_or_else(|| panic!("no route for {host}"))
}

#[test]
fn hosts_of_one_certificate_get_a_line_per_client_certificate_setting() {
    let (ca, _, _) = pair("client ca");
    let on = [
        ("nginx.ingress.kubernetes.io/auth-tls-secret", "shop/ca"),
        (
            "nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream",
            "true",
        ),
    ];
    let optional = [
        ("haproxy-agent.io/auth-tls-secret", "ca"),
        ("haproxy-agent.io/auth-tls-verify-client", "optional"),
    ];
    let t = run(
        &[
            site(),
            opaque("ca", &[("ca.crt", &ca), ("ca.crl", CRL)]),
            ingress("plain", 1, &["a.test"], &[(Some("site"), &["a.test"])], &[]),
            ingress("m", 2, &["m.test"], &[(Some("site"), &["m.test"])], &on),
            ingress(
                "o",
                3,
                &["o.test"],
                &[(Some("site"), &["o.test"])],
                &optional,
            ),
        ],
        &CertMemory::default(),
    );
    assert_eq!(problems(&t), Vec::<String>::new());
    assert_eq!(
        lines(&t),
        [
            "shop_site.pem a.test",
            "shop_site.pem [verify required ca-file shop_ca.#.client-ca.pem crl-file \
             shop_ca.#.client-crl.pem] m.test",
            "shop_site.pem [verify optional ca-file shop_ca.#.client-ca.pem crl-file \
             shop_ca.#.client-crl.pem] o.test",
        ]
    );
    assert_eq!(t.config.tls.ca_files.len(), 2, "one CA and one CRL store");
    assert_eq!(policy_of(&t, "a.test").client_cert, None);
    let required = ClientCertPolicy {
        required: true,
        certificate: true,
    };
    assert_eq!(policy_of(&t, "m.test").client_cert, Some(required));
    let optional = ClientCertPolicy {
        required: false,
        certificate: false,
    };
    assert_eq!(policy_of(&t, "o.test").client_cert, Some(optional));
}

/// The auth-tls annotations of CA Secret `ca` and `verify`.
fn auth(verify: &str) -> [(&str, &str); 2] {
    [
        ("nginx.ingress.kubernetes.io/auth-tls-secret", "ca"),
        ("nginx.ingress.kubernetes.io/auth-tls-verify-client", verify),
    ]
}

/// Host m.test asked for by a newer Ingress with `newer` and an older one with `older`.
fn older_and_newer(newer: &str, older: &str) -> Translation {
    let (ca, _, _) = pair("client ca");
    run(
        &[
            site(),
            opaque("ca", &[("ca.crt", &ca)]),
            ingress(
                "new",
                5,
                &["m.test"],
                &[(Some("site"), &["m.test"])],
                &auth(newer),
            ),
            ingress(
                "old",
                1,
                &["m.test"],
                &[(Some("site"), &["m.test"])],
                &auth(older),
            ),
        ],
        &CertMemory::default(),
    )
}

/// The problem of the newer Ingress of [`older_and_newer`].
const OLDER_KEPT: &str = "shop/new spec.tls[0].hosts[0] host m.test already has other \
                          client-certificate settings (auth-tls-*) from the older ingress \
                          shop/old; its settings are kept";

#[test]
fn a_host_keeps_the_client_certificate_settings_of_the_older_ingress() {
    let t = older_and_newer("on", "optional");
    assert_eq!(
        lines(&t),
        ["shop_site.pem [verify optional ca-file shop_ca.#.client-ca.pem] m.test"]
    );
    assert!(
        problems(&t).iter().any(|p| p == OLDER_KEPT),
        "{:?}",
        problems(&t)
    );
}

#[test]
fn a_bad_ca_or_crl_is_named_and_the_routes_fail_closed() {
    let (ca, key, _) = pair("client ca");
    /// A name, the CA Secret's data, the problem's words.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: &[Case] = &[
        ("missing", vec![], "auth-tls-secret shop/ca not found"),
        ("no ca.crt", vec![("ca.crl", CRL)], "has no ca.crt"),
        (
            "a key as CA",
            vec![("ca.crt", &key)],
            "ca.crt holds no PEM certificate",
        ),
        (
            "a forged CA",
            vec![(
                "ca.crt",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            )],
            "ca.crt is not a valid PEM certificate bundle",
        ),
        (
            "a certificate as CRL (2.6.12 would take it as an empty list)",
            vec![("ca.crt", &ca), ("ca.crl", &ca)],
            "ca.crl is not a valid PEM certificate revocation list",
        ),
        (
            "a forged CRL",
            vec![
                ("ca.crt", &ca),
                (
                    "ca.crl",
                    "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
                ),
            ],
            "ca.crl is not a valid PEM certificate revocation list",
        ),
    ];
    let on = [("nginx.ingress.kubernetes.io/auth-tls-secret", "ca")];
    for (name, data, want) in cases {
        let mut docs = vec![
            site(),
            ingress("m", 1, &["m.test"], &[(Some("site"), &["m.test"])], &on),
        ];
        if !data.is_empty() {
            docs.push(opaque("ca", data));
        }
        let t = run(&docs, &CertMemory::default());
        let p = problems(&t);
        assert!(
            p.iter()
                .any(|p| p.contains(want) && p.contains("answer 503")),
            "{name}: {p:?}"
        );
        assert_eq!(lines(&t), ["shop_site.pem m.test"], "{name}");
        assert!(t.config.tls.ca_files.is_empty(), "{name}");
        let policy = policy_of(&t, "m.test");
        assert_eq!(
            policy.auth.as_ref().map(|a| a.as_str()),
            Some(AUTH_DENIED),
            "{name}"
        );
    }
}

#[test]
fn match_cn_puts_the_pattern_in_the_acl_file_and_its_id_in_the_routes() {
    let (ca, _, _) = pair("client ca");
    let docs = |pattern: &str| {
        let auth = [
            ("nginx.ingress.kubernetes.io/auth-tls-secret", "ca"),
            ("nginx.ingress.kubernetes.io/auth-tls-match-cn", pattern),
        ];
        vec![
            site(),
            opaque("ca", &[("ca.crt", &ca)]),
            ingress("m", 1, &["m.test"], &[(Some("site"), &["m.test"])], &auth),
        ]
    };
    let t = run(&docs("CN=client (one|two)"), &CertMemory::default());
    assert_eq!(problems(&t), Vec::<String>::new());
    let want = haproxy::config::CanaryPattern::new("CN=client (one|two)").unwrap();
    assert_eq!(policy_of(&t, "m.test").client_dn.as_ref(), Some(want.id()));
    let patterns: Vec<_> = t
        .config
        .source_lists
        .values()
        .flat_map(|l| l.canary_patterns.iter())
        .collect();
    assert_eq!(patterns, [&want]);
    // Without `CN=`, or a regex the patterns refuse: named, and the routes fail closed.
    for bad in ["client one", "CN=(?<=x)y", "CN=a\nb"] {
        let t = run(&docs(bad), &CertMemory::default());
        assert!(
            problems(&t).iter().any(|p| p.contains("auth-tls-match-cn")),
            "{bad:?}: {:?}",
            problems(&t)
        );
        let policy = policy_of(&t, "m.test");
        assert_eq!(policy.auth.as_ref().map(|a| a.as_str()), Some(AUTH_DENIED));
        assert_eq!(policy.client_dn, None);
        assert!(
            t.config
                .source_lists
                .values()
                .all(|l| l.canary_patterns.is_empty())
        );
    }
}

#[test]
fn optional_no_ca_is_an_optional_line_and_a_name_of_the_no_ca_set() {
    let (ca, _, _) = pair("client ca");
    let no_ca = |t: &Translation| -> Vec<String> {
        t.config.tls.no_ca.iter().map(|s| s.to_string()).collect()
    };
    let t = run(
        &[
            site(),
            opaque("ca", &[("ca.crt", &ca)]),
            ingress(
                "n",
                1,
                &["n.test"],
                &[(Some("site"), &["n.test", "*.w.test"])],
                &auth("optional_no_ca"),
            ),
            ingress(
                "o",
                2,
                &["o.test"],
                &[(Some("site"), &["o.test"])],
                &auth("optional"),
            ),
        ],
        &CertMemory::default(),
    );
    assert_eq!(problems(&t), Vec::<String>::new());
    assert_eq!(
        lines(&t),
        ["shop_site.pem [verify optional ca-file shop_ca.#.client-ca.pem] *.w.test n.test o.test"],
        "one line: the handshake is the same as optional's"
    );
    assert_eq!(no_ca(&t), ["*.w.test", "n.test"]);
    let optional = ClientCertPolicy {
        required: false,
        certificate: false,
    };
    assert_eq!(policy_of(&t, "n.test").client_cert, Some(optional));
    // A newer Ingress asking optional_no_ca for an optional host: the older one's settings.
    let t = older_and_newer("optional_no_ca", "optional");
    assert!(no_ca(&t).is_empty(), "{:?}", no_ca(&t));
    assert!(
        problems(&t).iter().any(|p| p == OLDER_KEPT),
        "{:?}",
        problems(&t)
    );
}
