//! A backend that speaks HTTP/1.1 and HTTP/2 (prior knowledge, or ALPN over TLS), in clear
//! text or over TLS, and answers gRPC ([`ProtoServer`]); and a gRPC client over h2c or h2
//! with TLS ([`grpc_call`]).
//!
//! gRPC is written by hand on hyper's HTTP/2 (messages with a 5-byte prefix: a compression
//! flag and a big-endian length; `grpc-status` and `grpc-message` as trailers), not with
//! tonic: what the tests check (status and trailers surviving HAProxy) needs nothing more,
//! and tonic's transport would add tower, prost and axum to the build of a 2-core machine.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::tls::TestCert;

/// Time allowed for one call: connect, handshakes, request and reply.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a [`ProtoServer`] saw of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// The SNI of the TLS connection, if any.
    pub sni: Option<String>,
    /// The request path.
    pub path: String,
}

type Body = BoxBody<Bytes, Infallible>;

/// A server on loopback answering HTTP/1.1 and HTTP/2, over TLS when given a certificate
/// (ALPN `h2` and `http/1.1`). A gRPC request (`content-type: application/grpc…`) to a path
/// ending in `/Echo` gets each message back prefixed with the server's name and `:`, and
/// `grpc-status: 0`; to a path ending in `/Fail`, no message and `grpc-status: 5` with
/// `grpc-message: no such thing`. Anything else gets `200` with the body
/// `name=<name> version=<version> sni=<sni or ->`.
///
/// Dropping it stops accepting.
#[derive(Debug)]
pub struct ProtoServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl ProtoServer {
    /// Starts a server on `addr` (port 0 for any), in clear text or with `tls`. It is
    /// listening when this returns.
    pub async fn start(
        name: &str,
        addr: SocketAddr,
        tls: Option<&TestCert>,
    ) -> anyhow::Result<ProtoServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("server {name:?} cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let acceptor = match tls {
            Some(cert) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(server_config(
                cert,
            )?))),
            None => None,
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (name, seen2) = (Arc::<str>::from(name), seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (name, seen, acceptor) = (name.clone(), seen2.clone(), acceptor.clone());
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(stream, name, None, seen).await,
                        Some(a) => {
                            let Ok(tls) = a.accept(stream).await else {
                                return;
                            };
                            let sni = tls.get_ref().1.server_name().map(str::to_string);
                            serve(tls, name, sni, seen).await;
                        }
                    }
                });
            }
        });
        Ok(ProtoServer { addr, seen, task })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

impl Drop for ProtoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn server_config(cert: &TestCert) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = vec![CertificateDer::from(cert.der())];
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem().as_bytes())
        .map_err(|e| anyhow::anyhow!("test key: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn serve<S>(stream: S, name: Arc<str>, sni: Option<String>, seen: Arc<Mutex<Vec<Seen>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let (name, sni, seen) = (name.clone(), sni.clone(), seen.clone());
        async move { Ok::<_, Infallible>(answer(req, &name, sni, &seen).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
}

async fn answer(
    req: Request<Incoming>,
    name: &str,
    sni: Option<String>,
    seen: &Mutex<Vec<Seen>>,
) -> Response<Body> {
    let version = format!("{:?}", req.version());
    let path = req.uri().path().to_string();
    seen.lock().expect("not poisoned").push(Seen {
        version: version.clone(),
        sni: sni.clone(),
        path: path.clone(),
    });
    let grpc = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if !grpc {
        let text = format!(
            "name={name} version={version} sni={}",
            sni.as_deref().unwrap_or("-")
        );
        return Response::new(Full::new(Bytes::from(text)).boxed());
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = Vec::new();
    let mut trailers = HeaderMap::new();
    if path.ends_with("/Fail") {
        trailers.insert("grpc-status", HeaderValue::from_static("5"));
        trailers.insert("grpc-message", HeaderValue::from_static("no such thing"));
    } else {
        for msg in split_messages(&body).unwrap_or_default() {
            let mut reply = format!("{name}:").into_bytes();
            reply.extend_from_slice(&msg);
            frames.push(Ok(Frame::data(frame_message(&reply))));
        }
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
    }
    frames.push(Ok(Frame::trailers(trailers)));
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/grpc+proto"),
    );
    resp
}

/// One gRPC message with its 5-byte prefix (uncompressed).
pub fn frame_message(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(msg.len() + 5);
    b.put_u8(0);
    b.put_u32(u32::try_from(msg.len()).expect("test messages are small"));
    b.put_slice(msg);
    b.freeze()
}

/// The messages of a gRPC body; `None` when a prefix is cut short.
pub fn split_messages(mut body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < 5 {
            return None;
        }
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let rest = &body[5..];
        if rest.len() < len {
            return None;
        }
        out.push(rest[..len].to_vec());
        body = &rest[len..];
    }
    Some(out)
}

/// What a gRPC call got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcReply {
    /// The HTTP status.
    pub http_status: u16,
    /// The `grpc-status` trailer (or header, for a trailers-only reply).
    pub grpc_status: Option<String>,
    /// The `grpc-message` trailer.
    pub grpc_message: Option<String>,
    /// The messages of the reply body.
    pub messages: Vec<Vec<u8>>,
}

/// How [`grpc_call`] reaches HAProxy: h2c with prior knowledge, or TLS with ALPN `h2`,
/// trusting `ca` and sending `sni`.
#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    /// HTTP/2 in clear text.
    H2c,
    /// HTTP/2 over TLS.
    Tls {
        /// The CA the server's certificate must chain to.
        ca: &'a TestCert,
        /// The SNI (and the name checked).
        sni: &'a str,
    },
}

/// One unary gRPC call of `path` on `host` at `addr`, sending `msg`.
pub async fn grpc_call(
    addr: SocketAddr,
    transport: Transport<'_>,
    host: &str,
    path: &str,
    msg: &[u8],
) -> anyhow::Result<GrpcReply> {
    tokio::time::timeout(CALL_TIMEOUT, call(addr, transport, host, path, msg))
        .await
        .map_err(|_| anyhow::anyhow!("gRPC call to {addr} took over {CALL_TIMEOUT:?}"))?
}

async fn call(
    addr: SocketAddr,
    transport: Transport<'_>,
    host: &str,
    path: &str,
    msg: &[u8],
) -> anyhow::Result<GrpcReply> {
    let tcp = TcpStream::connect(addr).await?;
    let req = Request::post(format!("http://{host}{path}"))
        .header(CONTENT_TYPE, "application/grpc")
        .header("te", "trailers")
        .body(Full::new(frame_message(msg)))?;
    match transport {
        Transport::H2c => send(TokioIo::new(tcp), req).await,
        Transport::Tls { ca, sni } => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from(ca.der()))?;
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"h2".to_vec()];
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let tls = connector
                .connect(ServerName::try_from(sni.to_string())?, tcp)
                .await?;
            if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                bail!("the server did not negotiate h2 with ALPN");
            }
            send(TokioIo::new(tls), req).await
        }
    }
}

async fn send<S>(io: TokioIo<S>, req: Request<Full<Bytes>>) -> anyhow::Result<GrpcReply>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
    let driver = tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    let http_status = resp.status().as_u16();
    let header =
        |h: &HeaderMap, k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut grpc_status = header(resp.headers(), "grpc-status");
    let mut grpc_message = header(resp.headers(), "grpc-message");
    let collected = resp.into_body().collect().await?;
    if let Some(t) = collected.trailers() {
        grpc_status = header(t, "grpc-status").or(grpc_status);
        grpc_message = header(t, "grpc-message").or(grpc_message);
    }
    let messages = split_messages(&collected.to_bytes())
        .ok_or_else(|| anyhow::anyhow!("a gRPC message is cut short"))?;
    driver.abort();
    Ok(GrpcReply {
        http_status,
        grpc_status,
        grpc_message,
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_frame_and_split_back() {
        let body = [
            frame_message(b"a"),
            frame_message(b""),
            frame_message(b"xyz"),
        ]
        .concat();
        assert_eq!(
            split_messages(&body),
            Some(vec![b"a".to_vec(), Vec::new(), b"xyz".to_vec()])
        );
        assert_eq!(split_messages(&body[..body.len() - 1]), None);
    }

    #[tokio::test]
    async fn the_server_echoes_over_h2c_and_tls_with_trailers() {
        let plain = ProtoServer::start("p", "127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let ok = grpc_call(plain.addr(), Transport::H2c, "x", "/t.T/Echo", b"hi")
            .await
            .unwrap();
        assert_eq!(ok.http_status, 200);
        assert_eq!(ok.grpc_status.as_deref(), Some("0"));
        assert_eq!(ok.messages, vec![b"p:hi".to_vec()]);
        let fail = grpc_call(plain.addr(), Transport::H2c, "x", "/t.T/Fail", b"")
            .await
            .unwrap();
        assert_eq!(fail.grpc_status.as_deref(), Some("5"));
        assert_eq!(fail.grpc_message.as_deref(), Some("no such thing"));
        assert_eq!(plain.seen()[0].version, "HTTP/2.0");

        let ca = TestCert::ca("test ca");
        let leaf = TestCert::signed_by(&ca, "b.internal", &["b.internal"]);
        let tls = ProtoServer::start("t", "127.0.0.1:0".parse().unwrap(), Some(&leaf))
            .await
            .unwrap();
        let t = Transport::Tls {
            ca: &ca,
            sni: "b.internal",
        };
        let ok = grpc_call(tls.addr(), t, "x", "/t.T/Echo", b"yo")
            .await
            .unwrap();
        assert_eq!(ok.messages, vec![b"t:yo".to_vec()]);
        assert_eq!(tls.seen()[0].sni.as_deref(), Some("b.internal"));
    }
}
