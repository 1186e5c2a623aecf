//! How HAProxy speaks to a backend's servers (HTTP/1.1, h2c, TLS with or without h2): the
//! server keywords, written the same way on a backend's `default-server` line and on
//! `add server`, which ignores `default-server` (so every dynamic server carries them).
//!
//! Measured on HAProxy 2.6.12: `add server` takes `ssl`, `verify`, `ca-file`, `verifyhost`,
//! `sni`, `alpn`, `proto h2`, `crt` and `check-proto`; `ca-file` and `crt` must name files
//! HAProxy loaded with the configuration (`'ca-file' : unable to load …` and `unable to stat
//! SSL certificate …` otherwise), which the backend's `default-server` line guarantees.

use std::fmt;

use thiserror::Error;

use crate::names::FilePath;

/// A value that is not a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "{0:?} is not a DNS name (letters, digits, - and ., labels of 1 to 63 bytes, at most 253 bytes)"
)]
pub struct InvalidTlsName(pub String);

/// A DNS name for SNI and certificate verification (`sni str(<name>)`, `verifyhost`):
/// lower-case letters, digits, `-` and `.`, labels of 1 to 63, at most 253 bytes. Nothing
/// else can reach a sample expression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TlsName(String);

impl TlsName {
    /// Validates a DNS name (upper case is folded).
    pub fn new(s: &str) -> Result<Self, InvalidTlsName> {
        let lower = s.to_ascii_lowercase();
        let ok = !lower.is_empty()
            && lower.len() <= 253
            && lower.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if !ok {
            return Err(InvalidTlsName(s.to_string()));
        }
        Ok(Self(lower))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TlsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// TLS to the servers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ServerTls {
    /// The CA bundle the servers' certificates must chain to (`verify required ca-file`);
    /// `None` is `verify none`.
    pub ca_file: Option<FilePath>,
    /// The name the certificate must hold (`verifyhost`); without it HAProxy checks the SNI
    /// when one is sent, and only the chain otherwise.
    pub verify_host: Option<TlsName>,
    /// The SNI sent (`sni str(<name>)`).
    pub sni: Option<TlsName>,
    /// A client certificate and key to present (`crt`).
    pub client_cert: Option<FilePath>,
}

/// The protocol of a backend's servers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ServerProtocol {
    /// HTTP/2: `proto h2` in clear text (h2c), `alpn h2` over TLS.
    pub h2: bool,
    /// TLS, with its settings.
    pub tls: Option<ServerTls>,
}

impl ServerProtocol {
    /// Plain HTTP/1.1, HAProxy's default: no keywords.
    pub fn is_default(&self) -> bool {
        !self.h2 && self.tls.is_none()
    }

    /// Appends the keywords (each preceded by a space). `http_check` says whether the
    /// servers have an HTTP health check, which must then speak h2 to an h2c server
    /// (`check-proto h2`; over TLS the check follows the server's ALPN). Every word is a
    /// validated path, a [`TlsName`] or a fixed keyword: nothing needs escaping.
    pub fn write_keywords(&self, out: &mut String, http_check: bool) {
        match &self.tls {
            None => {
                if self.h2 {
                    out.push_str(" proto h2");
                    if http_check {
                        out.push_str(" check-proto h2");
                    }
                }
            }
            Some(tls) => {
                out.push_str(" ssl");
                match &tls.ca_file {
                    Some(ca) => {
                        out.push_str(" verify required ca-file ");
                        out.push_str(ca.as_str());
                    }
                    None => out.push_str(" verify none"),
                }
                if let Some(h) = &tls.verify_host {
                    out.push_str(" verifyhost ");
                    out.push_str(h.as_str());
                }
                if let Some(s) = &tls.sni {
                    out.push_str(" sni str(");
                    out.push_str(s.as_str());
                    out.push(')');
                }
                if let Some(c) = &tls.client_cert {
                    out.push_str(" crt ");
                    out.push_str(c.as_str());
                }
                out.push_str(if self.h2 {
                    " alpn h2"
                } else {
                    " alpn http/1.1"
                });
            }
        }
    }

    /// The keywords as [`Self::write_keywords`] writes them.
    pub fn keywords(&self, http_check: bool) -> String {
        let mut s = String::new();
        self.write_keywords(&mut s, http_check);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> FilePath {
        FilePath::new(p).unwrap()
    }

    #[test]
    fn each_protocol_has_its_keywords() {
        let cases = [
            (ServerProtocol::default(), false, ""),
            (
                ServerProtocol {
                    h2: true,
                    tls: None,
                },
                false,
                " proto h2",
            ),
            (
                ServerProtocol {
                    h2: true,
                    tls: None,
                },
                true,
                " proto h2 check-proto h2",
            ),
            (
                ServerProtocol {
                    h2: false,
                    tls: Some(ServerTls::default()),
                },
                true,
                " ssl verify none alpn http/1.1",
            ),
            (
                ServerProtocol {
                    h2: true,
                    tls: Some(ServerTls {
                        ca_file: Some(path("/etc/haproxy/certs/ns_ca.0123.ca.pem")),
                        verify_host: Some(TlsName::new("API.internal").unwrap()),
                        sni: Some(TlsName::new("api.internal").unwrap()),
                        client_cert: Some(path("/etc/haproxy/certs/ns_ca.0123.client.pem")),
                    }),
                },
                false,
                " ssl verify required ca-file /etc/haproxy/certs/ns_ca.0123.ca.pem verifyhost \
                 api.internal sni str(api.internal) crt \
                 /etc/haproxy/certs/ns_ca.0123.client.pem alpn h2",
            ),
        ];
        for (proto, check, want) in cases {
            assert_eq!(proto.keywords(check), want, "{proto:?}");
            assert_eq!(proto.is_default(), want.is_empty());
        }
    }

    #[test]
    fn tls_names_are_dns_names_only() {
        for good in ["a", "backend.internal", "x-1.svc.cluster.local", "A.B"] {
            assert!(TlsName::new(good).is_ok(), "{good}");
        }
        let long = format!("{}.x", "a".repeat(64));
        for bad in [
            "",
            "a b",
            "a)",
            "str(x)",
            "a,b",
            "a;b",
            "a\nb",
            "*.example.com",
            "-a.b",
            "a..b",
            "a.b-",
            "é.com",
            "%[req.hdr(host)]",
            long.as_str(),
        ] {
            assert!(TlsName::new(bad).is_err(), "{bad:?}");
        }
    }
}
