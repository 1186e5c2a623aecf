//! TLS test support: certificates made on the fly ([`TestCert`]), and a loopback TLS client
//! that reports which certificate a server presents for an SNI ([`tls_peer_cert`]) or makes
//! one HTTPS request ([`https_get`]). Nothing is verified: tests compare serials and
//! fingerprints instead.
//!
//! The client is blocking OpenSSL run on tokio's blocking pool, with bounded connect, read
//! and write timeouts and an overall deadline of [`TLS_TIMEOUT`].

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rand::rand_bytes;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};

/// Time allowed for one TLS exchange: connect, handshake, request and response.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(5);

/// A certificate (with its issuer chain, if any) and its private key, made for a test.
/// Keys are EC P-256: fast to generate, and served by HAProxy 2.6 like RSA ones.
#[derive(Clone)]
pub struct TestCert {
    cert: X509,
    chain: Vec<X509>,
    key: PKey<Private>,
}

impl std::fmt::Debug for TestCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCert")
            .field("subject_cn", &cn_of(&self.cert))
            .field("serial", &self.serial_hex())
            .finish_non_exhaustive()
    }
}

impl TestCert {
    /// A self-signed leaf for `cn` with `sans` (IP literals as IP SANs, the rest as DNS
    /// names), valid from a day ago for 30 days.
    ///
    /// # Panics
    /// When OpenSSL fails, which is a broken test environment.
    pub fn self_signed(cn: &str, sans: &[&str]) -> TestCert {
        let key = new_key();
        let cert = build(cn, sans, &key, None, false).expect("build a self-signed certificate");
        TestCert {
            cert,
            chain: Vec::new(),
            key,
        }
    }

    /// A self-signed leaf like [`TestCert::self_signed`], valid from `from_days` to
    /// `to_days` days from now (negative: in the past): an expired or expiring certificate.
    ///
    /// # Panics
    /// When OpenSSL fails.
    pub fn self_signed_valid(cn: &str, sans: &[&str], from_days: i64, to_days: i64) -> TestCert {
        let key = new_key();
        let cert = build_valid(cn, sans, &key, None, false, (from_days, to_days))
            .expect("build a self-signed certificate");
        TestCert {
            cert,
            chain: Vec::new(),
            key,
        }
    }

    /// A self-signed CA certificate (`CA:TRUE`) to sign leaves with [`TestCert::signed_by`].
    ///
    /// # Panics
    /// When OpenSSL fails.
    pub fn ca(cn: &str) -> TestCert {
        let key = new_key();
        let cert = build(cn, &[], &key, None, true).expect("build a CA certificate");
        TestCert {
            cert,
            chain: Vec::new(),
            key,
        }
    }

    /// A leaf for `cn` and `sans` signed by `ca`; its PEM carries the CA after the leaf.
    ///
    /// # Panics
    /// When OpenSSL fails.
    pub fn signed_by(ca: &TestCert, cn: &str, sans: &[&str]) -> TestCert {
        let key = new_key();
        let cert = build(cn, sans, &key, Some(ca), false).expect("build a signed certificate");
        let mut chain = vec![ca.cert.clone()];
        chain.extend(ca.chain.iter().cloned());
        TestCert { cert, chain, key }
    }

    /// A leaf like [`TestCert::signed_by`], valid from `from_days` to `to_days` days from
    /// now (negative: in the past): an expired client certificate of a trusted CA.
    ///
    /// # Panics
    /// When OpenSSL fails.
    pub fn signed_by_valid(ca: &TestCert, cn: &str, from_days: i64, to_days: i64) -> TestCert {
        let key = new_key();
        let cert = build_valid(cn, &[], &key, Some(ca), false, (from_days, to_days))
            .expect("build a signed certificate");
        let mut chain = vec![ca.cert.clone()];
        chain.extend(ca.chain.iter().cloned());
        TestCert { cert, chain, key }
    }

    /// PEM of a certificate for `cn` and `sans` followed by the key of *another* certificate:
    /// what a Secret with a mismatched key holds.
    pub fn mismatched_pem(cn: &str, sans: &[&str]) -> String {
        let cert = TestCert::self_signed(cn, sans);
        let other = TestCert::self_signed(cn, sans);
        format!("{}{}", cert.cert_pem(), other.key_pem())
    }

    /// The leaf, then its chain, as PEM.
    pub fn cert_pem(&self) -> String {
        let mut out = pem_string(self.cert.to_pem());
        for c in &self.chain {
            out.push_str(&pem_string(c.to_pem()));
        }
        out
    }

    /// The leaf, then its chain, each as DER.
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        std::iter::once(&self.cert)
            .chain(&self.chain)
            .map(|c| c.to_der().expect("encode DER"))
            .collect()
    }

    /// The private key as PKCS#8 DER.
    pub fn key_pkcs8_der(&self) -> Vec<u8> {
        self.key.private_key_to_pkcs8().expect("encode PKCS#8")
    }

    /// The private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        pem_string(self.key.private_key_to_pem_pkcs8())
    }

    /// Certificates then key: the file HAProxy loads with `crt` and `set ssl cert` takes.
    pub fn combined_pem(&self) -> String {
        format!("{}{}", self.cert_pem(), self.key_pem())
    }

    /// The leaf's serial in upper-case hex, one byte per two digits, as `show ssl cert
    /// <file>` prints it.
    pub fn serial_hex(&self) -> String {
        serial_hex(&self.cert)
    }

    /// SHA-1 of the leaf's DER in upper-case hex, as `show ssl cert <file>` prints it.
    pub fn sha1_hex(&self) -> String {
        sha1_hex(&self.cert)
    }

    /// The leaf's DER encoding.
    pub fn der(&self) -> Vec<u8> {
        self.cert.to_der().expect("encode a certificate as DER")
    }

    /// The leaf's subject CN.
    pub fn subject_cn(&self) -> Option<String> {
        cn_of(&self.cert)
    }
}

fn pem_string(pem: Result<Vec<u8>, openssl::error::ErrorStack>) -> String {
    String::from_utf8(pem.expect("encode PEM")).expect("PEM is ASCII")
}

fn new_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    PKey::from_ec_key(EcKey::generate(&group).expect("generate an EC key")).expect("wrap key")
}

/// [`build_valid`] from a day ago for 30 days.
fn build(
    cn: &str,
    sans: &[&str],
    key: &PKey<Private>,
    issuer: Option<&TestCert>,
    is_ca: bool,
) -> Result<X509, openssl::error::ErrorStack> {
    build_valid(cn, sans, key, issuer, is_ca, (-1, 30))
}

fn build_valid(
    cn: &str,
    sans: &[&str],
    key: &PKey<Private>,
    issuer: Option<&TestCert>,
    is_ca: bool,
    (from_days, to_days): (i64, i64),
) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    // 16 random bytes, first one in 0x01..=0x7f: positive, no leading zero byte, so the
    // hex of the bytes is what HAProxy prints.
    let mut serial = [0u8; 16];
    rand_bytes(&mut serial)?;
    serial[0] = (serial[0] & 0x7f).max(1);
    let serial = BigNum::from_slice(&serial)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    match issuer {
        Some(ca) => b.set_issuer_name(ca.cert.subject_name())?,
        None => b.set_issuer_name(&name)?,
    }
    b.set_pubkey(key)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let not_before = Asn1Time::from_unix(now + from_days * 86_400)?;
    let not_after = Asn1Time::from_unix(now + to_days * 86_400)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    if is_ca {
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    }
    if !sans.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for s in sans {
            if s.parse::<std::net::IpAddr>().is_ok() {
                san.ip(s);
            } else {
                san.dns(s);
            }
        }
        let ext = san.build(&b.x509v3_context(issuer.map(|ca| ca.cert.as_ref()), None))?;
        b.append_extension(ext)?;
    }
    let signer = issuer.map_or(key, |ca| &ca.key);
    b.sign(signer, MessageDigest::sha256())?;
    Ok(b.build())
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn serial_hex(cert: &X509) -> String {
    cert.serial_number()
        .to_bn()
        .map(|bn| hex_upper(&bn.to_vec()))
        .unwrap_or_default()
}

fn sha1_hex(cert: &X509) -> String {
    cert.digest(MessageDigest::sha1())
        .map(|d| hex_upper(&d))
        .unwrap_or_default()
}

fn cn_of(cert: &X509) -> Option<String> {
    cert.subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
}

/// The leaf certificate a TLS server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    /// Its subject CN, if it has one.
    pub subject_cn: Option<String>,
    /// Serial in upper-case hex (as [`TestCert::serial_hex`]).
    pub serial_hex: String,
    /// SHA-1 of its DER in upper-case hex (as [`TestCert::sha1_hex`]).
    pub sha1_hex: String,
}

fn check_loopback(addr: SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address; the test TLS client only talks to loopback");
    }
    Ok(())
}

/// Connects and completes a handshake, sending `sni` when given, without verifying anything.
fn handshake(
    addr: SocketAddr,
    sni: Option<&str>,
    deadline: Instant,
) -> anyhow::Result<openssl::ssl::SslStream<TcpStream>> {
    handshake_as(addr, sni, deadline, None)
}

/// [`handshake`], presenting `client`'s certificate when asked for one.
fn handshake_as(
    addr: SocketAddr,
    sni: Option<&str>,
    deadline: Instant,
    client: Option<&TestCert>,
) -> anyhow::Result<openssl::ssl::SslStream<TcpStream>> {
    check_loopback(addr)?;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let tcp =
        TcpStream::connect_timeout(&addr, left()).with_context(|| format!("connect {addr}"))?;
    tcp.set_read_timeout(Some(left()))?;
    tcp.set_write_timeout(Some(left()))?;
    tcp.set_nodelay(true)?;
    let mut builder = SslConnector::builder(SslMethod::tls_client())?;
    builder.set_verify(SslVerifyMode::NONE);
    if let Some(c) = client {
        builder.set_certificate(&c.cert)?;
        builder.set_private_key(&c.key)?;
    }
    let config = builder
        .build()
        .configure()?
        .use_server_name_indication(sni.is_some())
        .verify_hostname(false);
    config
        .connect(sni.unwrap_or("localhost"), tcp)
        .map_err(|e| anyhow!("TLS handshake with {addr} (SNI {sni:?}): {e}"))
}

async fn blocking<T: Send + 'static>(
    what: String,
    f: impl FnOnce(Instant) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + TLS_TIMEOUT;
    let task = tokio::task::spawn_blocking(move || f(deadline));
    match tokio::time::timeout(TLS_TIMEOUT + Duration::from_secs(1), task).await {
        Ok(Ok(r)) => r.with_context(|| what),
        Ok(Err(e)) => Err(anyhow!("{what}: the TLS client task failed: {e}")),
        Err(_) => Err(anyhow!("{what}: no answer within {TLS_TIMEOUT:?}")),
    }
}

/// Handshakes with `addr` (loopback only), sending `sni` if given, and returns the leaf
/// certificate the server presented. Nothing is verified.
pub async fn tls_peer_cert(addr: SocketAddr, sni: Option<&str>) -> anyhow::Result<PeerCert> {
    let sni = sni.map(str::to_string);
    let what = format!("peer certificate of {addr} for SNI {sni:?}");
    blocking(what, move |deadline| {
        let stream = handshake(addr, sni.as_deref(), deadline)?;
        let cert = stream
            .ssl()
            .peer_certificate()
            .ok_or_else(|| anyhow!("the server presented no certificate"))?;
        Ok(PeerCert {
            subject_cn: cn_of(&cert),
            serial_hex: serial_hex(&cert),
            sha1_hex: sha1_hex(&cert),
        })
    })
    .await
}

/// A response of [`https_get`]: status, headers (names lower-case, in order), body.
pub type HttpsReply = (u16, Vec<(String, String)>, String);

/// `GET path` over TLS to `addr` (loopback only) with `sni_and_host` as both the SNI and the
/// `Host` header, HTTP/1.1 with `Connection: close`, read to the end within [`TLS_TIMEOUT`].
/// Any status is `Ok`; only transport failures are errors.
pub async fn https_get(
    addr: SocketAddr,
    sni_and_host: &str,
    path: &str,
) -> anyhow::Result<HttpsReply> {
    https_get_as(addr, sni_and_host, path, None).await
}

/// [`https_get`], presenting `client`'s certificate (with its key) when the server asks for
/// one. A refused handshake, or a connection the server closes after it, is an error.
pub async fn https_get_as(
    addr: SocketAddr,
    sni_and_host: &str,
    path: &str,
    client: Option<&TestCert>,
) -> anyhow::Result<HttpsReply> {
    https_get_sni(addr, sni_and_host, sni_and_host, path, client).await
}

/// [`https_get_as`] with an SNI name other than the `Host` header.
pub async fn https_get_sni(
    addr: SocketAddr,
    sni: &str,
    host: &str,
    path: &str,
    client: Option<&TestCert>,
) -> anyhow::Result<HttpsReply> {
    let (sni, host) = (sni.to_string(), host.to_string());
    let path = path.to_string();
    let client = client.cloned();
    let what = format!("GET https://{host}{path} at {addr} (SNI {sni})");
    blocking(what, move |deadline| {
        let mut stream = handshake_as(addr, Some(&sni), deadline, client.as_ref())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .context("send the request")?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            if Instant::now() >= deadline {
                bail!("response not complete within {TLS_TIMEOUT:?}");
            }
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                // A peer closing without close_notify ends the response as well.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e).context("read the response"),
            }
            if raw.len() > 16 << 20 {
                bail!("response larger than 16 MiB");
            }
        }
        parse_response(&raw)
    })
    .await
}

fn parse_response(raw: &[u8]) -> anyhow::Result<HttpsReply> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no end of headers in {:?}", String::from_utf8_lossy(raw)))?;
    let head = std::str::from_utf8(&raw[..end]).context("headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let rest = &raw[end + 4..];
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().context("content-length")?;
        rest.get(..len)
            .ok_or_else(|| anyhow!("body shorter than its content-length {len}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, headers, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&rest[..eol])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("chunk size {size_text:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..size).ok_or_else(|| anyhow!("truncated chunk"))?;
        out.extend_from_slice(chunk);
        rest = rest
            .get(size + 2..)
            .ok_or_else(|| anyhow!("truncated chunk end"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_carry_what_haproxy_compares() {
        let cert = TestCert::self_signed("a.test", &["a.test", "127.0.0.1"]);
        let der = cert.der();
        let digest = openssl::hash::hash(MessageDigest::sha1(), &der).unwrap();
        assert_eq!(cert.sha1_hex(), hex_upper(&digest));
        assert_eq!(cert.sha1_hex().len(), 40);
        assert_eq!(cert.serial_hex().len(), 32);
        assert_eq!(cert.subject_cn().as_deref(), Some("a.test"));
        let pem = cert.combined_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pem.trim_end().ends_with("-----END PRIVATE KEY-----"));
        assert_ne!(
            TestCert::self_signed("a.test", &[]).serial_hex(),
            cert.serial_hex()
        );
    }

    #[test]
    fn signed_leaves_carry_their_chain() {
        let ca = TestCert::ca("Test CA");
        let leaf = TestCert::signed_by(&ca, "b.test", &["b.test"]);
        assert_eq!(leaf.cert_pem().matches("BEGIN CERTIFICATE").count(), 2);
        assert!(leaf.cert.verify(&ca.key).unwrap());
        assert!(!leaf.cert.verify(&leaf.key).unwrap());
    }

    #[test]
    fn mismatched_pem_holds_a_foreign_key() {
        let pem = TestCert::mismatched_pem("c.test", &[]);
        let cert = X509::from_pem(pem.as_bytes()).unwrap();
        let key = PKey::private_key_from_pem(pem.as_bytes()).unwrap();
        assert!(!cert.public_key().unwrap().public_eq(&key));
    }

    #[test]
    fn responses_parse_with_length_chunks_or_eof() {
        let (s, h, b) =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nokEXTRA")
                .unwrap();
        assert_eq!((s, b.as_str()), (200, "ok"));
        assert!(h.contains(&("x-a".into(), "b".into())));
        let (_, _, b) = parse_response(
            b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(b, "abcd");
        let (s, _, b) = parse_response(b"HTTP/1.0 503 x\r\n\r\nbody").unwrap();
        assert_eq!((s, b.as_str()), (503, "body"));
        assert!(parse_response(b"garbage").is_err());
    }

    #[tokio::test]
    async fn refuses_non_loopback_addresses() {
        let err = tls_peer_cert("192.0.2.1:443".parse().unwrap(), None)
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("not a loopback address"),
            "{err:#}"
        );
    }
}
