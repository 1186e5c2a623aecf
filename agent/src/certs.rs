//! Certificates from TLS Secrets, checked with OpenSSL (the library HAProxy loads them with):
//! the chain parses, the key parses and belongs to the leaf certificate. What HAProxy gets is
//! re-encoded PEM (leaf, chain, PKCS#8 key), so nothing of the Secret's own text — comments,
//! blank lines that would end a runtime payload, stray bytes — reaches a file or a socket.
//!
//! Also the default certificate: generated self-signed when none is configured, kept in the
//! config directory so that a restarted agent serves the same one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use haproxy::config::{CertFingerprint, TlsCert};
use haproxy::proto::PemPayload;
use imbl::OrdMap;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use openssl::x509::{X509, X509NameBuilder};
use thiserror::Error;

use crate::store::ObjectKey;

/// Why a Secret's certificate cannot be served. Messages never quote key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertError {
    /// `tls.crt` holds no PEM certificate.
    #[error("tls.crt holds no PEM certificate")]
    NoCertificate,
    /// `tls.crt` does not parse.
    #[error("tls.crt is not a valid PEM certificate chain: {0}")]
    BadCertificate(String),
    /// `tls.key` does not parse.
    #[error("tls.key is not a valid PEM private key")]
    BadKey,
    /// The key is not the certificate's.
    #[error("tls.key does not belong to the certificate in tls.crt")]
    KeyMismatch,
    /// `ca.crt` holds no PEM certificate.
    #[error("ca.crt holds no PEM certificate")]
    NoCaCertificate,
    /// `ca.crt` does not parse.
    #[error("ca.crt is not a valid PEM certificate bundle: {0}")]
    BadCaCertificate(String),
    /// `ca.crl` holds no PEM revocation list, or one that does not parse.
    #[error("ca.crl is not a valid PEM certificate revocation list: {0}")]
    BadCrl(String),
    /// OpenSSL failed to encode what it parsed (not expected).
    #[error("cannot re-encode the certificate: {0}")]
    Encode(String),
}

/// Checks a certificate chain (`tls.crt`, leaf first) and its key (`tls.key`) and returns
/// them as HAProxy will load them.
pub fn from_secret_data(crt: &[u8], key: &[u8]) -> Result<TlsCert, CertError> {
    if !contains(crt, b"-----BEGIN CERTIFICATE-----") {
        return Err(CertError::NoCertificate);
    }
    let chain =
        X509::stack_from_pem(crt).map_err(|e| CertError::BadCertificate(first_reason(&e)))?;
    let Some(leaf) = chain.first() else {
        return Err(CertError::NoCertificate);
    };
    let key = PKey::private_key_from_pem(key).map_err(|_| CertError::BadKey)?;
    let public = leaf
        .public_key()
        .map_err(|e| CertError::BadCertificate(first_reason(&e)))?;
    if !public.public_eq(&key) {
        return Err(CertError::KeyMismatch);
    }
    encode(&chain, &key)
}

/// Checks a CA bundle (`ca.crt` of a proxy-ssl-secret: one or more PEM certificates) and
/// returns it re-encoded, certificates only, as HAProxy will load it (`ca-file`).
pub fn ca_bundle(pem: &[u8]) -> Result<PemPayload, CertError> {
    if !contains(pem, b"-----BEGIN CERTIFICATE-----") {
        return Err(CertError::NoCaCertificate);
    }
    let certs =
        X509::stack_from_pem(pem).map_err(|e| CertError::BadCaCertificate(first_reason(&e)))?;
    if certs.is_empty() {
        return Err(CertError::NoCaCertificate);
    }
    let enc = |e: openssl::error::ErrorStack| CertError::Encode(first_reason(&e));
    let mut text = String::new();
    for cert in &certs {
        text.push_str(&String::from_utf8_lossy(&cert.to_pem().map_err(enc)?));
    }
    PemPayload::new(text).map_err(|e| CertError::Encode(e.to_string()))
}

/// Checks revocation lists (`ca.crl` of an auth-tls-secret: one or more PEM `X509 CRL`
/// blocks) and returns them re-encoded, as HAProxy will load them (`crl-file`). HAProxy
/// 2.6.12 itself takes a certificate as an empty list: only real CRLs pass here.
pub fn crl_bundle(pem: &[u8]) -> Result<PemPayload, CertError> {
    const BEGIN: &str = "-----BEGIN X509 CRL-----";
    let text = std::str::from_utf8(pem).map_err(|_| CertError::BadCrl("not text".into()))?;
    let blocks: Vec<&str> = text.split(BEGIN).skip(1).collect();
    if blocks.is_empty() {
        return Err(CertError::BadCrl("no X509 CRL block".into()));
    }
    let mut out = String::new();
    for b in blocks {
        let crl = openssl::x509::X509Crl::from_pem(format!("{BEGIN}{b}").as_bytes())
            .map_err(|e| CertError::BadCrl(first_reason(&e)))?;
        let enc = crl
            .to_pem()
            .map_err(|e| CertError::Encode(first_reason(&e)))?;
        out.push_str(&String::from_utf8_lossy(&enc));
    }
    PemPayload::new(out).map_err(|e| CertError::Encode(e.to_string()))
}

/// A self-signed certificate for `common_name`, valid for ten years (ECDSA P-256), as served
/// to clients whose SNI matches no Ingress.
pub fn self_signed(common_name: &str) -> Result<TlsCert, CertError> {
    let enc = |e: openssl::error::ErrorStack| CertError::Encode(first_reason(&e));
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(enc)?;
    let key = PKey::from_ec_key(EcKey::generate(&group).map_err(enc)?).map_err(enc)?;
    let mut name = X509NameBuilder::new().map_err(enc)?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)
        .map_err(enc)?;
    let name = name.build();
    let mut serial = BigNum::new().map_err(enc)?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(enc)?;
    let mut b = X509::builder().map_err(enc)?;
    b.set_version(2).map_err(enc)?;
    let serial = serial.to_asn1_integer().map_err(enc)?;
    b.set_serial_number(&serial).map_err(enc)?;
    b.set_subject_name(&name).map_err(enc)?;
    b.set_issuer_name(&name).map_err(enc)?;
    b.set_pubkey(&key).map_err(enc)?;
    let not_before = Asn1Time::days_from_now(0).map_err(enc)?;
    let not_after = Asn1Time::days_from_now(3650).map_err(enc)?;
    b.set_not_before(&not_before).map_err(enc)?;
    b.set_not_after(&not_after).map_err(enc)?;
    b.append_extension(BasicConstraints::new().critical().build().map_err(enc)?)
        .map_err(enc)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .map_err(enc)?,
    )
    .map_err(enc)?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build().map_err(enc)?)
        .map_err(enc)?;
    b.sign(&key, MessageDigest::sha256()).map_err(enc)?;
    encode(&[b.build()], &key)
}

/// The default certificate kept at `path` (a PEM of certificate and key, as the agent writes
/// it there whenever TLS is in use): the file's when it holds a valid one, else a new
/// self-signed one. Nothing is written here. Returns the certificate and whether it is new.
pub fn load_or_generate_default(path: &Path) -> Result<(TlsCert, bool), CertError> {
    if let Ok(pem) = std::fs::read(path)
        && let Ok(cert) = from_secret_data(&pem, &pem)
    {
        return Ok((cert, false));
    }
    Ok((self_signed("haproxy-agent default certificate")?, true))
}

/// The certificate served to clients whose SNI matches no Ingress, made on first use (an
/// agent that never serves TLS never loads or generates a key: OpenSSL's code and tables
/// stay out of its memory): the one a previous run left at its path, else a new self-signed
/// one ([`load_or_generate_default`]). Clones share it.
#[derive(Clone)]
pub struct DefaultCert {
    /// Where it is kept (empty for one made by the caller: never read).
    path: Arc<Path>,
    cert: Arc<OnceLock<Result<TlsCert, CertError>>>,
}

impl DefaultCert {
    /// The certificate kept at `path` (read or generated when first asked for).
    pub fn at(path: PathBuf) -> Self {
        Self {
            path: path.into(),
            cert: Arc::default(),
        }
    }

    /// The certificate, loaded or generated on the first call.
    pub fn get(&self) -> Result<&TlsCert, &CertError> {
        let made = self.cert.get_or_init(|| {
            let (cert, generated) = load_or_generate_default(&self.path)?;
            if generated {
                tracing::debug!("generated a self-signed default certificate");
            }
            Ok(cert)
        });
        made.as_ref()
    }
}

impl From<TlsCert> for DefaultCert {
    /// A certificate already made.
    fn from(cert: TlsCert) -> Self {
        Self {
            path: Path::new("").into(),
            cert: Arc::new(OnceLock::from(Ok(cert))),
        }
    }
}

impl std::fmt::Debug for DefaultCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fingerprint = self.cert.get().map(|c| c.as_ref().map(|c| &c.fingerprint));
        f.debug_struct("DefaultCert")
            .field("path", &self.path)
            .field("fingerprint", &fingerprint)
            .finish()
    }
}

/// The Secrets' certificates a previous run left in `<config_dir>/certs/` (files named
/// `<namespace>_<secret>.pem` that still hold a valid certificate and key): what their hosts
/// keep serving when a Secret is bad or missing right after a restart.
pub fn remembered_on_disk(config_dir: &Path) -> CertMemory {
    let mut memory = CertMemory::default();
    let Ok(entries) = std::fs::read_dir(config_dir.join(haproxy::config::CERTS_DIR)) else {
        return memory;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((namespace, secret)) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".pem"))
            .and_then(|n| n.split_once('_'))
        else {
            continue;
        };
        if let Ok(pem) = std::fs::read(entry.path())
            && let Ok(cert) = from_secret_data(&pem, &pem)
        {
            memory.insert(ObjectKey::new(namespace, secret), cert);
        }
    }
    memory
}

/// Leaf, chain and PKCS#8 key as one PEM payload, with the leaf's fingerprint.
fn encode(chain: &[X509], key: &PKey<Private>) -> Result<TlsCert, CertError> {
    let enc = |e: openssl::error::ErrorStack| CertError::Encode(first_reason(&e));
    let mut pem = String::new();
    for cert in chain {
        pem.push_str(&String::from_utf8_lossy(&cert.to_pem().map_err(enc)?));
    }
    pem.push_str(&String::from_utf8_lossy(
        &key.private_key_to_pem_pkcs8().map_err(enc)?,
    ));
    let digest = chain[0].digest(MessageDigest::sha1()).map_err(enc)?;
    let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    Ok(TlsCert {
        pem: PemPayload::new(pem).map_err(|e| CertError::Encode(e.to_string()))?,
        fingerprint: CertFingerprint::new(&hex).expect("a SHA-1 digest is 20 bytes"),
    })
}

/// OpenSSL's first reason, without file names or key bytes.
fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(|e| e.reason().map(str::to_string))
        .unwrap_or_else(|| "unreadable".to_string())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The last good certificate of each Secret in use: what a host keeps serving when its
/// Secret turns bad or disappears. Carried from one translation to the next by the caller;
/// cheap to clone (a persistent map).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertMemory(OrdMap<ObjectKey, TlsCert>);

impl CertMemory {
    /// The remembered certificate of a Secret.
    pub fn get(&self, key: &ObjectKey) -> Option<&TlsCert> {
        self.0.get(key)
    }

    /// Remembers a Secret's certificate.
    pub fn insert(&mut self, key: ObjectKey, cert: TlsCert) {
        self.0.insert(key, cert);
    }

    /// How many Secrets are remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a combined PEM (certificate then key) into its two parts.
    fn split(cert: &TlsCert) -> (String, String) {
        let text = cert.pem.as_str();
        let at = text.find("-----BEGIN PRIVATE KEY-----").unwrap();
        (text[..at].to_string(), text[at..].to_string())
    }

    #[test]
    fn a_crl_bundle_is_checked_and_reencoded() {
        let crl = include_str!("translate/test_ca.crl");
        let two = format!("{crl}{crl}");
        let out = crl_bundle(two.as_bytes()).unwrap();
        assert_eq!(out.as_str().matches("-----BEGIN X509 CRL-----").count(), 2);
        let cert = self_signed("x").unwrap();
        assert!(matches!(
            crl_bundle(cert.pem.as_str().as_bytes()),
            Err(CertError::BadCrl(_))
        ));
        assert!(matches!(crl_bundle(b"\xff\xfe"), Err(CertError::BadCrl(_))));
    }

    #[test]
    fn a_ca_bundle_is_reencoded_certificates_only() {
        let a = self_signed("ca-a").unwrap();
        let b = self_signed("ca-b").unwrap();
        let (crt_a, key_a) = split(&a);
        let (crt_b, _) = split(&b);
        let text = format!("# comment\n{crt_a}\n\n{crt_b}{key_a}");
        let bundle = ca_bundle(text.as_bytes()).unwrap();
        assert_eq!(bundle.as_str(), format!("{crt_a}{crt_b}").trim_end());
        assert_eq!(ca_bundle(b"nothing"), Err(CertError::NoCaCertificate));
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            ca_bundle(broken.as_bytes()),
            Err(CertError::BadCaCertificate(_))
        ));
    }

    #[test]
    fn a_valid_pair_is_reencoded_with_its_fingerprint() {
        let made = self_signed("a.test").unwrap();
        let (crt, key) = split(&made);
        let read = from_secret_data(crt.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(read, made);
        let der = X509::from_pem(crt.as_bytes()).unwrap().to_der().unwrap();
        let sha1 = openssl::sha::sha1(&der);
        let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(read.fingerprint.as_str(), hex);
    }

    #[test]
    fn bad_secrets_are_named_errors() {
        let a = self_signed("a.test").unwrap();
        let b = self_signed("b.test").unwrap();
        let (a_crt, a_key) = split(&a);
        let (_, b_key) = split(&b);
        let with_blank_lines = a_crt.replace("-----\n", "-----\n\n");
        let table: &[(&str, &[u8], &[u8], CertError)] = &[
            ("empty", b"", a_key.as_bytes(), CertError::NoCertificate),
            (
                "garbage",
                b"not a pem",
                a_key.as_bytes(),
                CertError::NoCertificate,
            ),
            (
                "truncated certificate",
                &a_crt.as_bytes()[..200],
                a_key.as_bytes(),
                CertError::BadCertificate(String::new()),
            ),
            ("garbage key", a_crt.as_bytes(), b"nope", CertError::BadKey),
            (
                "key of another certificate",
                a_crt.as_bytes(),
                b_key.as_bytes(),
                CertError::KeyMismatch,
            ),
        ];
        for (name, crt, key, want) in table {
            let got = from_secret_data(crt, key).unwrap_err();
            assert_eq!(
                std::mem::discriminant(&got),
                std::mem::discriminant(want),
                "{name}: {got}"
            );
            assert!(!got.to_string().contains("BEGIN"), "{name}: {got}");
        }
        // Blank lines inside the Secret's text do not reach the payload.
        let read = from_secret_data(with_blank_lines.as_bytes(), a_key.as_bytes()).unwrap();
        assert_eq!(read, a);
    }

    #[test]
    fn certificates_of_a_previous_run_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let a = self_signed("a.test").unwrap();
        std::fs::write(certs.join("shop_a-tls.pem"), a.pem.as_str()).unwrap();
        std::fs::write(certs.join("default.pem"), a.pem.as_str()).unwrap();
        std::fs::write(certs.join("shop_bad.pem"), "garbage").unwrap();
        std::fs::write(certs.join("crt-list.txt"), "x").unwrap();
        let memory = remembered_on_disk(dir.path());
        assert_eq!(memory.len(), 1);
        assert_eq!(memory.get(&ObjectKey::new("shop", "a-tls")), Some(&a));
        assert!(remembered_on_disk(&dir.path().join("nothing")).is_empty());
    }

    #[test]
    fn the_default_certificate_is_reused_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("default.pem");
        let (first, new) = load_or_generate_default(&path).unwrap();
        assert!(new);
        assert!(!path.exists(), "nothing is written");
        std::fs::write(&path, format!("{}\n", first.pem.as_str())).unwrap();
        let (again, new) = load_or_generate_default(&path).unwrap();
        assert!(!new);
        assert_eq!(again, first);
        std::fs::write(&path, "garbage").unwrap();
        let (replaced, new) = load_or_generate_default(&path).unwrap();
        assert!(new);
        assert_ne!(replaced.fingerprint, first.fingerprint);
    }

    #[test]
    fn the_default_certificate_is_made_on_first_use_once_for_all_clones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("default.pem");
        let lazy = DefaultCert::at(path.clone());
        // Written after the handle is made: read at the first `get`, not before.
        let kept = self_signed("kept").unwrap();
        std::fs::write(&path, kept.pem.as_str()).unwrap();
        let clone = lazy.clone();
        assert_eq!(clone.get(), Ok(&kept));
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(lazy.get(), Ok(&kept), "made once, shared by clones");
        let given = DefaultCert::from(kept.clone());
        assert_eq!(given.get(), Ok(&kept));
    }
}
