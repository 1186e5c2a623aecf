//! The auth-tls annotations (client certificates): auth-tls-secret, auth-tls-verify-client,
//! auth-tls-verify-depth, auth-tls-pass-certificate-to-upstream, auth-tls-match-cn,
//! auth-tls-error-page, read and checked before the Secret is looked up
//! (`translate::client_ca`, `translate::tls`).

use std::collections::BTreeMap;

use haproxy::config::{CanaryPattern, PolicyText};
use haproxy::proto::ClientVerify;

use super::reader::Reader;
use super::upstream::SecretRef;
use super::{Parsed, ValueError};

/// What the auth-tls annotations ask of an Ingress's hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCertRequest {
    /// auth-tls-secret: the Secret with `ca.crt` (and optionally `ca.crl`).
    pub secret: Option<SecretRef>,
    /// auth-tls-verify-client: `None` for `off`.
    pub verify: Option<ClientVerify>,
    /// auth-tls-verify-client `optional_no_ca` (with `verify` optional): a certificate
    /// that fails verification reaches the routes, with `ssl-client-verify: FAILED:<code>`.
    pub no_ca: bool,
    /// auth-tls-pass-certificate-to-upstream.
    pub pass: bool,
    /// auth-tls-match-cn: the regex the certificate's subject DN must match.
    pub match_cn: Option<CanaryPattern>,
    /// auth-tls-match-cn is set but refused: the routes fail closed (`503`).
    pub refused: bool,
    /// auth-tls-error-page: where a request without a required certificate, or with one
    /// that failed verification, is redirected.
    pub error_page: Option<PolicyText>,
}

impl ClientCertRequest {
    /// The Secret and verify mode, when client certificates are asked for.
    pub fn active(&self) -> Option<(&SecretRef, ClientVerify)> {
        Some((self.secret.as_ref()?, self.verify?))
    }

    /// The Secret and the verify mode of the TLS handshake: with an error page, a required
    /// certificate is asked for as optional, so a client without one gets to HTTP, where
    /// its request is redirected (a route still refuses every request without one).
    pub fn handshake(&self) -> Option<(&SecretRef, ClientVerify)> {
        let (secret, verify) = self.active()?;
        match (verify, &self.error_page) {
            (ClientVerify::Required, Some(_)) => Some((secret, ClientVerify::Optional)),
            _ => Some((secret, verify)),
        }
    }
}

/// The request of an Ingress's annotations, without naming problems (the fragment's parse
/// names them): what the TLS fold reads.
pub fn request(annotations: Option<&BTreeMap<String, String>>) -> ClientCertRequest {
    let mut out = Parsed::default();
    if let Some(a) = annotations {
        read(&mut Reader::new(a), &mut out);
    }
    out.client_cert
}

/// Reads the auth-tls annotations into `out.client_cert`.
pub(super) fn read<'a>(r: &mut Reader<'a>, out: &mut Parsed) {
    let req = &mut out.client_cert;
    secret(r, req);
    req.verify = Some(ClientVerify::Required);
    // Annotations read well but of no effect without a Secret (named so, after the read).
    let mut idle = Vec::new();
    verify_client(r, req, &mut idle);
    verify_depth(r);
    pass_certificate(r, req, &mut idle);
    cn(r, req, &mut idle);
    error_page_url(r, req, &mut idle);
    if req.secret.is_none() {
        for key in idle {
            r.differs(key, "no effect without auth-tls-secret");
        }
    }
}

/// auth-tls-secret: the Secret with the CA.
fn secret(r: &mut Reader<'_>, req: &mut ClientCertRequest) {
    let Some((key, v)) = r.get("auth-tls-secret") else {
        return;
    };
    match SecretRef::of_annotation(key, v) {
        Ok(s) => req.secret = Some(s),
        Err(e) => r.invalid(
            key,
            format!("{e}; the Ingress's routes answer 503 until it is fixed"),
        ),
    }
}

/// auth-tls-verify-client: `on` (the default), `off`, `optional` or `optional_no_ca`.
fn verify_client<'a>(r: &mut Reader<'a>, req: &mut ClientCertRequest, idle: &mut Vec<&'a str>) {
    let Some((key, v)) = r.get("auth-tls-verify-client") else {
        return;
    };
    req.verify = match v.trim() {
        "on" => {
            idle.push(key);
            Some(ClientVerify::Required)
        }
        "off" => {
            idle.push(key);
            None
        }
        "optional" => {
            idle.push(key);
            Some(ClientVerify::Optional)
        }
        "optional_no_ca" => {
            idle.push(key);
            req.no_ca = true;
            Some(ClientVerify::Optional)
        }
        _ => {
            r.invalid(
                key,
                format!("{v:?} is not on, off, optional or optional_no_ca; on is used"),
            );
            Some(ClientVerify::Required)
        }
    };
}

/// auth-tls-verify-depth: read, but not enforced.
fn verify_depth(r: &mut Reader<'_>) {
    let Some((key, v)) = r.get("auth-tls-verify-depth") else {
        return;
    };
    match v.trim().parse::<u8>() {
        Ok(n) if n >= 1 => r.differs(
            key,
            format!(
                "{n} is not enforced: HAProxy 2.6 has no verify depth per host; any chain to \
                 the CA is accepted"
            ),
        ),
        _ => r.invalid(key, format!("{v:?} is not a depth from 1 to 255")),
    }
}

/// auth-tls-pass-certificate-to-upstream: `true` or `false`.
fn pass_certificate<'a>(r: &mut Reader<'a>, req: &mut ClientCertRequest, idle: &mut Vec<&'a str>) {
    let Some((key, v)) = r.get("auth-tls-pass-certificate-to-upstream") else {
        return;
    };
    match v.trim() {
        "true" | "false" => {
            req.pass = v.trim() == "true";
            idle.push(key);
        }
        _ => r.invalid(key, format!("{v:?} is not true or false; false is used")),
    }
}

/// auth-tls-match-cn: the regex the subject DN must match (a refused one fails the routes
/// closed).
fn cn<'a>(r: &mut Reader<'a>, req: &mut ClientCertRequest, idle: &mut Vec<&'a str>) {
    let Some((key, v)) = r.get("auth-tls-match-cn") else {
        return;
    };
    match match_cn(v) {
        Ok(_) if req.verify.is_none() => r.differs(
            key,
            "no effect with auth-tls-verify-client off (no certificate is asked for; \
             ingress-nginx would answer 403 to every request)",
        ),
        Ok(p) => {
            req.match_cn = Some(p);
            idle.push(key);
        }
        Err(e) => {
            req.refused = true;
            r.invalid(
                key,
                format!("{e}; the Ingress's routes answer 503 until it is fixed"),
            )
        }
    }
}

/// auth-tls-error-page: of effect with a required certificate only.
fn error_page_url<'a>(r: &mut Reader<'a>, req: &mut ClientCertRequest, idle: &mut Vec<&'a str>) {
    let Some((key, v)) = r.get("auth-tls-error-page") else {
        return;
    };
    match error_page(v) {
        Ok(url) if req.verify == Some(ClientVerify::Required) => {
            req.error_page = Some(url);
            idle.push(key);
        }
        Ok(_) => r.differs(
            key,
            "no effect: only auth-tls-verify-client on redirects (a missing certificate or one \
             that failed verification)",
        ),
        Err(e) => r.invalid(key, format!("{e}; the request is refused as without it")),
    }
}

/// auth-tls-error-page: a URL or path as ingress-nginx's check allows (`[scheme://]host[:port]`
/// and/or `/`-separated segments of letters, digits, `-`, `_` and `.`); nginx's `@location`
/// names have no meaning here.
fn error_page(v: &str) -> Result<PolicyText, ValueError> {
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .unwrap_or(v);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let word = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || extra.contains(&b))
    };
    let ok = (host.is_empty() || word(host, b"."))
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && (port.is_none() || !host.is_empty())
        && (rest.len() == v.len() || !host.is_empty())
        && path
            .trim_end_matches('/')
            .split('/')
            .skip(1)
            .all(|seg| word(seg, b"_."))
        && !v.is_empty();
    if !ok {
        return Err(ValueError::NotErrorPage(v.to_string()));
    }
    Ok(PolicyText::new("auth-tls-error-page", v)?)
}

/// auth-tls-match-cn: `CN=` and the rest of a regex (the whole value is the regex matched
/// against the subject DN, as ingress-nginx does).
fn match_cn(v: &str) -> Result<CanaryPattern, ValueError> {
    if !v.starts_with("CN=") {
        return Err(ValueError::NoCn(v.to_string()));
    }
    CanaryPattern::new(v).map_err(ValueError::CnPattern)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::annotations::Status;
    use crate::translate::annotations::tests::parsed;

    /// The verdicts other than honoured.
    fn problems(p: &Parsed) -> Vec<String> {
        p.verdicts
            .iter()
            .filter(|v| v.status != Status::Honoured)
            .map(|v| format!("{} {}", v.key, v.status.label()))
            .collect()
    }

    #[test]
    fn values_and_problems() {
        let p = parsed(&[
            ("auth-tls-secret", "ns/ca"),
            ("auth-tls-pass-certificate-to-upstream", "true"),
        ]);
        let (secret, verify) = p.client_cert.active().unwrap();
        assert_eq!(
            (secret.namespace.as_deref(), secret.name.as_str()),
            (Some("ns"), "ca")
        );
        assert_eq!(
            verify,
            ClientVerify::Required,
            "on by default, as ingress-nginx"
        );
        assert!(p.client_cert.pass);
        assert!(problems(&p).is_empty(), "{:?}", problems(&p));
        /// Extra annotations, the verify mode they give, how many remarks.
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<ClientVerify>, usize);
        let cases: &[Case] = &[
            (
                &[("auth-tls-verify-client", "optional")],
                Some(ClientVerify::Optional),
                0,
            ),
            (&[("auth-tls-verify-client", "off")], None, 0),
            (
                &[("auth-tls-verify-client", "optional_no_ca")],
                Some(ClientVerify::Optional),
                0,
            ),
            (
                &[("auth-tls-verify-client", "maybe")],
                Some(ClientVerify::Required),
                1,
            ),
            (
                &[("auth-tls-verify-depth", "2")],
                Some(ClientVerify::Required),
                1,
            ),
            (
                &[("auth-tls-verify-depth", "-1")],
                Some(ClientVerify::Required),
                1,
            ),
            (
                &[("auth-tls-pass-certificate-to-upstream", "yes")],
                Some(ClientVerify::Required),
                1,
            ),
        ];
        for (extra, verify, n) in cases {
            let mut all = vec![("auth-tls-secret", "ca")];
            all.extend_from_slice(extra);
            let p = parsed(&all);
            assert_eq!(p.client_cert.verify, *verify, "{extra:?}");
            let no_ca = extra.contains(&("auth-tls-verify-client", "optional_no_ca"));
            assert_eq!(p.client_cert.no_ca, no_ca, "{extra:?}");
            assert_eq!(problems(&p).len(), *n, "{extra:?}: {:?}", problems(&p));
        }
        for (page, ok) in [
            ("https://errors.test/no-cert", true),
            ("http://e.test:8080/a/b.html/", true),
            ("/no-cert", true),
            ("errors.test", true),
            ("@named", false),
            ("https://e.test/a?b", false),
            ("https://e.test//a", false),
            ("https://", false),
            (":80/a", false),
            ("javascript:x", false),
            ("/a%20b", false),
        ] {
            let p = parsed(&[("auth-tls-secret", "ca"), ("auth-tls-error-page", page)]);
            assert_eq!(p.client_cert.error_page.is_some(), ok, "{page:?}");
            assert_eq!(problems(&p).is_empty(), ok, "{page:?}: {:?}", problems(&p));
        }
        // With an error page, `on` asks for the certificate as optional in the handshake.
        let p = parsed(&[("auth-tls-secret", "ca"), ("auth-tls-error-page", "/e")]);
        assert_eq!(p.client_cert.handshake().unwrap().1, ClientVerify::Optional);
        let p = parsed(&[
            ("auth-tls-secret", "ca"),
            ("auth-tls-verify-client", "optional"),
            ("auth-tls-error-page", "/e"),
        ]);
        assert_eq!(p.client_cert.error_page, None);
        assert_eq!(problems(&p).len(), 1, "named of no effect");
        let p = parsed(&[("auth-tls-secret", "Bad/Name!")]);
        assert!(p.client_cert.active().is_none());
        assert!(
            p.verdicts
                .iter()
                .any(|v| matches!(v.status, Status::Invalid(_)))
        );
    }
}
