//! A real HTTP/1.1 backend on loopback that names itself in every response.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HOST, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    completed: AtomicU64,
}

/// An HTTP/1.1 server on `127.0.0.1:<ephemeral>`. Every response is `200` (or `NNN` for a
/// path starting with `/status/NNN`, `NNN` from 200 to 599) with the server's name as its body and the headers `x-echo-name` (the name), `x-echo-host` (the request's
/// Host header, when present), `x-echo-path` (path and query) and `x-echo-method`, and each
/// `X-…` (and `ssl-client-…`) request header `X-Name` back as `x-echo-h-x-name`.
///
/// Dropping it stops accepting and aborts every open connection.
#[derive(Debug)]
pub struct EchoServer {
    name: String,
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl EchoServer {
    /// Starts a server that answers at once. It is listening when this returns. Must be
    /// called within a tokio runtime.
    pub fn start(name: &str) -> anyhow::Result<EchoServer> {
        Self::start_with_delay(name, Duration::ZERO)
    }

    /// Starts a server that waits `delay` before each response (for drain tests). Must be
    /// called within a tokio runtime.
    pub fn start_with_delay(name: &str, delay: Duration) -> anyhow::Result<EchoServer> {
        Self::start_on(name, "127.0.0.1:0".parse()?, delay)
    }

    /// Starts a server on a given address (the quick start's fixed ports). Must be called
    /// within a tokio runtime.
    pub fn start_on(name: &str, addr: SocketAddr, delay: Duration) -> anyhow::Result<EchoServer> {
        let std_listener = std::net::TcpListener::bind(addr)
            .map_err(|e| anyhow::anyhow!("echo server {name:?} cannot listen on {addr}: {e}"))?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let name_value = HeaderValue::from_str(name)
            .map_err(|e| anyhow::anyhow!("echo server name {name:?} is not a header value: {e}"))?;
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::from(name),
            name_value,
            delay,
            counters.clone(),
        ));
        Ok(EchoServer {
            name: name.to_string(),
            addr,
            counters,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its name, as sent in every response.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Requests received so far (counted on arrival, before any delay).
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }

    /// Responses produced so far (after the delay).
    pub fn completed(&self) -> u64 {
        self.counters.completed.load(Ordering::SeqCst)
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    name: Arc<str>,
    name_value: HeaderValue,
    delay: Duration,
    counters: Arc<Counters>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::debug!(error = %e, "echo server accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let name = name.clone();
                let name_value = name_value.clone();
                let counters = counters.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| {
                        respond(req, name.clone(), name_value.clone(), delay, counters.clone())
                    });
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!(error = %e, "echo server connection ended with an error");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn respond(
    req: Request<Incoming>,
    name: Arc<str>,
    name_value: HeaderValue,
    delay: Duration,
    counters: Arc<Counters>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    counters.requests.fetch_add(1, Ordering::SeqCst);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let status = path
        .strip_prefix("/status/")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (200..=599).contains(s))
        .unwrap_or(200);
    let mut builder = Response::builder()
        .status(status)
        .header("x-echo-name", name_value)
        .header("x-echo-method", req.method().as_str())
        .header("content-type", "text/plain");
    if let Ok(path) = HeaderValue::from_str(&path) {
        builder = builder.header("x-echo-path", path);
    }
    if let Some(host) = req.headers().get(HOST) {
        builder = builder.header("x-echo-host", host.clone());
    }
    // Whether credentials reached the server (a proxy doing basic auth may drop them).
    if let Some(auth) = req.headers().get(hyper::header::AUTHORIZATION) {
        builder = builder.header("x-echo-authorization", auth.clone());
    }
    for (name, value) in req.headers() {
        if name.as_str().starts_with("x-") || name.as_str().starts_with("ssl-client-") {
            builder = builder.header(format!("x-echo-h-{name}"), value.clone());
        }
    }
    let response = builder
        .body(Full::new(Bytes::copy_from_slice(name.as_bytes())))
        .expect("a response from valid parts");
    counters.completed.fetch_add(1, Ordering::SeqCst);
    Ok(response)
}
