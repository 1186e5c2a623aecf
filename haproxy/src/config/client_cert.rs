//! What a route with client certificates checks (the SNI is the Host; a required certificate
//! is there) and sends upstream as ingress-nginx does (`ssl-client-verify`,
//! `ssl-client-subject-dn`, `ssl-client-issuer-dn`, and with
//! `auth-tls-pass-certificate-to-upstream` the URL-encoded PEM in `ssl-client-cert`): fixed
//! frontend rules keyed by one field of the route's map value, so no reload.
//!
//! With auth-tls-match-cn, a route's value carries a pattern id (see
//! [`super::CanaryPattern`]: one regex ACL file holds the canary header patterns and these):
//! the request's client certificate subject DN (RFC 2253, as nginx's `$ssl_client_s_dn`),
//! after the id and a LF, must match the pattern's ACL entry, else `403` (as ingress-nginx:
//! an unanchored, case-sensitive regex; no certificate matches nothing). A new or changed
//! pattern is `add acl` and a map update.
//!
//! Difference from ingress-nginx: HAProxy 2.6 has no PEM converter; the certificate is
//! `-----BEGIN CERTIFICATE-----\n<base64 of the DER on one line>\n-----END CERTIFICATE-----\n`,
//! URL-encoded (nginx folds the base64 at 64 columns). PEM readers accept both.

use std::fmt;

/// The map value field (`field(n,|)`, counted from 1 with the backend) saying which headers.
pub const CLIENT_CERT_FIELD: usize = 3 + 24;

/// The map value field holding the id of the subject DN pattern (auth-tls-match-cn).
pub const CLIENT_DN_FIELD: usize = 3 + 25;

/// The map value field holding the error page (auth-tls-error-page).
pub const CLIENT_ERROR_FIELD: usize = 3 + 26;

/// What a route with client certificates asks: whether a certificate is required, and
/// whether the certificate itself goes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientCertPolicy {
    /// auth-tls-verify-client `on`: a request without a verified certificate is refused
    /// (`403`) even when it did not come through the host's crt-list line (plain HTTP).
    pub required: bool,
    /// auth-tls-pass-certificate-to-upstream: `ssl-client-cert` is sent too.
    pub certificate: bool,
}

impl ClientCertPolicy {
    /// Reads the field back: `v` (headers), `c` (and the certificate); upper case when
    /// required.
    pub fn parse(s: &str) -> Option<Self> {
        let (required, certificate) = match s {
            "v" => (false, false),
            "c" => (false, true),
            "V" => (true, false),
            "C" => (true, true),
            _ => return None,
        };
        Some(Self {
            required,
            certificate,
        })
    }
}

impl fmt::Display for ClientCertPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.required, self.certificate) {
            (false, false) => "v",
            (false, true) => "c",
            (true, false) => "V",
            (true, true) => "C",
        })
    }
}

/// The frontend rules, after the route lookup (`txn.host` set). On these routes:
/// - a TLS request whose SNI is not its Host answers `421` (Misdirected Request, as nginx
///   does): client certificates are asked per SNI name, so a connection made for another
///   name (or without SNI) must not reach them;
/// - with a certificate required, a request without one answers `403`, or is redirected
///   (`302`) to the route's error page (auth-tls-error-page: the handshake then asks for the
///   certificate as optional);
/// - a client's own copies of the headers are dropped, then set. A certificate that fails
///   verification never gets here (2.6 refuses it in the handshake), so
///   `ssl-client-verify` is `SUCCESS` or `NONE`;
/// - with a subject DN pattern, a request whose certificate's subject does not match it
///   answers `403` (`patterns` is the regex ACL file).
pub(super) fn frontend_rules(patterns: &super::value::ConfigPath) -> Vec<String> {
    let field = format!("var(txn.route),field({CLIENT_CERT_FIELD},|)");
    let error = format!("var(txn.route),field({CLIENT_ERROR_FIELD},|)");
    let on = "{ var(txn.client_cert) -m found }";
    let used = "{ ssl_fc } { ssl_c_used }";
    let mut out = vec![
        format!("http-request set-var(txn.client_cert) {field} if {{ {field} -m len gt 0 }}"),
        format!(
            "http-request deny deny_status 421 if {on} {{ ssl_fc }} \
             !{{ ssl_fc_sni,lower,strcmp(txn.host) eq 0 }}"
        ),
        // With an error page, a required certificate is optional in the handshake: a
        // request without one is redirected there, or refused.
        format!(
            "http-request redirect location %[{error}] code 302 if \
             {{ var(txn.client_cert) -m reg ^[VC]$ }} !{{ ssl_c_used }} {{ {error} -m len gt 0 }}"
        ),
        "http-request deny deny_status 403 if { var(txn.client_cert) -m reg ^[VC]$ } \
         !{ ssl_c_used }"
            .to_string(),
    ];
    out.extend(dn_rules(patterns));
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
             -----END%%20CERTIFICATE-----%%0A if {{ var(txn.client_cert) -m reg ^[cC]$ }} {used}"
        ),
    ]);
    out
}

/// The subject DN check: `<id>` LF `<subject DN>` against the regex ACL file.
fn dn_rules(patterns: &super::value::ConfigPath) -> [String; 4] {
    let field = format!("var(txn.route),field({CLIENT_DN_FIELD},|)");
    let on = "{ var(txn.client_dn) -m found }";
    [
        format!("http-request set-var(txn.client_dn) {field} if {{ {field} -m len gt 0 }}"),
        format!(
            "http-request set-var(txn.client_subject) ssl_c_s_dn(,0,rfc2253) if {on} \
             {{ ssl_fc }} {{ ssl_c_used }}"
        ),
        format!(
            "http-request set-var(txn.client_dn) var(txn.client_dn),\
             concat(\"\\n\",txn.client_subject,) if {on}"
        ),
        format!(
            "http-request deny deny_status 403 if {on} !{{ var(txn.client_dn) -m reg -f {patterns} }}"
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_reads_back() {
        for required in [false, true] {
            for certificate in [false, true] {
                let p = ClientCertPolicy {
                    required,
                    certificate,
                };
                assert_eq!(ClientCertPolicy::parse(&p.to_string()), Some(p));
            }
        }
        assert_eq!(ClientCertPolicy::parse("x"), None);
        let acl = super::super::value::ConfigPath::new("/m/canary.acl").unwrap();
        let rules = frontend_rules(&acl);
        assert!(rules.iter().all(|r| !r.contains('\n')));
        assert!(
            rules.contains(
                &"http-request deny deny_status 403 if { var(txn.client_dn) -m found } \
              !{ var(txn.client_dn) -m reg -f /m/canary.acl }"
                    .to_string()
            )
        );
    }
}
