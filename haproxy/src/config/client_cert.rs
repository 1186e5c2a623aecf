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
//! Verification failures: the shared HTTPS bind ignores them in the handshake
//! (`ca-ignore-err all crt-ignore-err all`; 2.6 refuses both on a crt-list line), and
//! [`verify_rules`] decide per request, as nginx does: a presented certificate that failed
//! verification is refused with `400` (or redirected to the route's auth-tls-error-page)
//! unless the connection's SNI name is `no-ca` in the settings map (`verify:<name>`, exact
//! name first, then `*.` and the name minus its first label, as HAProxy picks the crt-list
//! line); there (auth-tls-verify-client `optional_no_ca`) it passes, with
//! `ssl-client-verify: FAILED:<code>`. A name switching between `optional` and
//! `optional_no_ca` is a `set map`: no reload.
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

/// The options of the shared HTTPS bind that let a client certificate failing verification
/// through the handshake, to [`verify_rules`] (errors 64 and above, which 2.6 cannot ignore,
/// are still refused in the handshake).
pub const IGNORE_VERIFY_ERRORS: &str = " ca-ignore-err all crt-ignore-err all";

/// The settings map key prefix of an SNI name's verification entry (`verify:<name>`).
pub const VERIFY_KEY_PREFIX: &str = "verify:";

/// The verification entry of a name whose clients' failed certificates pass
/// (`optional_no_ca`).
pub const VERIFY_NO_CA: &str = "no-ca";

/// The verification entry of a name whose clients' failed certificates are refused.
pub const VERIFY_CA: &str = "ca";

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
/// - a client's own copies of the headers are dropped, then set. A certificate that failed
///   verification only gets here on an `optional_no_ca` name (see [`verify_rules`]):
///   `ssl-client-verify` is then `FAILED:<code>` (OpenSSL's verify error number; nginx
///   gives its text), else `SUCCESS` or `NONE`;
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
        format!("http-request set-header ssl-client-verify SUCCESS if {on} {used} !{CERT_FAILED}"),
        format!(
            "http-request set-header ssl-client-verify FAILED:%[var(txn.cert_error)] if {on} \
             {used} {CERT_FAILED}"
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

/// The condition of a request whose client certificate failed verification.
const CERT_FAILED: &str = "{ var(txn.cert_error) -m found }";

/// The frontend rules right after the route lookup, for a presented client certificate that
/// failed verification (the bind ignores the errors; the handshake no longer refuses it):
/// - `txn.cert_error` is the first non-zero of `ssl_c_verify` (the chain's result, kept by
///   a resumed session), `ssl_c_err` and `ssl_c_ca_err` (the first leaf and CA errors);
/// - the connection's SNI name is looked up in the settings map (`settings`), exact then
///   wildcard; unless it is `no-ca`, the request is refused with `400` (as nginx's "The SSL
///   certificate error"), or, on a route with an error page for the same name, redirected
///   there (`302`, as nginx's `error_page 495`). A name not in the map is refused too.
pub(super) fn verify_rules(settings: &super::value::ConfigPath) -> Vec<String> {
    let tls = "{ ssl_fc } { ssl_c_used }";
    let error = format!("var(txn.route),field({CLIENT_ERROR_FIELD},|)");
    let lenient = format!("{{ var(txn.cert_mode) -m str {VERIFY_NO_CA} }}");
    vec![
        format!("http-request set-var(txn.cert_error) ssl_c_verify if {tls} !{{ ssl_c_verify 0 }}"),
        format!(
            "http-request set-var(txn.cert_error) ssl_c_err if {tls} !{{ ssl_c_err 0 }} \
             !{CERT_FAILED}"
        ),
        format!(
            "http-request set-var(txn.cert_error) ssl_c_ca_err if {tls} !{{ ssl_c_ca_err 0 }} \
             !{CERT_FAILED}"
        ),
        format!("http-request set-var(txn.cert_sni) ssl_fc_sni,lower if {CERT_FAILED}"),
        format!(
            "http-request set-var(txn.cert_key) str({VERIFY_KEY_PREFIX}),concat(,txn.cert_sni,) \
             if {CERT_FAILED}"
        ),
        format!(
            "http-request set-var(txn.cert_mode) var(txn.cert_key),map_str({settings}) if \
             {CERT_FAILED}"
        ),
        format!(
            "http-request set-var(txn.cert_mode) var(txn.cert_key),\
             regsub(^{VERIFY_KEY_PREFIX}[^.]+,{VERIFY_KEY_PREFIX}*),map_str({settings}) if \
             {CERT_FAILED} !{{ var(txn.cert_mode) -m found }}"
        ),
        format!(
            "http-request redirect location %[{error}] code 302 if {CERT_FAILED} !{lenient} \
             {{ ssl_fc_sni,lower,strcmp(txn.host) eq 0 }} {{ {error} -m len gt 0 }}"
        ),
        format!("http-request deny deny_status 400 if {CERT_FAILED} !{lenient}"),
    ]
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
        let settings = super::super::value::ConfigPath::new("/m/settings.map").unwrap();
        let verify = verify_rules(&settings);
        assert!(verify.iter().all(|r| !r.contains('\n')));
        assert_eq!(
            verify.last().map(String::as_str),
            Some(
                "http-request deny deny_status 400 if { var(txn.cert_error) -m found } \
                 !{ var(txn.cert_mode) -m str no-ca }"
            )
        );
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
