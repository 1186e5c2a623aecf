//! A TLS Secret's `tls.crt` and `tls.key` (see `secret_input`), and the same bytes as a CA
//! bundle (`ca.crt`) and revocation lists (`ca.crl`): checking never panics, and whatever
//! is accepted is re-encoded PEM that is accepted again, identically.
#![no_main]

use haproxy_agent::certs::{ca_bundle, crl_bundle, from_secret_data};
use haproxy_agent_fuzz::secret_input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (crt, key) = secret_input::split(data);
    if let Ok(cert) = from_secret_data(crt, key) {
        let pem = cert.pem.as_str().as_bytes();
        let again = from_secret_data(pem, pem).expect("the re-encoded certificate is accepted");
        assert_eq!(again, cert, "re-encoding is stable");
        assert!(
            !cert.pem.as_str().contains("\n\n"),
            "an empty line ends a payload"
        );
    }
    if let Ok(bundle) = ca_bundle(data) {
        let again =
            ca_bundle(bundle.as_str().as_bytes()).expect("the re-encoded bundle is accepted");
        assert_eq!(again, bundle, "re-encoding is stable");
        assert!(
            !bundle.as_str().contains("PRIVATE KEY"),
            "a CA bundle holds certificates only"
        );
    }
    if let Ok(crl) = crl_bundle(data) {
        let again = crl_bundle(crl.as_str().as_bytes()).expect("the re-encoded CRLs are accepted");
        assert_eq!(again, crl, "re-encoding is stable");
    }
});
