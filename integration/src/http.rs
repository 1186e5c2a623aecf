//! A plain HTTP/1.1 client for tests (one fresh connection per request) and a load loop that
//! counts successes and failures while something else happens (a reload, a drain).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONNECTION, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Time allowed for one request, connecting and reading the body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A response, fully read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Body, decoded lossily as UTF-8.
    pub body: String,
    /// The `x-echo-name` header: which echo backend answered.
    pub echo_name: Option<String>,
    /// Every header, names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
}

impl HttpReply {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `GET path` on a fresh connection to `addr`, with `Host: host` sent exactly as given and
/// `Connection: close`, within [`REQUEST_TIMEOUT`]. Any status is `Ok`; only transport
/// failures are errors.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> anyhow::Result<HttpReply> {
    request(addr, Req::new("GET", host, path)).await
}

/// A request for [`request`]: method, Host, path, extra headers and a body.
#[derive(Debug, Clone)]
pub struct Req<'a> {
    /// The method.
    pub method: &'a str,
    /// The Host header, sent exactly as given.
    pub host: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// More headers.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The body (sent with its `Content-Length`).
    pub body: Vec<u8>,
}

impl<'a> Req<'a> {
    /// A request without headers or body.
    pub fn new(method: &'a str, host: &'a str, path: &'a str) -> Self {
        Self {
            method,
            host,
            path,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// With one more header.
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// With a body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// One request on a fresh connection to `addr` with `Connection: close`, within
/// [`REQUEST_TIMEOUT`]. Any status is `Ok`; only transport failures are errors.
pub async fn request(addr: SocketAddr, req: Req<'_>) -> anyhow::Result<HttpReply> {
    let what = format!(
        "{} http://{addr}{} (Host: {})",
        req.method, req.path, req.host
    );
    tokio::time::timeout(REQUEST_TIMEOUT, request_inner(addr, req))
        .await
        .map_err(|_| anyhow::anyhow!("{what}: no response within {REQUEST_TIMEOUT:?}"))?
        .with_context(|| what.clone())
}

async fn request_inner(addr: SocketAddr, req: Req<'_>) -> anyhow::Result<HttpReply> {
    let stream = TcpStream::connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("handshake")?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "test client connection ended with an error");
        }
    }));
    let mut builder = Request::builder()
        .method(req.method)
        .uri(req.path)
        .header(
            HOST,
            HeaderValue::from_str(req.host).context("host header")?,
        )
        .header(CONNECTION, "close");
    for (n, v) in &req.headers {
        builder = builder.header(*n, *v);
    }
    let request = builder
        .body(Full::new(Bytes::from(req.body)))
        .context("request")?;
    let response = sender.send_request(request).await.context("send request")?;
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .context("read body")?
        .to_bytes();
    let echo_name = headers
        .iter()
        .find(|(n, _)| n == "x-echo-name")
        .map(|(_, v)| v.clone());
    Ok(HttpReply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        echo_name,
        headers,
    })
}

/// `n` sequential [`get`]s.
pub async fn get_many(
    addr: SocketAddr,
    host: &str,
    path: &str,
    n: usize,
) -> Vec<anyhow::Result<HttpReply>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get(addr, host, path).await);
    }
    out
}

/// What a [`LoadLoop`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Requests answered with a 2xx status.
    pub ok: u64,
    /// Requests that failed: a non-2xx status or a transport error.
    pub failed: u64,
    /// The first ten failures, described.
    pub errors: Vec<String>,
    /// Successful responses per `x-echo-name` (`""` when the header was absent).
    pub by_name: BTreeMap<String, u64>,
}

/// How many failures [`LoadStats::errors`] keeps.
const KEPT_ERRORS: usize = 10;

#[derive(Debug, Default)]
struct Live {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// Sequential requests in a background task, counted, until [`LoadLoop::stop`] or a limit.
#[derive(Debug)]
pub struct LoadLoop {
    stop: watch::Sender<bool>,
    live: Arc<Live>,
    task: Option<JoinHandle<LoadStats>>,
}

impl LoadLoop {
    /// Starts sending `GET path` with `Host: host` to `addr`, one after another, each on a
    /// fresh connection, until stopped, `max_duration` has passed or `max_requests` have
    /// completed. Must be called within a tokio runtime.
    pub fn start(
        addr: SocketAddr,
        host: &str,
        path: &str,
        max_duration: Duration,
        max_requests: u64,
    ) -> LoadLoop {
        let (stop, mut stop_rx) = watch::channel(false);
        let live = Arc::new(Live::default());
        let host = host.to_string();
        let path = path.to_string();
        let task_live = live.clone();
        let task = tokio::spawn(async move {
            let until = Instant::now() + max_duration;
            let mut stats = LoadStats::default();
            while stats.ok + stats.failed < max_requests && Instant::now() < until {
                if *stop_rx.borrow() {
                    break;
                }
                // A request still in flight when the loop stops is abandoned, not counted.
                let result = tokio::select! {
                    r = get(addr, &host, &path) => r,
                    _ = stop_rx.changed() => break,
                    _ = tokio::time::sleep_until(until) => break,
                };
                match result {
                    Ok(reply) if (200..300).contains(&reply.status) => {
                        stats.ok += 1;
                        task_live.ok.fetch_add(1, Ordering::SeqCst);
                        *stats
                            .by_name
                            .entry(reply.echo_name.unwrap_or_default())
                            .or_default() += 1;
                    }
                    other => {
                        stats.failed += 1;
                        task_live.failed.fetch_add(1, Ordering::SeqCst);
                        if stats.errors.len() < KEPT_ERRORS {
                            stats.errors.push(match other {
                                Ok(reply) => {
                                    format!("status {}: {}", reply.status, reply.body.trim())
                                }
                                Err(e) => format!("{e:#}"),
                            });
                        }
                    }
                }
            }
            stats
        });
        LoadLoop {
            stop,
            live,
            task: Some(task),
        }
    }

    /// Successful requests so far.
    pub fn ok_so_far(&self) -> u64 {
        self.live.ok.load(Ordering::SeqCst)
    }

    /// Failed requests so far.
    pub fn failed_so_far(&self) -> u64 {
        self.live.failed.load(Ordering::SeqCst)
    }

    /// Stops the loop (abandoning a request in flight) and returns what it saw.
    pub async fn stop(self) -> LoadStats {
        let _ = self.stop.send(true);
        self.stop_when_done().await
    }

    /// Waits for the loop to reach its duration or request limit, and returns what it saw.
    pub async fn stop_when_done(mut self) -> LoadStats {
        let task = self.task.take().expect("the task is present until stop");
        match task.await {
            Ok(stats) => stats,
            Err(e) => LoadStats {
                errors: vec![format!("load loop task failed: {e}")],
                failed: 1,
                ..LoadStats::default()
            },
        }
    }
}

impl Drop for LoadLoop {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
