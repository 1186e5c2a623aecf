//! The headers a route with client certificates sends upstream, as ingress-nginx does
//! (`ssl-client-verify`, `ssl-client-subject-dn`, `ssl-client-issuer-dn`, and with
//! `auth-tls-pass-certificate-to-upstream` the URL-encoded PEM in `ssl-client-cert`): fixed
//! frontend rules keyed by one field of the route's map value, so no reload.
//!
//! Difference from ingress-nginx: HAProxy 2.6 has no PEM converter; the certificate is
//! `-----BEGIN CERTIFICATE-----\n<base64 of the DER on one line>\n-----END CERTIFICATE-----\n`,
//! URL-encoded (nginx folds the base64 at 64 columns). PEM readers accept both.

use std::fmt;

/// The map value field (`field(n,|)`, counted from 1 with the backend) saying which headers.
pub const CLIENT_CERT_FIELD: usize = 3 + 23;

/// What a route sends upstream about the client's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientCertHeaders {
    /// `ssl-client-verify` and the subject and issuer DNs (auth-tls-secret set).
    Verify,
    /// Those and `ssl-client-cert` (auth-tls-pass-certificate-to-upstream).
    Certificate,
}

impl ClientCertHeaders {
    /// Reads the field back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "v" => Some(Self::Verify),
            "c" => Some(Self::Certificate),
            _ => None,
        }
    }
}

impl fmt::Display for ClientCertHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Verify => "v",
            Self::Certificate => "c",
        })
    }
}

/// The frontend rules, after the route lookup. A client's own copies of the headers are
/// dropped on these routes. A certificate that fails verification never gets here (2.6
/// refuses it in the handshake), so `ssl-client-verify` is `SUCCESS` or `NONE`.
pub(super) fn frontend_rules() -> Vec<String> {
    let field = format!("var(txn.route),field({CLIENT_CERT_FIELD},|)");
    let on = "{ var(txn.client_cert) -m found }";
    let used = "{ ssl_fc } { ssl_c_used }";
    let mut out = vec![format!(
        "http-request set-var(txn.client_cert) {field} if {{ {field} -m len gt 0 }}"
    )];
    for h in [
        "ssl-client-verify",
        "ssl-client-subject-dn",
        "ssl-client-issuer-dn",
        "ssl-client-cert",
    ] {
        out.push(format!("http-request del-header {h} if {on}"));
    }
    out.extend([
        format!("http-request set-header ssl-client-verify NONE if {on} !{{ ssl_c_used }}"),
        format!(
            "http-request set-header ssl-client-verify SUCCESS if {on} {used} {{ ssl_c_verify 0 }}"
        ),
        format!(
            "http-request set-header ssl-client-verify FAILED:%[ssl_c_verify] if {on} {used} \
             !{{ ssl_c_verify 0 }}"
        ),
        format!(
            "http-request set-header ssl-client-subject-dn %[ssl_c_s_dn(,0,rfc2253)] if {on} {used}"
        ),
        format!(
            "http-request set-header ssl-client-issuer-dn %[ssl_c_i_dn(,0,rfc2253)] if {on} {used}"
        ),
        format!(
            "http-request set-header ssl-client-cert \
             -----BEGIN%%20CERTIFICATE-----%%0A%[ssl_c_der,base64,url_enc]%%0A\
             -----END%%20CERTIFICATE-----%%0A if {{ var(txn.client_cert) -m str c }} {used}"
        ),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_reads_back() {
        for h in [ClientCertHeaders::Verify, ClientCertHeaders::Certificate] {
            assert_eq!(ClientCertHeaders::parse(&h.to_string()), Some(h));
        }
        assert_eq!(ClientCertHeaders::parse("x"), None);
        assert!(frontend_rules().iter().all(|r| !r.contains('\n')));
    }
}
