//! backend-protocol and the proxy-ssl annotations: how the Ingress's backends speak to their
//! pods (HTTP/1.1, h2c, TLS with or without HTTP/2), read and checked before the Secret
//! they name is looked up (`translate::upstream`).

use haproxy::proto::TlsName;

use super::Parsed;
use super::ValueError;
use super::reader::Reader;

/// A backend protocol, as ingress-nginx's `backend-protocol` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// HTTP/1.1 in clear text (the default).
    Http,
    /// HTTP/1.1 over TLS.
    Https,
    /// gRPC: HTTP/2 in clear text (h2c).
    Grpc,
    /// gRPC over TLS: HTTP/2 negotiated with ALPN.
    Grpcs,
    /// HTTP/2 in clear text.
    H2c,
}

impl Proto {
    /// HTTP/2 to the servers.
    pub fn h2(self) -> bool {
        matches!(self, Proto::Grpc | Proto::Grpcs | Proto::H2c)
    }

    /// TLS to the servers.
    pub fn tls(self) -> bool {
        matches!(self, Proto::Https | Proto::Grpcs)
    }

    /// A Service port's `appProtocol`, for the values that say something here: `Ok(None)`
    /// for none, `Err` for a value that is not honoured.
    pub fn of_app_protocol(v: Option<&str>) -> Result<Option<Proto>, ValueError> {
        match v {
            None => Ok(None),
            Some("http" | "kubernetes.io/ws") => Ok(Some(Proto::Http)),
            Some("https" | "kubernetes.io/wss") => Ok(Some(Proto::Https)),
            Some("kubernetes.io/h2c") => Ok(Some(Proto::H2c)),
            Some(other) => Err(ValueError::AppProtocol(other.to_string())),
        }
    }
}

/// A Secret named by an annotation: `name` (the Ingress's namespace) or `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The field to blame.
    pub field: String,
    /// Its namespace, when the annotation names one.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

/// What the annotations ask of the connections to the pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// backend-protocol (which wins over a Service port's appProtocol).
    pub protocol: Option<Proto>,
    /// proxy-ssl-secret: `ca.crt`, and optionally `tls.crt` + `tls.key` as the client
    /// certificate.
    pub secret: Option<SecretRef>,
    /// proxy-ssl-verify `on`: the servers' certificates must chain to `ca.crt`.
    pub verify: Option<String>,
    /// proxy-ssl-name: the name checked in the servers' certificates (and sent as SNI with
    /// proxy-ssl-server-name `on`).
    pub name: Option<TlsName>,
    /// proxy-ssl-server-name `on`: send SNI.
    pub server_name: bool,
}

/// Reads backend-protocol and the proxy-ssl annotations into `out.upstream`.
pub(super) fn read<'a>(r: &mut Reader<'a>, out: &mut Parsed) {
    let up = &mut out.upstream;
    if let Some((key, v)) = r.get("backend-protocol") {
        up.protocol = match v.trim().to_ascii_uppercase().as_str() {
            "HTTP" => Some(Proto::Http),
            "HTTPS" => Some(Proto::Https),
            "GRPC" => Some(Proto::Grpc),
            "GRPCS" => Some(Proto::Grpcs),
            "H2C" => Some(Proto::H2c),
            "AUTO_HTTP" | "FCGI" | "AJP" => {
                r.unsupported(
                    key,
                    format!("{v} is not done here: the pods get plain HTTP/1.1"),
                );
                None
            }
            _ => {
                r.invalid(
                    key,
                    format!(
                        "{v:?} is not one of HTTP, HTTPS, GRPC, GRPCS, H2C (AUTO_HTTP, FCGI \
                         and AJP are not done); the pods get plain HTTP/1.1 unless the \
                         Service port's appProtocol says otherwise"
                    ),
                );
                None
            }
        };
    }
    if let Some((key, v)) = r.get("proxy-ssl-secret") {
        match SecretRef::of_annotation(key, v) {
            Ok(s) => up.secret = Some(s),
            Err(e) => r.invalid(key, e),
        }
    }
    if let Some((key, true)) = on_off(r, "proxy-ssl-verify") {
        if up.secret.is_none() {
            r.invalid(
                key,
                "needs proxy-ssl-secret with a ca.crt to verify against; the servers are \
                 not verified",
            );
        } else {
            up.verify = Some(format!("metadata.annotations[{key}]"));
        }
    }
    if let Some((key, v)) = r.get("proxy-ssl-name") {
        match TlsName::new(v.trim()) {
            Ok(n) => up.name = Some(n),
            Err(e) => r.invalid(key, e.to_string()),
        }
    }
    if let Some((key, on)) = on_off(r, "proxy-ssl-server-name") {
        up.server_name = on;
        if on && up.name.is_none() {
            r.differs(
                key,
                "no SNI is sent without proxy-ssl-name (ingress-nginx sends its upstream's \
                 internal name)",
            );
        }
    }
    if let (Some(p), true) = (up.protocol, up.secret.is_some() || up.name.is_some())
        && !p.tls()
        && let Some((key, _)) = r.raw("proxy-ssl-secret").or(r.raw("proxy-ssl-name"))
    {
        r.differs(
            key,
            "no effect: backend-protocol is not HTTPS or GRPCS, so there is no TLS to the pods",
        );
    }
}

/// An `on`/`off` annotation (`true`/`false` too); anything else is named and off used.
fn on_off<'a>(r: &mut Reader<'a>, name: &str) -> Option<(&'a str, bool)> {
    let (key, v) = r.get(name)?;
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" => Some((key, true)),
        "off" | "false" => Some((key, false)),
        _ => {
            r.invalid(key, format!("{v:?} is not on or off; off is used"));
            None
        }
    }
}

impl SecretRef {
    /// The Secret annotation `key` names by `v` (`name` or `namespace/name`).
    pub(super) fn of_annotation(key: &str, v: &str) -> Result<Self, ValueError> {
        let (namespace, name) = secret_ref(v)?;
        Ok(Self {
            field: format!("metadata.annotations[{key}]"),
            namespace,
            name,
        })
    }
}

/// `name` or `namespace/name`, both DNS names as Kubernetes allows them.
pub(super) fn secret_ref(v: &str) -> Result<(Option<String>, String), ValueError> {
    let v = v.trim();
    let (ns, name) = match v.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, v),
    };
    let ok_ns = ns.is_none_or(super::is_dns_label);
    if !ok_ns || !crate::translate::names::is_dns_subdomain(name) {
        return Err(ValueError::NotSecretRef(v.to_string()));
    }
    Ok((ns.map(str::to_string), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::annotations::tests::parsed;

    #[test]
    fn each_protocol_value_reads_as_ingress_nginx_means_it() {
        let cases = [
            ("HTTP", Some(Proto::Http), 0),
            ("https", Some(Proto::Https), 0),
            ("GRPC", Some(Proto::Grpc), 0),
            ("GRPCS", Some(Proto::Grpcs), 0),
            ("H2C", Some(Proto::H2c), 0),
            ("AUTO_HTTP", None, 1),
            ("FCGI", None, 1),
            ("SPDY", None, 1),
            ("HTTP\nserver x", None, 1),
        ];
        for (v, want, problems) in cases {
            let p = parsed(&[("backend-protocol", v)]);
            assert_eq!(p.upstream.protocol, want, "{v:?}");
            assert_eq!(p.problems().count(), problems, "{v:?}: {:?}", p.verdicts);
        }
        assert!(Proto::Grpcs.h2() && Proto::Grpcs.tls());
        assert!(Proto::H2c.h2() && !Proto::H2c.tls());
        assert!(!Proto::Https.h2() && Proto::Https.tls());
    }

    #[test]
    fn proxy_ssl_annotations_are_checked() {
        let p = parsed(&[
            ("backend-protocol", "GRPCS"),
            ("proxy-ssl-secret", "other/backend-ca"),
            ("proxy-ssl-verify", "on"),
            ("proxy-ssl-name", "API.internal"),
            ("proxy-ssl-server-name", "on"),
        ]);
        assert_eq!(p.problems().count(), 0, "{:?}", p.verdicts);
        let up = &p.upstream;
        let secret = up.secret.as_ref().unwrap();
        assert_eq!(
            (secret.namespace.as_deref(), secret.name.as_str()),
            (Some("other"), "backend-ca")
        );
        assert!(up.verify.is_some() && up.server_name);
        assert_eq!(up.name.as_ref().unwrap().as_str(), "api.internal");

        for (pairs, n) in [
            (&[("proxy-ssl-name", "a.b sni str(x)")][..], 1),
            (&[("proxy-ssl-name", "%[req.hdr(host)]")][..], 1),
            (&[("proxy-ssl-secret", "a/b/c")][..], 1),
            (&[("proxy-ssl-secret", "../etc")][..], 1),
            (&[("proxy-ssl-verify", "on")][..], 1),
            (&[("proxy-ssl-verify", "maybe")][..], 1),
            (&[("proxy-ssl-server-name", "yes")][..], 1),
        ] {
            let p = parsed(pairs);
            assert_eq!(p.problems().count(), n, "{pairs:?}: {:?}", p.verdicts);
            assert!(p.upstream.verify.is_none(), "{pairs:?}");
        }
        // TLS settings without TLS: honoured with a difference (no effect), named.
        let p = parsed(&[("backend-protocol", "GRPC"), ("proxy-ssl-secret", "ca")]);
        let v = p
            .verdicts
            .iter()
            .find(|v| v.key.ends_with("proxy-ssl-secret"));
        assert!(matches!(
            v.unwrap().status,
            crate::translate::annotations::Status::Differs(_)
        ));
    }

    #[test]
    fn app_protocols_are_read_for_the_honoured_values() {
        assert_eq!(Proto::of_app_protocol(None), Ok(None));
        assert_eq!(
            Proto::of_app_protocol(Some("kubernetes.io/h2c")),
            Ok(Some(Proto::H2c))
        );
        assert_eq!(
            Proto::of_app_protocol(Some("https")),
            Ok(Some(Proto::Https))
        );
        assert_eq!(
            Proto::of_app_protocol(Some("kubernetes.io/ws")),
            Ok(Some(Proto::Http))
        );
        assert!(Proto::of_app_protocol(Some("grpc")).is_err());
    }
}
