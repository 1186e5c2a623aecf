//! A TLS client (rustls, nothing verified, loopback only) for what one connection shows:
//! several requests on one connection, HTTP/1.1 keep-alive or HTTP/2 ([`gets_on_one_connection`]),
//! and whether a server asks for a client certificate at all ([`cert_requested`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::header::HOST;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::tls::{HttpsReply, TLS_TIMEOUT, TestCert};

/// The HTTP version a connection speaks, offered with ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `http/1.1`, requests one after the other on the kept-alive connection.
    Http1,
    /// `h2`, one stream per request.
    H2,
}

/// Accepts any server certificate (the tests compare what they need themselves), but
/// checks the handshake signatures as rustls does.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Presents `cert` (if any) when the server asks for a client certificate, and records
/// that it asked.
#[derive(Debug)]
struct Asked {
    cert: Option<Arc<CertifiedKey>>,
    asked: AtomicBool,
}

impl ResolvesClientCert for Asked {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::SeqCst);
        self.cert.clone()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Connects to `addr` (loopback only) with `sni`, offering `alpn` and presenting `client`
/// when asked; the connection and whether the server asked for a certificate.
async fn connect(
    addr: SocketAddr,
    sni: &str,
    alpn: Alpn,
    client: Option<&TestCert>,
) -> anyhow::Result<(TlsStream<TcpStream>, Arc<Asked>)> {
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address; the test TLS client only talks to loopback");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = match client {
        Some(c) => {
            let chain = c
                .chain_der()
                .into_iter()
                .map(CertificateDer::from)
                .collect();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_pkcs8_der()));
            let key = provider.key_provider.load_private_key(key)?;
            Some(Arc::new(CertifiedKey::new(chain, key)))
        }
        None => None,
    };
    let asked = Arc::new(Asked {
        cert,
        asked: AtomicBool::new(false),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_client_cert_resolver(asked.clone());
    config.alpn_protocols = vec![match alpn {
        Alpn::Http1 => b"http/1.1".to_vec(),
        Alpn::H2 => b"h2".to_vec(),
    }];
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_string())?, tcp)
        .await
        .with_context(|| format!("TLS handshake with {addr} (SNI {sni})"))?;
    Ok((tls, asked))
}

/// Whether the server at `addr` asks a client connecting with `sni` for a certificate
/// (a CertificateRequest in the handshake).
pub async fn cert_requested(addr: SocketAddr, sni: &str) -> anyhow::Result<bool> {
    let run = async {
        let (mut tls, asked) = connect(addr, sni, Alpn::Http1, None).await?;
        // In TLS 1.3 the request comes with the server's Finished, read by the handshake;
        // a refusal (certificate required) comes after it, and is not this question.
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
        anyhow::Ok(asked.asked.load(Ordering::SeqCst))
    };
    tokio::time::timeout(TLS_TIMEOUT, run)
        .await
        .with_context(|| format!("handshake with {addr} (SNI {sni}) within {TLS_TIMEOUT:?}"))?
}

/// `GET /` for each of `hosts` in turn on one TLS connection to `addr` (loopback only)
/// made with `sni`, speaking `alpn` (checked), presenting `client` when asked. Stops at
/// the first transport failure (an error); any status is `Ok`.
pub async fn gets_on_one_connection(
    addr: SocketAddr,
    sni: &str,
    alpn: Alpn,
    client: Option<&TestCert>,
    hosts: &[&str],
) -> anyhow::Result<Vec<HttpsReply>> {
    let run = async {
        let (tls, _) = connect(addr, sni, alpn, client).await?;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let want: &[u8] = if alpn == Alpn::H2 { b"h2" } else { b"http/1.1" };
        if negotiated.as_deref() != Some(want) {
            bail!("ALPN: the server chose {negotiated:?}, not {want:?}");
        }
        let io = TokioIo::new(tls);
        let mut out = Vec::new();
        match alpn {
            Alpn::Http1 => {
                let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
                let driver = tokio::spawn(conn);
                for host in hosts {
                    let req = Request::get("/")
                        .header(HOST, *host)
                        .body(Empty::<Bytes>::new())?;
                    out.push(reply(sender.send_request(req).await?).await?);
                }
                driver.abort();
            }
            Alpn::H2 => {
                let (mut sender, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
                let driver = tokio::spawn(conn);
                for host in hosts {
                    let req =
                        Request::get(format!("https://{host}/")).body(Empty::<Bytes>::new())?;
                    out.push(reply(sender.send_request(req).await?).await?);
                }
                driver.abort();
            }
        }
        anyhow::Ok(out)
    };
    let deadline = TLS_TIMEOUT * u32::try_from(hosts.len().max(1)).unwrap_or(u32::MAX);
    tokio::time::timeout(deadline, run)
        .await
        .with_context(|| format!("{hosts:?} on one connection to {addr} within {deadline:?}"))?
}

async fn reply(resp: hyper::Response<hyper::body::Incoming>) -> anyhow::Result<HttpsReply> {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_ascii_lowercase(), v)
        })
        .collect();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, headers, String::from_utf8_lossy(&body).into_owned()))
}
