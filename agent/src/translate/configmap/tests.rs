//! Table tests of the ConfigMap's keys: settings, named problems, fallbacks.

use super::*;

fn read(pairs: &[(&str, &str)]) -> MapSettings {
    let data = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(&ObjectKey::new("ingress", "config"), &data)
}

/// The problems' fields and reasons.
fn named(m: &MapSettings) -> Vec<(String, &'static str)> {
    m.problems
        .iter()
        .map(|p| (p.field.clone().unwrap_or_default(), p.reason.label()))
        .collect()
}

#[test]
fn keys_become_settings() {
    let m = read(&[
        ("proxy-connect-timeout", "3"),
        ("proxy-read-timeout", "120"),
        ("proxy-send-timeout", "90s"),
        ("client-header-timeout", "7"),
        ("client-body-timeout", "8"),
        ("keep-alive", "75"),
        ("hsts", "true"),
        ("hsts-preload", "true"),
        ("ssl-protocols", "TLSv1.3 TLSv1.2"),
        ("ssl-ciphers", "ECDHE-RSA-AES128-GCM-SHA256"),
        ("max-worker-connections", "16384"),
        ("enable-access-log", "false"),
        ("use-proxy-protocol", "true"),
        ("use-forwarded-headers", "true"),
        ("forwarded-for-header", "X-Real-IP"),
        ("proxy-body-size", "8m"),
        ("ssl-redirect", "false"),
    ]);
    let s = |n| Some(Timeout::secs(n).unwrap());
    assert_eq!(m.connect, s(3));
    assert_eq!(m.server, s(120));
    assert_eq!(
        (m.http_request, m.client, m.keep_alive),
        (s(7), s(8), s(75))
    );
    assert_eq!(
        m.hsts,
        Some(Hsts {
            max_age: HSTS_MAX_AGE,
            include_subdomains: true,
            preload: true
        })
    );
    assert_eq!(m.tls_versions, Some(TlsVersions::default()));
    assert_eq!(m.maxconn, Some(16384));
    assert_eq!(m.access_log, Some(false));
    assert_eq!(m.proxy_protocol, Some(true));
    assert!(m.use_forwarded_headers);
    assert_eq!(
        m.forwarded_for_header.as_ref().unwrap().as_str(),
        "X-Real-IP"
    );
    assert_eq!(m.annotation_defaults.len(), 2);
    // read 120 and send 90: one timeout server, the larger, named.
    assert_eq!(
        named(&m),
        [("data[proxy-send-timeout]".to_string(), "differs")]
    );
}

#[test]
fn every_key_not_taken_is_named() {
    let m = read(&[
        ("no-such-key", "1"),
        ("gzip-level", "5"),
        ("server-snippet", "return 200;"),
        ("limit-rps", "5"),
        ("log-format-upstream", "$remote_addr"),
        ("hsts-max-age", "600"),
        ("ssl-protocols", "TLSv1 TLSv1.3"),
        ("proxy-body-size", "lots"),
        ("max-worker-connections", "0"),
        ("hsts-preload", "yes"),
        ("enable-access-log", "true"),
        ("disable-access-log", "true"),
    ]);
    let want = [
        ("data[no-such-key]", "unknown_key"),
        ("data[gzip-level]", "unsupported_key"),
        ("data[server-snippet]", "unsupported_key"),
        ("data[limit-rps]", "unsupported_key"),
        ("data[log-format-upstream]", "unsupported_key"),
        ("data[max-worker-connections]", "invalid"),
        ("data[disable-access-log]", "invalid"),
        ("data[hsts-max-age]", "differs"),
        ("data[hsts-preload]", "differs"),
        ("data[ssl-protocols]", "differs"),
        ("data[proxy-body-size]", "invalid"),
    ];
    let got = named(&m);
    for (field, reason) in want {
        assert!(
            got.contains(&(field.to_string(), reason)),
            "{field} {reason}: {got:?}"
        );
    }
    assert_eq!(got.len(), want.len(), "{got:?}");
    assert_eq!(
        m.tls_versions,
        Some(TlsVersions {
            min: TlsVersion::V1_0,
            max: TlsVersion::V1_3
        })
    );
    assert!(m.annotation_defaults.is_empty());
    assert_eq!(m.access_log, Some(true));
}

#[test]
fn invalid_values_fall_back_to_defaults() {
    let m = read(&[
        ("hsts", "true"),
        ("hsts-max-age", "6\n00"),
        ("hsts-include-subdomains", "no"),
        ("proxy-read-timeout", "60\n    server x 6.6.6.6:80"),
        ("ssl-ciphers", "HIGH:$HOME"),
        ("ssl-protocols", "SSLv3 TLSv1.2"),
        ("forwarded-for-header", "X-Real-IP;del map /x k"),
    ]);
    assert_eq!(m.hsts.map(|h| h.max_age), Some(HSTS_MAX_AGE));
    assert_eq!(m.hsts.map(|h| h.include_subdomains), Some(true));
    assert_eq!(m.server, None);
    assert_eq!(m.ciphers, None);
    assert_eq!(m.tls_versions, None);
    assert_eq!(m.forwarded_for_header, None);
    assert_eq!(m.problems.len(), 6, "{:?}", named(&m));
    assert!(m.problems.iter().all(|p| p.kind == ProblemKind::ConfigMap));
}
