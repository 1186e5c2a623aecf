//! Served certificates' expiry: when each leaf stops being valid, exported per Secret and
//! host, and a problem for one that has expired or expires within [`WARN_WITHIN_DAYS`].

use std::collections::BTreeMap;

use haproxy::config::{Config, TlsFiles, default_cert_path};
use openssl::asn1::Asn1Time;
use openssl::x509::X509;

use crate::problem::{Problem, ProblemKind, ProblemReason};
use crate::translate::Settings;

/// A certificate this close to expiry (or past it) is a problem.
pub const WARN_WITHIN_DAYS: i64 = 7;

/// The `secret` label of the generated default certificate.
pub const GENERATED: &str = "(generated)";

/// One served certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Its Secret (`namespace/name`), or [`GENERATED`].
    pub secret: String,
    /// The SNI names it is served for (`*` for the default certificate).
    pub hosts: Vec<String>,
    /// The leaf's notAfter, Unix seconds.
    pub not_after: i64,
    /// The leaf's notAfter as OpenSSL prints it (`Nov 27 02:26:09 2026 GMT`).
    pub not_after_text: String,
}

/// The certificates `config` serves, with their hosts, sorted by Secret. A certificate
/// whose leaf cannot be read (not expected: translation checked it) is left out.
pub fn served(config: &Config, settings: &Settings) -> Vec<Served> {
    let default = default_cert_path(&settings.config_dir)
        .ok()
        .map(|p| p.to_file_path());
    let default_secret = settings
        .default_ssl_certificate
        .as_ref()
        .map_or_else(|| GENERATED.to_string(), ToString::to_string);
    // A certificate may have several lines (one per client-certificate setting).
    let TlsFiles {
        certs,
        crt_list,
        ca_files: _,
        no_ca: _,
    } = &config.tls;
    let mut hosts: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for entry in crt_list {
        let names = entry.sni.iter().map(|s| s.as_str().to_string());
        hosts.entry(entry.cert.as_str()).or_default().extend(names);
    }
    let mut out: Vec<Served> = certs
        .iter()
        .filter_map(|(path, cert)| {
            let (not_after, not_after_text) = not_after(cert.pem.as_str())?;
            let (secret, hosts) = if Some(path) == default.as_ref() {
                (default_secret.clone(), vec!["*".to_string()])
            } else {
                let secret = secret_of_file(path.as_str())?;
                (
                    secret,
                    hosts.get(path.as_str()).cloned().unwrap_or_default(),
                )
            };
            Some(Served {
                secret,
                hosts,
                not_after,
                not_after_text,
            })
        })
        .collect();
    out.sort_by(|a, b| a.secret.cmp(&b.secret));
    out
}

/// `…/certs/<namespace>_<name>.pem` -> `namespace/name` (Kubernetes names hold no `_`).
fn secret_of_file(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?.strip_suffix(".pem")?;
    let (ns, name) = file.split_once('_')?;
    Some(format!("{ns}/{name}"))
}

/// The first certificate's notAfter in `pem`: Unix seconds and as printed.
pub fn not_after(pem: &str) -> Option<(i64, String)> {
    let leaf = X509::from_pem(pem.as_bytes()).ok()?;
    let epoch = Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(leaf.not_after()).ok()?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    Some((secs, leaf.not_after().to_string()))
}

/// A problem for each certificate that has expired at `now` (Unix seconds) or expires
/// within [`WARN_WITHIN_DAYS`]. The generated default certificate is the agent's own and is
/// renewed by nobody: it is named too.
pub fn problems(served: &[Served], now: i64) -> Vec<Problem> {
    served
        .iter()
        .filter_map(|s| {
            let left = s.not_after - now;
            let hosts = s.hosts.join(", ");
            let message = if left <= 0 {
                format!(
                    "the certificate served for {hosts} expired on {}",
                    s.not_after_text
                )
            } else if left < WARN_WITHIN_DAYS * 86_400 {
                format!(
                    "the certificate served for {hosts} expires on {}, in {} day(s) (less than {WARN_WITHIN_DAYS})",
                    s.not_after_text,
                    left / 86_400
                )
            } else {
                return None;
            };
            Some(
                Problem::new(ProblemKind::Secret, s.secret.clone(), message)
                    .because(ProblemReason::CertificateExpiry)
                    .at("data.tls.crt"),
            )
        })
        .collect()
}

/// The served certificates, kept between syncs: read again when a translation changed TLS,
/// their problems computed at every sync (time passes without changes).
#[derive(Debug, Default)]
pub struct CertWatch {
    served: Vec<Served>,
}

impl CertWatch {
    /// Updates the gauges after a translation that changed TLS; returns the expiry problems now.
    pub fn update(
        &mut self,
        t: &crate::translate::Translation,
        settings: &Settings,
        metrics: &crate::metrics::Metrics,
    ) -> Vec<Problem> {
        if t.changed.all || t.changed.tls {
            self.served = served(&t.config, settings);
            metrics.set_certificates(self.served.iter().flat_map(|s| {
                s.hosts
                    .iter()
                    .map(move |h| (s.secret.as_str(), h.as_str(), s.not_after))
            }));
        }
        problems(&self.served, unix_now())
    }
}

/// The current time, Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn served_at(not_after: i64) -> Served {
        Served {
            secret: "shop/tls".into(),
            hosts: vec!["a.test".into(), "b.test".into()],
            not_after,
            not_after_text: "then".into(),
        }
    }

    #[test]
    fn expired_and_soon_expiring_certificates_are_named() {
        let now = 1_800_000_000;
        let table = [
            (now - DAY, Some("expired on then")),
            (now, Some("expired on then")),
            (now + DAY / 2, Some("in 0 day(s)")),
            (now + 6 * DAY, Some("in 6 day(s) (less than 7)")),
            (now + 7 * DAY, None),
            (now + 90 * DAY, None),
        ];
        for (not_after, want) in table {
            let got = problems(&[served_at(not_after)], now);
            match want {
                None => assert!(got.is_empty(), "{not_after}: {got:?}"),
                Some(text) => {
                    assert_eq!(got.len(), 1, "{not_after}");
                    let p = &got[0];
                    assert_eq!(p.reason, ProblemReason::CertificateExpiry);
                    assert_eq!(p.object, "shop/tls");
                    assert!(p.message.contains("a.test, b.test"), "{}", p.message);
                    assert!(p.message.contains(text), "{}", p.message);
                }
            }
        }
    }

    #[test]
    fn not_after_reads_the_leaf() {
        let cert = crate::certs::self_signed("x.test").unwrap();
        let (secs, text) = not_after(cert.pem.as_str()).unwrap();
        let ten_years = 3650 * DAY;
        assert!((secs - unix_now() - ten_years).abs() < 3 * DAY, "{secs}");
        assert!(text.ends_with("GMT"), "{text}");
        assert!(not_after("garbage").is_none());
    }

    #[test]
    fn secret_names_come_from_file_names() {
        assert_eq!(
            secret_of_file("/etc/haproxy/certs/shop_web-tls.pem").as_deref(),
            Some("shop/web-tls")
        );
        assert_eq!(secret_of_file("/etc/haproxy/certs/crt-list.txt"), None);
    }
}
